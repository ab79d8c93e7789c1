"""Mirror mode: archive courses that a full snapshot no longer contains.

dlt gives a destination no "load finished" hook, so this runs after ``pipeline.run``
(the job's ``--mirror`` flag). Every batch marks the keys it saw in ``sync_state``; the
courses synced earlier but seen by none of this run's loads are archived in HubSpot
(restorable there for 90 days). A safety threshold refuses to archive more than a share
of the synced courses in one run: an empty or truncated extract must not empty HubSpot.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Sequence

from .outcomes import RunCounts
from .routes import archive_keys
from .session import session_for
from .settings import HubSpotCoursesConfiguration

__all__ = ["MirrorResult", "archive_missing", "DEFAULT_MAX_ARCHIVE_SHARE"]

DEFAULT_MAX_ARCHIVE_SHARE = 0.1
"""Refuse to archive more than 10 % of the synced courses in one run unless told otherwise."""


@dataclass(frozen=True)
class MirrorResult:
    synced_before: int
    missing: list[str] = field(default_factory=list)
    archived: int = 0
    refused: bool = False
    message: str = ""


def archive_missing(
    settings: HubSpotCoursesConfiguration,
    load_ids: Sequence[str],
    *,
    max_share: float = DEFAULT_MAX_ARCHIVE_SHARE,
    dry_run: bool = False,
) -> MirrorResult:
    """Archive courses of the tables these loads delivered that they no longer contain.

    Only the source tables ``load_ids`` delivered are considered, so a snapshot of one
    LMS never archives another's courses (or courses only known from a state rebuild).
    """
    if not load_ids:
        return MirrorResult(0, refused=True, message=(
            "the source delivered no rows in this run, so nothing was archived: an empty export "
            "must not empty HubSpot. Check the export; if it really is empty, archive in HubSpot by hand"
        ))
    session = session_for(settings)
    staging = session.staging
    object_type = settings.object_type
    tables = staging.tables_of(load_ids)
    total = staging.synced_count_in(object_type, tables)
    missing = staging.not_seen_in(object_type, load_ids, tables)
    keys = [k for k, _ in missing]
    if not missing:
        return MirrorResult(total, message="every synced course is still in the source")
    share = len(missing) / total
    if share > max_share:
        return MirrorResult(
            total, keys, refused=True,
            message=(
                f"mirror refused: {len(missing)} of {total} synced courses ({share:.0%}) are missing "
                f"from this load, more than the allowed {max_share:.0%}. If the source really "
                "dropped them, raise the threshold (--mirror-max-share) for one run."
            ),
        )
    if dry_run:
        return MirrorResult(total, keys, message=f"dry run: would archive {len(keys)} courses")
    archived = archive_keys(session, keys)
    staging.put_run_counts(
        load_ids[-1], "(mirror)", "mirror", object_type, RunCounts(archived=archived),
        started_at=datetime.now(timezone.utc),
    )
    return MirrorResult(total, keys, archived=archived, message=f"archived {archived} courses missing from the source")
