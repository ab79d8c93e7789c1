"""Object endpoints of Courses: batch upsert, batch read, batch archive, list, get one.

The batch upsert rules are the heart of the sandbox and follow docs/hubspot-behaviour.md step
by step: input cap ("Batch upsert"), idProperty must be a unique property ("Unique id
property"), duplicate ids fail the whole batch ("Duplicate ids"), property values are
validated by type ("Error bodies", "Value formats"), 207 only when every input has a unique
objectWriteTraceId, otherwise one bad input fails the batch and nothing is written ("Partial
success"), results come back in no particular order ("Result order").
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass
from typing import Any, Mapping
from urllib.parse import quote

from .bodies import ApiError, batch_read_answer, error_body, now_iso, property_errors_message
from .catalog import OBJECT_TYPE_ID, PropertyDef
from .properties_api import PropertyRegistry
from .rules import PortalRules
from .store import Record, Store
from .validation import (
    PropertyError,
    duplicate_unique_value,
    required_missing,
    validate_properties,
    validate_value,
)
from .versions import DATED, LEGACY

# docs/hubspot-behaviour.md, "Batch upsert": "Object API batch endpoints are limited to 100
# inputs per request."
MAX_BATCH_INPUTS = 100
# docs/hubspot-behaviour.md, "The Courses object": the only property required to create a course.
REQUIRED_ON_CREATE = ("hs_course_name",)
SYSTEM_PROPERTIES = ("hs_object_id", "hs_createdate", "hs_lastmodifieddate")
# GUESS: the properties returned when a read asks for none (HubSpot returns a default set).
DEFAULT_READ_PROPERTIES = ("hs_course_name", "hs_createdate", "hs_lastmodifieddate", "hs_object_id")
# docs/hubspot-behaviour.md, "Reading and archiving": list `limit` default 10, at most 100.
LIST_DEFAULT_LIMIT, LIST_MAX_LIMIT = 10, 100
# docs/hubspot-behaviour.md, "Reading and archiving" [OBS]: "The maximum number of inputs
# supported in a batch request for property histories is 50."
MAX_HISTORY_INPUTS = 50


def _validation_error(message: str, **kw: Any) -> ApiError:
    return ApiError(400, error_body("VALIDATION_ERROR", message, **kw))


def non_unique_id_property(name: str, portal_id: int) -> ApiError:
    """docs/hubspot-behaviour.md, "Unique id property" [OBS]; the 0-410 wording is extrapolated
    from 0-1/0-2/0-3 bodies."""
    return _validation_error(
        f"Unable to perform update/upsert by non-unique {OBJECT_TYPE_ID} property {name}"
        f" in portal ID {portal_id}"
    )


def _parse_inputs(body: Any, model: str, required: tuple[str, ...]) -> list[dict[str, Any]]:
    """Schema checks for a batch body; any failure rejects the whole request."""
    if not isinstance(body, dict) or not isinstance(body.get("inputs"), list):
        # GUESS: wording modelled on HubSpot's Immutables-style messages.
        raise _validation_error(
            f"Invalid input JSON on line 1, column 1: Cannot build {model}, some of required"
            " attributes are not set [inputs]"
        )
    inputs = body["inputs"]
    if len(inputs) > MAX_BATCH_INPUTS:
        # docs/hubspot-behaviour.md, "Batch upsert": a 400 for 101 inputs [OBS]. GUESS: the
        # message, modelled on the observed propertiesWithHistory one ("The maximum number of
        # inputs supported ...");
        # GUESS: the same cap and answer for batch read and batch archive.
        raise _validation_error(
            f"The maximum number of inputs supported in a batch request is {MAX_BATCH_INPUTS}."
            f" Received {len(inputs)} inputs."
        )
    for i, inp in enumerate(inputs):
        missing = [k for k in required if not isinstance(inp, dict) or inp.get(k) in (None, "")]
        if missing:
            raise _validation_error(
                f"Invalid input JSON on line 1, column 1: Cannot build {model}, some of required"
                f" attributes are not set [{', '.join(missing)}] (input {i})"
            )
        if "properties" in required and not isinstance(inp["properties"], dict):
            raise _validation_error(f"Invalid input JSON: properties of input {i} must be an object")
        # docs/hubspot-behaviour.md, "Strings only": ids and property values are strings in
        # HubSpot's schema. GUESS: anything else fails the whole request, as a body that does
        # not bind would (HubSpot's real answer to a number, boolean or null is undocumented).
        if not isinstance(inp["id"], str):
            raise _validation_error(f"Invalid input JSON: id of input {i} must be a string")
        if "properties" in required:
            for name, value in inp["properties"].items():
                if not isinstance(value, str):
                    raise _validation_error(
                        f"Invalid input JSON: the value of property {name} in input {i} must be a"
                        f" string, not {_json_kind(value)}",
                        context={"propertyName": [name]},
                    )
    return inputs


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    return "an array" if isinstance(value, list) else "an object"


@dataclass
class _Outcome:
    """What happens to one upsert input."""

    index: int
    key: str
    id_property: str
    trace_id: str | None
    record_id: int | None
    previous: Record | None
    written: dict[str, str]
    final: dict[str, str]
    errors: list[PropertyError]


class ObjectsApi:
    """The course object endpoints over a Store; HTTP-free so the rules read on their own."""

    def __init__(
        self, store: Store, registry: PropertyRegistry, portal_id: int, seed: int,
        rules: PortalRules | None = None,
    ) -> None:
        self.store = store
        self.registry = registry
        self.portal_id = portal_id
        self.rules = rules if rules is not None else PortalRules()
        self._rng = random.Random(seed)
        self._rng_lock = threading.Lock()

    def _shuffled(self, items: list[Any]) -> list[Any]:
        """docs/hubspot-behaviour.md, "Result order": results are not in input order. Never
        return the input order for two or more results, so a client that matches by position
        fails every time."""
        out = list(items)
        with self._rng_lock:
            self._rng.shuffle(out)
        if len(out) > 1 and all(a is b for a, b in zip(out, items)):
            out = out[1:] + out[:1]
        return out

    # -- batch upsert -------------------------------------------------------------------------
    def batch_upsert(self, body: Any, family: str = LEGACY) -> tuple[int, dict[str, Any]]:
        """`family` decides the portal rules applied and the status of a partial success
        (docs/hubspot-behaviour.md, "API paths" and "Write validation from 2026-09")."""
        started = now_iso()
        inputs = _parse_inputs(body, "SimplePublicObjectBatchInputUpsert", ("id", "properties"))
        catalog = self.registry.snapshot()
        id_props: list[str] = []
        for inp in inputs:
            # GUESS: an input without idProperty is matched by record id (hs_object_id), which
            # is not a unique-value property, so it fails like
            # docs/hubspot-behaviour.md, "Unique id property" (missing idProperty UNCONFIRMED).
            name = inp.get("idProperty") or "hs_object_id"
            prop = catalog.get(name)
            # docs/hubspot-behaviour.md, "Unique id property"; GUESS: a non-existent idProperty
            # gets the same message.
            if prop is None or not prop.has_unique_value:
                raise non_unique_id_property(name, self.portal_id)
            id_props.append(name)
        keys = [str(inp["id"]) for inp in inputs]
        # docs/hubspot-behaviour.md, "Duplicate ids": duplicates reject the whole batch, trace
        # ids or not.
        # GUESS: duplicates are judged on the id string alone, whatever the idProperty.
        self._reject_duplicates(keys)
        traces = [inp.get("objectWriteTraceId") for inp in inputs]
        # docs/hubspot-behaviour.md, "Partial success": partial success (207) only when every
        # input has a unique trace id.
        # GUESS: repeated trace ids count as "not every input carries a unique one".
        partial = all(isinstance(t, str) and t for t in traces) and len(set(traces)) == len(traces)

        with self.store.lock:
            outcomes = self._plan(inputs, keys, id_props, traces, catalog, family)
            failed = [o for o in outcomes if o.errors]
            self._check_record_limit(sum(1 for o in outcomes if not o.errors and o.previous is None))
            if failed and not partial:
                # docs/hubspot-behaviour.md, "Partial success": without trace ids one bad input
                # fails the batch and nothing is written. Body per the top-level Error in
                # docs/hubspot-behaviour.md, "Error bodies".
                # GUESS: only the first failing input is reported, as a validator that stops early.
                first = failed[0]
                raise _validation_error(
                    property_errors_message([e.to_json(self.portal_id) for e in first.errors]),
                    errors=[e.to_detail() for e in first.errors],
                )
            ok = [o for o in outcomes if not o.errors]
            now = now_iso()
            new_ids = iter(self.store.allocate_ids(sum(1 for o in ok if o.previous is None)))
            records: list[Record] = []
            for o in ok:
                if o.previous is None:
                    o.record_id = next(new_ids)
                    o.final["hs_createdate"] = now
                    created = now
                else:
                    created = o.previous.created_at
                o.final["hs_object_id"] = str(o.record_id)
                o.final["hs_lastmodifieddate"] = now
                records.append(Record(o.record_id, o.final, created, now))  # type: ignore[arg-type]
            self.store.write(records, {o.previous.id: o.previous for o in ok if o.previous})

        results = [self._upsert_result(o, rec) for o, rec in zip(ok, records)]
        body_out: dict[str, Any] = {"status": "COMPLETE", "results": self._shuffled(results)}
        if failed or family == DATED:
            # docs/hubspot-behaviour.md, "API paths": the 2026-09 body type always carries
            # numErrors and errors[] (GUESS: also when empty).
            body_out["numErrors"] = len(failed)
            body_out["errors"] = [self._standard_error(o) for o in failed]
        body_out["startedAt"] = started
        body_out["completedAt"] = now_iso()
        # docs/hubspot-behaviour.md, "Partial success": 207 with errors on v3; an all-success
        # batch with trace ids answers 200 (UNCONFIRMED, "almost certainly 200"). 2026-09
        # declares only 200 ("API paths").
        return (207 if failed and family == LEGACY else 200), body_out

    def _check_record_limit(self, creates: int) -> None:
        """docs/hubspot-behaviour.md, "Record limits": a portal holds at most `limit` records.
        GUESS: creates beyond it fail the whole request (400 VALIDATION_ERROR, this wording);
        HubSpot's answer is undocumented, and this is the stricter reading."""
        limit = self.rules.record_limit
        if limit is None or creates == 0:
            return
        usage = self.store.count_live()
        if usage + creates > limit:
            raise _validation_error(
                f"Creating {creates} records would exceed the record limit of {limit} for object type"
                f" {OBJECT_TYPE_ID} in portal ID {self.portal_id} ({usage} in use)",
                context={"objectTypeId": [OBJECT_TYPE_ID]},
            )

    @staticmethod
    def _reject_duplicates(keys: list[str]) -> None:
        seen: set[str] = set()
        dups: list[str] = []
        for k in keys:
            if k in seen and k not in dups:
                dups.append(k)
            seen.add(k)
        if dups:
            raise _validation_error(
                f"Duplicate IDs found in batch input: [{', '.join(dups)}]. IDs must be unique",
                context={"ids": dups},
            )

    def _plan(
        self,
        inputs: list[dict[str, Any]],
        keys: list[str],
        id_props: list[str],
        traces: list[Any],
        catalog: Mapping[str, PropertyDef],
        family: str = LEGACY,
    ) -> list[_Outcome]:
        """Resolve keys to records and validate every input; writes nothing."""
        resolved = [self.store.lookup(p, k) for p, k in zip(id_props, keys)]
        hit: dict[int, str] = {}
        for key, rid in zip(keys, resolved):
            if rid is not None and rid in hit:
                # docs/hubspot-behaviour.md, "Duplicate ids" [OBS]: a batch that resolves two
                # inputs to the same record is rejected. GUESS: with the duplicate-id message.
                raise _validation_error(
                    f"Duplicate IDs found in batch input: [{hit[rid]}, {key}]. IDs must be unique",
                    context={"ids": [hit[rid], key]},
                )
            if rid is not None:
                hit[rid] = key
        previous = self.store.get_many([r for r in resolved if r is not None])
        claims: dict[tuple[str, str], int] = {}
        unique = [p.name for p in catalog.values() if p.has_unique_value]
        outcomes = []
        for i, inp in enumerate(inputs):
            rid = resolved[i]
            prev = previous.get(rid) if rid is not None else None
            errors: list[PropertyError] = []
            key_value = validate_value(catalog[id_props[i]], keys[i])
            if isinstance(key_value, PropertyError):
                errors.append(key_value)
                key_value = keys[i]
            written, errs = validate_properties(inp["properties"], catalog, prev.properties if prev else None)
            errors += errs
            # docs/hubspot-behaviour.md, "Property validation rules": every family since 2023.
            # On create the id value is written to the idProperty too, so its rules apply to it.
            checked = {id_props[i]: key_value, **written} if prev is None else written
            errors += [e for e in self.rules.check_values(checked) if not any(x.name == e.name for x in errors)]
            if prev is None:
                # docs/hubspot-behaviour.md, "Created, updated, cleared": on create the id
                # value is stored in the idProperty.
                final = {id_props[i]: key_value}
            else:
                final = dict(prev.properties)
            final.update(written)
            # "" clears (docs/hubspot-behaviour.md, "Created, updated, cleared")
            final = {k: v for k, v in final.items() if v != ""}
            if prev is None:
                errors += [required_missing(n) for n in REQUIRED_ON_CREATE
                           if not final.get(n) and not any(e.name == n for e in errors)]
            if family == DATED:
                # docs/hubspot-behaviour.md, "Write validation from 2026-09": 2026-09 only.
                errors += [e for e in self.rules.check_required(final, creating=prev is None)
                           if not any(x.name == e.name for x in errors)]
            for name in unique:
                v = final.get(name)
                if not v or (prev is not None and prev.properties.get(name) == v):
                    continue
                owner = self.store.lookup(name, v)
                claimant = claims.get((name, v))
                if (owner is not None and owner != rid) or (claimant is not None and claimant != i):
                    errors.append(duplicate_unique_value(name, v, str(owner or "in this batch")))
            if not errors:
                for name in unique:
                    if final.get(name):
                        claims[(name, final[name])] = i
            response_props = dict(written)
            response_props[id_props[i]] = final.get(id_props[i], key_value)
            trace = traces[i] if isinstance(traces[i], str) and traces[i] else None
            outcomes.append(_Outcome(i, keys[i], id_props[i], trace, rid, prev, response_props, final, errors))
        return outcomes

    @staticmethod
    def _upsert_result(o: _Outcome, rec: Record) -> dict[str, Any]:
        """`SimplePublicUpsertObject` (docs/hubspot-behaviour.md, "Upsert results"): written
        properties plus the system ones; `new` is true for a created record."""
        props = dict(o.written)
        for name in SYSTEM_PROPERTIES:
            props[name] = rec.properties[name]
        result: dict[str, Any] = {
            "createdAt": rec.created_at,
            "archived": False,
            "id": str(rec.id),
            "new": o.previous is None,
            "properties": props,
            "updatedAt": rec.updated_at,
        }
        if o.trace_id is not None:
            result["objectWriteTraceId"] = o.trace_id
        return result

    def _standard_error(self, o: _Outcome) -> dict[str, Any]:
        """Per-input `StandardError` of a 207 (docs/hubspot-behaviour.md, "Error bodies"): tied
        to its input only by context.objectWriteTraceId; `errors` and `links` left out as in
        real bodies."""
        return {
            "status": "error",
            "category": "VALIDATION_ERROR",
            "message": property_errors_message([e.to_json(self.portal_id) for e in o.errors]),
            "context": {"objectWriteTraceId": [o.trace_id or ""]},
        }

    # -- batch read ---------------------------------------------------------------------------
    def batch_read(self, body: Any, archived: bool = False) -> tuple[int, dict[str, Any]]:
        """docs/hubspot-behaviour.md, "Reading and archiving": top-level idProperty; unknown
        ids -> 207 OBJECT_NOT_FOUND."""
        started = now_iso()
        inputs = _parse_inputs(body, "BatchReadInputSimplePublicObjectId", ("id",))
        props = body.get("properties") or list(DEFAULT_READ_PROPERTIES)
        if body.get("propertiesWithHistory") and len(inputs) > MAX_HISTORY_INPUTS:
            raise _validation_error(
                "The maximum number of inputs supported in a batch request for property histories"
                f" is {MAX_HISTORY_INPUTS}."
            )
        id_prop = body.get("idProperty")
        if id_prop:
            # docs/hubspot-behaviour.md, "Unique id property": hs_object_id counts as non-unique
            # [OBS, upsert]. GUESS: batch read by idProperty=hs_object_id fails the same way
            # (the stricter reading; leave idProperty out to read by record id).
            p = self.registry.get(id_prop)
            if p is None or not p.has_unique_value:
                # GUESS: batch read by a non-unique property fails like upsert
                # (docs/hubspot-behaviour.md, "Unique id property").
                raise non_unique_id_property(id_prop, self.portal_id)
        keys: list[str] = []
        for inp in inputs:
            k = str(inp["id"])
            if k not in keys:  # GUESS: repeated ids are answered once.
                keys.append(k)
        found: dict[str, Record] = {}
        with self.store.lock:
            if id_prop and id_prop != "hs_object_id":
                for k in keys:
                    if archived:
                        recs = [r for r in self.store.find_by(id_prop, k, include_archived=True) if r.archived]
                        if recs:
                            found[k] = recs[-1]
                    else:
                        rid = self.store.lookup(id_prop, k)
                        if rid is not None:
                            found[k] = rid  # type: ignore[assignment]
                by_id = self.store.get_many([v for v in found.values() if isinstance(v, int)])
                found = {k: (by_id.get(v) if isinstance(v, int) else v) for k, v in found.items()}
                found = {k: v for k, v in found.items() if v is not None}
            else:
                recs = self.store.get_many([int(k) for k in keys if k.isdigit()], include_archived=archived)
                found = {k: recs[int(k)] for k in keys if k.isdigit() and int(k) in recs
                         and recs[int(k)].archived == archived}
        results = [found[k].to_json(props) for k in keys if k in found]
        missing = [k for k in keys if k not in found]
        return batch_read_answer(self._shuffled(results), missing, "COURSE", started)

    # -- batch archive ------------------------------------------------------------------------
    def batch_archive(self, body: Any) -> int:
        """docs/hubspot-behaviour.md, "Reading and archiving": 204. GUESS: unknown or already
        archived ids are ignored (204 anyway)."""
        inputs = _parse_inputs(body, "BatchInputSimplePublicObjectId", ("id",))
        ids = [int(str(i["id"])) for i in inputs if str(i["id"]).isdigit()]
        self.store.archive(ids, now_iso())
        return 204

    # -- list and get -------------------------------------------------------------------------
    def list(self, query: Mapping[str, list[str]], base_url: str,
             path: str = f"/crm/v3/objects/{OBJECT_TYPE_ID}") -> dict[str, Any]:
        """`GET /crm/v3/objects/0-410` (docs/hubspot-behaviour.md, "Reading and archiving"):
        id-ordered pages with `after` cursors."""
        try:
            limit = int(query.get("limit", [str(LIST_DEFAULT_LIMIT)])[0])
        except ValueError:
            raise _validation_error("limit must be an integer")  # GUESS: message
        # GUESS: limits above 100 are capped rather than refused.
        limit = max(1, min(limit, LIST_MAX_LIMIT))
        after_raw = query.get("after", [""])[0]
        if after_raw and not after_raw.isdigit():
            # docs/hubspot-behaviour.md, "Reading and archiving" ("after must be formatted as
            # an integer"). GUESS: same for lists.
            raise _validation_error(f"after must be an integer, got {after_raw}")
        archived = query.get("archived", ["false"])[0].lower() == "true"
        props = _csv(query.get("properties", [])) or list(DEFAULT_READ_PROPERTIES)
        recs, more = self.store.page(int(after_raw) if after_raw else None, limit, archived)
        body: dict[str, Any] = {"results": [r.to_json(props) for r in recs]}
        if more and recs:
            nxt = str(recs[-1].id)
            link = f"{base_url}{path}?after={quote(nxt)}&limit={limit}"
            body["paging"] = {"next": {"after": nxt, "link": link}}
        return body

    def get_one(self, object_id: str, query: Mapping[str, list[str]]) -> dict[str, Any]:
        """`GET /crm/v3/objects/0-410/{id}` with optional idProperty, properties, archived."""
        id_prop = query.get("idProperty", [""])[0]
        archived = query.get("archived", ["false"])[0].lower() == "true"
        props = _csv(query.get("properties", [])) or list(DEFAULT_READ_PROPERTIES)
        rec: Record | None = None
        if id_prop and id_prop != "hs_object_id":
            p = self.registry.get(id_prop)
            if p is None or not p.has_unique_value:
                raise non_unique_id_property(id_prop, self.portal_id)  # GUESS, as batch read
            matches = [r for r in self.store.find_by(id_prop, object_id, include_archived=archived)
                       if r.archived == archived]
            rec = matches[-1] if matches else None
        elif object_id.isdigit():
            r = self.store.get_many([int(object_id)], include_archived=True).get(int(object_id))
            rec = r if r is not None and r.archived == archived else None
        if rec is None:
            # GUESS: HubSpot's 404 wording for a missing object.
            raise ApiError(404, error_body(
                "OBJECT_NOT_FOUND", "Object not found.  objectId are usually numeric.",
                context={"id": [object_id]},
            ))
        return rec.to_json(props)


def _csv(values: list[str]) -> list[str]:
    """`properties=a,b&properties=c` -> [a, b, c]; unknown names are simply not returned
    (docs/hubspot-behaviour.md, "Reading and archiving")."""
    out: list[str] = []
    for v in values:
        out += [p for p in v.split(",") if p]
    return out
