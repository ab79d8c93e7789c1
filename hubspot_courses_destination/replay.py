"""Replay rejected rows after their cause was fixed (e.g. an option added in HubSpot).

The stored rows go through the same path as a load (preflight, coercion, upsert), with
``full_resync`` so no hash can hide them. Rows that now sync close their rejection; rows
that fail again get a fresh rejection with the new reason, and the old one is closed.

Only rejections a change in HubSpot or in the destination's settings can fix are replayed
(a missing option or property, a property type, ``property_map``/``exclude_columns``).
Those whose cause is the row's own data (no key, a text over HubSpot's length limit, a
duplicate superseded in its batch) stay open until the source is fixed and a load sends
the row again: re-sending the stored copy could only fail the same way.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Mapping

from .errors import ConfigurationError
from .mapping import MAX_STRING_LENGTH
from .routes import sync_batch
from .session import session_for
from .settings import HubSpotCoursesConfiguration

__all__ = ["ReplayResult", "replay_rejections", "needs_source_fix", "NOT_REPLAYABLE", "SOURCE_FIX_CODES"]

_VARIANT = "▶v_"  # dlt's separator in variant column names

NOT_REPLAYABLE = frozenset({"SUPERSEDED", "NESTED_TABLE", "MISSING_KEY", "INVALID_EMAIL"})
"""Categories a replay cannot fix: they need a change in the source data, then a load."""

SOURCE_FIX_CODES = frozenset({"INVALID_STRING_LENGTH", "REQUIRED_PROPERTY"})
"""HubSpot property-error codes caused by the row's own data: every HubSpot text property
holds at most ``MAX_STRING_LENGTH`` characters, and a record cannot be created without the
values HubSpot requires (``hs_course_name``); no portal change helps either."""


@dataclass(frozen=True)
class ReplayResult:
    attempted: int
    fixed: int
    still_rejected: int
    load_id: str
    needs_source_fix: int = 0
    """Open rejections left out of the replay: only a fix in the source data helps them."""


def _property_errors(rejection: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    try:
        errors = json.loads(rejection.get("property_errors") or "[]")
    except ValueError:
        return []
    return [e for e in errors if isinstance(e, Mapping)] if isinstance(errors, list) else []


def _text_length(value: Any) -> int:
    """Characters the value takes as a HubSpot string (lists and objects are sent as JSON)."""
    if isinstance(value, str):
        return len(value)
    if isinstance(value, (dict, list)):
        return len(json.dumps(value, ensure_ascii=False))
    return 0


def too_long_columns(rejection: Mapping[str, Any]) -> list[str]:
    """Columns of the stored row whose text exceeds HubSpot's limit and that the rejection names.

    Named: a column that was not sent (``exclude_columns``) cannot have caused it. A column
    renamed by ``property_map`` is named by its property, so it is not found here and the
    rejection stays retryable (the safe side: a retry only re-rejects it).
    """
    try:
        row = json.loads(rejection.get("row_json") or "{}")
    except ValueError:
        return []
    if not isinstance(row, dict):
        return []
    named = " ".join([rejection.get("message") or ""] + [str(e.get("name") or "") for e in _property_errors(rejection)])
    return [
        column for column, value in row.items()
        if _text_length(value) > MAX_STRING_LENGTH and re.search(rf"(?<!\w){re.escape(column)}(?!\w)", named)
    ]


def needs_source_fix(rejection: Mapping[str, Any]) -> bool:
    """True when no change in HubSpot or the destination's settings can make this row sync.

    ``rejection`` is a row of ``Staging.open_rejections``. Type mismatches (a word in a
    number property) count as fixable: the property's type can change in HubSpot.
    """
    if rejection["category"] in NOT_REPLAYABLE:
        return True
    codes = {rejection.get("code")} | {e.get("code") for e in _property_errors(rejection)}
    return bool(codes & SOURCE_FIX_CODES) or bool(too_long_columns(rejection))


def _column_hints(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The table's columns as a load sees them. dlt stored a value that did not fit its
    column's type in a variant column (``course_length_days▶v_text``), which feeds the
    same property; without the hint the preflight would look for a property of that name."""
    return {c: {"variant": True} if _VARIANT in c else {} for row in rows for c in row}


def _check_key_column(rows: list[dict[str, Any]], settings: HubSpotCoursesConfiguration) -> None:
    """Replayable rows had a key when stored; none under this id column means other settings."""
    missing = sum(1 for row in rows if row.get(settings.id_column) in (None, ""))
    if missing:
        raise ConfigurationError(
            f"{missing} stored row(s) have no column {settings.id_column!r}: they were loaded with "
            "another id_property (or property_map). Retry with the id property the load used; "
            "nothing was sent"
        )


def replay_rejections(settings: HubSpotCoursesConfiguration, *, limit: int | None = None) -> ReplayResult:
    """Re-send open rejections that a portal or settings change can fix; returns how many now sync."""
    load_id = "replay-" + datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
    staging = session_for(settings).staging
    candidates = staging.open_rejections(settings.object_type, limit=limit)
    open_rows = [r for r in candidates if not needs_source_fix(r)]
    by_table: dict[str, list[dict[str, Any]]] = {}
    for r in reversed(open_rows):  # oldest first, so the newest row of a key wins
        by_table.setdefault(r["source_table"] or "courses", []).append(r)
    tables = {name: [json.loads(r["row_json"]) for r in records] for name, records in by_table.items()}
    for rows in tables.values():
        _check_key_column(rows, settings)  # before anything is sent
    forced = session_for(settings.replace(full_resync=True, dry_run=False))
    for table_name, rows in tables.items():
        sync_batch(rows, {"name": table_name, "columns": _column_hints(rows)}, load_id, forced)
    staging.resolve_rejections([r["rejection_id"] for r in open_rows])
    still = sum(1 for r in staging.open_rejections(settings.object_type) if r["load_id"] == load_id)
    return ReplayResult(len(open_rows), len(open_rows) - still, still, load_id, len(candidates) - len(open_rows))
