"""The endpoints added next to the course object API: search, contacts, associations v4, and
the deprecated `X-HubSpot-RateLimit-Secondly` header pair.

`SandboxApi` (api.py) asks `Endpoints.route` first; `None` means "not mine" and its own
routing goes on. Paths come from the prefix tables below, so another path family (e.g. the
date-versioned `/crm/objects/2026-09`) is one more entry in `OBJECT_PREFIXES` /
`ASSOCIATION_PREFIXES` (or in the `object_prefixes` / `association_prefixes` an `Endpoints`
is built with).
"""

from __future__ import annotations

import re
import threading
import time
from collections import deque
from typing import Any, Callable, Iterable, Mapping
from urllib.parse import unquote

from .associations import AssociationsApi
from .bodies import ApiError, missing_scopes_body, object_type_unknown
from .catalog import OBJECT_TYPE_ALIASES, OBJECT_TYPE_ID
from .contacts import CONTACT_ALIASES, DEFAULT_CONTACT_PROPERTIES, ContactsApi
from .objects import DEFAULT_READ_PROPERTIES, ObjectsApi
from .properties_api import PropertyRegistry
from .search import SearchLimiter, search

# Path families: (objects prefix, associations prefix). docs/hubspot-behaviour.md, "API paths".
OBJECT_PREFIXES: tuple[str, ...] = ("/crm/v3/objects",)
ASSOCIATION_PREFIXES: tuple[str, ...] = ("/crm/v4/associations",)

# docs/hubspot-behaviour.md, "Scopes": contacts' object scopes.
READ_CONTACTS = ["crm.objects.contacts.read"]
WRITE_CONTACTS = ["crm.objects.contacts.write"]
READ_COURSES = ["crm.objects.courses.read"]
WRITE_COURSES = ["crm.objects.courses.write"]

_SEG = r"([^/]+)"
_CONTACT = "(" + "|".join(sorted(CONTACT_ALIASES)) + ")"


def build_routes(
    object_prefixes: Iterable[str] = OBJECT_PREFIXES,
    association_prefixes: Iterable[str] = ASSOCIATION_PREFIXES,
) -> list[tuple[str, re.Pattern[str], str]]:
    """(method, path pattern, handler) for every prefix of every family."""
    out: list[tuple[str, re.Pattern[str], str]] = []
    for p in object_prefixes:
        out += [
            ("POST", re.compile(rf"^{p}/{_SEG}/search$"), "search"),
            ("POST", re.compile(rf"^{p}/{_CONTACT}/batch/(upsert|read|archive)$"), "contacts_batch"),
            ("GET", re.compile(rf"^{p}/{_CONTACT}$"), "contacts_list"),
            ("GET", re.compile(rf"^{p}/{_CONTACT}/{_SEG}$"), "contacts_one"),
        ]
    # docs/hubspot-behaviour.md, "Contacts": contact property definitions (read only here)
    out.append(("GET", re.compile(rf"^/crm/v3/properties/{_CONTACT}$"), "contacts_properties"))
    for p in association_prefixes:
        out += [
            ("POST", re.compile(rf"^{p}/{_SEG}/{_SEG}/batch/(create|read|archive)$"), "assoc_batch"),
            ("GET", re.compile(rf"^{p}/{_SEG}/{_SEG}/labels$"), "assoc_labels"),
            ("POST", re.compile(rf"^{p}/{_SEG}/{_SEG}/labels$"), "assoc_label_create"),
        ]
    return out




