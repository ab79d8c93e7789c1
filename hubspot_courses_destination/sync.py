"""One dlt batch, start to finish: route, coerce, dedupe, diff, send, reconcile.

Every row that enters ``sync_batch`` ends in exactly one of: synced (created/updated),
unchanged (skipped by hash), archived, or recorded in ``rejected_rows`` with a reason.
Only configuration problems raise; a row HubSpot refuses never does (raising
for one bad row would keep the load package pending and block every later run).
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Mapping, Sequence
from urllib.parse import urlsplit

from .hubspot import HubSpotClient, RowOutcome, UpsertRow
from .config import DestinationSettings
from .mapping import (
    CONTENT_HASH_FORMAT,
    BatchPlan,
    CoercionError,
    MappedRow,
    PropertySpec,
    RowRejection,
    content_hash,
    plan_batch,
    to_hubspot_value,
)
from .properties import PropertyCatalog, key_columns, target_columns
from .staging import RejectedRecord, RunCounts, Staging, SyncedRow

__all__ = ["SyncContext", "sync_batch", "context_for"]

log = logging.getLogger("hubspot_courses_destination")


class SyncContext:
    """What the batches of one process share for one portal, object type and staging file:
    one HTTP client (and so one rate limiter and connection pool), one staging connection,
    and the property catalog of each load package (preflight runs once per load)."""

    def __init__(self, settings: DestinationSettings) -> None:
        self.settings = settings
        self.client = HubSpotClient(
            settings.access_token,
            settings.api_base_url,
            requests_per_10s=settings.requests_per_10s,
            max_concurrency=settings.max_concurrency,
        )
        self._catalogs: dict[str, PropertyCatalog] = {}
        self._state_checked: set[str] = set()
        self._lock = threading.Lock()

    @property
    def staging(self) -> Staging:
        """Looked up per use: the file may have been closed (and reopened) in between."""
        return Staging.shared(self.settings.staging_path)

    def catalog(self, load_id: str) -> PropertyCatalog:
        with self._lock:
            catalog = self._catalogs.get(load_id)
            if catalog is None:
                # only the current load's catalog is kept: a new load re-reads the portal
                self._catalogs = {load_id: PropertyCatalog(
                    self.client, self.settings, on_create=lambda spec: self._note_created(load_id, spec)
                )}
                catalog = self._catalogs[load_id]
            return catalog

    def _note_created(self, load_id: str, spec: PropertySpec) -> None:
        """Every property a load creates is listed in the run summary (a typo in a column name
        would otherwise become a portal property unnoticed)."""
        self.staging.record_created_property(
            load_id, self.settings.object_type, spec.name, spec.type, spec.field_type,
            dry_run=self.settings.dry_run,
        )

    def ensure_state(self, load_id: str, specs: Mapping[str, PropertySpec]) -> None:
        """Bind the staging file to the portal, and rebuild ``sync_state`` from HubSpot when
        the file is new or empty.

        A fresh CI runner or a lost staging file would otherwise re-send every course. The
        rebuild lists the object's records with every writable property: one read request
        per 100 records in the portal (README "Lost state").
        """
        s = self.settings
        if s.dry_run:
            return
        with self._lock:
            if load_id in self._state_checked:
                return
            self._bind_portal()
            format_key = f"content_hash_format:{s.object_type}"
            format_current = self.staging.get_meta(format_key) == CONTENT_HASH_FORMAT
            hashes_dropped = not format_current and self._drop_hashes_of_older_format()
            if s.rebuild_state and not s.full_resync and (
                hashes_dropped or self.staging.synced_count(s.object_type) == 0
            ):
                records = rebuilt_state(self.client, s, specs)
                self.staging.mark_rebuilt(s.object_type, load_id, records)
                log.info("rebuilt sync_state from HubSpot: %d courses already there", len(records))
            # only now: if the rebuild failed, the next batch or load drops and rebuilds again
            if not format_current:
                self.staging.set_meta(format_key, CONTENT_HASH_FORMAT)
            self._state_checked.add(load_id)

    def _drop_hashes_of_older_format(self) -> bool:
        """Hashes written by an older release of this package use another format: every row
        would look changed and be sent again, bumping each record's last-modified date and
        possibly firing workflows. Their hashes are dropped instead (keys, ids and sources
        stay), so the rebuild compares rows with what HubSpot holds: reads, one per 100
        courses, no writes. Returns whether there were hashes to drop."""
        s = self.settings
        dropped = self.staging.drop_hashes(s.object_type)
        if dropped:
            log.warning(
                "staging file %s holds content hashes of an older format for %d courses; %s",
                s.staging_path, dropped,
                "comparing them with HubSpot's records instead" if s.rebuild_state and not s.full_resync
                else "they are sent again once (rebuild_state is off)",
            )
        return dropped > 0

    def _bind_portal(self) -> None:
        """Tie the staging file to one portal.

        ``sync_state`` says what *a* portal holds; against another portal (a test portal's
        staging file used for production) it would skip every row as unchanged and send
        nothing. On a mismatch the state is dropped, and rebuilt from the new portal.
        """
        s, staging = self.settings, self.staging
        portal = portal_identity(self.client, s)
        bound = staging.get_meta(f"portal:{s.object_type}")
        if bound is not None and bound != portal:
            dropped = staging.clear_sync_state(s.object_type)
            log.warning(
                "staging file %s was last used with another HubSpot portal; dropped its sync_state "
                "(%d courses) so nothing is skipped by mistake", s.staging_path, dropped,
            )
        if bound != portal:
            staging.set_meta(f"portal:{s.object_type}", portal)


def portal_identity(client: HubSpotClient, settings: DestinationSettings) -> str:
    """The API host and the portal (hub) id; the token fingerprint when the id is unreadable.

    The id survives token rotation, so a new token does not cost a rebuild.
    """
    host = urlsplit(settings.api_base_url).hostname or settings.api_base_url
    portal_id = client.portal_id()
    return f"{host}/{portal_id}" if portal_id is not None else f"{host}/token:{settings.token_fingerprint}"


def rebuilt_state(
    client: HubSpotClient,
    settings: DestinationSettings,
    specs: Mapping[str, PropertySpec],
) -> list[tuple[str, str, dict[str, str]]]:
    """(key, HubSpot id, values) of every record, values coerced the way rows are.

    Values go through the same coercion as rows, so HubSpot's formats (e.g. a datetime
    without milliseconds) compare like ours. Every writable property is read because each
    source table sends its own set; the comparison happens per row, over what it sends.
    """
    names = sorted(n for n, spec in specs.items() if not spec.read_only)
    out: list[tuple[str, str, dict[str, str]]] = []
    for record in client.iter_records(settings.object_type, properties=names):
        props = record.get("properties") or {}
        key = props.get(settings.id_property)
        if not key:
            continue
        values: dict[str, str] = {}
        for name in names:
            raw = props.get(name)
            if raw in (None, ""):
                continue
            try:
                coerced = to_hubspot_value(raw, specs[name])
            except CoercionError:
                coerced = str(raw)
            if coerced is not None:
                values[name] = coerced
        values[settings.id_property] = str(key)
        out.append((str(key), str(record["id"]), values))
    return out


def unchanged_keys(
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


_contexts: dict[tuple[Any, ...], SyncContext] = {}
_contexts_lock = threading.Lock()


def context_for(settings: DestinationSettings) -> SyncContext:
    """The process-wide context for these settings (created on first use)."""
    key = settings.cache_key()
    with _contexts_lock:
        ctx = _contexts.get(key)
        if ctx is None:
            ctx = SyncContext(settings)
            _contexts[key] = ctx
        return ctx


@dataclass(frozen=True)
class _Sent:
    outcomes: list[RowOutcome]
    requests: int
    responses_429: int


def _send(client: HubSpotClient, settings: DestinationSettings, rows: Sequence[MappedRow]) -> _Sent:
    if not rows:
        return _Sent([], 0, 0)
    inputs = [UpsertRow(key=r.key, properties=r.properties) for r in rows]
    result = client.batch_upsert(settings.object_type, settings.id_property, inputs)
    return _Sent(list(result), result.requests, result.responses_429)


def _rejected(r: RowRejection, *, resolved: bool = False) -> RejectedRecord:
    errors = [{"name": name, "code": r.code, "message": text} for name, text in r.properties]
    return RejectedRecord(r.key, r.category, r.code, r.message, r.source, resolved=resolved,
                          property_errors=errors)


def _reconcile(
    plan_rows: Sequence[MappedRow], outcomes: Sequence[RowOutcome]
) -> tuple[list[SyncedRow], list[RejectedRecord], int, int]:
    """Outcomes are matched to rows by key (the client matched them by trace id)."""
    by_key = {r.key: r for r in plan_rows}
    synced: list[SyncedRow] = []
    rejected: list[RejectedRecord] = []
    created = updated = 0
    for o in outcomes:
        row = by_key[o.key]
        if o.status == "rejected":
            rejected.append(RejectedRecord(
                o.key, o.category or "UNKNOWN", o.code, o.message, row.source,
                property_errors=[
                    {"name": e.name, "code": e.code, "message": e.message} for e in o.property_errors
                ],
            ))
            continue
        synced.append(SyncedRow(o.key, o.hubspot_id, row.content_hash))
        if o.status == "created":
            created += 1
        else:
            updated += 1
    return synced, rejected, created, updated


def found_ids(client: HubSpotClient, settings: DestinationSettings, keys: Sequence[str]) -> dict[str, str]:
    """HubSpot record ids of these keys, read by the id property (unknown keys are left out)."""
    records = client.batch_read(
        settings.object_type, keys, id_property=settings.id_property, properties=[settings.id_property]
    )
    return {
        str(r["properties"][settings.id_property]): str(r["id"])
        for r in records
        if (r.get("properties") or {}).get(settings.id_property)
    }


def archive_keys(ctx: SyncContext, keys: Sequence[str]) -> int:
    """Archive the HubSpot records of these keys and forget them in ``sync_state``.

    Ids come from staging, else from a batch read by the id property; keys HubSpot never
    had are no-ops. Returns how many records were archived.
    """
    s = ctx.settings
    ids = ctx.staging.hubspot_ids(s.object_type, keys)
    unknown = [k for k in keys if k not in ids]
    if unknown:
        ids.update(found_ids(ctx.client, s, unknown))
    if ids:
        ctx.client.batch_archive(s.object_type, sorted(set(ids.values())))
    ctx.staging.forget(s.object_type, keys)
    return len(ids)


def _keys_seen(plan: BatchPlan) -> list[str]:
    """Keys the source still has (mirror mode must not archive them, even if rejected now)."""
    keys = {r.key for r in plan.upserts}
    keys.update(r.key for r in plan.rejections if r.key is not None)
    return sorted(keys)


def batch_id(rows: Sequence[Mapping[str, Any]], key_columns: Sequence[str]) -> str:
    """Identity of a dlt batch: dlt re-delivers the same rows after a crash, and their
    counts must replace, not add to, the first delivery's (at-least-once delivery).
    Every key column counts: keys in a variant column would otherwise all read as None."""
    digest = hashlib.sha1(str(len(rows)).encode())
    for row in rows:
        key = next((row[c] for c in key_columns if row.get(c) is not None), None)
        digest.update(b"\x1f" + str(key).encode("utf-8", "replace"))
    return digest.hexdigest()[:16]


def sync_batch(
    rows: Sequence[Mapping[str, Any]],
    table: Mapping[str, Any],
    load_id: str,
    settings: DestinationSettings,
) -> RunCounts:
    """Sync one batch of rows of one dlt table and record every outcome in staging."""
    started_at = datetime.now(timezone.utc)
    t0 = time.perf_counter()
    ctx = context_for(settings)
    table_name = str(table["name"])
    counts = RunCounts(rows_seen=len(rows))
    columns = table.get("columns") or {}
    keys = key_columns(columns, settings)

    if table.get("parent"):
        plan = BatchPlan(rejections=[
            RowRejection(None, "NESTED_TABLE", "NESTED_TABLE",
                         f"rows of nested table {table_name!r} cannot be routed to HubSpot; keep "
                         "max_table_nesting=0 on the resource so lists stay in one column", row)
            for row in rows
        ])
    else:
        specs = ctx.catalog(load_id).ensure(columns)  # preflight: raises before any write
        send, delete_columns = target_columns(columns, settings)
        ctx.ensure_state(load_id, specs)
        plan = plan_batch(
            rows, object_type=settings.object_type, id_column=settings.id_column,
            id_property=settings.id_property, column_to_property=send, properties=specs,
            delete_columns=delete_columns, clear_nulls=settings.clear_nulls, key_columns=keys,
        )

    to_send = list(plan.upserts)
    unchanged: list[MappedRow] = []
    adopted: list[MappedRow] = []  # unchanged rows that only a rebuilt record vouched for
    if not settings.full_resync and to_send:
        known = ctx.staging.known_state(settings.object_type, [r.key for r in to_send])
        unchanged = unchanged_keys(settings.object_type, to_send, known)
        adopted = [r for r in unchanged if known[r.key][0] is None]
        same = {r.key for r in unchanged}
        to_send = [r for r in to_send if r.key not in same]
        counts.unchanged = len(unchanged)

    rejections = [_rejected(r, resolved=r.category == "SUPERSEDED") for r in plan.rejections]
    staging = ctx.staging

    def record_counts() -> None:
        staging.put_run_counts(
            load_id, table_name, batch_id(rows, keys), settings.object_type, counts,
            dry_run=settings.dry_run, started_at=started_at,
        )

    if settings.dry_run:
        # predicted from sync_state: a key we synced before is an update (README "Dry run")
        known_ids = staging.hubspot_ids(settings.object_type, [r.key for r in to_send])
        counts.updated = sum(1 for r in to_send if r.key in known_ids)
        counts.created = len(to_send) - counts.updated
        counts.archived = len(plan.archives)
        counts.rejected = len(rejections)
        with staging.transaction():
            staging.mark_seen(settings.object_type, table_name, load_id, _keys_seen(plan))
            record_counts()
    else:
        sent = _send(ctx.client, settings, to_send)
        synced, hubspot_rejections, counts.created, counts.updated = _reconcile(to_send, sent.outcomes)
        rejections.extend(hubspot_rejections)
        counts.requests, counts.responses_429 = sent.requests, sent.responses_429
        counts.rejected = len(rejections)
        # one transaction: a batch's outcomes are recorded whole or not at all, in one commit
        with staging.transaction():
            staging.mark_synced(settings.object_type, table_name, load_id, synced)
            staging.record_rejections(settings.object_type, table_name, load_id, rejections)
            # mark_synced already noted the synced keys as seen; a second write of those rows
            # cost as much as the first
            just_synced = {r.key for r in synced}
            staging.mark_seen(
                settings.object_type, table_name, load_id, [k for k in _keys_seen(plan) if k not in just_synced]
            )
            # rows equal to a rebuilt record get their hash; other unchanged rows need no write,
            # but an open rejection of their key is moot: the source is back to what HubSpot holds
            staging.mark_synced(
                settings.object_type, table_name, load_id,
                [SyncedRow(r.key, None, r.content_hash) for r in adopted],
            )
            staging.resolve_keys(settings.object_type, [r.key for r in unchanged])
            if not plan.archives:
                record_counts()
        if plan.archives:  # HTTP: not while holding the staging transaction
            counts.archived = archive_keys(ctx, [r.key for r in plan.archives])
            counts.unchanged += len(plan.archives) - counts.archived  # never in HubSpot: no-op
            record_counts()

    log.info(
        "%s%s: %d rows -> created %d, updated %d, unchanged %d, rejected %d, archived %d "
        "(%d requests, %.2fs)",
        "[dry run] " if settings.dry_run else "", table_name, counts.rows_seen, counts.created,
        counts.updated, counts.unchanged, counts.rejected, counts.archived, counts.requests,
        time.perf_counter() - t0,
    )
    return counts
