"""What becomes of a batch's rows: one shape per outcome, from the mapper to staging.

A row ends synced (created or updated), unchanged, archived or rejected. The mapper, the
HubSpot answer and a replay all describe a refused row as one :class:`Rejection`; a route
returns one :class:`BatchOutcome` per batch, and ``Staging.record_batch`` stores it whole,
in one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any, Mapping, Sequence

__all__ = ["Rejection", "Synced", "RunCounts", "BatchOutcome", "EnrollmentCounts", "EnrollmentChanges"]


@dataclass(slots=True)
class Rejection:
    """A row that was not written, and why (category and code use HubSpot's vocabulary, or
    ours: COERCION_ERROR, MISSING_KEY, SUPERSEDED, NESTED_TABLE). ``resolved`` marks a record
    kept for information only (a duplicate superseded within its batch)."""

    key: str | None
    category: str
    code: str | None
    message: str | None
    source: Mapping[str, Any]  # the row as dlt delivered it
    property_errors: Sequence[Mapping[str, Any]] = ()
    resolved: bool = False


# one per row: slots and no frozen __init__ (object.__setattr__ per field made it 5x slower)
@dataclass(slots=True)
class Synced:
    """A key HubSpot holds with these values (``hubspot_id`` None: not known, keep the stored one)."""

    key: str
    hubspot_id: str | None
    content_hash: str


@dataclass
class RunCounts:
    rows_seen: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    archived: int = 0
    requests: int = 0
    responses_429: int = 0


@dataclass
class EnrollmentCounts:
    """What one batch of enrollments did: contacts and course-contact associations apart."""

    rows_seen: int = 0
    contacts_created: int = 0
    contacts_updated: int = 0
    contacts_unchanged: int = 0
    associations_added: int = 0
    associations_removed: int = 0
    associations_unchanged: int = 0
    rejected: int = 0
    requests: int = 0
    responses_429: int = 0
    # hard_delete rows of enrollments this staging file holds no association for (never made,
    # or removed before): no request, and neither "removed" nor "unchanged". Last: the
    # enrollment_runs column was added after the others
    nothing_to_remove: int = 0


ENROLLMENT_SUMMARY_FIELDS = tuple(f.name for f in fields(EnrollmentCounts))
"""The counters of enrollment batches, in the order ``enrollment_runs`` stores them."""


@dataclass
class EnrollmentChanges:
    """The enrollment part of a :class:`BatchOutcome` (``enrollment_state``/``contact_state``).

    Emails here are lower-cased, as HubSpot keys contacts; record keys (``"<course key>
    <email as given>"``) only name rejections and the rows they close."""

    contacts: list[tuple[str, str, str, str]] = field(default_factory=list)  # (email, contact id, content hash, properties JSON)
    associated: list[tuple[str, str, str, str, str]] = field(default_factory=list)  # (course key, email, course id, contact id, label)
    seen: list[tuple[str, str]] = field(default_factory=list)  # (course key, email) still in the source
    removals: list[tuple[str, str, str, str]] = field(default_factory=list)  # (course key, email, course id, contact id)
    in_sync_keys: list[str] = field(default_factory=list)  # record keys now as in HubSpot: close their rejections
    stale_contacts: list[str] = field(default_factory=list)  # emails whose stored contact id failed an association
    counts: EnrollmentCounts = field(default_factory=EnrollmentCounts)


@dataclass
class BatchOutcome:
    """Everything one batch did, ready to be recorded in one transaction."""

    object_type: str
    table: str
    load_id: str
    batch_id: str
    started_at: datetime
    dry_run: bool = False
    synced: list[Synced] = field(default_factory=list)  # created or updated in HubSpot
    adopted: list[Synced] = field(default_factory=list)  # unchanged, vouched for by a rebuilt record only
    unchanged_keys: list[str] = field(default_factory=list)
    to_archive: list[str] = field(default_factory=list)  # hard-deleted keys, archived after the batch is recorded
    rejections: list[Rejection] = field(default_factory=list)
    seen_keys: list[str] = field(default_factory=list)  # still in the source (mirror keeps them)
    counts: RunCounts = field(default_factory=RunCounts)
    enrollments: EnrollmentChanges | None = None  # set by the enrollments route (recorded apart)
