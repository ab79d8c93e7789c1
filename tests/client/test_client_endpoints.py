"""Every endpoint in the table is called by the client, and the client calls nothing else."""

from __future__ import annotations

import re
import string
from typing import Any, Callable

import pytest

from hubspot_courses_destination.hubspot import HubSpotClient, UpsertRow
from hubspot_courses_destination.hubspot.endpoints import ENDPOINTS, Endpoints
from hubspot_courses_destination.sandbox import Sandbox

from .conftest import COURSES, ID_PROPERTY, settle

FAMILIES = ["v3", "2026-09"]

NEW_PROPERTY = {"name": "lms_level", "label": "Level", "type": "string", "fieldType": "text", "groupName": "course_information"}

PAIR = {"from_type": COURSES, "to_type": "0-1"}


def _course_id(c: HubSpotClient) -> str:
    return str(c.batch_read(COURSES, ["c-1"], id_property=ID_PROPERTY)[0]["id"])


def _contact_id(c: HubSpotClient) -> str:
    """A contact to associate with (upserted by email: the same one every time)."""
    return str(next(iter(c.batch_upsert("0-1", "email", [UpsertRow("enrolled@example.com", {})]))).hubspot_id)


# one client call per table entry, in an order that works on a fresh portal
CALLS: dict[str, tuple[str, dict[str, str], Callable[[HubSpotClient], Any]]] = {
    "object_enablement": ("GET", {}, lambda c: c.is_object_enabled(COURSES)),
    "account_details": ("GET", {}, lambda c: c.portal_id()),
    "property_groups": ("GET", {}, lambda c: c.list_property_groups(COURSES)),
    "properties": ("POST", {}, lambda c: c.create_property(COURSES, NEW_PROPERTY)),
    "property": ("GET", {"name": ID_PROPERTY}, lambda c: c.get_property(COURSES, ID_PROPERTY)),
    "batch_upsert": ("POST", {}, lambda c: c.batch_upsert(COURSES, ID_PROPERTY, [UpsertRow("c-1", {"hs_course_name": "n"})])),
    "batch_read": ("POST", {}, lambda c: c.batch_read(COURSES, ["c-1"], id_property=ID_PROPERTY)),
    "list_objects": ("GET", {}, lambda c: list(c.iter_records(COURSES))),
    # enrollments (issue 15): course -> contact associations
    "association_labels": ("GET", PAIR, lambda c: c.association_labels(COURSES, "0-1")),
    "association_batch_create": ("POST", PAIR, lambda c: c.association_batch_create(COURSES, "0-1", [
        {"from": {"id": _course_id(c)}, "to": {"id": _contact_id(c)},
         "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 860}]}])),
    "association_batch_archive": ("POST", PAIR, lambda c: c.association_batch_archive(
        COURSES, "0-1", [(_course_id(c), _contact_id(c))])),
    "batch_archive": ("POST", {}, lambda c: c.batch_archive(COURSES, [r["id"] for r in c.iter_records(COURSES)])),
    "property_validations": ("GET", {}, lambda c: c.property_validations(COURSES)),
    "record_limits": ("GET", {}, lambda c: c.record_limit(COURSES)),
}


def _unserved() -> set[str]:
    """Endpoints the sandbox does not serve (none today): their path must still be sent."""
    return set()


def _as_pattern(template: str) -> re.Pattern[str]:
    parts = [re.escape(text) + ("[^/]+" if field else "") for text, field, _, _ in string.Formatter().parse(template)]
    return re.compile("".join(parts) + "$")


@pytest.mark.parametrize("family", FAMILIES)
def test_each_table_entry_is_called_against_the_sandbox(
    sandbox: Sandbox, make_client: Callable[..., HubSpotClient], family: str
) -> None:
    client = make_client(sandbox, api_version=family)
    endpoints = Endpoints(family)
    assert set(CALLS) == set(ENDPOINTS[family])
    for name, (method, segments, call) in CALLS.items():
        sandbox.reset_log()
        call(client)
        seen = [(e.method, e.path, e.status) for e in settle(sandbox).request_log]
        if not endpoints.has(name):
            assert seen == [], (name, seen)  # a family without the endpoint sends nothing
            continue
        expected = endpoints.path(name, object_type=COURSES, **segments)
        ok = (lambda st: st is not None) if name in _unserved() else (lambda st: st is not None and st < 300)
        assert any(m == method and p == expected and ok(s) for m, p, s in seen), (name, seen)
    client.list_properties(COURSES)  # the GET side of "properties"
    assert settle(sandbox).request_log[-1].path == endpoints.path("properties", object_type=COURSES)


@pytest.mark.parametrize("family", FAMILIES)
def test_every_path_the_client_sends_matches_a_table_template(
    sandbox: Sandbox, make_client: Callable[..., HubSpotClient], family: str
) -> None:
    client = make_client(sandbox, api_version=family)
    sandbox.reset_log()
    for _, _, call in CALLS.values():
        call(client)
    client.list_properties(COURSES)
    client.get_property(COURSES, "no_such_property")
    patterns = [_as_pattern(t) for t in ENDPOINTS[family].values() if t is not None]
    sent = {e.path for e in settle(sandbox).request_log}
    assert sent and all(any(p.match(path) for p in patterns) for path in sent), sent
