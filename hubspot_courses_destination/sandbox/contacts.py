"""Contacts (`0-1` / `contacts`): an in-memory store with email-keyed batch upsert, batch read,
batch archive, list and get one.

The rules follow courses' (objects.py) where HubSpot documents one rule for all objects: 100
inputs per batch, duplicate ids fail the batch, 207 only with a unique objectWriteTraceId on
every input, results not in input order. What is contact-specific (docs/hubspot-behaviour.md,
"Contacts"): `email` is the upsert key, and HubSpot lower-cases it, so it is unique and matched
case-insensitively.

Contacts live in memory; with a `--db` DuckDB file they are also written there (store.py), so
a restarted sandbox still has them, as it has its courses.
"""

from __future__ import annotations

import random
import re
import threading
from typing import Any, Mapping
from urllib.parse import quote

from .bodies import ApiError, batch_read_answer, error_body, now_iso, property_errors_message
from .catalog import PropertyDef
from .objects import MAX_BATCH_INPUTS, _parse_inputs
from .store import Record, Store
from .validation import PropertyError, validate_properties

CONTACT_TYPE_ID = "0-1"
CONTACT_ALIASES = frozenset({"0-1", "contacts"})
# GUESS: contact record ids are small integers in real portals; this range keeps them apart
# from the sandbox's course ids.
FIRST_CONTACT_ID = 100_001
# GUESS: the properties HubSpot returns for a contact when none are asked for (commonly seen in
# real answers, not documented).
DEFAULT_CONTACT_PROPERTIES = ("createdate", "email", "firstname", "hs_object_id", "lastmodifieddate", "lastname")
# GUESS: a loose email shape check; HubSpot's validator (INVALID_EMAIL) is stricter and
# undocumented.
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")


def contact_properties(now: str) -> dict[str, PropertyDef]:
    """The default contact properties the sandbox knows (docs/hubspot-behaviour.md, "Contacts")."""
    def hs(name: str, label: str, type_: str = "string", field_type: str = "text", **kw: Any) -> PropertyDef:
        return PropertyDef(name=name, label=label, type=type_, field_type=field_type, group_name="contactinformation",
                           hubspot_defined=True, read_only_definition=True, created_at=now, updated_at=now, **kw)

    props = [
        hs("email", "Email"),
        hs("firstname", "First Name"),
        hs("lastname", "Last Name"),
        hs("phone", "Phone Number", field_type="phonenumber"),
        hs("company", "Company Name"),
        hs("hs_object_id", "Record ID", "number", "number", read_only_value=True, form_field=False),
        hs("createdate", "Create Date", "datetime", "date", read_only_value=True, form_field=False),
        hs("lastmodifieddate", "Last Modified Date", "datetime", "date", read_only_value=True, form_field=False),
    ]
    return {p.name: p for p in props}


def _invalid(message: str, **kw: Any) -> ApiError:
    return ApiError(400, error_body("VALIDATION_ERROR", message, **kw))


def invalid_email(value: str) -> PropertyError:
    # docs/hubspot-behaviour.md, "Error bodies": INVALID_EMAIL "Email address ... is invalid" [OBS].
    return PropertyError("email", "INVALID_EMAIL", f"Email address {value} is invalid")


