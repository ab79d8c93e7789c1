"""Associations v4 between courses (0-410) and contacts (0-1): batch create, read, archive,
and the labels (association types) of a pair of objects.

docs/hubspot-behaviour.md, "Associations v4": HubSpot-defined types 860 (course -> contact)
and 861 (contact -> course); user-defined labels get portal-specific type ids. An association
is stored once per record pair with the types of both directions, so a user reading from
either side sees it. Kept in memory; with a `--db` DuckDB file, pairs and user-defined labels
are also written there (store.py), so a restarted sandbox still has them.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from .bodies import ApiError, batch_answer, error_body, now_iso
from .store import Store

COURSE, CONTACT = "0-410", "0-1"
# Object types accepted in association paths (docs/hubspot-behaviour.md, "Associations v4":
# contacts by name or id; other objects by type id. GUESS: `courses` is accepted too, as on
# object paths).
TYPE_ALIASES = {"0-410": COURSE, "courses": COURSE, "0-1": CONTACT, "contacts": CONTACT}
# docs/hubspot-behaviour.md, "Associations v4": batch read <= 1,000 inputs, create <= 2,000.
# GUESS: archive shares create's cap.
MAX_READ_INPUTS, MAX_CREATE_INPUTS, MAX_ARCHIVE_INPUTS = 1_000, 2_000, 2_000
# GUESS: the first id the sandbox hands to a user-defined label (real ids are portal-specific).
FIRST_USER_TYPE_ID = 1_000


@dataclass(frozen=True)
class Label:
    """One association type in one direction."""

    from_type: str
    to_type: str
    category: str
    type_id: int
    label: str | None

    def to_json(self) -> dict[str, Any]:
        # `AssociationSpecWithLabel` [SDK]: category, typeId, label (null for the unlabeled default).
        return {"category": self.category, "typeId": self.type_id, "label": self.label}


def _bad(message: str, **kw: Any) -> ApiError:
    return ApiError(400, error_body("VALIDATION_ERROR", message, **kw))


def resolve_type(name: str) -> str:
    if name not in TYPE_ALIASES:
        # GUESS: as object paths answer an unknown object type.
        raise _bad(f"Unable to infer object type from: {name}")
    return TYPE_ALIASES[name]


class AssociationsApi:
    """`exists(object_type_id, ids)` tells which record ids are live; the store lives here."""

    def __init__(self, exists: Callable[[str, Iterable[str]], set[str]], store: Store | None = None) -> None:
        self._exists = exists
        self._store = store if store is not None and store.persistent else None
        self._lock = threading.Lock()
        self._labels: list[Label] = [
            Label(COURSE, CONTACT, "HUBSPOT_DEFINED", 860, None),
            Label(CONTACT, COURSE, "HUBSPOT_DEFINED", 861, None),
        ]
        # (course id, contact id) -> type ids of both directions
        self._pairs: dict[tuple[str, str], set[int]] = {}
        self._next_type_id = FIRST_USER_TYPE_ID
        self._inverse: dict[int, int] = {860: 861, 861: 860}
        if self._store is not None:
            saved = [Label(*row) for row in self._store.load_labels()]
            for forward, reverse in zip(saved[::2], saved[1::2]):  # created in pairs, ids n and n + 1
                self._inverse[forward.type_id], self._inverse[reverse.type_id] = reverse.type_id, forward.type_id
            self._labels += saved
            self._next_type_id = max([FIRST_USER_TYPE_ID - 1, *(lb.type_id for lb in saved)]) + 1
            self._pairs = self._store.load_pairs()

    # -- labels -------------------------------------------------------------------------------
    def create_label(self, label: str, name: str | None = None, inverse_label: str | None = None,
                     from_type: str = COURSE) -> dict[str, Any]:
        """A USER_DEFINED label between courses and contacts, named from `from_type`'s side: one
        type id per direction, the reverse named `inverse_label` (a paired label) or `label`
        (GUESS: HubSpot's exact pairing of unpaired labels is not modelled). Raises ValueError
        for an empty or existing label."""
        if not isinstance(label, str) or not label:
            raise ValueError("label must be a non-empty string")
        to_type = CONTACT if from_type == COURSE else COURSE
        with self._lock:
            if any(lb.label == label for lb in self._labels if lb.from_type == from_type):
                raise ValueError(f"a label {label!r} already exists for {from_type} -> {to_type}")
            forward = Label(from_type, to_type, "USER_DEFINED", self._next_type_id, label)
            reverse = Label(to_type, from_type, "USER_DEFINED", self._next_type_id + 1, inverse_label or label)
            self._next_type_id += 2
            self._labels += [forward, reverse]
            if self._store is not None:
                self._store.save_labels([(lb.from_type, lb.to_type, lb.category, lb.type_id, lb.label)
                                         for lb in (forward, reverse)])
            self._inverse[forward.type_id] = reverse.type_id
            self._inverse[reverse.type_id] = forward.type_id
        course_side, contact_side = (forward, reverse) if from_type == COURSE else (reverse, forward)
        return {"courseToContact": course_side.to_json(), "contactToCourse": contact_side.to_json(),
                "name": name or label}

    def create_label_json(self, from_name: str, to_name: str, body: Any) -> dict[str, Any]:
        """`POST .../{from}/{to}/labels` (`PublicAssociationDefinitionCreateRequest {label, name,
        inverseLabel?}`) -> `CollectionResponseAssociationSpecWithLabelNoPaging` with both
        directions' types [SDK]. GUESS: the 400 texts and that a repeated label is a 400."""
        f, _ = self._pair_types(from_name, to_name)
        if not isinstance(body, dict) or not all(isinstance(body.get(k), str) and body[k] for k in ("label", "name")):
            raise _bad("Invalid input JSON: label and name are required strings")
        inverse = body.get("inverseLabel")
        if inverse is not None and not isinstance(inverse, str):
            raise _bad("Invalid input JSON: inverseLabel must be a string")
        try:
            made = self.create_label(body["label"], body["name"], inverse or None, from_type=f)
        except ValueError as e:
            raise _bad(str(e)) from e
        pair = [made["courseToContact"], made["contactToCourse"]]
        return {"results": pair if f == COURSE else pair[::-1]}

    def labels(self, from_name: str, to_name: str) -> dict[str, Any]:
        """`GET .../{from}/{to}/labels` -> `CollectionResponseAssociationSpecWithLabelNoPaging`."""
        f, t = self._pair_types(from_name, to_name)
        with self._lock:
            return {"results": [lb.to_json() for lb in self._labels if lb.from_type == f and lb.to_type == t]}

    def _pair_types(self, from_name: str, to_name: str) -> tuple[str, str]:
        f, t = resolve_type(from_name), resolve_type(to_name)
        if {f, t} != {COURSE, CONTACT}:
            # Left out: associations other than course <-> contact. GUESS: message.
            raise _bad(f"The sandbox supports associations between {COURSE} and {CONTACT} only, not {f} -> {t}")
        return f, t

    def _label(self, type_id: int) -> Label | None:
        return next((lb for lb in self._labels if lb.type_id == type_id), None)

    def _key(self, f: str, from_id: str, to_id: str) -> tuple[str, str]:
        return (from_id, to_id) if f == COURSE else (to_id, from_id)

    def _missing(self, f: str, t: str, from_ids: Iterable[str], to_ids: Iterable[str]) -> set[tuple[str, str]]:
        from_ids, to_ids = list(from_ids), list(to_ids)
        live_from, live_to = self._exists(f, from_ids), self._exists(t, to_ids)
        return {(f, i) for i in from_ids if i not in live_from} | {(t, i) for i in to_ids if i not in live_to}

    @staticmethod
    def _inputs(body: Any, cap: int) -> list[dict[str, Any]]:
        if not isinstance(body, dict) or not isinstance(body.get("inputs"), list):
            raise _bad("Invalid input JSON on line 1, column 1: some of required attributes are not set [inputs]")
        inputs = body["inputs"]
        if len(inputs) > cap:
            # docs/hubspot-behaviour.md, "Associations v4": the caps. GUESS: message.
            raise _bad(f"The maximum number of inputs supported in a batch request is {cap}."
                       f" Received {len(inputs)} inputs.")
        return inputs

    @staticmethod
    def _id(obj: Any, where: str) -> str:
        if not isinstance(obj, dict) or not isinstance(obj.get("id"), str) or not obj["id"]:
            # docs/hubspot-behaviour.md, "Value formats": ids are strings [SPEC PublicObjectId].
            raise _bad(f"Invalid input JSON: {where}.id must be a non-empty string")
        return obj["id"]

    # -- batch create -------------------------------------------------------------------------
    def batch_create(self, from_name: str, to_name: str, body: Any) -> tuple[int, dict[str, Any]]:
        started = now_iso()
        f, t = self._pair_types(from_name, to_name)
        inputs = self._inputs(body, MAX_CREATE_INPUTS)
        parsed = []
        for i, inp in enumerate(inputs):
            from_id, to_id = self._id(inp.get("from") if isinstance(inp, dict) else None, f"inputs[{i}].from"), \
                self._id(inp.get("to"), f"inputs[{i}].to")
            types = inp.get("types")
            if not isinstance(types, list) or not types:
                raise _bad(f"Invalid input JSON: inputs[{i}].types must be a non-empty list")
            labels = []
            for spec in types:
                lb = self._label(spec.get("associationTypeId")) if isinstance(spec, dict) else None
                if lb is None or (lb.from_type, lb.to_type) != (f, t) \
                        or spec.get("associationCategory") != lb.category:
                    # GUESS: a type that does not exist for this direction (or the wrong
                    # category) fails the whole request.
                    raise _bad(f"Invalid association type {spec!r} for {f} -> {t}")
                labels.append(lb)
            parsed.append((from_id, to_id, labels))
        missing = self._missing(f, t, [p[0] for p in parsed], [p[1] for p in parsed])
        results, errors = [], []
        with self._lock:
            touched: dict[tuple[str, str], set[int]] = {}
            for from_id, to_id, labels in parsed:
                bad = [(ty, i) for ty, i in ((f, from_id), (t, to_id)) if (ty, i) in missing]
                if bad:
                    # GUESS: unknown record ids answer per input in errors[] (207), the rest is
                    # written; the message is ours.
                    errors.append({
                        "status": "error", "category": "VALIDATION_ERROR",
                        "message": "; ".join(f"No {ty} record with id {i} exists" for ty, i in bad),
                        "context": {"fromObjectId": [from_id], "toObjectId": [to_id]},
                    })
                    continue
                types = self._pairs.setdefault(self._key(f, from_id, to_id), set())
                for lb in labels:
                    types.add(lb.type_id)
                    types.add(self._reverse(lb).type_id)
                touched[self._key(f, from_id, to_id)] = types
                results.append({
                    "fromObjectTypeId": f, "fromObjectId": from_id, "toObjectTypeId": t, "toObjectId": to_id,
                    # `LabelsBetweenObjectPair.labels`: the user-facing labels (none for 860/861).
                    "labels": [lb.label for lb in labels if lb.label],
                })
            if self._store is not None:
                self._store.save_pairs(touched)
        out = batch_answer(results, errors, started)
        # docs/hubspot-behaviour.md, "Associations v4": 201, or 207 with errors.
        return (207 if errors else 201), out

    def _reverse(self, lb: Label) -> Label:
        """The other direction's type: 860 <-> 861; user labels were created in pairs."""
        found = self._label(self._inverse[lb.type_id])
        assert found is not None
        return found

    # -- batch read ---------------------------------------------------------------------------
    def batch_read(self, from_name: str, to_name: str, body: Any) -> tuple[int, dict[str, Any]]:
        started = now_iso()
        f, t = self._pair_types(from_name, to_name)
        inputs = self._inputs(body, MAX_READ_INPUTS)
        ids: list[str] = []
        for i, inp in enumerate(inputs):
            k = self._id(inp, f"inputs[{i}]")
            if k not in ids:
                ids.append(k)
        missing = {i for _, i in self._missing(f, t, ids, [])}
        results, errors = [], []
        with self._lock:
            for k in ids:
                if k in missing:
                    # GUESS: OBJECT_NOT_FOUND per unknown id, modelled on objects' batch read.
                    errors.append({"status": "error", "category": "OBJECT_NOT_FOUND",
                                   "message": f"No {f} record with id {k} exists", "context": {"ids": [k]}})
                    continue
                to = []
                mine_pairs = [(pair, types) for pair, types in sorted(self._pairs.items())
                              if types and pair[0 if f == COURSE else 1] == k]
                live_other = self._exists(t, [pair[1 if f == COURSE else 0] for pair, _ in mine_pairs])
                for (course_id, contact_id), types in mine_pairs:
                    mine, other = (course_id, contact_id) if f == COURSE else (contact_id, course_id)
                    if other not in live_other:  # GUESS, as in pairs(): no associations to archived records
                        continue
                    specs = [self._label(ty) for ty in sorted(types)]
                    to.append({"toObjectId": other, "associationTypes": [
                        s.to_json() for s in specs if s is not None and s.from_type == f]})
                # GUESS: a record without associations is answered with an empty `to` list.
                results.append({"from": {"id": k}, "to": to})
        out = batch_answer(results, errors, started)
        return (207 if errors else 200), out

    # -- batch archive ------------------------------------------------------------------------
    def batch_archive(self, from_name: str, to_name: str, body: Any) -> int:
        """Remove every association between each pair, both directions
        (docs/hubspot-behaviour.md, "Associations v4": 204). GUESS: unknown pairs are ignored."""
        f, _ = self._pair_types(from_name, to_name)
        inputs = self._inputs(body, MAX_ARCHIVE_INPUTS)
        pairs = []
        for i, inp in enumerate(inputs):
            from_id = self._id(inp.get("from") if isinstance(inp, dict) else None, f"inputs[{i}].from")
            to = inp.get("to")
            if not isinstance(to, list):
                raise _bad(f"Invalid input JSON: inputs[{i}].to must be a list")
            pairs += [(from_id, self._id(x, f"inputs[{i}].to")) for x in to]
        with self._lock:
            for from_id, to_id in pairs:
                self._pairs.pop(self._key(f, from_id, to_id), None)
            if self._store is not None:
                self._store.save_pairs({self._key(f, a, b): set() for a, b in pairs})
        return 204

    def pairs(self) -> list[dict[str, Any]]:
        """Every association between live records: [{"courseId", "contactId", "typeIds"}].

        GUESS: an archived record's associations are not shown (HubSpot lists no associations
        to deleted records); they are kept, so a restored record would have them again."""
        with self._lock:
            stored = [(c, p, ts) for (c, p), ts in sorted(self._pairs.items()) if ts]
        live_courses = self._exists(COURSE, [c for c, _, _ in stored])
        live_contacts = self._exists(CONTACT, [p for _, p, _ in stored])
        return [{"courseId": c, "contactId": p, "typeIds": sorted(ts)}
                for c, p, ts in stored if c in live_courses and p in live_contacts]
