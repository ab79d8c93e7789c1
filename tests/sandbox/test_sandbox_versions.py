"""Both path families over one portal (issue 13 item 6): legacy v3 and date-versioned 2026-09,
courses by id and by name, the two upsert answer shapes, a legacy-disabled sandbox, and the
record-limits endpoint."""

from __future__ import annotations

import pytest
import requests

from hubspot_courses_destination.sandbox import DEFAULT_TOKEN, Sandbox

from sandbox_helpers import KEY, Api, course

V3 = "/crm/v3/objects/{t}"
DATED = "/crm/objects/2026-09/{t}"
FAMILIES = [V3, DATED]
TYPES = ["0-410", "courses"]


@pytest.mark.parametrize("object_type", TYPES)
@pytest.mark.parametrize("prefix", FAMILIES)
def test_upsert_read_archive_in_each_family(keyed: Sandbox, api: Api, prefix: str, object_type: str) -> None:
    base = prefix.format(t=object_type)
    r = api.post(f"{base}/batch/upsert", {"inputs": [course("a"), course("b")]})
    assert r.status_code == 200 and len(r.json()["results"]) == 2
    ids = sorted(x["id"] for x in r.json()["results"])
    r = api.post(f"{base}/batch/read", {"inputs": [{"id": i} for i in ids], "properties": [KEY]})
    assert r.status_code == 200 and sorted(x["properties"][KEY] for x in r.json()["results"]) == ["a", "b"]
    assert api.get(f"{base}/{ids[0]}").status_code == 200
    assert len(api.get(base).json()["results"]) == 2
    assert api.post(f"{base}/batch/archive", {"inputs": [{"id": ids[0]}]}).status_code == 204
    assert len(keyed.records()) == 1


def test_one_portal_behind_both_families(keyed: Sandbox, api: Api) -> None:
    """A record written on v3 is read on 2026-09 and updated there; v3 sees the update."""
    r = api.post("/crm/v3/objects/0-410/batch/upsert", {"inputs": [course("k1")]})
    rid = r.json()["results"][0]["id"]
    assert api.get(f"/crm/objects/2026-09/courses/{rid}").json()["id"] == rid
    r = api.post("/crm/objects/2026-09/0-410/batch/upsert",
                 {"inputs": [course("k1", hs_course_name="Renamed")]})
    assert r.json()["results"][0]["new"] is False
    got = api.get(f"/crm/v3/objects/courses/{rid}", params={"properties": "hs_course_name"}).json()
    assert got["properties"]["hs_course_name"] == "Renamed"


def test_v3_partial_success_is_207_and_2026_09_is_200_with_errors(keyed: Sandbox, api: Api) -> None:
    inputs = [course("ok", trace="t1"), course("bad", trace="t2", nonexistent_prop="x")]
    v3 = api.post("/crm/v3/objects/0-410/batch/upsert", {"inputs": inputs})
    assert v3.status_code == 207
    assert v3.json()["numErrors"] == 1 and v3.json()["errors"][0]["context"] == {"objectWriteTraceId": ["t2"]}
    dated = api.post("/crm/objects/2026-09/0-410/batch/upsert",
                     {"inputs": [course("ok2", trace="t1"), course("bad2", trace="t2", nonexistent_prop="x")]})
    assert dated.status_code == 200
    body = dated.json()
    assert body["numErrors"] == 1 and body["errors"][0]["category"] == "VALIDATION_ERROR"
    assert body["errors"][0]["context"] == {"objectWriteTraceId": ["t2"]}
    assert [x["properties"][KEY] for x in body["results"]] == ["ok2"]


def test_2026_09_all_success_carries_empty_errors(keyed: Sandbox, api: Api) -> None:
    body = api.post("/crm/objects/2026-09/0-410/batch/upsert", {"inputs": [course("x", trace="t")]}).json()
    assert body["numErrors"] == 0 and body["errors"] == []
    v3 = api.post("/crm/v3/objects/0-410/batch/upsert", {"inputs": [course("y", trace="t")]}).json()
    assert "errors" not in v3 and "numErrors" not in v3


def test_untraced_bad_input_fails_the_batch_in_both_families(keyed: Sandbox, api: Api) -> None:
    for path in ("/crm/v3/objects/0-410/batch/upsert", "/crm/objects/2026-09/0-410/batch/upsert"):
        r = api.post(path, {"inputs": [course("g"), course("h", nonexistent_prop="x")]})
        assert r.status_code == 400 and r.json()["category"] == "VALIDATION_ERROR"
    assert keyed.records() == []


@pytest.mark.parametrize("path", [
    "/crm/properties/2026-09/0-410", "/crm/properties/2026-09/courses", "/crm/properties/2026-09/0-410/groups",
    "/crm/properties/2026-09/courses/hs_course_name", "/account-info/2026-09/details",
    "/crm/object-library/2026-09/enablement/0-410", "/crm/object-library/2026-09/enablement/courses",
    "/crm/object-library/2026-09/enablement",
])
def test_dated_reads_answer_as_their_v3_twins(api: Api, path: str) -> None:
    r = api.get(path)
    assert r.status_code == 200, r.text
    twin = path.replace("/crm/properties/2026-09", "/crm/v3/properties") \
        .replace("/account-info/2026-09", "/account-info/v3") \
        .replace("/crm/object-library/2026-09", "/crm/v3/object-library")
    assert api.get(twin).json() == r.json()


