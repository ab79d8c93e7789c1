"""Associations v4 between courses and contacts over real HTTP: batch create / read / archive
and labels (docs/hubspot-behaviour.md, "Associations v4")."""

from __future__ import annotations

from typing import Any

import pytest

from hubspot_courses_destination.sandbox import Sandbox

from sandbox_helpers import Api, course

V4 = "/crm/v4/associations"


@pytest.fixture
def ids(keyed: Sandbox, api: Api) -> tuple[list[str], list[str]]:
    """Two courses and two contacts: (course ids, contact ids)."""
    api.upsert([course("c1"), course("c2")])
    courses = [r["id"] for r in keyed.records()]
    api.post("/crm/v3/objects/contacts/batch/upsert", {"inputs": [
        {"id": e, "idProperty": "email", "properties": {}} for e in ("a@x.com", "b@x.com")]})
    contacts = [c["id"] for c in keyed.contacts()]
    return courses, contacts


def pair(f: str, t: str, type_id: int = 860, category: str = "HUBSPOT_DEFINED") -> dict[str, Any]:
    return {"from": {"id": f}, "to": {"id": t}, "types": [{"associationCategory": category, "associationTypeId": type_id}]}


def test_labels_hubspot_defined_both_directions(api: Api) -> None:
    assert api.get(f"{V4}/0-410/contacts/labels").json() == {
        "results": [{"category": "HUBSPOT_DEFINED", "typeId": 860, "label": None}]}
    assert api.get(f"{V4}/0-1/0-410/labels").json()["results"][0]["typeId"] == 861


def test_user_defined_label_appears_in_labels(sb: Sandbox, api: Api) -> None:
    made = sb.create_association_label("Student", inverse_label="Enrolled course")
    assert made["courseToContact"]["category"] == "USER_DEFINED"
    forward = api.get(f"{V4}/0-410/0-1/labels").json()["results"]
    assert {"category": "USER_DEFINED", "typeId": made["courseToContact"]["typeId"], "label": "Student"} in forward
    back = api.get(f"{V4}/contacts/0-410/labels").json()["results"]
    assert any(x["label"] == "Enrolled course" for x in back)
    with pytest.raises(ValueError):
        sb.create_association_label("Student")


def test_create_then_read_from_both_sides(sb: Sandbox, api: Api, ids: tuple[list[str], list[str]]) -> None:
    courses, contacts = ids
    r = api.post(f"{V4}/0-410/contacts/batch/create", {"inputs": [pair(courses[0], contacts[0]),
                                                                  pair(courses[0], contacts[1])]})
    assert r.status_code == 201
    assert {x["toObjectId"] for x in r.json()["results"]} == set(contacts)
    assert r.json()["results"][0]["fromObjectTypeId"] == "0-410" and r.json()["results"][0]["toObjectTypeId"] == "0-1"
    read = api.post(f"{V4}/0-410/contacts/batch/read", {"inputs": [{"id": courses[0]}, {"id": courses[1]}]}).json()
    by_from = {x["from"]["id"]: x["to"] for x in read["results"]}
    assert {t["toObjectId"] for t in by_from[courses[0]]} == set(contacts)
    assert by_from[courses[0]][0]["associationTypes"] == [{"category": "HUBSPOT_DEFINED", "typeId": 860, "label": None}]
    assert by_from[courses[1]] == []
    back = api.post(f"{V4}/contacts/0-410/batch/read", {"inputs": [{"id": contacts[1]}]}).json()["results"][0]
    assert back["to"] == [{"toObjectId": courses[0], "associationTypes": [
        {"category": "HUBSPOT_DEFINED", "typeId": 861, "label": None}]}]
    assert len(sb.associations()) == 2


def test_user_label_on_create(sb: Sandbox, api: Api, ids: tuple[list[str], list[str]]) -> None:
    courses, contacts = ids
    student = sb.create_association_label("Student")["courseToContact"]["typeId"]
    r = api.post(f"{V4}/0-410/0-1/batch/create", {"inputs": [{"from": {"id": courses[0]}, "to": {"id": contacts[0]},
        "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 860},
                  {"associationCategory": "USER_DEFINED", "associationTypeId": student}]}]})
    assert r.status_code == 201 and r.json()["results"][0]["labels"] == ["Student"]
    read = api.post(f"{V4}/0-410/0-1/batch/read", {"inputs": [{"id": courses[0]}]}).json()
    labels = {t["label"] for t in read["results"][0]["to"][0]["associationTypes"]}
    assert labels == {None, "Student"}


def test_unknown_record_ids_are_errors(sb: Sandbox, api: Api, ids: tuple[list[str], list[str]]) -> None:
    courses, contacts = ids
    r = api.post(f"{V4}/0-410/0-1/batch/create", {"inputs": [pair(courses[0], contacts[0]), pair("1", contacts[0]),
                                                             pair(courses[1], "2")]})
    assert r.status_code == 207
    assert len(r.json()["results"]) == 1 and r.json()["numErrors"] == 2
    assert {e["context"]["fromObjectId"][0] for e in r.json()["errors"]} == {"1", courses[1]}
    read = api.post(f"{V4}/0-410/0-1/batch/read", {"inputs": [{"id": "1"}]})
    assert read.status_code == 207 and read.json()["errors"][0]["category"] == "OBJECT_NOT_FOUND"


