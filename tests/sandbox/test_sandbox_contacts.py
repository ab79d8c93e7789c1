"""Contacts (0-1): email-keyed batch upsert, batch read, list, get one, search, over real HTTP
(docs/hubspot-behaviour.md, "Contacts")."""

from __future__ import annotations

from typing import Any

from hubspot_courses_destination.sandbox import Sandbox

from sandbox_helpers import Api

UPSERT = "/crm/v3/objects/contacts/batch/upsert"


def contact(email: str, trace: str | None = None, **props: str) -> dict[str, Any]:
    inp: dict[str, Any] = {"id": email, "idProperty": "email", "properties": props}
    if trace:
        inp["objectWriteTraceId"] = trace
    return inp


def test_upsert_creates_then_updates_case_insensitively(sb: Sandbox, api: Api) -> None:
    r = api.post(UPSERT, {"inputs": [contact("Ada@Example.com", firstname="Ada"), contact("bob@example.com")]})
    assert r.status_code == 200
    results = {x["properties"]["email"]: x for x in r.json()["results"]}
    assert set(results) == {"ada@example.com", "bob@example.com"}  # lower-cased
    assert all(x["new"] is True for x in results.values())
    ada_id = results["ada@example.com"]["id"]
    again = api.post(UPSERT, {"inputs": [contact("ADA@example.COM", lastname="Lovelace")]}).json()["results"][0]
    assert again["id"] == ada_id and again["new"] is False
    stored = sb.contact_by_email("ada@EXAMPLE.com")
    assert stored is not None and stored["properties"]["firstname"] == "Ada"
    assert stored["properties"]["lastname"] == "Lovelace"
    assert len(sb.contacts()) == 2


def test_duplicate_emails_differing_in_case_fail_the_batch(sb: Sandbox, api: Api) -> None:
    r = api.post(UPSERT, {"inputs": [contact("a@x.com", "t1"), contact("A@X.com", "t2")]})
    assert r.status_code == 400 and "Duplicate IDs found in batch input" in r.json()["message"]
    assert sb.contacts() == []


def test_partial_success_207_with_trace_ids(sb: Sandbox, api: Api) -> None:
    r = api.post(UPSERT, {"inputs": [contact("ok@x.com", "t-ok"), contact("not-an-email", "t-bad"),
                                     contact("bad@x.com", "t-prop", favourite="x")]})
    assert r.status_code == 207
    body = r.json()
    assert [x["objectWriteTraceId"] for x in body["results"]] == ["t-ok"]
    assert body["numErrors"] == 2
    by_trace = {e["context"]["objectWriteTraceId"][0]: e for e in body["errors"]}
    assert "INVALID_EMAIL" in by_trace["t-bad"]["message"]
    assert "PROPERTY_DOESNT_EXIST" in by_trace["t-prop"]["message"]
    assert [c["properties"]["email"] for c in sb.contacts()] == ["ok@x.com"]


def test_without_trace_ids_one_bad_input_writes_nothing(sb: Sandbox, api: Api) -> None:
    r = api.post(UPSERT, {"inputs": [contact("ok@x.com"), contact("bad@x.com", hs_object_id="5")]})
    assert r.status_code == 400 and r.json()["category"] == "VALIDATION_ERROR"
    assert sb.contacts() == []


def test_id_property_must_be_email(api: Api) -> None:
    r = api.post(UPSERT, {"inputs": [{"id": "x", "idProperty": "firstname", "properties": {}}]})
    assert r.status_code == 400
    assert r.json()["message"].startswith("Unable to perform update/upsert by non-unique 0-1 property firstname")


