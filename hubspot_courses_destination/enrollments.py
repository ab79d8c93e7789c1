"""Enrollments: rows of the ``enrollments_table`` become contacts associated with their courses.

One row is one enrollment: the course key (in the id column, like course rows), ``email``,
optionally ``association_label`` and other columns, which are contact properties. A batch:

1. preflight, once per load: the contact property definitions and the course -> contact
   association labels are read (this checks the contact and association read rights; a
   missing scope fails the load with one message naming the scopes);
2. every row is checked (key, email, label, contact property values), identities
   ``(course key, lower(email))`` are deduplicated (the last row wins);
3. course keys are resolved to HubSpot course ids **before any contact is written**:
   ``sync_state``, polled while course jobs of the same load package are running (up to
   ``enrollments_wait_s``, then a transient error makes dlt retry the job later; course jobs
   waiting for a load worker are loaded by this job), then a batch read by the id property
   for the rest. What stays unknown is rejected;
4. contacts whose merged properties changed are upserted by email (100 per request), then
   associations that are new (or whose label changed) are created in batches of 2,000
   (course -> contact, type 860, plus the label's type);
5. ``hard_delete`` rows of associated enrollments are archived after the batch is recorded.

Every row ends as an added, unchanged or removed association, a removal with nothing to
remove (a ``hard_delete`` row of an enrollment this staging file holds no association for),
or in ``rejected_rows`` under the record key ``"<course key> <email as given>"``. Contacts are
never archived.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import re
import threading
import time
import weakref
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Mapping, Sequence

from .errors import (
    ConfigurationError, HubSpotTerminalError, HubSpotTransientError, MissingScopesError, RequestRejectedError,
)
from .hubspot import BATCH_LIMIT, UpsertRow
from .hubspot.client import ASSOCIATION_BATCH_LIMIT
from .mapping import CoercionError, PropertySpec, content_hash, to_hubspot_value
from .outcomes import BatchOutcome, EnrollmentChanges, Rejection, RunCounts
from .properties import key_columns
from .session import Session, portal_identity

__all__ = [
    "EnrollmentsRoute", "CONTACT_OBJECT_TYPE", "COURSE_TO_CONTACT", "CONTACT_TO_COURSE", "EMAIL_COLUMN",
    "LABEL_COLUMN", "enrollment_record_key", "ENROLLMENT_SCOPES",
]

log = logging.getLogger("hubspot_courses_destination")

CONTACT_OBJECT_TYPE = "0-1"
COURSE_TO_CONTACT = 860
"""HubSpot-defined association type course -> contact (docs/hubspot-behaviour.md, "Associations v4")."""
CONTACT_TO_COURSE = 861
EMAIL_COLUMN = "email"
LABEL_COLUMN = "association_label"
ENROLLMENT_SCOPES = (
    "crm.objects.contacts.read", "crm.objects.contacts.write",
    "crm.objects.courses.read", "crm.objects.courses.write",
)
"""The token scopes enrollments need (docs/hubspot-behaviour.md, "Scopes")."""

# A loose shape check before anything is sent; HubSpot's own INVALID_EMAIL check is stricter
# (docs/hubspot-behaviour.md, "Contacts") and its answer is recorded the same way.
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_POLL_S = 0.2
_IDLE_HANDBACK_S = 2.0
"""Course jobs pending but none running this long: no load worker is free for them."""


def enrollment_record_key(course_key: Any, email: Any) -> str:
    """``"<course key> <email as given>"``: what ``rejected_rows.record_key`` holds for an
    enrollment (an email has no space, so the last space splits the two)."""
    return f"{'' if course_key is None else course_key} {'' if email is None else email}"


def scopes_message(detail: str) -> str:
    return (
        "enrollments need the token scopes " + ", ".join(ENROLLMENT_SCOPES)
        + " (contacts are upserted by email and associated with courses); add them to the "
        f"private app or service key and run again. HubSpot answered: {detail}"
    )


@dataclass
class EnrollmentCatalog:
    """What a load reads once: contact properties and the course -> contact labels."""

    contact_specs: dict[str, PropertySpec]
    labels: dict[str, int]  # user-defined label -> association type id (course -> contact)


@dataclass
class _Enrollment:
    key: str
    email: str  # lower-cased
    record_key: str
    source: Mapping[str, Any]
    properties: dict[str, str] = field(default_factory=dict)
    label: str = ""
    label_type: int | None = None
    delete: bool = False


_catalogs: "weakref.WeakKeyDictionary[Session, tuple[str, EnrollmentCatalog]]" = weakref.WeakKeyDictionary()
_catalogs_lock = threading.Lock()


def enrollment_catalog(session: Session, load_id: str) -> EnrollmentCatalog:
    """Preflight of enrollments, once per session and load: contact properties, labels, and
    the staging file's enrollment state bound to the portal."""
    with _catalogs_lock:
        cached = _catalogs.get(session)
        if cached is not None and cached[0] == load_id:
            return cached[1]
        client = session.client
        try:
            props = client.list_properties(CONTACT_OBJECT_TYPE)
            labels = client.association_labels(session.settings.object_type, CONTACT_OBJECT_TYPE)
        except MissingScopesError as exc:
            raise MissingScopesError(scopes_message(str(exc)), status=403) from None
        except HubSpotTerminalError as exc:
            if exc.status == 403:
                raise MissingScopesError(scopes_message(str(exc)), status=403) from None
            raise
        catalog = EnrollmentCatalog(
            {p["name"]: PropertySpec.from_hubspot(p) for p in props if isinstance(p.get("name"), str)},
            {str(lb["label"]): int(lb["typeId"]) for lb in labels
             if lb.get("label") and lb.get("category") == "USER_DEFINED" and str(lb.get("typeId", "")).isdigit()},
        )
        if not session.settings.dry_run:
            _bind_portal(session)
        _catalogs[session] = (load_id, catalog)
        return catalog


