"""Local staging in DuckDB: what was synced, what was rejected, and what each load did.

The only module that imports ``duckdb``. Three tables:

- ``sync_state``: one row per (object type, record key) HubSpot holds, with the HubSpot
  record id and the content hash of the properties last sent; unchanged rows are skipped.
- ``rejected_rows``: every row that was not written, with HubSpot's (or our) category,
  code and message and the row as JSON. ``resolved_at`` is set once the key syncs later.
- ``sync_runs``: per load id and source table, the counts a run summary needs.

One connection per file per process, guarded by a lock: dlt calls the destination from
several load threads, and DuckDB allows a single writing process per file.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import threading
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any, Iterable, Iterator, Mapping, Sequence

import duckdb

from .errors import ConfigurationError
from .outcomes import ENROLLMENT_SUMMARY_FIELDS, BatchOutcome, EnrollmentCounts, Rejection, RunCounts, Synced

__all__ = ["Staging", "SUMMARY_FIELDS", "ENROLLMENT_SUMMARY_FIELDS"]

_SCHEMA = (
    """
    CREATE TABLE IF NOT EXISTS sync_state (
        object_type VARCHAR NOT NULL,
        record_key VARCHAR NOT NULL,
        hubspot_id VARCHAR,
        content_hash VARCHAR,
        source_table VARCHAR,
        first_synced_at TIMESTAMPTZ,
        last_synced_at TIMESTAMPTZ,
        last_load_id VARCHAR,
        last_seen_load_id VARCHAR,
        rebuilt_values VARCHAR,
        PRIMARY KEY (object_type, record_key)
    )
    """,
    "CREATE SEQUENCE IF NOT EXISTS rejected_rows_seq",
    """
    CREATE TABLE IF NOT EXISTS rejected_rows (
        rejection_id BIGINT PRIMARY KEY DEFAULT nextval('rejected_rows_seq'),
        object_type VARCHAR NOT NULL,
        source_table VARCHAR,
        record_key VARCHAR,
        category VARCHAR NOT NULL,
        code VARCHAR,
        message VARCHAR,
        property_errors VARCHAR,
        row_json VARCHAR,
        load_id VARCHAR,
        rejected_at TIMESTAMPTZ NOT NULL,
        resolved_at TIMESTAMPTZ
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS staging_meta (
        key VARCHAR PRIMARY KEY,
        value VARCHAR
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS created_properties (
        load_id VARCHAR NOT NULL,
        object_type VARCHAR NOT NULL,
        name VARCHAR NOT NULL,
        type VARCHAR,
        field_type VARCHAR,
        dry_run BOOLEAN DEFAULT FALSE,
        created_at TIMESTAMPTZ,
        PRIMARY KEY (load_id, object_type, name)
    )
    """,
    # added in 0.2: a dry run's predicted rejections (stored closed)
    "ALTER TABLE rejected_rows ADD COLUMN IF NOT EXISTS dry_run BOOLEAN DEFAULT FALSE",
    """
    CREATE TABLE IF NOT EXISTS sync_runs (
        load_id VARCHAR NOT NULL,
        source_table VARCHAR NOT NULL,
        batch_id VARCHAR NOT NULL,
        object_type VARCHAR,
        dry_run BOOLEAN DEFAULT FALSE,
        started_at TIMESTAMPTZ,
        finished_at TIMESTAMPTZ,
        rows_seen BIGINT DEFAULT 0,
        created BIGINT DEFAULT 0,
        updated BIGINT DEFAULT 0,
        unchanged BIGINT DEFAULT 0,
        rejected BIGINT DEFAULT 0,
        archived BIGINT DEFAULT 0,
        requests BIGINT DEFAULT 0,
        responses_429 BIGINT DEFAULT 0,
        PRIMARY KEY (load_id, source_table, batch_id)
    )
    """,
    # issue 15: enrollments (README "Enrollments"); emails lower-cased, as HubSpot keys contacts
    """
    CREATE TABLE IF NOT EXISTS contact_state (
        email VARCHAR PRIMARY KEY,
        contact_id VARCHAR,
        content_hash VARCHAR,
        last_synced_at TIMESTAMPTZ,
        last_load_id VARCHAR
    )
    """,
    # every property value sent to the contact (a contact's rows may span batches)
    "ALTER TABLE contact_state ADD COLUMN IF NOT EXISTS properties VARCHAR",
    """
    CREATE TABLE IF NOT EXISTS enrollment_state (
        course_key VARCHAR NOT NULL,
        email VARCHAR NOT NULL,
        course_id VARCHAR,
        contact_id VARCHAR,
        label VARCHAR,
        source_table VARCHAR,
        first_synced_at TIMESTAMPTZ,
        last_synced_at TIMESTAMPTZ,
        last_load_id VARCHAR,
        last_seen_load_id VARCHAR,
        PRIMARY KEY (course_key, email)
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS enrollment_runs (
        load_id VARCHAR NOT NULL,
        source_table VARCHAR NOT NULL,
        batch_id VARCHAR NOT NULL,
        dry_run BOOLEAN DEFAULT FALSE,
        started_at TIMESTAMPTZ,
        finished_at TIMESTAMPTZ,
        rows_seen BIGINT DEFAULT 0,
        contacts_created BIGINT DEFAULT 0,
        contacts_updated BIGINT DEFAULT 0,
        contacts_unchanged BIGINT DEFAULT 0,
        associations_added BIGINT DEFAULT 0,
        associations_removed BIGINT DEFAULT 0,
        associations_unchanged BIGINT DEFAULT 0,
        rejected BIGINT DEFAULT 0,
        requests BIGINT DEFAULT 0,
        responses_429 BIGINT DEFAULT 0,
        PRIMARY KEY (load_id, source_table, batch_id)
    )
    """,
    # issue 15 follow-up: removals of enrollments with no association (counted apart)
    "ALTER TABLE enrollment_runs ADD COLUMN IF NOT EXISTS nothing_to_remove BIGINT DEFAULT 0",
)

SUMMARY_FIELDS = (
    "rows_seen", "created", "updated", "unchanged", "rejected", "archived", "requests",
    "responses_429",
)

_UPSERT_SYNCED = """
INSERT INTO sync_state AS s
SELECT ?, k, h_id, h, ?, ?, ?, ?, ?, NULL
FROM (SELECT unnest(?) AS k, unnest(?) AS h_id, unnest(?) AS h)
ON CONFLICT (object_type, record_key) DO UPDATE SET
    hubspot_id = COALESCE(excluded.hubspot_id, s.hubspot_id),
    content_hash = excluded.content_hash,
    source_table = excluded.source_table,
    last_synced_at = excluded.last_synced_at,
    last_load_id = excluded.last_load_id,
    last_seen_load_id = excluded.last_seen_load_id,
    rebuilt_values = NULL
"""

_RESOLVE_REJECTIONS = """
UPDATE rejected_rows SET resolved_at = ?
WHERE object_type = ? AND resolved_at IS NULL AND record_key IN (SELECT unnest(?))
"""

_INSERT_REJECTED = """
INSERT INTO rejected_rows (object_type, source_table, record_key, category, code, message,
                           property_errors, row_json, load_id, rejected_at, resolved_at, dry_run)
SELECT ?, ?, k, c, cd, m, pe, rj, ?, ?, CASE WHEN res THEN ? ELSE NULL END, ?
FROM (SELECT unnest(?) AS k, unnest(?) AS c, unnest(?) AS cd, unnest(?) AS m,
             unnest(?) AS pe, unnest(?) AS rj, unnest(?) AS res) AS new
WHERE NOT EXISTS (
    SELECT 1 FROM rejected_rows r
    WHERE r.load_id = ? AND r.category = new.c AND r.row_json = new.rj
      AND r.record_key IS NOT DISTINCT FROM new.k
)
"""

def _redelivered(changes: Sequence[str], unchanged: dict[str, Sequence[str]], kept: Sequence[str]) -> str:
    """``ON CONFLICT`` of a batch's counts row when dlt delivers the batch again (after a crash,
    or a course job the enrollments job loaded first): the later delivery finds unchanged what
    the earlier one changed, so each change count keeps the larger of the two and the
    unchanged counts give back what that adds; counting the same delivery twice changes nothing."""
    sets = [f"{f} = greatest(r.{f}, excluded.{f})" for f in changes]
    for f, of in unchanged.items():
        back = " - ".join(f"(greatest(r.{c}, excluded.{c}) - excluded.{c})" for c in of)
        sets.append(f"{f} = greatest(0, excluded.{f} - {back})")
    sets += [f"{f} = excluded.{f}" for f in kept]
    return "ON CONFLICT (load_id, source_table, batch_id) DO UPDATE SET " + ", ".join(sets)


_PUT_RUN_COUNTS = """
INSERT INTO sync_runs AS r (load_id, source_table, batch_id, object_type, dry_run, started_at,
    finished_at, rows_seen, created, updated, unchanged, rejected, archived, requests, responses_429)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
""" + _redelivered(
    ("created", "updated", "archived", "requests", "responses_429"),
    {"unchanged": ("created", "updated")},
    ("object_type", "dry_run", "finished_at", "rows_seen", "rejected"),
)

_ENROLLMENT_REDELIVERED = _redelivered(
    ("contacts_created", "contacts_updated", "associations_added", "associations_removed", "requests",
     "responses_429"),
    {"contacts_unchanged": ("contacts_created", "contacts_updated"),
     "associations_unchanged": ("associations_added", "associations_removed")},
    ("dry_run", "finished_at", "rows_seen", "rejected"),
)


def _json_default(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (bytes, bytearray)):
        return value.hex()
    return str(value)


def row_to_json(row: Mapping[str, Any]) -> str:
    """The row as sent to the sink, for the record and for replay."""
    return json.dumps(dict(row), ensure_ascii=False, sort_keys=True, default=_json_default)


def _now() -> datetime:
    return datetime.now(timezone.utc)


class Staging:
    """The staging database of one file; the destination's session owns one per file."""

    def __init__(self, path: str, *, read_only: bool = False) -> None:
        self.path = path
        self._lock = threading.RLock()
        self._tx_depth = 0  # transaction() nesting, only ever changed with the lock held
        self._tx_failed = False  # a nested level raised: the outermost level must not commit
        if path != ":memory:":
            parent = os.path.dirname(os.path.abspath(path))
            os.makedirs(parent, exist_ok=True)
        try:
            self._con = duckdb.connect(path, read_only=read_only)
        except duckdb.Error as exc:
            raise ConfigurationError(
                f"cannot open the staging database {path!r}: {exc}. Another process may be "
                "syncing with the same staging_path; wait for it or point staging_path elsewhere."
            ) from exc
        if not read_only:
            with self._lock:
                for statement in _SCHEMA:
                    self._con.execute(statement)

    @property
    def closed(self) -> bool:
        return self._con is None

    def close(self) -> None:
        with self._lock:
            if self._con is not None:
                self._con.close()
                self._con = None  # type: ignore[assignment]

    def __enter__(self) -> "Staging":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator["Staging"]:
        """Everything inside commits together, or not at all; nests (the outermost commits).

        A batch's writes (sync_state, rejections, run counts) share one transaction: they
        are then never half recorded, and a batch costs one commit (a WAL flush) instead of
        one per statement. The lock is held throughout, so other threads wait their turn.
        A nested level that fails makes the whole transaction roll back, even if the caller
        caught its error; do not catch errors of other staging calls inside either (DuckDB
        would then commit nothing, silently).
        """
        with self._lock:
            if self._tx_depth:
                self._tx_depth += 1
                try:
                    yield self
                except BaseException:
                    self._tx_failed = True
                    raise
                finally:
                    self._tx_depth -= 1
                return
            self._con.execute("BEGIN")
            self._tx_depth, self._tx_failed = 1, False
            try:
                yield self
                if self._tx_failed:
                    raise RuntimeError(
                        "a step of this staging transaction failed and its error was caught; "
                        "nothing of the transaction was recorded"
                    )
            except BaseException:
                self._tx_depth = 0
                try:
                    self._con.execute("ROLLBACK")
                except duckdb.Error:
                    pass  # the original error is the one that matters
                raise
            self._tx_depth = 0
            self._con.execute("COMMIT")

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._con.execute(sql, params).fetchall()

    # ------------------------------------------------------------------ staging_meta

    def get_meta(self, key: str) -> str | None:
        rows = self._query("SELECT value FROM staging_meta WHERE key = ?", (key,))
        return rows[0][0] if rows else None

    def set_meta(self, key: str, value: str) -> None:
        self._query("INSERT OR REPLACE INTO staging_meta VALUES (?, ?)", (key, value))

    def clear_sync_state(self, object_type: str) -> int:
        """Forget every synced key of an object type (the state belongs to another portal)."""
        n = self.synced_count(object_type)
        self._query("DELETE FROM sync_state WHERE object_type = ?", (object_type,))
        return n

    # ------------------------------------------------------------------ sync_state

    def known_hashes(self, object_type: str, keys: Sequence[str]) -> dict[str, str]:
        """The content hash last synced for each of ``keys`` that HubSpot holds."""
        return {k: h for k, (h, _) in self.known_state(object_type, keys).items() if h is not None}

    def known_state(
        self, object_type: str, keys: Sequence[str]
    ) -> dict[str, tuple[str | None, dict[str, str] | None]]:
        """Per key: the hash last synced, or (after a rebuild) the values HubSpot holds."""
        if not keys:
            return {}
        rows = self._query(
            "SELECT record_key, content_hash, rebuilt_values FROM sync_state "
            "WHERE object_type = ? AND record_key IN (SELECT unnest(?))",
            (object_type, list(keys)),
        )
        return {k: (h, json.loads(v) if v else None) for k, h, v in rows}

    def mark_rebuilt(
        self, object_type: str, load_id: str, records: Sequence[tuple[str, str, dict[str, str]]]
    ) -> None:
        """Record (key, HubSpot id, values) read back from HubSpot; no hash yet: the first
        row of each key is compared with the values it would send (see ``routes.py``).

        A key already in ``sync_state`` (its hash was dropped, see ``drop_hashes``) keeps
        its source table and last-seen load, so mirror mode still knows where it came from.
        """
        if not records:
            return
        now = _now()
        self._query(
            "INSERT INTO sync_state AS s (object_type, record_key, hubspot_id, content_hash, "
            "source_table, first_synced_at, last_synced_at, last_load_id, last_seen_load_id, rebuilt_values) "
            "SELECT ?, k, i, NULL, '(rebuilt from HubSpot)', ?, ?, ?, NULL, v "
            "FROM (SELECT unnest(?) AS k, unnest(?) AS i, unnest(?) AS v) "
            "ON CONFLICT (object_type, record_key) DO UPDATE SET hubspot_id = excluded.hubspot_id, "
            "content_hash = NULL, rebuilt_values = excluded.rebuilt_values",
            (object_type, now, now, load_id, [r[0] for r in records], [r[1] for r in records],
             [json.dumps(r[2], sort_keys=True) for r in records]),
        )

    def drop_hashes(self, object_type: str) -> int:
        """Forget the content hashes of an object type, keeping keys, ids and sources: rows
        without a hash are sent (or compared with rebuilt values) on their next sync."""
        with self._lock:
            n = self.synced_count(object_type)
            self._con.execute(
                "UPDATE sync_state SET content_hash = NULL, rebuilt_values = NULL WHERE object_type = ?",
                (object_type,),
            )
            return n

    def hubspot_ids(self, object_type: str, keys: Sequence[str]) -> dict[str, str]:
        if not keys:
            return {}
        rows = self._query(
            "SELECT record_key, hubspot_id FROM sync_state "
            "WHERE object_type = ? AND record_key IN (SELECT unnest(?)) AND hubspot_id IS NOT NULL",
            (object_type, list(keys)),
        )
        return {k: i for k, i in rows}

    def mark_synced(
        self, object_type: str, source_table: str, load_id: str, rows: Sequence[Synced]
    ) -> None:
        """Record rows HubSpot accepted and close any open rejection of the same keys."""
        if not rows:
            return
        now = _now()
        keys = [r.key for r in rows]
        with self.transaction():
            self._con.execute(
                _UPSERT_SYNCED,
                (object_type, source_table, now, now, load_id, load_id, keys,
                 [r.hubspot_id for r in rows], [r.content_hash for r in rows]),
            )
            if self._any_open_rejection(object_type):
                self._con.execute(_RESOLVE_REJECTIONS, (now, object_type, keys))

    def mark_seen(self, object_type: str, source_table: str, load_id: str, keys: Sequence[str]) -> None:
        """Note that these keys are still in this source table (mirror archives the others)."""
        if keys:
            self._query(
                "UPDATE sync_state SET last_seen_load_id = ?, source_table = ? "
                "WHERE object_type = ? AND record_key IN (SELECT unnest(?))",
                (load_id, source_table, object_type, list(keys)),
            )

    def not_seen_in(
        self, object_type: str, load_ids: Sequence[str], source_tables: Sequence[str]
    ) -> list[tuple[str, str | None]]:
        """(key, HubSpot id) of courses synced from ``source_tables`` that no load delivered.

        Scoped to the tables so a Moodle snapshot never archives Canvas courses, nor courses
        only known from a rebuild, which no table has claimed yet.
        """
        return [
            (k, i) for k, i in self._query(
                "SELECT record_key, hubspot_id FROM sync_state WHERE object_type = ? "
                "AND source_table IN (SELECT unnest(?)) "
                "AND (last_seen_load_id IS NULL OR last_seen_load_id NOT IN (SELECT unnest(?))) "
                "ORDER BY record_key",
                (object_type, list(source_tables), list(load_ids)),
            )
        ]

    def synced_count_in(self, object_type: str, source_tables: Sequence[str]) -> int:
        return int(self._query(
            "SELECT count(*) FROM sync_state WHERE object_type = ? AND source_table IN (SELECT unnest(?))",
            (object_type, list(source_tables)),
        )[0][0])

    def resolve_keys(self, object_type: str, keys: Sequence[str]) -> None:
        """Close open rejections of keys whose synced content is current again."""
        with self._lock:
            if keys and self._any_open_rejection(object_type):
                self._con.execute(_RESOLVE_REJECTIONS, (_now(), object_type, list(keys)))

    def _any_open_rejection(self, object_type: str) -> bool:
        """Usually none are open: checking first spares matching every synced key against
        the table (a tenth of a batch's staging time). Call with the lock held."""
        return self._con.execute(
            "SELECT 1 FROM rejected_rows WHERE object_type = ? AND resolved_at IS NULL LIMIT 1", (object_type,)
        ).fetchone() is not None

    def forget(self, object_type: str, keys: Sequence[str]) -> None:
        """Drop keys from ``sync_state`` (after they were archived in HubSpot)."""
        if keys:
            self._query(
                "DELETE FROM sync_state WHERE object_type = ? AND record_key IN (SELECT unnest(?))",
                (object_type, list(keys)),
            )

    def synced_count(self, object_type: str) -> int:
        return int(self._query(
            "SELECT count(*) FROM sync_state WHERE object_type = ?", (object_type,)
        )[0][0])

    # ------------------------------------------------------------------ rejected_rows

    def record_rejections(
        self, object_type: str, source_table: str, load_id: str, rejections: Sequence[Rejection],
        *, dry_run: bool = False,
    ) -> None:
        """Store rejections; a batch dlt delivers twice (resume after a crash) is stored once.

        A dry run's predicted rejections are stored closed and flagged ``dry_run``: its
        summary can show their reasons, and they never count as open or close a real one.
        """
        if not rejections:
            return
        now = _now()
        if dry_run:
            rejections = [dataclasses.replace(r, resolved=True) for r in rejections]
        # a key rejected again in a later load supersedes its older open rejection, so a row
        # that stays bad is listed once, with its latest reason, not once per nightly run
        if not dry_run:
            self._query(
                "UPDATE rejected_rows SET resolved_at = ? WHERE object_type = ? AND resolved_at IS NULL "
                "AND load_id <> ? AND record_key IN (SELECT unnest(?))",
                (now, object_type, load_id, [r.key for r in rejections if r.key is not None]),
            )
        self._query(
            _INSERT_REJECTED,
            (
                object_type, source_table, load_id, now, now, dry_run,
                [r.key for r in rejections],
                [r.category for r in rejections],
                [r.code for r in rejections],
                [r.message for r in rejections],
                [json.dumps(list(r.property_errors)) if r.property_errors else None for r in rejections],
                [row_to_json(r.source) for r in rejections],
                [r.resolved for r in rejections],
                load_id,
            ),
        )

    def open_rejections(self, object_type: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
        """Unresolved rejections, newest first (what ``rejected list`` shows)."""
        sql = (
            "SELECT rejection_id, object_type, source_table, record_key, category, code, message, "
            "property_errors, row_json, load_id, rejected_at FROM rejected_rows "
            "WHERE resolved_at IS NULL" + (" AND object_type = ?" if object_type else "")
            + " ORDER BY rejection_id DESC" + (f" LIMIT {int(limit)}" if limit else "")
        )
        cols = ("rejection_id", "object_type", "source_table", "record_key", "category", "code",
                "message", "property_errors", "row_json", "load_id", "rejected_at")
        return [dict(zip(cols, r)) for r in self._query(sql, (object_type,) if object_type else ())]

    def resolve_rejections(self, rejection_ids: Sequence[int]) -> None:
        """Close rejections that a replay either fixed or recorded anew."""
        if rejection_ids:
            self._query(
                "UPDATE rejected_rows SET resolved_at = ? WHERE resolved_at IS NULL "
                "AND rejection_id IN (SELECT unnest(?))",
                (_now(), list(rejection_ids)),
            )

    # ------------------------------------------------------------------ one batch, whole

    def record_batch(self, o: BatchOutcome) -> None:
        """Store everything a batch did in one transaction: recorded whole or not at all.

        A dry run records only which keys the source still has, its predicted rejections
        (closed, flagged ``dry_run``) and the counts (README "Dry run"); the job runs its dry
        runs on a throwaway copy of this file.
        """
        if o.enrollments is not None:
            self._record_enrollment_batch(o)
            return
        with self.transaction():
            if not o.dry_run:
                # synced first: it closes open rejections of these keys, and a key whose later
                # row of the same batch was rejected must keep that new rejection open
                self.mark_synced(o.object_type, o.table, o.load_id, o.synced)
            self.record_rejections(o.object_type, o.table, o.load_id, o.rejections, dry_run=o.dry_run)
            # mark_synced already noted the synced keys as seen; a second write of those rows
            # cost as much as the first
            just_synced = {r.key for r in o.synced} if not o.dry_run else set()
            self.mark_seen(o.object_type, o.table, o.load_id, [k for k in o.seen_keys if k not in just_synced])
            if not o.dry_run:
                # rows equal to a rebuilt record get their hash; other unchanged rows need no
                # write, but an open rejection of their key is moot: the source is back to
                # what HubSpot holds
                self.mark_synced(o.object_type, o.table, o.load_id, o.adopted)
                self.resolve_keys(o.object_type, o.unchanged_keys)
            self.put_run_counts(o.load_id, o.table, o.batch_id, o.object_type, o.counts,
                                dry_run=o.dry_run, started_at=o.started_at)

    # ------------------------------------------------------------------ enrollments

    def _record_enrollment_batch(self, o: BatchOutcome) -> None:
        """An enrollments batch: rejections, contacts and associations synced, identities
        still in the source, and its counts, in one transaction (removals follow, see
        ``EnrollmentsRoute.archive``). A dry run records, like a course batch, only its predicted
        rejections, the identities still in the source and the counts."""
        e = o.enrollments
        assert e is not None
        now = _now()
        with self.transaction():
            self.record_rejections(o.object_type, o.table, o.load_id, o.rejections, dry_run=o.dry_run)
            if not o.dry_run:
                if e.contacts:
                    self._con.execute(
                        "INSERT INTO contact_state AS s (email, contact_id, content_hash, last_synced_at, "
                        "last_load_id, properties) SELECT e, i, h, ?, ?, p "
                        "FROM (SELECT unnest(?) AS e, unnest(?) AS i, unnest(?) AS h, unnest(?) AS p) "
                        "ON CONFLICT (email) DO UPDATE SET contact_id = excluded.contact_id, "
                        "content_hash = excluded.content_hash, last_synced_at = excluded.last_synced_at, "
                        "last_load_id = excluded.last_load_id, properties = excluded.properties",
                        (now, o.load_id, [c[0] for c in e.contacts], [c[1] for c in e.contacts],
                         [c[2] for c in e.contacts], [c[3] for c in e.contacts]),
                    )
                if e.associated:
                    a = e.associated
                    self._con.execute(
                        "INSERT INTO enrollment_state AS s SELECT k, e, c, p, l, ?, ?, ?, ?, ? "
                        "FROM (SELECT unnest(?) AS k, unnest(?) AS e, unnest(?) AS c, unnest(?) AS p, unnest(?) AS l) "
                        "ON CONFLICT (course_key, email) DO UPDATE SET course_id = excluded.course_id, "
                        "contact_id = excluded.contact_id, label = excluded.label, source_table = excluded.source_table, "
                        "last_synced_at = excluded.last_synced_at, last_load_id = excluded.last_load_id, "
                        "last_seen_load_id = excluded.last_seen_load_id",
                        (o.table, now, now, o.load_id, o.load_id, [x[0] for x in a], [x[1] for x in a],
                         [x[2] for x in a], [x[3] for x in a], [x[4] for x in a]),
                    )
                if e.stale_contacts:
                    self._con.execute("DELETE FROM contact_state WHERE email IN (SELECT unnest(?))",
                                      (list(e.stale_contacts),))
                self.resolve_keys(o.object_type, e.in_sync_keys)
            if e.seen:  # a dry run too, as for courses: its mirror must see what the load has
                self._con.execute(
                    "UPDATE enrollment_state SET last_seen_load_id = ?, source_table = ? "
                    "WHERE (course_key, email) IN (SELECT (unnest(?), unnest(?)))",
                    (o.load_id, o.table, [x[0] for x in e.seen], [x[1] for x in e.seen]),
                )
            self.put_enrollment_counts(o.load_id, o.table, o.batch_id, e.counts, dry_run=o.dry_run,
                                       started_at=o.started_at)

    def contact_states(self, emails: Sequence[str]) -> dict[str, tuple[str | None, str | None, dict[str, str] | None]]:
        """Per lower-cased email: (HubSpot contact id, content hash last sent, every property
        value sent so far; None in a file written before they were kept)."""
        if not emails:
            return {}
        rows = self._query(
            "SELECT email, contact_id, content_hash, properties FROM contact_state WHERE email IN (SELECT unnest(?))",
            (list(emails),),
        )
        return {e: (i, h, json.loads(p) if p else None) for e, i, h, p in rows}

    def enrollment_states(self, identities: Sequence[tuple[str, str]]) -> dict[tuple[str, str], tuple[str, str, str]]:
        """Per (course key, lower-cased email) associated in HubSpot: (course id, contact id, label)."""
        if not identities:
            return {}
        rows = self._query(
            "SELECT course_key, email, course_id, contact_id, label FROM enrollment_state "
            "WHERE (course_key, email) IN (SELECT (unnest(?), unnest(?)))",
            ([i[0] for i in identities], [i[1] for i in identities]),
        )
        return {(k, e): (c, p, lb or "") for k, e, c, p, lb in rows}

    def forget_enrollments(self, identities: Sequence[tuple[str, str]]) -> None:
        """Drop associations that were archived in HubSpot (contacts stay)."""
        if identities:
            self._query(
                "DELETE FROM enrollment_state WHERE (course_key, email) IN (SELECT (unnest(?), unnest(?)))",
                ([i[0] for i in identities], [i[1] for i in identities]),
            )

    def enrollments_not_seen(
        self, load_ids: Sequence[str], source_tables: Sequence[str]
    ) -> list[tuple[str, str, str, str]]:
        """(course key, email, course id, contact id) of associations synced from
        ``source_tables`` that none of ``load_ids`` delivered (mirror mode)."""
        return [tuple(r) for r in self._query(  # type: ignore[misc]
            "SELECT course_key, email, course_id, contact_id FROM enrollment_state "
            "WHERE source_table IN (SELECT unnest(?)) "
            "AND (last_seen_load_id IS NULL OR last_seen_load_id NOT IN (SELECT unnest(?))) ORDER BY 1, 2",
            (list(source_tables), list(load_ids)),
        )]

    def enrollment_count_in(self, source_tables: Sequence[str]) -> int:
        return int(self._query(
            "SELECT count(*) FROM enrollment_state WHERE source_table IN (SELECT unnest(?))", (list(source_tables),),
        )[0][0])

    def enrollment_tables_of(self, load_ids: Iterable[str]) -> list[str]:
        """The enrollment tables these loads delivered rows of."""
        return [t for (t,) in self._query(
            "SELECT DISTINCT source_table FROM enrollment_runs WHERE load_id IN (SELECT unnest(?)) "
            "AND source_table <> '(mirror)' ORDER BY 1",
            (list(load_ids),),
        )]

    def put_enrollment_counts(
        self, load_id: str, source_table: str, batch_id: str, c: EnrollmentCounts, *,
        dry_run: bool = False, started_at: datetime | None = None,
    ) -> None:
        """One enrollments batch's counts; a batch dlt delivers again updates its row (``_redelivered``)."""
        now = _now()
        self._query(
            "INSERT INTO enrollment_runs AS r (load_id, source_table, batch_id, dry_run, started_at, "
            "finished_at, " + ", ".join(ENROLLMENT_SUMMARY_FIELDS) + ") VALUES ("
            + ", ".join("?" * (6 + len(ENROLLMENT_SUMMARY_FIELDS))) + ") " + _ENROLLMENT_REDELIVERED,
            (load_id, source_table, batch_id, dry_run, started_at or now, now,
             *(getattr(c, f) for f in ENROLLMENT_SUMMARY_FIELDS)),
        )

    def enrollment_summary(self, load_ids: Iterable[str]) -> dict[str, int]:
        """Totals of the enrollment batches of ``load_ids``: contacts created, updated and
        unchanged, associations added, removed and unchanged, removals with nothing to
        remove, rejections, requests."""
        return self._totals("enrollment_runs", ENROLLMENT_SUMMARY_FIELDS, load_ids)

    # ------------------------------------------------------------------ sync_runs

    def put_run_counts(
        self, load_id: str, source_table: str, batch_id: str, object_type: str, counts: RunCounts, *,
        dry_run: bool = False, started_at: datetime | None = None,
    ) -> None:
        """Store one batch's counts; a batch re-delivered by dlt updates its row, never adds one
        (what either delivery changed stays counted, see ``_redelivered``)."""
        now = _now()
        self._query(
            _PUT_RUN_COUNTS,
            (load_id, source_table, batch_id, object_type, dry_run, started_at or now, now,
             counts.rows_seen, counts.created, counts.updated, counts.unchanged, counts.rejected,
             counts.archived, counts.requests, counts.responses_429),
        )

    def tables_of(self, load_ids: Iterable[str]) -> list[str]:
        """The source tables these loads delivered rows of."""
        return [t for (t,) in self._query(
            "SELECT DISTINCT source_table FROM sync_runs WHERE load_id IN (SELECT unnest(?)) ORDER BY 1",
            (list(load_ids),),
        )]

    def load_summary(self, load_ids: Iterable[str]) -> dict[str, int]:
        """Totals over ``load_ids`` (a pipeline run may produce several load packages)."""
        return self._totals("sync_runs", SUMMARY_FIELDS, load_ids)

    def _totals(self, table: str, fields: Sequence[str], load_ids: Iterable[str]) -> dict[str, int]:
        """Sums of the counter columns ``fields`` of ``table`` over the batches of ``load_ids``."""
        ids = list(load_ids)
        if not ids:
            return {f: 0 for f in fields}
        row = self._query(
            "SELECT " + ", ".join(f"coalesce(sum({f}), 0)" for f in fields)
            + f" FROM {table} WHERE load_id IN (SELECT unnest(?))",
            (ids,),
        )[0]
        return {f: int(v) for f, v in zip(fields, row)}

    def top_rejections(self, load_ids: Iterable[str], limit: int = 5) -> list[tuple[str, int]]:
        """The most frequent rejection reasons of these loads, as (reason, count).

        A reason is grouped by exactly what it prints: category, code and the properties at
        fault (``VALIDATION_ERROR/INVALID_INTEGER course_length_days``); one message of the
        group follows as an example.
        """
        ids = list(load_ids)
        if not ids:
            return []
        rows = self._query(
            "SELECT category, code, property_errors, min(message), count(*) FROM rejected_rows "
            "WHERE load_id IN (SELECT unnest(?)) AND category <> 'SUPERSEDED' "
            "GROUP BY category, code, property_errors",
            (ids,),
        )
        groups: dict[str, list[Any]] = {}
        for cat, code, errors, message, n in rows:
            reason = rejection_reason_key(cat, code, errors)
            group = groups.setdefault(reason, [0, message])
            group[0] += int(n)
            group[1] = min(group[1] or "", message or "")
        ranked = sorted(groups.items(), key=lambda kv: (-kv[1][0], kv[0]))[:limit]
        return [(f"{reason}  (e.g. {_clip(message)})" if message else reason, n) for reason, (n, message) in ranked]

    # ------------------------------------------------------------------ created_properties

    def record_created_property(
        self, load_id: str, object_type: str, name: str, type_: str, field_type: str, *, dry_run: bool = False
    ) -> None:
        """Note a HubSpot property a load created (or, in a dry run, would create)."""
        self._query(
            "INSERT INTO created_properties VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (load_id, object_type, name, type_, field_type, dry_run, _now()),
        )

    def created_properties(self, load_ids: Iterable[str]) -> list[str]:
        """``name (type/fieldType)`` of every property these loads created, by name."""
        rows = self._query(
            "SELECT DISTINCT name, type, field_type FROM created_properties "
            "WHERE load_id IN (SELECT unnest(?)) ORDER BY name",
            (list(load_ids),),
        )
        return [f"{name} ({t}/{ft})" for name, t, ft in rows]


def rejection_reason_key(category: str, code: str | None, property_errors: str | None) -> str:
    """``CATEGORY/CODE prop1,prop2``: what a summary groups rejections by, and prints."""
    head = f"{category}{'/' + code if code and code != category else ''}"
    names: list[str] = []
    try:
        for error in json.loads(property_errors) if property_errors else []:
            name = error.get("name") if isinstance(error, Mapping) else None
            if name and name not in names:
                names.append(str(name))
    except (ValueError, TypeError):
        pass
    return f"{head} {','.join(sorted(names))}" if names else head


def _clip(text: str, limit: int = 90) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