def test_batch_read_by_id_and_email_with_missing(api: Api) -> None:
    made = api.post(UPSERT, {"inputs": [contact("a@x.com", firstname="A")]}).json()["results"][0]
    r = api.post("/crm/v3/objects/0-1/batch/read", {"inputs": [{"id": made["id"]}, {"id": "999"}],
                                                     "properties": ["firstname"], "propertiesWithHistory": []})
    assert r.status_code == 207
    assert r.json()["results"][0]["properties"] == {"firstname": "A"}
    assert r.json()["errors"][0]["message"].startswith("Could not get some CONTACT objects")
    assert r.json()["errors"][0]["context"] == {"ids": ["999"]}
    by_email = api.post("/crm/v3/objects/contacts/batch/read", {"idProperty": "email", "inputs": [{"id": "A@x.com"}],
                                                                  "properties": [], "propertiesWithHistory": []})
    assert by_email.status_code == 200 and by_email.json()["results"][0]["id"] == made["id"]


def test_list_pages_get_one_and_archive(sb: Sandbox, api: Api) -> None:
    api.post(UPSERT, {"inputs": [contact(f"c{i}@x.com", firstname=f"C{i}") for i in range(3)]})
    first = api.get("/crm/v3/objects/contacts", params={"limit": 2}).json()
    assert len(first["results"]) == 2
    assert set(first["results"][0]["properties"]) >= {"email", "firstname", "hs_object_id"}
    rest = api.get("/crm/v3/objects/contacts", params={"limit": 2, "after": first["paging"]["next"]["after"]}).json()
    assert [x["properties"]["email"] for x in first["results"] + rest["results"]] == \
        ["c0@x.com", "c1@x.com", "c2@x.com"]
    assert "paging" not in rest
    one_id = first["results"][0]["id"]
    assert api.get(f"/crm/v3/objects/contacts/{one_id}").json()["properties"]["email"] == "c0@x.com"
    assert api.get("/crm/v3/objects/contacts/c1@x.com", params={"idProperty": "email"}).status_code == 200
    assert api.post("/crm/v3/objects/contacts/batch/archive", {"inputs": [{"id": one_id}]}).status_code == 204
    assert api.get(f"/crm/v3/objects/contacts/{one_id}").status_code == 404
    assert len(sb.contacts()) == 2 and len(sb.contacts(include_archived=True)) == 3


def test_search_contacts(sb: Sandbox, api: Api) -> None:
    api.post(UPSERT, {"inputs": [contact("ada@hubspot.com"), contact("bob@example.com")]})
    r = api.post("/crm/v3/objects/contacts/search", {"filterGroups": [{"filters": [
        {"propertyName": "email", "operator": "CONTAINS_TOKEN", "value": "*@hubspot.com"}]}]})
    assert r.status_code == 200 and r.json()["total"] == 1
    assert r.json()["results"][0]["properties"]["email"] == "ada@hubspot.com"


def test_contacts_need_contact_scopes(sb: Sandbox) -> None:
    sb.add_token("pat-na1-courses-only", scopes=["crm.objects.courses.read", "crm.objects.courses.write"])
    r = Api(sb.url, "pat-na1-courses-only").post(UPSERT, {"inputs": [contact("a@x.com")]})
    assert r.status_code == 403
    assert r.json()["errors"][0]["context"]["requiredGranularScopes"] == ["crm.objects.contacts.write"]


def test_contact_property_definitions_are_served_in_both_families(sb: Sandbox, api: Api) -> None:
    for path in ("/crm/v3/properties/contacts", "/crm/properties/2026-09/0-1"):
        r = api.get(path)
        assert r.status_code == 200, path
        names = {p["name"]: p for p in r.json()["results"]}
        assert {"email", "firstname", "lastname"} <= set(names)
        assert names["hs_object_id"]["modificationMetadata"]["readOnlyValue"] is True


def test_contact_properties_need_a_contact_scope(sb: Sandbox) -> None:
    sb.add_token("pat-courses", scopes={"crm.objects.courses.read"})
    r = Api(sb.url, "pat-courses").get("/crm/v3/properties/contacts")
    assert r.status_code == 403 and r.json()["category"] == "MISSING_SCOPES"
    assert "crm.objects.contacts.read" in r.json()["errors"][0]["context"]["requiredGranularScopes"]