class SecondlyHeaders:
    """The deprecated pair HubSpot still sends (docs/hubspot-behaviour.md, "Response headers":
    "still included and will still have accurate data, but the limit ... is no longer
    enforced"). GUESS: the per-second figure is a tenth of the 10-second limit, and the count is
    of requests by the same token in the last second; nothing is refused on it."""

    def __init__(self, per_10s: Callable[[], int], clock: Callable[[], float] = time.monotonic) -> None:
        self._per_10s = per_10s
        self._clock = clock
        self._lock = threading.Lock()
        self._windows: dict[str, deque[float]] = {}

    def headers(self, token: str) -> dict[str, str]:
        limit = max(1, self._per_10s() // 10)
        with self._lock:
            now = self._clock()
            window = self._windows.setdefault(token, deque())
            while window and now - window[0] >= 1.0:
                window.popleft()
            window.append(now)
            used = len(window)
        return {"X-HubSpot-RateLimit-Secondly": str(limit),
                "X-HubSpot-RateLimit-Secondly-Remaining": str(max(0, limit - used))}


class Endpoints:
    """Search, contacts and associations over the course store and a contacts store."""

    def __init__(
        self,
        objects: ObjectsApi,
        registry: PropertyRegistry,
        portal_id: int,
        *,
        per_10s: Callable[[], int] = lambda: 100,
        seed: int = 0,
        clock: Callable[[], float] = time.monotonic,
        object_prefixes: Iterable[str] = OBJECT_PREFIXES,
        association_prefixes: Iterable[str] = ASSOCIATION_PREFIXES,
    ) -> None:
        self.routes = build_routes(object_prefixes, association_prefixes)
        self.objects = objects
        self.registry = registry
        self.contacts = ContactsApi(portal_id, seed, objects.store)  # kept in its --db file too
        self.associations = AssociationsApi(self._live_ids, objects.store)
        self.search_limits = SearchLimiter(clock=clock)
        self.secondly = SecondlyHeaders(per_10s, clock)

    def use_clock(self, clock: Callable[[], float]) -> None:
        """Count the search limit and the Secondly headers on `clock` (the sandbox's own)."""
        self.search_limits._clock = clock
        self.secondly._clock = clock

    def is_search(self, method: str, path: str) -> bool:
        """Search requests get their own limit and no rate-limit headers
        (docs/hubspot-behaviour.md, "Search")."""
        return any(m == method and h == "search" and rx.match(path) for m, rx, h in self.routes)

    def _live_ids(self, object_type: str, ids: Iterable[str]) -> set[str]:
        ids = [i for i in ids if i.isdigit()]
        if object_type == OBJECT_TYPE_ID:
            return {str(i) for i in self.objects.store.get_many([int(i) for i in ids])}
        return {i for i in ids if self.contacts.get(int(i)) is not None}

    def route(
        self,
        method: str,
        path: str,
        query: Mapping[str, list[str]],
        base_url: str,
        scopes: frozenset[str],
        body: Callable[[], Any],
        portal_id: int,
        courses_disabled: ApiError | None,
    ) -> tuple[int, dict[str, Any] | None] | None:
        """The answer if the path is one of ours, else None. `courses_disabled` is the error
        course calls get while Courses is not activated (None when it is)."""
        for m, rx, handler in self.routes:
            if m == method and (match := rx.match(path)):
                self.contacts.portal_id = portal_id
                return getattr(self, "_" + handler)(match, query, base_url, scopes, body, courses_disabled)
        return None

    # -- handlers -----------------------------------------------------------------------------
    @staticmethod
    def _need(scopes: frozenset[str], *all_of: list[str]) -> None:
        """Every list must be met by one of its scopes (an association needs both objects')."""
        for any_of in all_of:
            if not scopes & set(any_of):
                raise ApiError(403, missing_scopes_body(any_of))

    def _search(self, m: re.Match[str], query: Any, base_url: str, scopes: frozenset[str],
                body: Callable[[], Any], enabled: ApiError | None) -> tuple[int, dict[str, Any]]:
        name = m[1]
        if name in CONTACT_ALIASES:
            self._need(scopes, READ_CONTACTS)
            return 200, search(body(), self.contacts.all_records(), self.contacts.catalog,
                               DEFAULT_CONTACT_PROPERTIES)
        if name in OBJECT_TYPE_ALIASES:
            self._need(scopes, READ_COURSES)
            if enabled is not None:
                raise enabled  # the course API's own answer while Courses is not activated
            return 200, search(body(), self.objects.store.all_records(), self.registry.snapshot(),
                               DEFAULT_READ_PROPERTIES)
        raise object_type_unknown(name)

    def _contacts_batch(self, m: re.Match[str], query: Any, base_url: str, scopes: frozenset[str],
                        body: Callable[[], Any], enabled: ApiError | None) -> tuple[int, dict[str, Any] | None]:
        op = m[2]
        self._need(scopes, READ_CONTACTS if op == "read" else WRITE_CONTACTS)
        if op == "upsert":
            return self.contacts.batch_upsert(body())
        if op == "read":
            return self.contacts.batch_read(body())
        return self.contacts.batch_archive(body()), None

    def _contacts_properties(self, m: re.Match[str], query: Any, base_url: str, scopes: frozenset[str],
                             body: Callable[[], Any], enabled: ApiError | None) -> tuple[int, dict[str, Any]]:
        # GUESS: as for courses, reading properties accepts the object's read scope or a schema scope
        self._need(scopes, READ_CONTACTS + WRITE_CONTACTS + ["crm.schemas.contacts.read"])
        return 200, {"results": [p.to_json() for p in self.contacts.catalog.values()]}

    def _contacts_list(self, m: re.Match[str], query: Mapping[str, list[str]], base_url: str,
                       scopes: frozenset[str], body: Callable[[], Any],
                       enabled: ApiError | None) -> tuple[int, dict[str, Any]]:
        self._need(scopes, READ_CONTACTS)
        return 200, self.contacts.list(query, base_url, m[0])

    def _contacts_one(self, m: re.Match[str], query: Mapping[str, list[str]], base_url: str,
                      scopes: frozenset[str], body: Callable[[], Any],
                       enabled: ApiError | None) -> tuple[int, dict[str, Any]]:
        self._need(scopes, READ_CONTACTS)
        return 200, self.contacts.get_one(unquote(m[2]), query)  # e.g. an email: %40 is @

    def _assoc_batch(self, m: re.Match[str], query: Any, base_url: str, scopes: frozenset[str],
                     body: Callable[[], Any], enabled: ApiError | None) -> tuple[int, dict[str, Any] | None]:
        op = m[3]
        # GUESS: associating records needs the object scopes of both sides (read for read,
        # write for create and archive).
        if op == "read":
            self._need(scopes, READ_COURSES, READ_CONTACTS)
        else:
            self._need(scopes, WRITE_COURSES, WRITE_CONTACTS)
        if op == "create":
            return self.associations.batch_create(m[1], m[2], body())
        if op == "read":
            return self.associations.batch_read(m[1], m[2], body())
        return self.associations.batch_archive(m[1], m[2], body()), None

    def _assoc_labels(self, m: re.Match[str], query: Any, base_url: str, scopes: frozenset[str],
                      body: Callable[[], Any], enabled: ApiError | None) -> tuple[int, dict[str, Any]]:
        self._need(scopes, READ_COURSES, READ_CONTACTS)
        return 200, self.associations.labels(m[1], m[2])

    def _assoc_label_create(self, m: re.Match[str], query: Any, base_url: str, scopes: frozenset[str],
                            body: Callable[[], Any], enabled: ApiError | None) -> tuple[int, dict[str, Any]]:
        # GUESS: creating a label needs the write scopes of both objects.
        self._need(scopes, WRITE_COURSES, WRITE_CONTACTS)
        return 200, self.associations.create_label_json(m[1], m[2], body())
