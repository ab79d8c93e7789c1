"""Mirror mode: archive courses that a full snapshot no longer contains.

dlt gives a destination no "load finished" hook, so this runs after ``pipeline.run``
(the job's ``--mirror`` flag). Every batch marks the keys it saw in ``sync_state``; the
courses synced earlier but seen by none of this run's loads are archived in HubSpot
(restorable there for 90 days). A safety threshold refuses to archive more than a share
of the synced courses in one run: an empty or truncated extract must not empty HubSpot.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Sequence

from .enrollments import CONTACT_OBJECT_TYPE, enrollment_record_key
from .outcomes import EnrollmentCounts, RunCounts
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
    # enrollments (issue 15): course-contact associations, record keys "<course key> <email>"
    associations_missing: list[str] = field(default_factory=list)
    associations_archived: int = 0


def archive_missing(
    settings: HubSpotCoursesConfiguration,
    load_ids: Sequence[str],
    *,
    max_share: float = DEFAULT_MAX_ARCHIVE_SHARE,
    dry_run: bool = False,
) -> MirrorResult:
    """Archive courses of the tables these loads delivered that they no longer contain, and
    the course-contact associations of the enrollment tables they delivered that they no
    longer contain (each under its own share guard; contacts are never archived).

    Only the source tables ``load_ids`` delivered are considered, so a snapshot of one
    LMS never archives another's courses (or courses only known from a state rebuild).
    """
    courses = _archive_missing_courses(settings, load_ids, max_share=max_share, dry_run=dry_run)
    if not load_ids:
        return courses
    enrollments = _archive_missing_associations(settings, load_ids, max_share=max_share, dry_run=dry_run)
    if enrollments is None:
        return courses
    return replace(
        courses, refused=courses.refused or enrollments.refused,
        message=f"{courses.message}; {enrollments.message}",
        associations_missing=enrollments.associations_missing,
        associations_archived=enrollments.associations_archived,
    )


def _archive_missing_associations(
    settings: HubSpotCoursesConfiguration, load_ids: Sequence[str], *, max_share: float, dry_run: bool,
) -> MirrorResult | None:
    """The enrollment part of mirror mode; None when these loads delivered no enrollments."""
    session = session_for(settings)
    staging = session.staging
    tables = staging.enrollment_tables_of(load_ids)
    if not tables:
        return None
    total = staging.enrollment_count_in(tables)
    missing = staging.enrollments_not_seen(load_ids, tables)
    keys = [enrollment_record_key(k, e) for k, e, _, _ in missing]
    if not missing:
        return MirrorResult(total, message="every synced enrollment is still in the source")
    refusal = _share_refusal("mirror refused for enrollments", "synced course-contact associations",
                             len(missing), total, max_share)
    if refusal:
        return MirrorResult(total, refused=True, associations_missing=keys, message=refusal)
    if dry_run:
        return MirrorResult(total, associations_missing=keys,
                            message=f"dry run: would remove {len(keys)} course-contact associations")
    session.client.association_batch_archive(
        settings.object_type, CONTACT_OBJECT_TYPE, [(c, p) for _, _, c, p in missing])
    staging.forget_enrollments([(k, e) for k, e, _, _ in missing])
    staging.put_enrollment_counts(
        load_ids[-1], "(mirror)", "mirror", EnrollmentCounts(associations_removed=len(missing)),
        started_at=datetime.now(timezone.utc),
    )
    return MirrorResult(total, associations_missing=keys, associations_archived=len(missing),
                        message=f"removed {len(missing)} course-contact associations missing from the source "
                                "(contacts are kept)")


def _archive_missing_courses(
    settings: HubSpotCoursesConfiguration,
    load_ids: Sequence[str],
    *,
    max_share: float = DEFAULT_MAX_ARCHIVE_SHARE,
    dry_run: bool = False,
) -> MirrorResult:
    """Archive courses of the tables these loads delivered that they no longer contain."""
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
    refusal = _share_refusal("mirror refused", "synced courses", len(missing), total, max_share)
    if refusal:
        return MirrorResult(total, keys, refused=True, message=refusal)
    if dry_run:
        return MirrorResult(total, keys, message=f"dry run: would archive {len(keys)} courses")
    archived = archive_keys(session, keys)
    staging.put_run_counts(
        load_ids[-1], "(mirror)", "mirror", object_type, RunCounts(archived=archived),
        started_at=datetime.now(timezone.utc),
    )
    return MirrorResult(total, keys, archived=archived, message=f"archived {archived} courses missing from the source")


def _share_refusal(head: str, things: str, missing: int, total: int, max_share: float) -> str | None:
    """The share guard of mirror mode, one rule for courses and associations: why archiving
    ``missing`` of ``total`` is refused, or None when it is within ``max_share``."""
    share = missing / total
    if share <= max_share:
        return None
    return (f"{head}: {missing} of {total} {things} ({share:.0%}) are missing from this load, more than "
            f"the allowed {max_share:.0%}. If the source really dropped them, raise the threshold "
            "(--mirror-max-share) for one run.")