@pytest.mark.parametrize("body", [
    {"inputs": [{"from": {"id": "1"}, "to": {"id": "2"}, "types": [{"associationCategory": "HUBSPOT_DEFINED",
                                                                    "associationTypeId": 861}]}]},
    {"inputs": [{"from": {"id": "1"}, "to": {"id": "2"}, "types": [{"associationCategory": "USER_DEFINED",
                                                                    "associationTypeId": 860}]}]},
    {"inputs": [{"from": {"id": 1}, "to": {"id": "2"}, "types": [{"associationCategory": "HUBSPOT_DEFINED",
                                                                  "associationTypeId": 860}]}]},
    {"inputs": [{"from": {"id": "1"}, "to": {"id": "2"}, "types": []}]},
])
def test_bad_types_or_ids_are_400(api: Api, body: dict[str, Any]) -> None:
    assert api.post(f"{V4}/0-410/0-1/batch/create", body).status_code == 400


def test_batch_caps(api: Api) -> None:
    many = {"inputs": [{"id": str(i)} for i in range(1001)]}
    assert api.post(f"{V4}/0-410/0-1/batch/read", many).status_code == 400
    creates = {"inputs": [pair("1", "2")] * 2001}
    r = api.post(f"{V4}/0-410/0-1/batch/create", creates)
    assert r.status_code == 400 and "2000" in r.json()["message"]


def test_archive_removes_both_directions(sb: Sandbox, api: Api, ids: tuple[list[str], list[str]]) -> None:
    courses, contacts = ids
    api.post(f"{V4}/0-410/0-1/batch/create", {"inputs": [pair(courses[0], contacts[0]), pair(courses[1], contacts[0])]})
    r = api.post(f"{V4}/contacts/0-410/batch/archive", {"inputs": [{"from": {"id": contacts[0]}, "to": [{"id": courses[0]}]}]})
    assert r.status_code == 204
    assert sb.associations() == [{"courseId": courses[1], "contactId": contacts[0], "typeIds": [860, 861]}]
    back = api.post(f"{V4}/0-410/0-1/batch/read", {"inputs": [{"id": courses[0]}]}).json()
    assert back["results"][0]["to"] == []


def test_only_course_contact_pairs_and_scopes(sb: Sandbox, api: Api) -> None:
    assert api.get(f"{V4}/0-410/deals/labels").status_code == 400
    sb.add_token("pat-na1-courses", scopes=["crm.objects.courses.read", "crm.objects.courses.write"])
    r = Api(sb.url, "pat-na1-courses").get(f"{V4}/0-410/0-1/labels")
    assert r.status_code == 403 and r.json()["category"] == "MISSING_SCOPES"


def test_create_label_over_http_from_the_contact_side(sb: Sandbox, api: Api,
                                                      ids: tuple[list[str], list[str]]) -> None:
    r = api.post(f"{V4}/contacts/0-410/labels", {"label": "Enrolled in", "name": "enrolled_in",
                                                 "inverseLabel": "Enrolled student"})
    assert r.status_code == 200
    forward, reverse = r.json()["results"]
    assert forward["label"] == "Enrolled in" and reverse["label"] == "Enrolled student"
    assert forward["category"] == reverse["category"] == "USER_DEFINED"
    courses, contacts = ids
    made = api.post(f"{V4}/0-410/0-1/batch/create", {"inputs": [pair(courses[0], contacts[0], reverse["typeId"],
                                                                      "USER_DEFINED")]})
    assert made.status_code == 201 and made.json()["results"][0]["labels"] == ["Enrolled student"]
    back = api.post(f"{V4}/0-1/0-410/batch/read", {"inputs": [{"id": contacts[0]}]}).json()
    assert back["results"][0]["to"][0]["associationTypes"] == [forward]
    assert api.post(f"{V4}/contacts/0-410/labels", {"label": "Enrolled in", "name": "x"}).status_code == 400
    assert api.post(f"{V4}/contacts/0-410/labels", {"label": "No name"}).status_code == 400


def test_an_archived_contact_has_no_associations(sb: Sandbox, api: Api, ids: tuple[list[str], list[str]]) -> None:
    courses, contacts = ids
    assert api.post(f"{V4}/0-410/contacts/batch/create", {"inputs": [pair(courses[0], contacts[0]),
                                                                     pair(courses[0], contacts[1])]}).status_code == 201
    assert api.post("/crm/v3/objects/contacts/batch/archive", {"inputs": [{"id": contacts[0]}]}).status_code == 204
    assert [a["contactId"] for a in sb.associations()] == [contacts[1]]
    read = api.post(f"{V4}/0-410/contacts/batch/read", {"inputs": [{"id": courses[0]}]}).json()
    assert [t["toObjectId"] for t in read["results"][0]["to"]] == [contacts[1]]
