"""Routes: what a dlt table's rows become in HubSpot. One batch is planned, sent, recorded.

The sink hands every batch to the route of its table (:func:`route_for`). A route turns the
rows into one :class:`~.outcomes.BatchOutcome`: ``plan`` maps and diffs them without a
request, ``send`` writes the plan to HubSpot, ``predict`` stands in for ``send`` in a dry run,
and the session's staging records the outcome in one transaction. Every row that enters a
route ends in exactly one of: created, updated, unchanged, archived, or ``rejected_rows``.
Only configuration problems raise; a row HubSpot refuses never does (raising for one bad row
would keep the load package pending and block every later run).

Today's routes: courses (upsert by the id property), enrollments (the table named by
``enrollments_table``: contacts associated with courses, ``enrollments.py``) and nested
tables (rejected: nothing in HubSpot takes them).
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Mapping, Protocol, Sequence

from .hubspot import BATCH_LIMIT, UpsertRow
from .mapping import BatchPlan, MappedRow, content_hash, plan_batch
from .outcomes import BatchOutcome, Rejection, RunCounts, Synced
from .properties import key_columns, target_columns
from .session import Session

__all__ = ["Route", "CoursesRoute", "NestedTableRoute", "route_for", "sync_batch", "archive_keys", "batch_id"]

log = logging.getLogger("hubspot_courses_destination")


class Route(Protocol):
    def sync(self, rows: Sequence[Mapping[str, Any]], table: Mapping[str, Any], load_id: str) -> BatchOutcome: ...

    def archive(self, outcome: BatchOutcome) -> None: ...


def route_for(session: Session, table: Mapping[str, Any]) -> Route:
    """The route of a dlt table: nested tables have none in HubSpot; the enrollments table's
    rows are enrollments; the rest are courses."""
    if table.get("parent"):
        return NestedTableRoute(session)
    if table.get("name") == session.settings.enrollments_table:
        from .enrollments import EnrollmentsRoute  # imports this module's neighbours only

        return EnrollmentsRoute(session)
    return CoursesRoute(session)


def sync_batch(
    rows: Sequence[Mapping[str, Any]], table: Mapping[str, Any], load_id: str, session: Session
) -> RunCounts:
    """Sync one batch of one dlt table through its route and record every outcome."""
    t0 = time.perf_counter()
    route = route_for(session, table)
    outcome = route.sync(rows, table, load_id)
    session.staging.record_batch(outcome)  # what was sent is recorded before anything else is tried
    if outcome.to_archive:
        route.archive(outcome)
    if outcome.enrollments is not None:
        e = outcome.enrollments.counts
        log.info(
            "%s%s: %d enrollments -> contacts created %d, updated %d, unchanged %d; associations added %d, "
            "removed %d, unchanged %d, nothing to remove %d; rejected %d (%d requests, %.2fs)",
            "[dry run] " if outcome.dry_run else "", outcome.table, e.rows_seen, e.contacts_created,
            e.contacts_updated, e.contacts_unchanged, e.associations_added, e.associations_removed,
            e.associations_unchanged, e.nothing_to_remove, e.rejected, e.requests, time.perf_counter() - t0,
        )
        return outcome.counts
    c = outcome.counts
    log.info(
        "%s%s: %d rows -> created %d, updated %d, unchanged %d, rejected %d, archived %d "
        "(%d requests, %.2fs)",
        "[dry run] " if outcome.dry_run else "", outcome.table, c.rows_seen, c.created, c.updated,
        c.unchanged, c.rejected, c.archived, c.requests, time.perf_counter() - t0,
    )
    return c


def batch_id(rows: Sequence[Mapping[str, Any]], key_columns: Sequence[str]) -> str:
    """Identity of a dlt batch: dlt re-delivers the same rows after a crash, and their
    counts must replace, not add to, the first delivery's (at-least-once delivery).
    Every key column counts: keys in a variant column would otherwise all read as None."""
    digest = hashlib.sha1(str(len(rows)).encode())
    for row in rows:
        key = next((row[c] for c in key_columns if row.get(c) is not None), None)
        digest.update(b"\x1f" + str(key).encode("utf-8", "replace"))
    return digest.hexdigest()[:16]


def _new_outcome(session: Session, table: Mapping[str, Any], load_id: str, rows: Sequence[Mapping[str, Any]],
                 keys: Sequence[str]) -> BatchOutcome:
    s = session.settings
    return BatchOutcome(
        s.object_type, str(table["name"]), load_id, batch_id(rows, keys), datetime.now(timezone.utc),
        dry_run=s.dry_run, counts=RunCounts(rows_seen=len(rows)),
    )


@dataclass
class NestedTableRoute:
    """Rows of a dlt child table: HubSpot has no place for them, each is a rejection."""

    session: Session

    def sync(self, rows: Sequence[Mapping[str, Any]], table: Mapping[str, Any], load_id: str) -> BatchOutcome:
        outcome = _new_outcome(self.session, table, load_id, rows, [self.session.settings.id_column])
        outcome.rejections = [
            Rejection(None, "NESTED_TABLE", "NESTED_TABLE",
                      f"rows of nested table {outcome.table!r} cannot be routed to HubSpot; keep "
                      "max_table_nesting=0 on the resource so lists stay in one column", row)
            for row in rows
        ]
        outcome.counts.rejected = len(outcome.rejections)
        return outcome

    def archive(self, outcome: BatchOutcome) -> None:  # nested tables archive nothing
        pass


@dataclass
class CoursesRoute:
    """Course rows: upserted by the unique id property, archived by the ``hard_delete`` hint."""

    session: Session

    def sync(self, rows: Sequence[Mapping[str, Any]], table: Mapping[str, Any], load_id: str) -> BatchOutcome:
        session, s = self.session, self.session.settings
        columns = table.get("columns") or {}
        keys = key_columns(columns, s)
        session.start_daily_budget()  # the run's daily cap, before its first other request
        catalog = session.catalog(load_id)
        specs = catalog.ensure(columns)  # preflight: raises before any write
        send, delete_columns = target_columns(columns, s)
        session.ensure_state(load_id, specs)
        # rows breaking the portal's validation rules are rejected here, before any request
        # (and a dry run lists them with the other planned rejections)
        plan = plan_batch(
            rows, object_type=s.object_type, id_column=s.id_column, id_property=s.id_property,
            column_to_property=send, properties=specs, delete_columns=delete_columns,
            clear_nulls=s.clear_nulls, key_columns=keys, rules=catalog.validation_rules(),
        )
        outcome = _new_outcome(session, table, load_id, rows, keys)
        outcome.seen_keys = _keys_seen(plan)
        outcome.rejections = list(plan.rejections)
        to_send = self._diff(plan, outcome)
        (self.predict if s.dry_run else self.send)(to_send, plan.archives, outcome)
        outcome.counts.rejected = len(outcome.rejections)
        return outcome

    def _diff(self, plan: BatchPlan, outcome: BatchOutcome) -> list[MappedRow]:
        """Rows to send: those whose content differs from what HubSpot holds."""
        s = self.session.settings
        to_send = list(plan.upserts)
        if s.full_resync or not to_send:
            return to_send
        known = self.session.staging.known_state(s.object_type, [r.key for r in to_send])
        unchanged = unchanged_rows(s.object_type, to_send, known)
        same = {r.key for r in unchanged}
        outcome.unchanged_keys = [r.key for r in unchanged]
        outcome.adopted = [Synced(r.key, None, r.content_hash) for r in unchanged if known[r.key][0] is None]
        outcome.counts.unchanged = len(unchanged)
        return [r for r in to_send if r.key not in same]

    def send(self, to_send: Sequence[MappedRow], archives: Sequence[MappedRow], outcome: BatchOutcome) -> None:
        """Upsert ``to_send`` (outcomes come back in input order); ``archives`` are only noted:
        :meth:`archive` handles them once the batch is recorded."""
        s, c = self.session.settings, outcome.counts
        if to_send:
            self._reserve_creates(to_send, outcome)  # raises before sending past the record limit
            self._reserve_daily_budget(to_send, outcome)  # and before sending past the daily budget
            inputs = [UpsertRow(key=r.key, properties=r.properties) for r in to_send]
            result = self.session.client.batch_upsert(s.object_type, s.id_property, inputs)
            for row, answer in zip(to_send, result, strict=True):  # the client keeps input order
                if answer.key != row.key:
                    raise AssertionError(f"upsert outcome for {answer.key!r} returned in the place of {row.key!r}")
                if answer.status == "rejected":
                    outcome.rejections.append(Rejection(
                        answer.key, answer.category or "UNKNOWN", answer.code, answer.message, row.source,
                        property_errors=[
                            {"name": e.name, "code": e.code, "message": e.message} for e in answer.property_errors
                        ],
                    ))
                    continue
                outcome.synced.append(Synced(answer.key, answer.hubspot_id, row.content_hash))
                if answer.status == "created":
                    c.created += 1
                else:
                    c.updated += 1
            c.requests, c.responses_429 = result.requests, result.responses_429
        outcome.to_archive = [r.key for r in archives]

    def archive(self, outcome: BatchOutcome) -> None:
        """Archive the batch's hard-deleted keys, after its upserts were recorded: a failing
        archive must not lose what HubSpot already took. Then the counts are stored again."""
        c = outcome.counts
        c.archived = archive_keys(self.session, outcome.to_archive)
        c.unchanged += len(outcome.to_archive) - c.archived  # never in HubSpot: a no-op
        self.session.staging.put_run_counts(
            outcome.load_id, outcome.table, outcome.batch_id, outcome.object_type, c,
            dry_run=outcome.dry_run, started_at=outcome.started_at,
        )

    def predict(self, to_send: Sequence[MappedRow], archives: Sequence[MappedRow], outcome: BatchOutcome) -> None:
        """The dry run's send: a key synced before is an update (README "Dry run"), no request."""
        s, c = self.session.settings, outcome.counts
        known_ids = self.session.staging.hubspot_ids(s.object_type, [r.key for r in to_send])
        c.updated = sum(1 for r in to_send if r.key in known_ids)
        c.created = len(to_send) - c.updated
        c.archived = len(archives)
        # a real run would be refused at the record limit: so is its dry run
        self.session.reserve_creates(outcome.load_id, c.created, batch_rows=outcome.counts.rows_seen)

    def _reserve_daily_budget(self, to_send: Sequence[MappedRow], outcome: BatchOutcome) -> None:
        """A batch that cannot finish under the run's daily cap is not started: its rows stay
        unsynced as a whole and the next run sends them (README "Daily budget"); a batch
        half-sent would be re-sent whole."""
        budget = self.session.client.daily_budget
        if budget is not None:
            budget.reserve(-(-len(to_send) // BATCH_LIMIT), f"the next batch of {len(to_send):,} rows of {outcome.table}")

    def _reserve_creates(self, to_send: Sequence[MappedRow], outcome: BatchOutcome) -> None:
        """The batch's creates, predicted from ``sync_state`` (a key without a known HubSpot
        id is a create), reserved against the portal's record limit (``Session.reserve_creates``)."""
        s, session = self.session.settings, self.session
        if not session.client.has_record_limits:  # nothing to check against (v3): no query
            session.reserve_creates(outcome.load_id, len(to_send), batch_rows=outcome.counts.rows_seen)
            return
        known_ids = session.staging.hubspot_ids(s.object_type, [r.key for r in to_send])
        creates = sum(1 for r in to_send if r.key not in known_ids)
        session.reserve_creates(outcome.load_id, creates, batch_rows=outcome.counts.rows_seen)


def unchanged_rows(
    object_type: str, rows: Sequence[MappedRow], known: Mapping[str, tuple[str | None, dict[str, str] | None]]
) -> list[MappedRow]:
    """Rows HubSpot already holds: same hash as last synced, or, after a rebuild, the same
    values for every property the row sends."""
    same: list[MappedRow] = []
    for row in rows:
        synced_hash, rebuilt = known.get(row.key, (None, None))
        if synced_hash is not None:
            if synced_hash == row.content_hash:
                same.append(row)
        elif rebuilt is not None:
            held = {p: rebuilt[p] for p in row.properties if p in rebuilt}
            if content_hash(object_type, row.key, held) == row.content_hash:
                same.append(row)
    return same


def _keys_seen(plan: BatchPlan) -> list[str]:
    """Keys the source still has (mirror mode must not archive them, even if rejected now)."""
    keys = {r.key for r in plan.upserts}
    keys.update(r.key for r in plan.rejections if r.key is not None)
    return sorted(keys)


def found_ids(session: Session, keys: Sequence[str]) -> dict[str, str]:
    """HubSpot record ids of these keys, read by the id property (unknown keys are left out)."""
    s = session.settings
    records = session.client.batch_read(s.object_type, keys, id_property=s.id_property, properties=[s.id_property])
    return {
        str(r["properties"][s.id_property]): str(r["id"])
        for r in records
        if (r.get("properties") or {}).get(s.id_property)
    }


def archive_keys(session: Session, keys: Sequence[str]) -> int:
    """Archive the HubSpot records of these keys and drop them from ``sync_state``.

    Ids come from staging, else from a batch read by the id property; keys HubSpot never
    had are no-ops. Returns how many records were archived.
    """
    s = session.settings
    ids = session.staging.hubspot_ids(s.object_type, keys)
    unknown = [k for k in keys if k not in ids]
    if unknown:
        ids.update(found_ids(session, unknown))
    if ids:
        session.client.batch_archive(s.object_type, sorted(set(ids.values())))
    session.staging.forget(s.object_type, keys)
    return len(ids)
