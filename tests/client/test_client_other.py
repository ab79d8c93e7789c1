"""Batch read, archive, listing with paging, properties and enablement, against the sandbox."""

from __future__ import annotations

import pytest

from hubspot_courses_destination.hubspot import HubSpotClient
from hubspot_courses_destination.sandbox import Sandbox

from .conftest import COURSES, ID_PROPERTY, rows, settle

NEW_PROPERTY = {
    "name": "lms_level",
    "label": "Level",
    "type": "string",
    "fieldType": "text",
    "groupName": "course_information",
}


def test_batch_read_by_id_property_skips_unknown(sandbox: Sandbox, client: HubSpotClient) -> None:
    client.batch_upsert(COURSES, ID_PROPERTY, rows(150))
    keys = [f"c-{i:05d}" for i in range(0, 150, 2)] + ["nope-1"]
    found = client.batch_read(COURSES, keys, id_property=ID_PROPERTY, properties=["hs_course_name", ID_PROPERTY])
    assert sorted(r["properties"][ID_PROPERTY] for r in found) == sorted(keys[:-1])
    assert all(r["properties"]["hs_course_name"].startswith("Course ") for r in found)
    assert settle(sandbox).count_requests("POST", "/batch/read") == 1


def test_batch_archive(sandbox: Sandbox, client: HubSpotClient) -> None:
    outcomes = client.batch_upsert(COURSES, ID_PROPERTY, rows(120))
    client.batch_archive(COURSES, [o.hubspot_id for o in outcomes[:110] if o.hubspot_id])
    assert sorted(r["properties"][ID_PROPERTY] for r in sandbox.records()) == [o.key for o in outcomes[110:]]
    assert settle(sandbox).count_requests("POST", "/batch/archive") == 2


def test_iter_records_follows_paging(sandbox: Sandbox, client: HubSpotClient) -> None:
    client.batch_upsert(COURSES, ID_PROPERTY, rows(230))
    records = list(client.iter_records(COURSES, properties=[ID_PROPERTY], page_size=100))
    assert sorted(r["properties"][ID_PROPERTY] for r in records) == [r.key for r in rows(230)]
    assert settle(sandbox).count_requests("GET", "/crm/v3/objects/0-410") == 3
    with pytest.raises(ValueError):
        next(client.iter_records(COURSES, page_size=101))


def test_properties_list_get_create(sandbox: Sandbox, client: HubSpotClient) -> None:
    names = {p["name"] for p in client.list_properties(COURSES)}
    assert {"hs_course_name", ID_PROPERTY} <= names
    assert client.get_property(COURSES, ID_PROPERTY)["hasUniqueValue"] is True  # type: ignore[index]
    assert client.get_property(COURSES, "does_not_exist") is None
    created = client.create_property(COURSES, NEW_PROPERTY)
    assert created["name"] == "lms_level"
    assert client.get_property(COURSES, "lms_level") is not None


def test_create_property_after_write_then_drop_does_not_create_twice(sandbox: Sandbox, client: HubSpotClient) -> None:
    sandbox.faults.add("write_then_drop", times=1, path_contains="/crm/v3/properties", method="POST")
    created = client.create_property(COURSES, NEW_PROPERTY)
    assert created["name"] == "lms_level"
    settle(sandbox)
    # one POST (applied, answer lost), then a GET found it: no second POST
    assert sandbox.count_requests("POST", "/crm/v3/properties/0-410") == 1
    assert sandbox.count_requests("GET", "/crm/v3/properties/0-410/lms_level") == 1


def test_create_property_after_reset_is_sent_again(sandbox: Sandbox, client: HubSpotClient) -> None:
    sandbox.faults.add("reset", times=1, path_contains="/crm/v3/properties", method="POST")
    created = client.create_property(COURSES, NEW_PROPERTY)
    assert created["name"] == "lms_level"
    settle(sandbox)
    assert sandbox.count_requests("POST", "/crm/v3/properties/0-410") == 2
    assert sandbox.count_requests("GET", "/crm/v3/properties/0-410/lms_level") == 1
    assert [p["name"] for p in sandbox.properties()].count("lms_level") == 1


def test_create_property_429_is_retried_without_lookup(sandbox: Sandbox, client: HubSpotClient) -> None:
    # a 429 was refused before processing, so sending again is safe
    sandbox.faults.add("429", times=1, path_contains="/crm/v3/properties", method="POST")
    assert client.create_property(COURSES, NEW_PROPERTY)["name"] == "lms_level"
    settle(sandbox)
    assert sandbox.count_requests("POST", "/crm/v3/properties/0-410") == 2
    assert sandbox.count_requests("GET", "/crm/v3/properties/0-410/lms_level") == 0


def test_object_enablement(sandbox: Sandbox, client: HubSpotClient) -> None:
    assert client.is_object_enabled(COURSES) is True
    sandbox.set_object_enabled(False)
    assert client.is_object_enabled(COURSES) is False
