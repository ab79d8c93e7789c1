"""POST /crm/v3/objects/{objectType}/search over real HTTP: filters, sorts, paging, total, its
own 5/s limit and no rate-limit headers (docs/hubspot-behaviour.md, "Search")."""

from __future__ import annotations

from typing import Any

import pytest

from hubspot_courses_destination.sandbox import Sandbox

from sandbox_helpers import KEY, Api, course

SEARCH = "/crm/v3/objects/0-410/search"


@pytest.fixture
def loaded(keyed: Sandbox, api: Api) -> Api:
    """Five courses: capacity 10..50, names 'Intro to Python 0'.., one without a description."""
    inputs = [course(f"k{i}", hs_course_name=f"Intro to Python {i}", hs_enrollment_capacity=str((i + 1) * 10),
                     hs_pipeline_stage="open" if i % 2 else "planned", hs_course_description="desc" if i else "")
              for i in range(5)]
    assert api.upsert(inputs).status_code == 200
    keyed.search_per_second = 1000  # these tests search in quick loops
    return api


def names(r: Any) -> list[str]:
    return [x["properties"]["hs_course_name"] for x in r.json()["results"]]


def flt(prop: str, op: str, value: Any = None, **kw: Any) -> dict[str, Any]:
    body = {"filterGroups": [{"filters": [{"propertyName": prop, "operator": op,
                                           **({"value": value} if value is not None else {}), **kw}]}],
            "properties": ["hs_course_name"], "limit": 100,
            "sorts": [{"propertyName": "hs_enrollment_capacity", "direction": "ASCENDING"}]}
    return body


@pytest.mark.parametrize("op,value,expected", [
    ("EQ", "30", [2]), ("NEQ", "30", [0, 1, 3, 4]), ("LT", "30", [0, 1]), ("LTE", "30", [0, 1, 2]),
    ("GT", "30", [3, 4]), ("GTE", "30", [2, 3, 4]),
])
def test_number_comparisons(loaded: Api, op: str, value: str, expected: list[int]) -> None:
    r = loaded.post(SEARCH, flt("hs_enrollment_capacity", op, value))
    assert r.status_code == 200
    assert names(r) == [f"Intro to Python {i}" for i in expected]
    assert r.json()["total"] == len(expected)


def test_numbers_compare_as_numbers_not_text(loaded: Api) -> None:
    # "50" > "100" as text; as numbers nothing is above 100.
    assert loaded.post(SEARCH, flt("hs_enrollment_capacity", "GT", "100")).json()["total"] == 0


def test_has_property_in_and_contains_token(loaded: Api) -> None:
    assert loaded.post(SEARCH, flt("hs_course_description", "HAS_PROPERTY")).json()["total"] == 4
    assert names(loaded.post(SEARCH, flt("hs_course_description", "NOT_HAS_PROPERTY"))) == ["Intro to Python 0"]
    r = loaded.post(SEARCH, flt("hs_pipeline_stage", "IN", values=["open"]))
    assert r.json()["total"] == 2
    r = loaded.post(SEARCH, flt(KEY, "IN", values=["k1", "k3", "nope"]))
    assert names(r) == ["Intro to Python 1", "Intro to Python 3"]
    assert loaded.post(SEARCH, flt("hs_course_name", "CONTAINS_TOKEN", "python")).json()["total"] == 5
    assert loaded.post(SEARCH, flt("hs_course_name", "CONTAINS_TOKEN", "pyth*")).json()["total"] == 5
    assert loaded.post(SEARCH, flt("hs_course_name", "CONTAINS_TOKEN", "pyth")).json()["total"] == 0
    assert loaded.post(SEARCH, flt("hs_course_name", "NOT_CONTAINS_TOKEN", "python")).json()["total"] == 0


def test_enumeration_eq_is_case_sensitive_text_is_not(loaded: Api) -> None:
    assert loaded.post(SEARCH, flt("hs_pipeline_stage", "EQ", "OPEN")).json()["total"] == 0
    assert loaded.post(SEARCH, flt("hs_course_name", "EQ", "intro to python 2")).json()["total"] == 1


def test_groups_are_or_filters_are_and(loaded: Api) -> None:
    body = {"filterGroups": [
        {"filters": [{"propertyName": "hs_enrollment_capacity", "operator": "LT", "value": "20"}]},
        {"filters": [{"propertyName": "hs_enrollment_capacity", "operator": "GT", "value": "20"},
                     {"propertyName": "hs_pipeline_stage", "operator": "EQ", "value": "open"}]},
    ], "properties": ["hs_course_name"], "sorts": [{"propertyName": "hs_enrollment_capacity",
                                                     "direction": "DESCENDING"}]}
    assert names(loaded.post(SEARCH, body)) == ["Intro to Python 3", "Intro to Python 0"]


def test_paging_with_after_and_total(loaded: Api) -> None:
    seen: list[str] = []
    after = None
    while True:
        body: dict[str, Any] = {"limit": 2, "properties": ["hs_course_name"]}
        if after:
            body["after"] = after
        out = loaded.post(SEARCH, body).json()
        assert out["total"] == 5
        seen += [x["properties"]["hs_course_name"] for x in out["results"]]
        after = out.get("paging", {}).get("next", {}).get("after")
        if not after:
            break
    # Default order: creation order, oldest first.
    assert seen == [f"Intro to Python {i}" for i in range(5)]