class ContactsApi:
    """The contact endpoints; thread-safe, HTTP-free."""

    def __init__(self, portal_id: int, seed: int = 0, store: Store | None = None) -> None:
        self.portal_id = portal_id
        self.catalog = contact_properties(now_iso())
        self._records: dict[int, Record] = {}
        self._by_email: dict[str, int] = {}
        self._next_id = FIRST_CONTACT_ID
        self._rng = random.Random(seed)
        self.lock = threading.RLock()
        self._store = store if store is not None and store.persistent else None
        for rec in self._store.load_contacts() if self._store is not None else []:
            self._records[rec.id] = rec
            if not rec.archived:
                self._by_email[rec.properties.get("email", "")] = rec.id
            self._next_id = max(self._next_id, rec.id + 1)

    def _persist(self, records: list[Record]) -> None:
        if self._store is not None:
            self._store.save_contacts(records)

    # -- looking inside -----------------------------------------------------------------------
    def all_records(self, include_archived: bool = False) -> list[Record]:
        with self.lock:
            return [r for _, r in sorted(self._records.items()) if include_archived or not r.archived]

    def get(self, record_id: int) -> Record | None:
        with self.lock:
            r = self._records.get(record_id)
            return r if r is not None and not r.archived else None

    def by_email(self, email: str) -> Record | None:
        with self.lock:
            rid = self._by_email.get(email.strip().lower())
            return self._records.get(rid) if rid is not None else None

    def _shuffled(self, items: list[Any]) -> list[Any]:
        """docs/hubspot-behaviour.md, "Result order": never the input order for 2+ results."""
        out = list(items)
        with self.lock:
            self._rng.shuffle(out)
        if len(out) > 1 and out == items:
            out = out[1:] + out[:1]
        return out

    # -- batch upsert -------------------------------------------------------------------------
    def batch_upsert(self, body: Any) -> tuple[int, dict[str, Any]]:
        started = now_iso()
        inputs = _parse_inputs(body, "SimplePublicObjectBatchInputUpsert", ("id", "properties"))
        for inp in inputs:
            name = inp.get("idProperty") or "hs_object_id"
            if name != "email":
                # docs/hubspot-behaviour.md, "Unique id property" [OBS, the 0-1 wording seen
                # for hs_object_id]. GUESS: every property but email answers so here (the
                # sandbox has no custom unique contact properties).
                raise _invalid(f"Unable to perform update/upsert by non-unique {CONTACT_TYPE_ID} property {name}"
                               f" in portal ID {self.portal_id}")
            if not isinstance(inp["id"], str):
                raise _invalid("Invalid input JSON: id must be a string")
        # docs/hubspot-behaviour.md, "Contacts": HubSpot lower-cases emails.
        keys = [inp["id"].strip().lower() for inp in inputs]
        dups = sorted({k for k in keys if keys.count(k) > 1})
        if dups:
            # docs/hubspot-behaviour.md, "Duplicate ids". GUESS: emails differing only in case
            # are duplicates.
            raise _invalid(f"Duplicate IDs found in batch input: [{', '.join(dups)}]. IDs must be unique",
                           context={"ids": dups})
        traces = [inp.get("objectWriteTraceId") for inp in inputs]
        partial = all(isinstance(t, str) and t for t in traces) and len(set(traces)) == len(traces)
        with self.lock:
            plans: list[tuple[int, dict[str, str], dict[str, str], Record | None, list[PropertyError]]] = []
            for i, (inp, key) in enumerate(zip(inputs, keys)):
                prev = self.by_email(key)
                props = dict(inp["properties"])
                errors: list[PropertyError] = []
                if not _EMAIL_RE.match(key):
                    errors.append(invalid_email(key))
                if "email" in props and isinstance(props["email"], str) and props["email"].strip().lower() != key:
                    # GUESS: changing the key email inside an upsert is refused.
                    errors.append(PropertyError("email", "INVALID_EMAIL",
                                                f"email {props['email']} does not match the id {key}"))
                props.pop("email", None)
                written, errs = validate_properties(props, self.catalog, prev.properties if prev else None)
                errors += errs
                plans.append((i, written, {"email": key}, prev, errors))
            failed = [p for p in plans if p[4]]
            if failed and not partial:
                # docs/hubspot-behaviour.md, "Partial success": without trace ids one bad input
                # fails the whole batch; GUESS: the first failing input is reported.
                first = failed[0][4]
                raise _invalid(property_errors_message([e.to_json(self.portal_id) for e in first]),
                               errors=[e.to_detail() for e in first])
            now = now_iso()
            results = []
            for i, written, key_props, prev, errors in plans:
                if errors:
                    continue
                if prev is None:
                    rid = self._next_id
                    self._next_id += 1
                    final = {**key_props, "createdate": now}
                    created = now
                else:
                    rid, final, created = prev.id, dict(prev.properties), prev.created_at
                final.update(written)
                final = {k: v for k, v in final.items() if v != ""}  # "" clears
                final["hs_object_id"] = str(rid)
                final["lastmodifieddate"] = now
                rec = Record(rid, final, created, now)
                self._records[rid] = rec
                self._by_email[key_props["email"]] = rid
                out_props = {**written, "email": final["email"], "hs_object_id": str(rid),
                             "createdate": final["createdate"], "lastmodifieddate": now}
                result: dict[str, Any] = {"createdAt": created, "archived": False, "id": str(rid),
                                          "new": prev is None, "properties": out_props, "updatedAt": now}
                if isinstance(traces[i], str) and traces[i]:
                    result["objectWriteTraceId"] = traces[i]
                results.append(result)
            self._persist([self._records[int(r["id"])] for r in results])
        out: dict[str, Any] = {"status": "COMPLETE", "results": self._shuffled(results)}
        if failed:
            out["numErrors"] = len(failed)
            out["errors"] = [{
                "status": "error", "category": "VALIDATION_ERROR",
                "message": property_errors_message([e.to_json(self.portal_id) for e in p[4]]),
                "context": {"objectWriteTraceId": [traces[p[0]]]},
            } for p in failed]
        out["startedAt"] = started
        out["completedAt"] = now_iso()
        return (207 if failed else 200), out

    # -- batch read ---------------------------------------------------------------------------
    def batch_read(self, body: Any) -> tuple[int, dict[str, Any]]:
        started = now_iso()
        inputs = _parse_inputs(body, "BatchReadInputSimplePublicObjectId", ("id",))
        props = body.get("properties") or list(DEFAULT_CONTACT_PROPERTIES)
        id_prop = body.get("idProperty") or "hs_object_id"
        if id_prop not in ("email", "hs_object_id"):
            raise _invalid(f"Unable to perform update/upsert by non-unique {CONTACT_TYPE_ID} property {id_prop}"
                           f" in portal ID {self.portal_id}")  # GUESS, as upsert
        keys: list[str] = []
        for inp in inputs:
            k = str(inp["id"])
            if k not in keys:
                keys.append(k)
        found: dict[str, Record] = {}
        for k in keys:
            rec = self.by_email(k) if id_prop == "email" else (self.get(int(k)) if k.isdigit() else None)
            if rec is not None and not rec.archived:
                found[k] = rec
        missing = [k for k in keys if k not in found]
        results = self._shuffled([found[k].to_json(props) for k in keys if k in found])
        return batch_read_answer(results, missing, "CONTACT", started)

    def batch_archive(self, body: Any) -> int:
        """204; GUESS: unknown ids are ignored, as for courses."""
        inputs = _parse_inputs(body, "BatchInputSimplePublicObjectId", ("id",))
        now = now_iso()
        with self.lock:
            archived = []
            for inp in inputs:
                k = str(inp["id"])
                rec = self.get(int(k)) if k.isdigit() else None
                if rec is not None:
                    rec.archived, rec.archived_at = True, now
                    self._by_email.pop(rec.properties.get("email", ""), None)
                    archived.append(rec)
            self._persist(archived)
        return 204

    # -- list and get -------------------------------------------------------------------------
    def list(self, query: Mapping[str, list[str]], base_url: str, path: str) -> dict[str, Any]:
        """id-ordered pages of at most 100 (docs/hubspot-behaviour.md, "Reading and archiving")."""
        raw = query.get("limit", ["10"])[0]
        if not raw.isdigit():
            raise _invalid("limit must be an integer")  # GUESS: message
        limit = max(1, min(int(raw), MAX_BATCH_INPUTS))
        after = query.get("after", [""])[0]
        if after and not after.isdigit():
            raise _invalid(f"after must be an integer, got {after}")
        props = [p for v in query.get("properties", []) for p in v.split(",") if p] or list(DEFAULT_CONTACT_PROPERTIES)
        recs = [r for r in self.all_records() if not after or r.id > int(after)]
        page = recs[:limit]
        body: dict[str, Any] = {"results": [r.to_json(props) for r in page]}
        if len(recs) > limit:
            nxt = str(page[-1].id)
            body["paging"] = {"next": {"after": nxt, "link": f"{base_url}{path}?after={quote(nxt)}&limit={limit}"}}
        return body

    def get_one(self, object_id: str, query: Mapping[str, list[str]]) -> dict[str, Any]:
        id_prop = query.get("idProperty", [""])[0]
        props = [p for v in query.get("properties", []) for p in v.split(",") if p] or list(DEFAULT_CONTACT_PROPERTIES)
        rec = self.by_email(object_id) if id_prop == "email" else (
            self.get(int(object_id)) if object_id.isdigit() else None)
        if rec is None or rec.archived:
            # GUESS: the same 404 as courses.
            raise ApiError(404, error_body("OBJECT_NOT_FOUND", "Object not found.  objectId are usually numeric.",
                                           context={"id": [object_id]}))
        return rec.to_json(props)
