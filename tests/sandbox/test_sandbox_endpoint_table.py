"""endpoints.py: a second path family is one more prefix in the table (the 2026-09 family
will add `/crm/objects/2026-09` and `/crm/associations/2026-09`)."""

from __future__ import annotations

from hubspot_courses_destination.sandbox.endpoints import Endpoints, build_routes
from hubspot_courses_destination.sandbox.objects import ObjectsApi
from hubspot_courses_destination.sandbox.properties_api import PropertyRegistry
from hubspot_courses_destination.sandbox.store import Store
from hubspot_courses_destination.sandbox.tokens import ALL_SCOPES


def test_default_table_serves_the_legacy_family_only() -> None:
    patterns = [rx.pattern for _, rx, _ in build_routes()]
    assert all(p.startswith(("^/crm/v3/objects/", "^/crm/v4/associations/", "^/crm/v3/properties/")) for p in patterns)


def test_an_added_prefix_routes_to_the_same_handlers() -> None:
    store = Store()
    registry = PropertyRegistry(store)
    ep = Endpoints(ObjectsApi(store, registry, 1, 0), registry, 1,
                   object_prefixes=("/crm/v3/objects", "/crm/objects/2026-09"),
                   association_prefixes=("/crm/v4/associations", "/crm/associations/2026-09"))
    assert ep.is_search("POST", "/crm/objects/2026-09/0-410/search")
    answer = ep.route("POST", "/crm/objects/2026-09/contacts/batch/upsert", {}, "http://x", ALL_SCOPES,
                      lambda: {"inputs": [{"id": "a@x.com", "idProperty": "email", "properties": {}}]}, 1, None)
    assert answer is not None and answer[0] == 200
    labels = ep.route("GET", "/crm/associations/2026-09/0-410/0-1/labels", {}, "http://x", ALL_SCOPES,
                      lambda: None, 1, None)
    assert labels == (200, {"results": [{"category": "HUBSPOT_DEFINED", "typeId": 860, "label": None}]})
    assert ep.route("GET", "/crm/v3/objects/0-410", {}, "http://x", ALL_SCOPES, lambda: None, 1, None) is None
    store.close()