def test_default_properties_and_archived_left_out(loaded: Api, keyed: Sandbox) -> None:
    first = loaded.post(SEARCH, {}).json()["results"][0]
    assert set(first["properties"]) >= {"hs_course_name", "hs_object_id"}
    assert loaded.post("/crm/v3/objects/0-410/batch/archive", {"inputs": [{"id": first["id"]}]}).status_code == 204
    assert loaded.post(SEARCH, {}).json()["total"] == 4


def test_courses_by_name_path(loaded: Api) -> None:
    assert loaded.post("/crm/v3/objects/courses/search", {}).json()["total"] == 5


@pytest.mark.parametrize("body,fragment", [
    ({"limit": 201}, "limit"),
    ({"after": "abc"}, "integer"),
    ({"after": "9999", "limit": 10}, "10000"),
    ({"filterGroups": [{"filters": []}] * 6}, "filter groups"),
    ({"filterGroups": [{"filters": [{"propertyName": "hs_course_name", "operator": "HAS_PROPERTY"}] * 7}]},
     "filters in a group"),
    ({"filterGroups": [{"filters": [{"propertyName": "hs_course_name", "operator": "HAS_PROPERTY"}] * 5}] * 4},
     "in total"),
    ({"filterGroups": [{"filters": [{"propertyName": "hs_course_name", "operator": "LIKE", "value": "x"}]}]},
     "operator"),
    ({"filterGroups": [{"filters": [{"propertyName": "nope", "operator": "EQ", "value": "x"}]}]}, "nope"),
    ({"sorts": [{"propertyName": "hs_course_name"}, {"propertyName": KEY}]}, "one sorting rule"),
    ({"properties": ["x" * 3000]}, "3000"),
])
def test_search_limits_answer_400(loaded: Api, body: dict[str, Any], fragment: str) -> None:
    r = loaded.post(SEARCH, body)
    assert r.status_code == 400
    assert r.json()["category"] == "VALIDATION_ERROR" and fragment in r.json()["message"]


def test_search_has_no_rate_limit_headers_and_its_own_5_per_second(sb: Sandbox, api: Api) -> None:
    answers = [api.post(SEARCH, {}) for _ in range(6)]
    assert [a.status_code for a in answers[:5]] == [200] * 5
    for a in answers:
        assert not [h for h in a.headers if h.lower().startswith("x-hubspot-ratelimit")]
    # Six quick searches: at least the sixth falls within one second of the first.
    refused = answers[5]
    if refused.status_code == 429:
        assert refused.json()["message"] == "You have reached your secondly limit."
        assert refused.json()["errorType"] == "RATE_LIMIT" and "policyName" not in refused.json()
    # Search does not use up the 10-second burst budget of other calls.
    other = api.get("/crm/v3/objects/0-410")
    assert other.headers["X-HubSpot-RateLimit-Remaining"] == str(100 - 1)


def test_search_429_is_deterministic_with_a_frozen_clock() -> None:
    with Sandbox(clock=lambda: 100.0) as sb:
        api = Api(sb.url)
        answers = [api.post(SEARCH, {}) for _ in range(7)]
        assert [a.status_code for a in answers] == [200] * 5 + [429, 429]
        assert answers[5].json()["message"] == "You have reached your secondly limit."
        assert not [h for a in answers for h in a.headers if h.lower().startswith("x-hubspot-ratelimit")]
        assert sb.count_requests("POST", "/search", 429) == 2
        sb.reset_rate_limits()
        assert api.post(SEARCH, {}).status_code == 200


def test_search_needs_read_scope(sb: Sandbox) -> None:
    sb.add_token("pat-na1-nosearch", scopes=["crm.objects.courses.write"])
    r = Api(sb.url, "pat-na1-nosearch").post(SEARCH, {})
    assert r.status_code == 403 and r.json()["category"] == "MISSING_SCOPES"


def test_search_while_courses_not_activated(sb: Sandbox, api: Api) -> None:
    sb.set_object_enabled(False)
    assert api.post(SEARCH, {}).status_code == 403


def test_secondly_pair_on_other_responses(api: Api) -> None:
    first = api.get("/crm/v3/objects/0-410")
    second = api.get("/crm/v3/properties/0-410")
    assert first.headers["X-HubSpot-RateLimit-Secondly"] == "10"
    assert int(second.headers["X-HubSpot-RateLimit-Secondly-Remaining"]) <= \
        int(first.headers["X-HubSpot-RateLimit-Secondly-Remaining"])


def test_between_and_datetime_filters(loaded: Api) -> None:
    r = loaded.post(SEARCH, flt("hs_enrollment_capacity", "BETWEEN", "20", highValue="40"))
    assert names(r) == ["Intro to Python 1", "Intro to Python 2", "Intro to Python 3"]
    # Datetime filters take epoch milliseconds (or ISO 8601).
    assert loaded.post(SEARCH, flt("hs_createdate", "GTE", "0")).json()["total"] == 5
    assert loaded.post(SEARCH, flt("hs_createdate", "LT", "2000-01-01T00:00:00Z")).json()["total"] == 0
