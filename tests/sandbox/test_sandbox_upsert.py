"""Batch upsert over HTTP: the rules of docs/hubspot-behaviour.md, "Batch upsert" that a client
must survive."""

from __future__ import annotations

import json
import threading

from hubspot_courses_destination.sandbox import DEFAULT_PORTAL_ID, Sandbox

from sandbox_helpers import KEY, Api, course


def _inner(message: str) -> list[dict]:
    prefix = "Property values were not valid: "
    assert message.startswith(prefix), message
    return json.loads(message[len(prefix):])


def test_create_returns_hubspot_shape_and_stores_record(keyed: Sandbox, api: Api) -> None:
    r = api.upsert([course("c-1", hs_enrollment_capacity="50")])
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "COMPLETE"
    assert {"startedAt", "completedAt"} <= body.keys() and "errors" not in body
    (res,) = body["results"]
    assert res["new"] is True and res["archived"] is False
    assert res["id"].isdigit() and isinstance(res["id"], str)
    props = res["properties"]
    assert props["hs_course_name"] == "Course c-1" and props["hs_enrollment_capacity"] == "50"
    # the id value is stored in the idProperty on create
    # (docs/hubspot-behaviour.md, "Created, updated, cleared")
    assert props[KEY] == "c-1"
    assert props["hs_object_id"] == res["id"]
    assert props["hs_createdate"] == res["createdAt"] and props["hs_lastmodifieddate"] == res["updatedAt"]
    stored = keyed.record_by(KEY, "c-1")
    assert stored is not None and stored["id"] == res["id"]
    assert stored["properties"]["hs_enrollment_capacity"] == "50"


def test_second_upsert_updates_same_record_partially(keyed: Sandbox, api: Api) -> None:
    first = api.upsert([course("c-1", hs_enrollment_capacity="50", hs_course_description="d")]).json()
    second = api.upsert([{"id": "c-1", "idProperty": KEY, "properties": {"hs_enrollment_capacity": "60"}}])
    assert second.status_code == 200
    (res,) = second.json()["results"]
    assert res["new"] is False
    assert res["id"] == first["results"][0]["id"]
    assert res["createdAt"] == first["results"][0]["createdAt"]
    stored = keyed.record_by(KEY, "c-1")["properties"]
    # absent properties are left alone; present ones overwritten
    # (docs/hubspot-behaviour.md, "Created, updated, cleared")
    assert stored["hs_enrollment_capacity"] == "60"
    assert stored["hs_course_description"] == "d" and stored["hs_course_name"] == "Course c-1"
    assert len(keyed.records()) == 1


def test_empty_string_clears_a_property(keyed: Sandbox, api: Api) -> None:
    api.upsert([course("c-1", hs_course_description="to be cleared")])
    r = api.upsert([{"id": "c-1", "idProperty": KEY, "properties": {"hs_course_description": ""}}])
    assert r.status_code == 200
    assert "hs_course_description" not in keyed.record_by(KEY, "c-1")["properties"]


def test_results_are_not_in_input_order(keyed: Sandbox, api: Api) -> None:
    keys = [f"c-{i}" for i in range(10)]
    for _ in range(3):
        got = [r["properties"][KEY] for r in api.upsert([course(k) for k in keys]).json()["results"]]
        assert sorted(got) == sorted(keys)
        assert got != keys


def test_trace_ids_are_echoed(keyed: Sandbox, api: Api) -> None:
    r = api.upsert([course("c-1", trace="t-1"), course("c-2", trace="t-2")])
    assert r.status_code == 200  # all valid: 200 even with trace ids
    by_key = {x["properties"][KEY]: x["objectWriteTraceId"] for x in r.json()["results"]}
    assert by_key == {"c-1": "t-1", "c-2": "t-2"}


def test_100_inputs_accepted_101_refused_without_writing(keyed: Sandbox, api: Api) -> None:
    r = api.upsert([course(f"c-{i}") for i in range(101)])
    assert r.status_code == 400
    assert r.json()["category"] == "VALIDATION_ERROR" and "100" in r.json()["message"]
    assert keyed.records() == []
    assert api.upsert([course(f"c-{i}") for i in range(100)]).status_code == 200
    assert len(keyed.records()) == 100


