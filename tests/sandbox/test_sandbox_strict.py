"""No kinder than HubSpot (issue 13 item 8): values and ids are strings, "5." is not a number,
at most 50 inputs with propertiesWithHistory, no batch read by idProperty=hs_object_id."""

from __future__ import annotations

import pytest

from hubspot_courses_destination.sandbox import Sandbox

from sandbox_helpers import KEY, Api, course

PATHS = ["/crm/v3/objects/0-410", "/crm/objects/2026-09/courses"]


@pytest.fixture
def numbered(keyed: Sandbox) -> Sandbox:
    keyed.create_property("seats", type="number", field_type="number")
    keyed.create_property("paid", type="bool", field_type="booleancheckbox")
    return keyed


@pytest.mark.parametrize("base", PATHS)
@pytest.mark.parametrize("prop,value", [("seats", 5), ("seats", 2.5), ("paid", True), ("paid", False),
                                        ("hs_course_name", None), ("seats", None), ("seats", ["5"])])
def test_non_string_values_fail_the_whole_request(numbered: Sandbox, api: Api, base: str, prop: str,
                                                  value: object) -> None:
    """HubSpot's schema types values as strings; nothing documents coercion, so none (GUESS:
    the whole request fails, traced or not, and nothing is written)."""
    inp = course("n1", trace="t1")
    inp["properties"][prop] = value
    r = api.post(f"{base}/batch/upsert", {"inputs": [course("ok", trace="t0"), inp]})
    assert r.status_code == 400 and r.json()["category"] == "VALIDATION_ERROR"
    assert prop in r.json()["message"] and r.json()["context"] == {"propertyName": [prop]}
    assert numbered.records() == []


def test_null_does_not_clear_a_stored_value(numbered: Sandbox, api: Api) -> None:
    api.upsert([course("c", seats="5")])
    inp = course("c")
    inp["properties"]["seats"] = None
    assert api.upsert([inp]).status_code == 400
    assert numbered.record_by(KEY, "c")["properties"]["seats"] == "5"
    assert api.upsert([course("c", seats="")]).status_code == 200  # "" is how to clear
    assert "seats" not in numbered.record_by(KEY, "c")["properties"]


@pytest.mark.parametrize("base", PATHS)
@pytest.mark.parametrize("op", ["upsert", "read", "archive"])
def test_integer_id_refused(numbered: Sandbox, api: Api, base: str, op: str) -> None:
    inp: dict = course("x") if op == "upsert" else {}
    inp["id"] = 12345
    assert api.post(f"{base}/batch/{op}", {"inputs": [inp], "properties": []}).status_code == 400


@pytest.mark.parametrize("value", ["5.", ".5", "1e3"])
def test_undocumented_number_forms_refused(numbered: Sandbox, api: Api, value: str) -> None:
    r = api.upsert([course("n", seats=value)])
    assert r.status_code == 400 and '"error":"INVALID_INTEGER"' in r.json()["message"]
    assert api.upsert([course("n", seats="5.0")]).status_code == 200


@pytest.mark.parametrize("base", PATHS)
def test_history_reads_capped_at_50_inputs(numbered: Sandbox, api: Api, base: str) -> None:
    ids = [{"id": str(i)} for i in range(51)]
    r = api.post(f"{base}/batch/read", {"inputs": ids, "properties": [], "propertiesWithHistory": ["seats"]})
    assert r.status_code == 400
    assert r.json()["message"] == "The maximum number of inputs supported in a batch request for property histories is 50."
    ok = api.post(f"{base}/batch/read", {"inputs": ids[:50], "properties": [], "propertiesWithHistory": ["seats"]})
    assert ok.status_code in (200, 207)
    # without history the cap is the usual 100
    assert api.post(f"{base}/batch/read", {"inputs": ids, "properties": [], "propertiesWithHistory": []}) \
        .status_code in (200, 207)


@pytest.mark.parametrize("base", PATHS)
def test_batch_read_by_hs_object_id_refused(numbered: Sandbox, api: Api, base: str) -> None:
    rid = api.upsert([course("h")]).json()["results"][0]["id"]
    r = api.post(f"{base}/batch/read", {"inputs": [{"id": rid}], "properties": [], "idProperty": "hs_object_id"})
    assert r.status_code == 400
    assert "non-unique 0-410 property hs_object_id" in r.json()["message"]
    # leaving idProperty out reads by record id
    assert api.post(f"{base}/batch/read", {"inputs": [{"id": rid}], "properties": []}).status_code == 200