def test_dated_property_create_is_seen_on_v3(api: Api) -> None:
    r = api.post("/crm/properties/2026-09/courses", {
        "name": "lms_code", "label": "LMS code", "type": "string", "fieldType": "text",
        "groupName": "course_information", "hasUniqueValue": True})
    assert r.status_code == 201
    assert api.get("/crm/v3/properties/0-410/lms_code").json()["hasUniqueValue"] is True


def test_dated_list_paging_link_stays_in_its_family(keyed: Sandbox, api: Api) -> None:
    api.post(UPSERT_DATED, {"inputs": [course("p1"), course("p2")]})
    link = api.get("/crm/objects/2026-09/courses", params={"limit": "1"}).json()["paging"]["next"]["link"]
    assert "/crm/objects/2026-09/courses?after=" in link


UPSERT_DATED = "/crm/objects/2026-09/0-410/batch/upsert"


def test_other_versions_are_not_served(api: Api) -> None:
    assert api.get("/crm/objects/2026-03/0-410").status_code == 404
    assert api.get("/crm/objects/2099-09/0-410").status_code == 404


def test_legacy_path_disabled_sandbox_gets_no_request_to_a_legacy_path() -> None:
    """With legacy_paths=False every legacy path answers 404 and writes nothing; the dated
    family works, and the log shows which family was called."""
    with Sandbox(legacy_paths=False) as sb:
        sb.create_property(KEY, has_unique_value=True)
        api = Api(sb.url)
        for method, path in [("POST", "/crm/v3/objects/0-410/batch/upsert"), ("GET", "/crm/v3/objects/0-410"),
                             ("GET", "/crm/v3/properties/0-410"), ("GET", "/account-info/v3/details"),
                             ("GET", "/crm/v3/object-library/enablement/0-410"),
                             ("GET", "/crm/v3/property-validations/0-410"),
                             ("POST", "/crm/v4/associations/0-410/0-1/batch/read")]:
            r = api.session.request(method, sb.url + path, json={"inputs": [course("z")]}, timeout=10)
            assert r.status_code == 404, path
        assert sb.records() == []
        assert api.post(UPSERT_DATED, {"inputs": [course("z")]}).status_code == 200
        legacy = [e for e in sb.request_log if e.path.startswith(("/crm/v3/", "/crm/v4/", "/account-info/v3/"))]
        assert all(e.status == 404 for e in legacy) and len(legacy) == 7
        sb.legacy_paths = True
        assert api.get("/crm/v3/objects/0-410").status_code == 200


def test_record_limits_endpoint(keyed: Sandbox, api: Api) -> None:
    keyed.set_record_limit("0-410", 4)
    api.post(UPSERT_DATED, {"inputs": [course("r1")]})
    r = api.get("/crm/limits/2026-09/records")
    assert r.status_code == 200
    row = [x for x in r.json()["hubspotDefinedObjectTypes"] if x["objectTypeId"] == "0-410"][0]
    assert (row["limit"], row["usage"], row["percentage"]) == (4, 1, 25.0)
    assert api.get("/crm/v3/limits/records").json() == r.json()  # the v3 twin HubSpot also lists


def test_record_limits_needs_a_token(keyed: Sandbox) -> None:
    assert requests.get(keyed.url + "/crm/limits/2026-09/records", timeout=10).status_code == 401
    assert Api(keyed.url, DEFAULT_TOKEN).get("/crm/limits/2026-09/records").status_code == 200


@pytest.mark.parametrize("path", ["/crm/v3/objects/0-410/batch/upsert", UPSERT_DATED])
def test_creates_past_a_set_record_limit_fail_the_request(keyed: Sandbox, api: Api, path: str) -> None:
    keyed.set_record_limit("0-410", 2)
    assert api.post(path, {"inputs": [course("l1", trace="a")]}).status_code == 200
    r = api.post(path, {"inputs": [course("l2", trace="a"), course("l3", trace="b")]})
    assert r.status_code == 400 and "record limit of 2" in r.json()["message"]
    assert len(keyed.records()) == 1
    # updates need no room, and one more create fits
    assert api.post(path, {"inputs": [course("l1", hs_course_name="x"), course("l2")]}).status_code == 200
    assert len(keyed.records()) == 2


def test_dated_paths_are_spelled_the_legacy_way_for_the_router() -> None:
    from hubspot_courses_destination.sandbox.versions import split_family

    assert split_family("/crm/objects/2026-09/courses/batch/upsert") == ("2026-09", "/crm/v3/objects/courses/batch/upsert")
    assert split_family("/crm/associations/2026-09/0-410/0-1/batch/read") == \
        ("2026-09", "/crm/v4/associations/0-410/0-1/batch/read")
    assert split_family("/account-info/2026-09/details") == ("2026-09", "/account-info/v3/details")
    assert split_family("/crm/v4/associations/0-410/0-1/labels") == ("v3", "/crm/v4/associations/0-410/0-1/labels")
    assert split_family("/crm/objects/2026-03/courses") == (None, "/crm/objects/2026-03/courses")