def test_duplicate_ids_reject_whole_batch_even_with_trace_ids(keyed: Sandbox, api: Api) -> None:
    r = api.upsert([course("c-1", trace="a"), course("c-2", trace="b"), course("c-1", trace="c")])
    assert r.status_code == 400
    body = r.json()
    assert body["message"] == "Duplicate IDs found in batch input: [c-1]. IDs must be unique"
    assert body["context"] == {"ids": ["c-1"]}
    assert body["category"] == "VALIDATION_ERROR" and body["status"] == "error"
    assert body["correlationId"] == r.headers["x-hubspot-correlation-id"]
    assert keyed.records() == []


def test_non_unique_id_property_is_refused(keyed: Sandbox, api: Api) -> None:
    for prop in ("hs_course_id", "hs_object_id", "no_such_property"):
        r = api.upsert([course("c-1", id_property=prop)])
        assert r.status_code == 400, prop
        assert r.json()["message"] == (
            f"Unable to perform update/upsert by non-unique 0-410 property {prop} in portal ID {DEFAULT_PORTAL_ID}"
        )
    missing = api.upsert([{"id": "c-1", "properties": {"hs_course_name": "x"}}])
    assert missing.status_code == 400 and "non-unique 0-410 property hs_object_id" in missing.json()["message"]
    assert keyed.records() == []


def test_one_invalid_input_without_trace_ids_fails_whole_batch(keyed: Sandbox, api: Api) -> None:
    r = api.upsert([course("good"), course("bad", hs_enrollment_capacity="fifty")])
    assert r.status_code == 400
    body = r.json()
    assert body["category"] == "VALIDATION_ERROR" and body["status"] == "error" and body["correlationId"]
    (item,) = _inner(body["message"])
    assert item == {
        "isValid": False, "message": item["message"], "error": "INVALID_INTEGER",
        "name": "hs_enrollment_capacity", "localizedErrorMessage": item["message"], "portalId": DEFAULT_PORTAL_ID,
    }
    assert list(item) == ["isValid", "message", "error", "name", "localizedErrorMessage", "portalId"]
    assert body["errors"] == [{"message": item["message"], "code": "INVALID_INTEGER",
                               "context": {"propertyName": ["hs_enrollment_capacity"]}}]
    assert keyed.records() == []  # nothing written, not even the good input


def test_unique_trace_ids_give_207_and_write_the_valid_inputs(keyed: Sandbox, api: Api) -> None:
    r = api.upsert([course("good", trace="t-good"), course("bad", trace="t-bad", hs_pipeline_stage="nope")])
    assert r.status_code == 207
    body = r.json()
    assert body["status"] == "COMPLETE" and body["numErrors"] == 1
    (err,) = body["errors"]
    assert err["status"] == "error" and err["category"] == "VALIDATION_ERROR"
    assert err["context"] == {"objectWriteTraceId": ["t-bad"]}
    (item,) = _inner(err["message"])
    assert item["error"] == "INVALID_OPTION" and item["name"] == "hs_pipeline_stage"
    assert "nope was not one of the allowed options" in item["message"]
    assert [x["objectWriteTraceId"] for x in body["results"]] == ["t-good"]
    assert [rec["properties"][KEY] for rec in keyed.records()] == ["good"]


def test_all_inputs_invalid_with_trace_ids_is_207_with_no_results(keyed: Sandbox, api: Api) -> None:
    r = api.upsert([course("a", trace="1", hs_enrollment_capacity="x"), course("b", trace="2", nope="1")])
    assert r.status_code == 207
    assert r.json()["results"] == [] and r.json()["numErrors"] == 2
    assert {e["context"]["objectWriteTraceId"][0] for e in r.json()["errors"]} == {"1", "2"}


def test_missing_or_repeated_trace_ids_mean_all_or_nothing(keyed: Sandbox, api: Api) -> None:
    partial = api.upsert([course("good", trace="t1"), course("bad", hs_enrollment_capacity="x")])
    assert partial.status_code == 400
    repeated = api.upsert([course("good", trace="t"), course("bad", trace="t", hs_enrollment_capacity="x")])
    assert repeated.status_code == 400
    assert keyed.records() == []


def test_property_errors_by_kind(keyed: Sandbox, api: Api) -> None:
    cases = {
        "unknown": ({"no_such": "1"}, "PROPERTY_DOESNT_EXIST", 'Property "no_such" does not exist'),
        "readonly": ({"hs_object_id": "5"}, "READ_ONLY_VALUE", None),
        "readonly2": ({"hs_createdate": "2024-01-01T00:00:00Z"}, "READ_ONLY_VALUE", None),
        "toolong": ({"hs_course_description": "x" * 65_537}, "INVALID_STRING_LENGTH", None),
    }
    inputs = [course(k, trace=k, **props) for k, (props, _, _) in cases.items()]
    body = api.upsert(inputs).json()
    errors = {e["context"]["objectWriteTraceId"][0]: _inner(e["message"]) for e in body["errors"]}
    for k, (_, code, message) in cases.items():
        (item,) = errors[k]
        assert item["error"] == code, k
        if message:
            assert item["message"] == message
    assert body["results"] == []


