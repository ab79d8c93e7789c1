"""DuckDB storage of course records and property definitions, and of contacts, course-contact
associations and user-defined association labels (written through by contacts.py and
associations.py, which keep their working copy in memory).

Records live in DuckDB (one table, properties as JSON text) so a `--db` file survives restarts
and users can inspect it with SQL. One connection is shared behind a re-entrant lock: the
batch handlers hold the lock across read-validate-write, which is what makes two concurrent
upserts of the same new key create one record, not two. An in-memory index of unique values
(property, value) -> record id keeps key resolution O(1) without a query per input.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from typing import Any, Iterable

import duckdb
import orjson

from .catalog import PropertyDef

# GUESS: HubSpot record ids are large integers; the range used by courses is not documented.
FIRST_RECORD_ID = 30_000_000_001


@dataclass
class Record:
    """One course record as stored; `properties` hold only non-empty values."""

    id: int
    properties: dict[str, str]
    created_at: str
    updated_at: str
    archived: bool = False
    archived_at: str | None = None

    def to_json(self, only: Iterable[str] | None = None) -> dict[str, Any]:
        """`SimplePublicObject` (docs/hubspot-behaviour.md, "Reading and archiving"): id as a
        string, properties string->string."""
        props = self.properties if only is None else {
            k: self.properties[k] for k in only if k in self.properties
        }
        body: dict[str, Any] = {
            "id": str(self.id),
            "properties": dict(props),
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
            "archived": self.archived,
        }
        if self.archived_at:
            body["archivedAt"] = self.archived_at
        return body


@dataclass
class Store:
    """The sandbox's persistent state. Every public method takes `lock` itself."""

    db_path: str | None = None
    lock: threading.RLock = field(default_factory=threading.RLock)

    def __post_init__(self) -> None:
        self._con = duckdb.connect(self.db_path or ":memory:")
        self._con.execute(
            "CREATE TABLE IF NOT EXISTS records (id BIGINT, properties VARCHAR, created_at VARCHAR,"
            " updated_at VARCHAR, archived BOOLEAN, archived_at VARCHAR)"
        )
        self._con.execute(
            "CREATE TABLE IF NOT EXISTS property_definitions (name VARCHAR, definition VARCHAR)"
        )
        self._con.execute(
            "CREATE TABLE IF NOT EXISTS contacts (id BIGINT, properties VARCHAR, created_at VARCHAR,"
            " updated_at VARCHAR, archived BOOLEAN, archived_at VARCHAR)"
        )
        self._con.execute(
            "CREATE TABLE IF NOT EXISTS association_pairs (course_id VARCHAR, contact_id VARCHAR, type_ids VARCHAR)"
        )
        self._con.execute(
            "CREATE TABLE IF NOT EXISTS association_labels (from_type VARCHAR, to_type VARCHAR,"
            " category VARCHAR, type_id BIGINT, label VARCHAR)"
        )
        self._unique_props: set[str] = set()
        self._index: dict[tuple[str, str], int] = {}
        row = self._con.execute("SELECT max(id) FROM records").fetchone()
        self._next_id = max(FIRST_RECORD_ID, (row[0] or 0) + 1) if row else FIRST_RECORD_ID

    # -- property definitions ---------------------------------------------------------------
    def load_properties(self) -> dict[str, PropertyDef]:
        with self.lock:
            rows = self._con.execute("SELECT definition FROM property_definitions").fetchall()
        return {p.name: p for p in (PropertyDef.from_json(json.loads(r[0])) for r in rows)}

    def save_properties(self, defs: Iterable[PropertyDef]) -> None:
        defs = list(defs)
        if not defs:
            return
        with self.lock:
            self._con.execute("BEGIN")
            try:
                self._con.execute(
                    "DELETE FROM property_definitions WHERE name IN (SELECT unnest(?::VARCHAR[]))",
                    [[d.name for d in defs]],
                )
                params = [x for d in defs for x in (d.name, json.dumps(d.to_json()))]
                self._con.execute(
                    "INSERT INTO property_definitions VALUES " + ",".join(["(?, ?)"] * len(defs)), params
                )
                self._con.execute("COMMIT")
            except Exception:
                self._con.execute("ROLLBACK")
                raise

    def set_unique_properties(self, names: Iterable[str]) -> None:
        """(Re)build the unique-value index for these properties from the live records."""
        with self.lock:
            self._unique_props = set(names)
            self._index = {}
            for rec in self.all_records(include_archived=False):
                self._index_add(rec)

    # -- unique index -------------------------------------------------------------------------
    def _index_add(self, rec: Record) -> None:
        for name in self._unique_props:
            v = rec.properties.get(name)
            if v:
                self._index[(name, v)] = rec.id

    def _index_remove(self, rec: Record) -> None:
        for name in self._unique_props:
            v = rec.properties.get(name)
            if v and self._index.get((name, v)) == rec.id:
                del self._index[(name, v)]

    def lookup(self, prop: str, value: str) -> int | None:
        """The live record whose unique property `prop` equals `value` (exact match)."""
        # GUESS: unique string matching is case-sensitive (docs/hubspot-behaviour.md,
        # "Result order").
        with self.lock:
            return self._index.get((prop, value))

    # -- records ----------------------------------------------------------------------------
    def allocate_ids(self, n: int) -> list[int]:
        with self.lock:
            first = self._next_id
            self._next_id += n
            return list(range(first, first + n))

    @staticmethod
    def _row_to_record(row: tuple[Any, ...]) -> Record:
        return Record(
            id=int(row[0]), properties=json.loads(row[1]), created_at=row[2], updated_at=row[3],
            archived=bool(row[4]), archived_at=row[5],
        )

    def get_many(self, ids: Iterable[int], include_archived: bool = False) -> dict[int, Record]:
        """Records by HubSpot id, one query for the whole batch."""
        ids = sorted(set(int(i) for i in ids))
        if not ids:
            return {}
        with self.lock:
            rows = self._con.execute(
                "SELECT * FROM records WHERE id IN (SELECT unnest(?::BIGINT[]))"
                + ("" if include_archived else " AND NOT archived"),
                [ids],
            ).fetchall()
        return {r.id: r for r in map(self._row_to_record, rows)}

    def write(self, records: list[Record], previous: dict[int, Record]) -> None:
        """Insert or replace `records` in one transaction; `previous` keeps the index right.

        Columns go in as one list parameter each: a 100-row ``VALUES`` list with 600
        parameters cost DuckDB ~15 ms to bind, ten times the insert itself. Only records
        that existed are deleted first (the delete scans the table).
        """
        if not records:
            return
        replaced = [r.id for r in records if r.id in previous]
        columns = [
            [r.id for r in records],
            [orjson.dumps(r.properties).decode() for r in records],
            [r.created_at for r in records],
            [r.updated_at for r in records],
            [r.archived for r in records],
            [r.archived_at for r in records],
        ]
        insert = (
            "INSERT INTO records SELECT unnest(?::BIGINT[]), unnest(?::VARCHAR[]), unnest(?::VARCHAR[]),"
            " unnest(?::VARCHAR[]), unnest(?::BOOLEAN[]), unnest(?::VARCHAR[])"
        )
        with self.lock:
            if not replaced:
                self._con.execute(insert, columns)  # one statement: its own transaction
            else:
                self._con.execute("BEGIN")
                try:
                    self._con.execute("DELETE FROM records WHERE id IN (SELECT unnest(?::BIGINT[]))", [replaced])
                    self._con.execute(insert, columns)
                    self._con.execute("COMMIT")
                except Exception:
                    self._con.execute("ROLLBACK")
                    raise
            for r in records:
                if r.id in previous:
                    self._index_remove(previous[r.id])
                if not r.archived:
                    self._index_add(r)

    def archive(self, ids: Iterable[int], at: str) -> int:
        """Archive live records; unknown or already archived ids are ignored. Returns the count."""
        with self.lock:
            live = self.get_many(ids)
            if not live:
                return 0
            self._con.execute(
                "UPDATE records SET archived = true, archived_at = ? WHERE id IN (SELECT unnest(?::BIGINT[]))",
                [at, sorted(live)],
            )
            for rec in live.values():
                self._index_remove(rec)
            return len(live)

    def page(self, after: int | None, limit: int, archived: bool) -> tuple[list[Record], bool]:
        """Records in id order after `after`; the bool says whether more follow."""
        with self.lock:
            rows = self._con.execute(
                "SELECT * FROM records WHERE archived = ? AND id > ? ORDER BY id LIMIT ?",
                [archived, after if after is not None else -1, limit + 1],
            ).fetchall()
        recs = [self._row_to_record(r) for r in rows]
        return recs[:limit], len(recs) > limit

    def all_records(self, include_archived: bool = False) -> list[Record]:
        with self.lock:
            rows = self._con.execute(
                "SELECT * FROM records" + ("" if include_archived else " WHERE NOT archived") + " ORDER BY id"
            ).fetchall()
        return [self._row_to_record(r) for r in rows]

    def count_live(self) -> int:
        """How many records are not archived (the usage of the portal's record limit)."""
        with self.lock:
            row = self._con.execute("SELECT count(*) FROM records WHERE NOT archived").fetchone()
        return int(row[0]) if row else 0

    def find_by(self, prop: str, value: str, include_archived: bool = False) -> list[Record]:
        """Records whose property equals value, by a JSON query (for tests; not on hot paths)."""
        with self.lock:
            rows = self._con.execute(
                "SELECT * FROM records WHERE json_extract_string(properties, ?) = ?"
                + ("" if include_archived else " AND NOT archived") + " ORDER BY id",
                [f'$."{prop}"', value],
            ).fetchall()
        return [self._row_to_record(r) for r in rows]

    # -- contacts, associations, labels (kept in memory by their APIs, written through here) --
    @property
    def persistent(self) -> bool:
        """Whether a file backs this store: only then is writing through worth its cost."""
        return bool(self.db_path)

    def load_contacts(self) -> list[Record]:
        with self.lock:
            rows = self._con.execute("SELECT * FROM contacts ORDER BY id").fetchall()
        return [self._row_to_record(r) for r in rows]

    def save_contacts(self, records: Iterable[Record]) -> None:
        """Insert or replace these contacts in one transaction."""
        records = list(records)
        if not records:
            return
        columns = [
            [r.id for r in records], [orjson.dumps(r.properties).decode() for r in records],
            [r.created_at for r in records], [r.updated_at for r in records],
            [r.archived for r in records], [r.archived_at for r in records],
        ]
        with self.lock:
            self._transaction(
                ("DELETE FROM contacts WHERE id IN (SELECT unnest(?::BIGINT[]))", [columns[0]]),
                ("INSERT INTO contacts SELECT unnest(?::BIGINT[]), unnest(?::VARCHAR[]), unnest(?::VARCHAR[]),"
                 " unnest(?::VARCHAR[]), unnest(?::BOOLEAN[]), unnest(?::VARCHAR[])", columns),
            )

    def load_pairs(self) -> dict[tuple[str, str], set[int]]:
        """(course id, contact id) -> type ids of both directions."""
        with self.lock:
            rows = self._con.execute("SELECT course_id, contact_id, type_ids FROM association_pairs").fetchall()
        return {(c, p): set(json.loads(t)) for c, p, t in rows}

    def save_pairs(self, pairs: dict[tuple[str, str], set[int]]) -> None:
        """Replace the stored types of these pairs; a pair without types is removed."""
        if not pairs:
            return
        kept = [(k, ts) for k, ts in pairs.items() if ts]
        with self.lock:
            self._transaction(
                ("DELETE FROM association_pairs WHERE (course_id, contact_id) IN "
                 "(SELECT (unnest(?::VARCHAR[]), unnest(?::VARCHAR[])))",
                 [[c for c, _ in pairs], [p for _, p in pairs]]),
                ("INSERT INTO association_pairs SELECT unnest(?::VARCHAR[]), unnest(?::VARCHAR[]),"
                 " unnest(?::VARCHAR[])",
                 [[k[0] for k, _ in kept], [k[1] for k, _ in kept], [json.dumps(sorted(ts)) for _, ts in kept]]),
            )

    def load_labels(self) -> list[tuple[str, str, str, int, str | None]]:
        """User-defined association labels: (from type, to type, category, type id, label)."""
        with self.lock:
            rows = self._con.execute("SELECT * FROM association_labels ORDER BY type_id").fetchall()
        return [(f, t, c, int(i), lb) for f, t, c, i, lb in rows]

    def save_labels(self, labels: Iterable[tuple[str, str, str, int, str | None]]) -> None:
        rows = list(labels)
        if rows:
            with self.lock:
                self._con.executemany("INSERT INTO association_labels VALUES (?, ?, ?, ?, ?)", rows)

    def _transaction(self, *statements: tuple[str, list[Any]]) -> None:
        self._con.execute("BEGIN")
        try:
            for sql, params in statements:
                self._con.execute(sql, params)
            self._con.execute("COMMIT")
        except Exception:
            self._con.execute("ROLLBACK")
            raise

    def close(self) -> None:
        with self.lock:
            self._con.close()
