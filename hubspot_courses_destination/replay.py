"""Replay rejected rows after their cause was fixed (e.g. an option added in HubSpot).

The stored rows go through the same path as a load (preflight, coercion, upsert), with
``full_resync`` so no hash can hide them. Rows that now sync close their rejection; rows
that fail again get a fresh rejection with the new reason, and the old one is closed.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from .config import DestinationSettings
from .staging import Staging
from .sync import sync_batch

__all__ = ["ReplayResult", "replay_rejections", "NOT_REPLAYABLE"]

NOT_REPLAYABLE = frozenset({"SUPERSEDED", "NESTED_TABLE", "MISSING_KEY"})
"""Categories a replay cannot fix: they need a change in the source data, then a load."""


@dataclass(frozen=True)
class ReplayResult:
    attempted: int
    fixed: int
    still_rejected: int
    load_id: str


def replay_rejections(settings: DestinationSettings, *, limit: int | None = None) -> ReplayResult:
    """Re-send open rejections; returns how many now sync."""
    load_id = "replay-" + datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
    staging = Staging.shared(settings.staging_path)
    open_rows = [
        r for r in staging.open_rejections(settings.object_type, limit=limit)
        if r["category"] not in NOT_REPLAYABLE
    ]
    by_table: dict[str, list[dict[str, Any]]] = {}
    for r in reversed(open_rows):  # oldest first, so the newest row of a key wins
        by_table.setdefault(r["source_table"] or "courses", []).append(r)
    forced = dataclasses.replace(settings, full_resync=True, dry_run=False)
    for table_name, records in by_table.items():
        rows = [json.loads(r["row_json"]) for r in records]
        columns: dict[str, dict[str, Any]] = {c: {} for row in rows for c in row}
        sync_batch(rows, {"name": table_name, "columns": columns}, load_id, forced)
    staging.resolve_rejections([r["rejection_id"] for r in open_rows])
    still = sum(1 for r in staging.open_rejections(settings.object_type) if r["load_id"] == load_id)
    return ReplayResult(len(open_rows), len(open_rows) - still, still, load_id)