def _bind_portal(session: Session) -> None:
    """Enrollment state against another portal would skip everything; drop it then."""
    staging = session.staging
    portal = portal_identity(session.client, session.settings)
    bound = staging.get_meta("portal:enrollments")
    if bound is not None and bound != portal:
        with staging.transaction():
            staging._query("DELETE FROM enrollment_state")
            staging._query("DELETE FROM contact_state")
        log.warning("staging file was last used with another HubSpot portal; dropped its enrollment state")
    if bound != portal:
        staging.set_meta("portal:enrollments", portal)


_STILL_IN_SOURCE = frozenset({"UNKNOWN_LABEL", "COERCION_ERROR"})
"""Rejections of rows whose course key and email are fine: the enrollment is still in the source."""


def _identity(row: Mapping[str, Any], keys: Sequence[str]) -> tuple[str, str]:
    key = next((k for k in (_key_text(row.get(c)) for c in keys) if k is not None), "")
    return key, str(row.get(EMAIL_COLUMN) or "").strip().lower()


def _key_text(value: Any) -> str | None:
    if value is None or isinstance(value, bool):
        return None
    text = str(value).strip()
    return text or None


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in {"true", "1", "yes", "y", "t"}
    return bool(value)


@dataclass
class EnrollmentsRoute:
    """Enrollment rows: contacts upserted by email, associated with their courses."""

    session: Session

    # -- plan ---------------------------------------------------------------------------------

    def sync(self, rows: Sequence[Mapping[str, Any]], table: Mapping[str, Any], load_id: str) -> BatchOutcome:
        session, s = self.session, self.session.settings
        columns = dict(table.get("columns") or {})
        for row in rows[:1]:
            for name in row:
                columns.setdefault(name, {})
        session.start_daily_budget()  # the run's daily cap, before its first other request
        catalog = enrollment_catalog(session, load_id)
        keys = key_columns(columns, s)
        delete_columns = [n for n, c in columns.items() if c.get("hard_delete")]
        prop_columns = self._property_columns(columns, keys, delete_columns, catalog)
        changes = EnrollmentChanges()
        outcome = BatchOutcome(
            s.object_type, str(table["name"]), load_id, _batch_id(rows, keys), datetime.now(timezone.utc),
            dry_run=s.dry_run, counts=RunCounts(rows_seen=len(rows)), enrollments=changes,
        )
        c = changes.counts
        c.rows_seen = len(rows)
        winners: dict[tuple[str, str], _Enrollment] = {}
        still_there: list[tuple[str, str]] = []
        for row in rows:
            parsed = self._parse(row, keys, delete_columns, prop_columns, catalog)
            if isinstance(parsed, Rejection):
                outcome.rejections.append(parsed)
                if parsed.category in _STILL_IN_SOURCE:  # a bad label or value: mirror keeps it
                    still_there.append(_identity(row, keys))
                continue
            identity = (parsed.key, parsed.email)
            previous = winners.pop(identity, None)
            if previous is not None:
                outcome.rejections.append(Rejection(
                    previous.record_key, "SUPERSEDED", "DUPLICATE_KEY",
                    "a later row in the same batch is the same enrollment (course key and email, "
                    "email case ignored); the later row was sent", previous.source, resolved=True,
                ))
            winners[identity] = parsed
        course_ids = self._resolve_courses(sorted({e.key for e in winners.values()}), changes)
        enrollments = list(winners.values())
        changes.seen = [(e.key, e.email) for e in enrollments if not e.delete] + still_there
        adds = [e for e in enrollments if not e.delete]
        deletes = [e for e in enrollments if e.delete]
        for e in adds:
            if e.key not in course_ids:
                outcome.rejections.append(Rejection(
                    e.record_key, "UNKNOWN_COURSE", "UNKNOWN_COURSE",
                    f"no course with {s.id_property} = {e.key!r} in HubSpot, and this load did not create one; "
                    "no contact was written", e.source,
                ))
        adds = [e for e in adds if e.key in course_ids]
        known = session.staging.enrollment_states([(e.key, e.email) for e in enrollments])
        archives = sum(1 for e in deletes if (e.key, e.email) in known)
        contact_ids = self._sync_contacts(adds, outcome, course_ids, known, archives)
        self._sync_associations(adds, course_ids, contact_ids, known, outcome)
        for e in deletes:
            held = known.get((e.key, e.email))
            if held is None:  # never associated by this staging file (or removed before)
                c.nothing_to_remove += 1
                changes.in_sync_keys.append(e.record_key)
            else:
                changes.removals.append((e.key, e.email, held[0], held[1]))
        outcome.to_archive = [enrollment_record_key(k, e) for k, e, _, _ in changes.removals]
        c.rejected = sum(1 for r in outcome.rejections if not r.resolved)
        outcome.counts.rejected = c.rejected
        return outcome

    def _property_columns(
        self, columns: Mapping[str, Mapping[str, Any]], keys: Sequence[str], delete_columns: Sequence[str],
        catalog: EnrollmentCatalog,
    ) -> dict[str, PropertySpec]:
        """Column -> contact property; a column that is no writable contact property fails
        the load before anything is sent (contact properties are never created)."""
        skip = {*keys, *delete_columns, EMAIL_COLUMN, LABEL_COLUMN, *(self.session.settings.exclude_columns or [])}
        out: dict[str, PropertySpec] = {}
        unknown: list[str] = []
        for name in columns:
            if name in skip or name.startswith("_dlt_") or name.startswith(f"{EMAIL_COLUMN}▶"):
                continue
            spec = catalog.contact_specs.get(name)
            if spec is None or spec.read_only:
                unknown.append(name)
            else:
                out[name] = spec
        if unknown:
            raise ConfigurationError(
                f"enrollment column(s) {', '.join(sorted(unknown))} are not writable HubSpot contact properties; "
                "enrollment columns other than the course key, email, association_label and the hard_delete "
                "column are written to the contact. Create the contact properties in HubSpot or list the "
                "columns in exclude_columns; nothing was sent"
            )
        return out

    def _parse(
        self, row: Mapping[str, Any], keys: Sequence[str], delete_columns: Sequence[str],
        prop_columns: Mapping[str, PropertySpec], catalog: EnrollmentCatalog,
    ) -> _Enrollment | Rejection:
        key = next((k for k in (_key_text(row.get(c)) for c in keys) if k is not None), None)
        email_given = row.get(EMAIL_COLUMN)
        record_key = enrollment_record_key(key, email_given)
        if key is None:
            return Rejection(record_key, "MISSING_KEY", "MISSING_KEY",
                             f"the enrollment has no course key ({self.session.settings.id_column} is empty)", row)
        email = email_given.strip().lower() if isinstance(email_given, str) else ""
        if not _EMAIL.match(email):
            return Rejection(record_key, "INVALID_EMAIL", "INVALID_EMAIL",
                             f"email {email_given!r} is {'empty' if not email else 'not an email address'}", row,
                             property_errors=[{"name": EMAIL_COLUMN, "code": "INVALID_EMAIL",
                                               "message": f"Email address {email_given} is invalid"}])
        delete = any(_truthy(row.get(c)) for c in delete_columns)
        enrollment = _Enrollment(key, email, record_key, row, delete=delete)
        if delete:
            return enrollment
        label = row.get(LABEL_COLUMN)
        if label not in (None, ""):
            enrollment.label = str(label)
            enrollment.label_type = catalog.labels.get(enrollment.label)
            if enrollment.label_type is None:
                known = ", ".join(sorted(catalog.labels)) or "none"
                return Rejection(record_key, "UNKNOWN_LABEL", "UNKNOWN_LABEL",
                                 f"association label {enrollment.label!r} is not a course-contact label of the "
                                 f"portal (labels: {known}); create it in HubSpot, then retry", row)
        errors: list[dict[str, str]] = []
        for column, spec in prop_columns.items():
            try:
                value = to_hubspot_value(row.get(column), spec)
            except CoercionError as exc:
                errors.append({"name": column, "code": "COERCION_ERROR", "message": str(exc)})
                continue
            if value is not None:
                enrollment.properties[column] = value
        if errors:
            return Rejection(record_key, "COERCION_ERROR", "COERCION_ERROR",
                             "; ".join(f"{e['name']}: {e['message']}" for e in errors), row, property_errors=errors)
        return enrollment

    # -- course keys --------------------------------------------------------------------------

    def _resolve_courses(self, keys: Sequence[str], changes: EnrollmentChanges) -> dict[str, str]:
        """Course key -> HubSpot course id, before any contact is written.

        ``sync_state`` first. Keys it lacks while course jobs of this load package are
        unfinished are waited for (polling ``sync_state``), up to ``enrollments_wait_s``: dlt
        loads the tables of one package concurrently, so the course may be on its way. Past
        the wait a transient error hands the job back to dlt, which retries it later. Course
        jobs that wait for a load worker (none runs: with one worker, this job holds it) are
        loaded by this job, once. Then HubSpot is asked for the keys still unknown (a batch
        read by the id property).
        """
        s, staging = self.session.settings, self.session.staging
        ids = staging.hubspot_ids(s.object_type, keys)
        unknown = [k for k in keys if k not in ids]
        started = time.monotonic()
        deadline = started + float(s.enrollments_wait_s)
        last_running, loaded_waiting = started, False
        while unknown:
            pending, running = _course_jobs(s.enrollments_table)
            if not pending:
                break
            now = time.monotonic()
            last_running = now if running else last_running
            if not running and now - last_running >= _IDLE_HANDBACK_S:
                if loaded_waiting:  # their rows are synced: what they bring is in sync_state
                    break
                # every load worker is busy and dlt might pick this job again if handed
                # back; load their rows here, through the course route (upserts are keyed:
                # the course job, when it runs, finds them unchanged)
                _load_waiting_course_jobs(self.session, s.enrollments_table)
                loaded_waiting, last_running = True, time.monotonic()
            elif now >= deadline:
                raise HubSpotTransientError(
                    f"{len(unknown)} course key(s) of these enrollments are not in HubSpot yet while "
                    f"{pending} course job(s) of this load are unfinished (waited {now - started:.0f} s); "
                    "dlt retries this job after them"
                )
            else:
                time.sleep(_POLL_S)
            ids.update(staging.hubspot_ids(s.object_type, unknown))
            unknown = [k for k in unknown if k not in ids]
        if unknown:
            ids.update(self._read_courses(unknown, changes))
        return ids

    def _read_courses(self, keys: Sequence[str], changes: EnrollmentChanges) -> dict[str, str]:
        s = self.session.settings
        changes.counts.requests += -(-len(keys) // 100)  # one read per 100 keys (retries not counted)
        try:
            records = self.session.client.batch_read(s.object_type, keys, id_property=s.id_property,
                                                     properties=[s.id_property])
        except RequestRejectedError as exc:
            if exc.status != 400:
                raise
            # the id property does not exist (yet: a course job of this load may be creating
            # it), so HubSpot holds no course by it (docs/hubspot-behaviour.md, "Unique id property")
            log.info("course keys not readable by %s yet: %s", s.id_property, exc.hubspot_message or exc)
            return {}
        return {
            str(r["properties"][s.id_property]): str(r["id"])
            for r in records if (r.get("properties") or {}).get(s.id_property)
        }

    # -- contacts -----------------------------------------------------------------------------

    def _sync_contacts(
        self, adds: Sequence[_Enrollment], outcome: BatchOutcome, course_ids: Mapping[str, str],
        known: Mapping[tuple[str, str], tuple[str, str, str]], archives: int,
    ) -> dict[str, str]:
        """Upsert the contacts whose merged properties changed; returns email -> contact id
        of every contact the associations can use (rejected contacts are left out). The
        batch's requests (upserts, association creates and archives) are reserved against the
        daily budget first: a batch that cannot finish is not started."""
        changes = outcome.enrollments
        assert changes is not None
        c, staging, s = changes.counts, self.session.staging, self.session.settings
        merged: dict[str, dict[str, str]] = {}
        for e in adds:  # rows of one contact, emails differing only in case included, merge
            merged.setdefault(e.email, {}).update(e.properties)
        held = staging.contact_states(list(merged))
        ids: dict[str, str] = {}
        to_send: list[tuple[str, dict[str, str], dict[str, str]]] = []  # (email, to send, all sent after)
        for email, props in merged.items():
            contact_id, known_hash, sent = held.get(email, (None, None, None))
            if sent is None:  # a file from before the sent values were kept: the hash decides
                same = known_hash == content_hash(CONTACT_OBJECT_TYPE, email, props)
            else:  # a contact's rows may span batches: unchanged if its values here were all sent
                same = all(sent.get(k) == v for k, v in props.items())
            if contact_id and same and not s.full_resync:
                ids[email] = contact_id
                c.contacts_unchanged += 1
            else:
                to_send.append((email, props, {**(sent or {}), **props}))
        if not s.dry_run:
            self._reserve_daily_budget(adds, course_ids, known, held, len(to_send), archives, outcome.table)
        if not to_send:
            return ids
        if s.dry_run:
            for email, _, _ in to_send:
                if held.get(email, (None, None, None))[0]:
                    c.contacts_updated += 1
                    ids[email] = str(held[email][0])
                else:
                    c.contacts_created += 1
                    ids[email] = f"(new {email})"
            return ids
        try:
            result = self.session.client.batch_upsert(
                CONTACT_OBJECT_TYPE, EMAIL_COLUMN, [UpsertRow(key=e, properties=p) for e, p, _ in to_send])
        except MissingScopesError as exc:
            raise MissingScopesError(scopes_message(str(exc)), status=403) from None
        c.requests += result.requests
        c.responses_429 += result.responses_429
        by_email = {e: e_props for e, *e_props in to_send}
        failed: dict[str, Any] = {}
        for answer in result:
            if answer.status == "rejected":
                failed[answer.key] = answer
                continue
            ids[answer.key] = str(answer.hubspot_id)
            after = by_email[answer.key][1]
            changes.contacts.append((answer.key, str(answer.hubspot_id),
                                     content_hash(CONTACT_OBJECT_TYPE, answer.key, after),
                                     json.dumps(after, sort_keys=True)))
            if answer.status == "created":
                c.contacts_created += 1
            else:
                c.contacts_updated += 1
        for e in adds:
            answer = failed.get(e.email)
            if answer is not None:
                outcome.rejections.append(Rejection(
                    e.record_key, answer.category or "UNKNOWN", answer.code,
                    f"HubSpot refused the contact: {answer.message}", e.source,
                    property_errors=[{"name": pe.name, "code": pe.code, "message": pe.message}
                                     for pe in answer.property_errors],
                ))
        return ids

    def _reserve_daily_budget(
        self, adds: Sequence[_Enrollment], course_ids: Mapping[str, str],
        known: Mapping[tuple[str, str], tuple[str, str, str]], held: Mapping[str, tuple[str | None, ...]],
        contacts: int, archives: int, table: str,
    ) -> None:
        """Like the course route's: the batch's requests, predicted from staging, must fit under
        the run's daily cap before its first contact is written (else the next run re-sends
        contacts this one upserted but never recorded)."""
        budget = self.session.client.daily_budget
        if budget is None:
            return
        full = self.session.settings.full_resync
        creates = sum(1 for e in adds if full or known.get((e.key, e.email))
                      != (course_ids[e.key], held.get(e.email, (None,))[0], e.label))
        requests = (-(-contacts // BATCH_LIMIT) + -(-creates // ASSOCIATION_BATCH_LIMIT)
                    + -(-archives // ASSOCIATION_BATCH_LIMIT))
        budget.reserve(requests, f"the next batch of {len(adds):,} enrollments of {table}")

    # -- associations -------------------------------------------------------------------------

    def _sync_associations(
        self, adds: Sequence[_Enrollment], course_ids: Mapping[str, str], contact_ids: Mapping[str, str],
        known: Mapping[tuple[str, str], tuple[str, str, str]], outcome: BatchOutcome,
    ) -> None:
        changes = outcome.enrollments
        assert changes is not None
        c, s = changes.counts, self.session.settings
        pending: list[tuple[_Enrollment, str, str]] = []
        for e in adds:
            contact_id = contact_ids.get(e.email)
            if contact_id is None:
                continue  # the contact was rejected: so is the enrollment
            course_id = course_ids[e.key]
            held = known.get((e.key, e.email))
            if held == (course_id, contact_id, e.label) and not s.full_resync:
                c.associations_unchanged += 1
                changes.in_sync_keys.append(e.record_key)
            else:
                pending.append((e, course_id, contact_id))
        if not pending:
            return
        if s.dry_run:
            c.associations_added += len(pending)
            return
        inputs = []
        for e, course_id, contact_id in pending:
            types = [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": COURSE_TO_CONTACT}]
            if e.label_type is not None:
                types.append({"associationCategory": "USER_DEFINED", "associationTypeId": e.label_type})
            inputs.append({"from": {"id": course_id}, "to": {"id": contact_id}, "types": types})
        try:
            results, errors, requests = self.session.client.association_batch_create(
                s.object_type, CONTACT_OBJECT_TYPE, inputs)
        except MissingScopesError as exc:
            raise MissingScopesError(scopes_message(str(exc)), status=403) from None
        c.requests += requests
        created = {(str(r.get("fromObjectId")), str(r.get("toObjectId"))) for r in results}
        refused = _refused_pairs(errors)
        for e, course_id, contact_id in pending:
            pair = (course_id, contact_id)
            if pair in created:
                c.associations_added += 1
                changes.associated.append((e.key, e.email, course_id, contact_id, e.label))
                changes.in_sync_keys.append(e.record_key)
                continue
            error = refused.get(pair) or {}
            # the contact may have been deleted in HubSpot since it was recorded: upsert it
            # again next time instead of trusting the stored id
            changes.stale_contacts.append(e.email)
            outcome.rejections.append(Rejection(
                e.record_key, str(error.get("category") or "ASSOCIATION_NOT_CREATED"), error.get("subCategory"),
                str(error.get("message") or "HubSpot's answer did not confirm this association"), e.source,
            ))

    # -- removals, after the batch is recorded -----------------------------------------------

    def archive(self, outcome: BatchOutcome) -> None:
        """Archive the associations of hard-deleted enrollments (contacts stay), then forget
        them and store the batch's counts again."""
        changes = outcome.enrollments
        assert changes is not None
        c, s = changes.counts, self.session.settings
        if s.dry_run:
            c.associations_removed = len(changes.removals)
        else:
            pairs = [(course_id, contact_id) for _, _, course_id, contact_id in changes.removals]
            c.requests += self.session.client.association_batch_archive(s.object_type, CONTACT_OBJECT_TYPE, pairs)
            c.associations_removed = len(changes.removals)
            self.session.staging.forget_enrollments([(k, e) for k, e, _, _ in changes.removals])
        self.session.staging.put_enrollment_counts(
            outcome.load_id, outcome.table, outcome.batch_id, c, dry_run=outcome.dry_run,
            started_at=outcome.started_at)


def _refused_pairs(errors: Sequence[Mapping[str, Any]]) -> dict[tuple[str, str], Mapping[str, Any]]:
    """HubSpot's per-input errors of an association batch, by (from id, to id) where the
    error's context names them (docs/hubspot-behaviour.md, "Associations v4")."""
    out: dict[tuple[str, str], Mapping[str, Any]] = {}
    for error in errors:
        ctx = error.get("context") or {}
        froms, tos = ctx.get("fromObjectId") or [], ctx.get("toObjectId") or []
        for f, t in zip(froms, tos):
            out[(str(f), str(t))] = error
    return out


def _batch_id(rows: Sequence[Mapping[str, Any]], keys: Sequence[str]) -> str:
    """Identity of a dlt batch (see ``routes.batch_id``): course key and email of every row."""
    digest = hashlib.sha1(str(len(rows)).encode())
    for row in rows:
        key = next((row[c] for c in keys if row.get(c) is not None), None)
        digest.update(f"\x1f{key}\x1e{row.get(EMAIL_COLUMN)}".encode("utf-8", "replace"))
    return digest.hexdigest()[:16]


def _load_waiting_course_jobs(session: Session, enrollments_table: str) -> None:
    """Sync the rows of the package's course jobs that are waiting for a load worker, as dlt
    would (the same table schema, batches of the destination's ``batch_size``, so the course
    job, when it runs, re-delivers the same batches), through ``sync_batch``."""
    from dlt.common.configuration.container import Container
    from dlt.common.storages.load_package import LoadPackageStateInjectableContext
    from dlt.destinations.file_batching import JsonlFileBatchIterator

    from .routes import sync_batch

    ctx = Container()[LoadPackageStateInjectableContext]
    storage, load_id = ctx.storage, ctx.load_id
    schema = storage.load_schema(load_id)
    for state, job in storage.list_all_jobs_with_states(load_id):
        name = job.table_name
        if state != "new_jobs" or name == enrollments_table or name.startswith("_dlt") or name not in schema.tables:
            continue
        table = copy.deepcopy(schema.tables[name])
        if table.get("parent"):
            continue
        table["columns"] = {c: v for c, v in table.get("columns", {}).items() if not c.startswith("_dlt")}
        path = storage.storage.make_full_path(storage.get_job_file_path(load_id, "new_jobs", job.file_name()))
        log.info("enrollments: loading waiting course job %s first (no load worker is free for it)", job.file_name())
        try:
            for batch in JsonlFileBatchIterator(path, session.settings.batch_size, 0, list(table["columns"])):
                sync_batch(batch, table, load_id, session)
        except FileNotFoundError:  # a worker took the job meanwhile (the file moved): it runs now
            continue


def _course_jobs(enrollments_table: str) -> tuple[int, int]:
    """(unfinished, running) jobs of other tables than enrollments (and dlt's own) in the load
    package being loaded; (0, 0) outside a load (a replay)."""
    from dlt.common.configuration.container import Container
    from dlt.common.storages.load_package import LoadPackageStateInjectableContext

    try:
        ctx = Container()[LoadPackageStateInjectableContext]
    except Exception:  # no load package in this context
        return 0, 0
    storage, load_id = ctx.storage, ctx.load_id
    pending = running = 0
    for state, job in storage.list_all_jobs_with_states(load_id):
        if job.table_name == enrollments_table or job.table_name.startswith("_dlt"):
            continue
        if state == "new_jobs":
            pending += 1
        elif state == "started_jobs":
            transition = storage.load_pending_transition(load_id, job.file_name())
            if transition is None or transition[0] not in ("completed", "failed"):
                pending += 1
                running += 1
    return pending, running