def test_course_name_required_on_create_only(keyed: Sandbox, api: Api) -> None:
    r = api.upsert([{"id": "c-1", "idProperty": KEY, "properties": {"hs_enrollment_capacity": "5"},
                     "objectWriteTraceId": "t"}])
    assert r.status_code == 207
    (item,) = _inner(r.json()["errors"][0]["message"])
    assert item["name"] == "hs_course_name" and item["error"] == "REQUIRED_PROPERTY"
    api.upsert([course("c-1")])
    update = api.upsert([{"id": "c-1", "idProperty": KEY, "properties": {"hs_enrollment_capacity": "5"}}])
    assert update.status_code == 200 and update.json()["results"][0]["new"] is False


def test_multi_select_append_and_replace(keyed: Sandbox, api: Api) -> None:
    keyed.create_property("topics", type="enumeration", field_type="checkbox",
                          options=[{"label": x, "value": x} for x in ("a", "b", "c")])
    api.upsert([course("c-1", topics="a")])
    api.upsert([{"id": "c-1", "idProperty": KEY, "properties": {"topics": ";b;c"}}])
    assert keyed.record_by(KEY, "c-1")["properties"]["topics"] == "a;b;c"
    api.upsert([{"id": "c-1", "idProperty": KEY, "properties": {"topics": "b"}}])
    assert keyed.record_by(KEY, "c-1")["properties"]["topics"] == "b"


def test_archived_key_is_created_again(keyed: Sandbox, api: Api) -> None:
    old = api.upsert([course("c-1")]).json()["results"][0]["id"]
    assert api.post("/crm/v3/objects/0-410/batch/archive", {"inputs": [{"id": old}]}).status_code == 204
    again = api.upsert([course("c-1")]).json()["results"][0]
    assert again["new"] is True and again["id"] != old
    assert len(keyed.records()) == 1 and len(keyed.records(include_archived=True)) == 2


def test_second_unique_property_conflict_is_an_input_error(keyed: Sandbox, api: Api) -> None:
    keyed.create_property("sis_code", has_unique_value=True)
    api.upsert([course("c-1", sis_code="X")])
    r = api.upsert([course("c-2", trace="t2", sis_code="X"), course("c-3", trace="t3", sis_code="Y")])
    assert r.status_code == 207
    (err,) = r.json()["errors"]
    assert err["context"]["objectWriteTraceId"] == ["t2"]
    assert _inner(err["message"])[0]["name"] == "sis_code"


def test_invalid_key_value_for_numeric_id_property(keyed: Sandbox, api: Api) -> None:
    keyed.create_property("lms_num", type="number", field_type="number", has_unique_value=True)
    r = api.upsert([{"id": "abc", "idProperty": "lms_num", "properties": {"hs_course_name": "x"}}])
    assert r.status_code == 400
    assert _inner(r.json()["message"])[0]["name"] == "lms_num"


def test_input_without_properties_is_a_bad_request(keyed: Sandbox, api: Api) -> None:
    r = api.upsert([{"id": "c-1", "idProperty": KEY}])
    assert r.status_code == 400 and r.json()["category"] == "VALIDATION_ERROR"
    bad = api.session.post(api.base_url + "/crm/v3/objects/0-410/batch/upsert", data=b"{not json",
                           headers={"Content-Type": "application/json"})
    assert bad.status_code == 400 and "Invalid input JSON" in bad.json()["message"]


def test_courses_alias_path(keyed: Sandbox, api: Api) -> None:
    r = api.post("/crm/v3/objects/courses/batch/upsert", {"inputs": [course("c-1")]})
    assert r.status_code == 200 and keyed.record_by(KEY, "c-1") is not None
    assert api.post("/crm/v3/objects/0-1/batch/upsert", {"inputs": [course("c-1")]}).status_code == 400


def test_concurrent_upserts_of_one_new_key_create_one_record(keyed: Sandbox) -> None:
    results: list[bool] = []

    def send() -> None:
        r = Api(keyed.url).upsert([course("same")])
        results.append(r.json()["results"][0]["new"])

    threads = [threading.Thread(target=send) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(keyed.records()) == 1
    assert sorted(results) == [False] * 7 + [True]
