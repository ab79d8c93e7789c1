"""The portal's own rules (issue 13 item 7): property validation rules served by the
property-validations endpoints and enforced on writes in both families; conditional-required
and create-form rules enforced only in the 2026-09 family."""

from __future__ import annotations

import json

import pytest

from hubspot_courses_destination.sandbox import Sandbox
from hubspot_courses_destination.sandbox.__main__ import apply_rules

from sandbox_helpers import KEY, Api, course

V3 = "/crm/v3/objects/0-410/batch/upsert"
DATED = "/crm/objects/2026-09/courses/batch/upsert"


def property_errors(message: str) -> list[dict]:
    prefix = "Property values were not valid: "
    assert message.startswith(prefix)
    return json.loads(message[len(prefix):])


@pytest.fixture
def ruled(keyed: Sandbox) -> Sandbox:
    keyed.create_property("lms_code", type="string", field_type="text")
    keyed.create_property("seats", type="number", field_type="number")
    keyed.create_property("contact_email", type="string", field_type="text")
    keyed.create_property("site", type="string", field_type="text")
    keyed.create_property("level", type="string", field_type="text")
    return keyed


def test_rules_are_served_in_hubspot_shapes(ruled: Sandbox, api: Api) -> None:
    assert ruled.set_validation_rule("0-410", "lms_code", "MAX_LENGTH", ["5"]) == {
        "ruleType": "MAX_LENGTH", "ruleArguments": ["5"], "shouldApplyNormalization": False}
    ruled.set_validation_rule("courses", "lms_code", "ALPHANUMERIC", ["ALPHA_ONLY"])
    ruled.set_validation_rule("0-410", "seats", "MIN_NUMBER", ["1"])
    for base in ("/crm/property-validations/2026-09", "/crm/v3/property-validations"):
        allrules = api.get(f"{base}/0-410").json()["results"]
        assert {r["propertyName"]: [x["ruleType"] for x in r["propertyValidationRules"]] for r in allrules} == {
            "lms_code": ["MAX_LENGTH", "ALPHANUMERIC"], "seats": ["MIN_NUMBER"]}
        one = api.get(f"{base}/0-410/lms_code").json()["results"]
        assert one[0] == {"ruleType": "MAX_LENGTH", "ruleArguments": ["5"], "shouldApplyNormalization": False}
        assert api.get(f"{base}/0-410/lms_code/rule-type/ALPHANUMERIC").json()["ruleArguments"] == ["ALPHA_ONLY"]
        assert api.get(f"{base}/0-410/lms_code/rule-type/REGEX").status_code == 404
        assert api.get(f"{base}/0-410/nothing").json() == {"results": []}


def test_rule_set_over_http_replaces_only_its_type(ruled: Sandbox, api: Api) -> None:
    path = "/crm/property-validations/2026-09/0-410/lms_code/rule-type/MAX_LENGTH"
    assert api.session.put(api.base_url + path, json={"ruleArguments": ["3"]}, timeout=10).status_code == 204
    assert api.session.put(api.base_url + path, json={"ruleArguments": ["4"]}, timeout=10).status_code == 204
    assert api.session.put(api.base_url + path, json={"ruleArguments": ["x"]}, timeout=10).status_code == 400
    assert api.get("/crm/v3/property-validations/0-410/lms_code").json()["results"] == [
        {"ruleType": "MAX_LENGTH", "ruleArguments": ["4"], "shouldApplyNormalization": False}]


def test_invalid_rules_refused_by_the_python_api(ruled: Sandbox) -> None:
    for args in (("lms_code", "NO_SUCH_RULE", []), ("lms_code", "MAX_LENGTH", ["ten"]),
                 ("lms_code", "ALPHANUMERIC", ["LETTERS"]), ("lms_code", "REGEX", ["("])):
        with pytest.raises(ValueError):
            ruled.set_validation_rule("0-410", *args)
    with pytest.raises(ValueError):
        ruled.set_validation_rule("0-1", "email", "EMAIL", [])


CASES = [
    ("lms_code", "MAX_LENGTH", ["3"], "abcd", "abc", "INVALID_MAX_LENGTH"),
    ("lms_code", "MIN_LENGTH", ["3"], "ab", "abc", "INVALID_MIN_LENGTH"),
    ("seats", "MAX_NUMBER", ["10"], "10.5", "10", "INVALID_MAX_NUMBER"),
    ("seats", "MIN_NUMBER", ["-1.5"], "-2", "-1.5", "INVALID_MIN_NUMBER"),
    ("lms_code", "REGEX", ["^[A-Z]+$", "Must be uppercase"], "abc", "ABC", "INVALID_REGEX"),
    ("lms_code", "ALPHANUMERIC", ["ALPHA_ONLY"], "ab1", "ab", "INVALID_ALPHA"),
    ("lms_code", "ALPHANUMERIC", ["ALPHANUMERIC"], "a-1", "a1", "INVALID_ALPHANUMERIC"),
    ("lms_code", "ALPHANUMERIC", ["NUMERIC_ONLY"], "1a", "12", "INVALID_NUMERIC"),
    ("contact_email", "EMAIL", [], "ann@example", "ann@example.com", "INVALID_EMAIL"),
    ("site", "URL", [], "example com", "https://example.com/x", "INVALID_URL"),
]


@pytest.mark.parametrize("path", [V3, DATED])
@pytest.mark.parametrize("prop,rule,args,bad,good,code", CASES, ids=[f"{c[1]}-{c[2][:1]}" for c in CASES])
def test_validation_rule_enforced_per_input_in_both_families(
    ruled: Sandbox, api: Api, path: str, prop: str, rule: str, args: list[str], bad: str, good: str,
    code: str,
) -> None:
    ruled.set_validation_rule("0-410", prop, rule, args)
    r = api.post(path, {"inputs": [course("good", trace="t1", **{prop: good}),
                                   course("bad", trace="t2", **{prop: bad})]})
    assert r.status_code == (207 if path == V3 else 200)
    body = r.json()
    assert [x["properties"][KEY] for x in body["results"]] == ["good"]
    (err,) = body["errors"]
    assert err["category"] == "VALIDATION_ERROR" and err["context"] == {"objectWriteTraceId": ["t2"]}
    (item,) = property_errors(err["message"])
    assert (item["isValid"], item["error"], item["name"]) == (False, code, prop)
    if rule == "REGEX":
        assert item["message"] == "Must be uppercase"  # the rule's own message
    assert ruled.record_by(KEY, "bad") is None


def test_alpha_only_message_matches_hubspots_example(ruled: Sandbox, api: Api) -> None:
    ruled.set_validation_rule("0-410", "lms_code", "ALPHANUMERIC", ["ALPHA_ONLY"])
    r = api.post(V3, {"inputs": [course("x", lms_code="a1")]})
    assert r.status_code == 400
    (item,) = property_errors(r.json()["message"])
    assert {k: item[k] for k in ("isValid", "message", "error", "name")} == {
        "isValid": False, "message": "Enter only letters", "error": "INVALID_ALPHA", "name": "lms_code"}


def test_clearing_a_ruled_property_is_not_checked(ruled: Sandbox, api: Api) -> None:
    ruled.set_validation_rule("0-410", "lms_code", "MIN_LENGTH", ["3"])
    assert api.post(V3, {"inputs": [course("c", lms_code="")]}).status_code == 200
    ruled.clear_validation_rules("0-410", "lms_code")
    assert api.post(V3, {"inputs": [course("c", lms_code="a")]}).status_code == 200


def test_conditional_required_enforced_only_on_2026_09(ruled: Sandbox, api: Api) -> None:
    ruled.add_conditional_required("0-410", "site", when_property="level", when_value="advanced")
    inputs = [course("c1", trace="t1", level="advanced"), course("c2", trace="t2", level="advanced", site="https://a.io"),
              course("c3", trace="t3", level="basic")]
    r = api.post(DATED, {"inputs": inputs})
    assert r.status_code == 200
    body = r.json()
    assert sorted(x["properties"][KEY] for x in body["results"]) == ["c2", "c3"]
    (err,) = body["errors"]
    assert err["category"] == "VALIDATION_ERROR" and err["context"] == {"objectWriteTraceId": ["t1"]}
    (item,) = property_errors(err["message"])
    assert item["name"] == "site" and item["error"] == "CONDITIONALLY_REQUIRED_PROPERTY_MISSING"
    # the legacy family does not enforce it
    assert api.post(V3, {"inputs": [course("c4", level="advanced")]}).status_code == 200


def test_conditional_required_judged_on_the_record_after_the_update(ruled: Sandbox, api: Api) -> None:
    ruled.add_conditional_required("0-410", "site", when_property="level", when_value="advanced")
    api.post(DATED, {"inputs": [course("u", site="https://a.io")]})
    assert api.post(DATED, {"inputs": [course("u", level="advanced")]}).status_code == 200  # site is stored
    r = api.post(DATED, {"inputs": [course("u", site="")]})  # clearing it breaks the rule
    assert r.status_code == 400 and r.json()["category"] == "VALIDATION_ERROR"
    assert r.json()["errors"][0]["context"] == {"propertyName": ["site"]}


def test_create_form_required_enforced_on_creates_in_2026_09_only(ruled: Sandbox, api: Api) -> None:
    ruled.set_create_form_required("courses", ["lms_code"])
    r = api.post(DATED, {"inputs": [course("f1", trace="t1"), course("f2", trace="t2", lms_code="X")]})
    body = r.json()
    assert r.status_code == 200 and [x["properties"][KEY] for x in body["results"]] == ["f2"]
    (item,) = property_errors(body["errors"][0]["message"])
    assert item["name"] == "lms_code" and item["error"] == "REQUIRED_BY_CREATE_FORM"
    # an update of an existing record is not a create
    assert api.post(DATED, {"inputs": [course("f2", hs_course_name="New name")]}).status_code == 200
    assert api.post(V3, {"inputs": [course("f3")]}).status_code == 200


def test_cli_rule_flags() -> None:
    with Sandbox() as sb:
        apply_rules(sb, ["lms_code:MAX_LENGTH:5", "lms_code:REGEX:^a:b$", "seats:MIN_NUMBER:0"],
                    ["site:level=advanced"], ["lms_code"])
        rules = Api(sb.url).get("/crm/property-validations/2026-09/0-410/lms_code").json()["results"]
        assert [r["ruleArguments"] for r in rules] == [["5"], ["^a:b$"]]
        with pytest.raises(ValueError):
            apply_rules(sb, ["lms_code"], [], [])
        with pytest.raises(ValueError):
            apply_rules(sb, [], ["site-level"], [])


def test_key_value_is_checked_on_create(ruled: Sandbox, api: Api) -> None:
    ruled.set_validation_rule("0-410", KEY, "MAX_LENGTH", ["3"])
    r = api.post(V3, {"inputs": [course("long-key")]})
    assert r.status_code == 400
    assert property_errors(r.json()["message"])[0]["name"] == KEY


def test_cli_flags_reach_the_running_sandbox() -> None:
    """`python -m hubspot_courses_destination.sandbox` with the new flags, over real HTTP."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "hubspot_courses_destination.sandbox", "--port", "0", "--no-legacy-paths",
         "--record-limit", "7", "--validation-rule", "hs_course_name:MAX_LENGTH:4",
         "--conditional-required", "hs_course_description:hs_course_name=ab", "--form-required", "hs_course_id"],
        stdout=subprocess.PIPE, text=True, env=env,
    )
    try:
        line = proc.stdout.readline()  # "HubSpot sandbox listening on http://127.0.0.1:PORT"
        url = line.strip().rsplit(" ", 1)[-1]
        api = Api(url)
        assert api.get("/crm/v3/objects/0-410").status_code == 404
        assert api.get("/crm/limits/2026-09/records").json()["hubspotDefinedObjectTypes"][0]["limit"] == 7
        assert api.get("/crm/property-validations/2026-09/0-410/hs_course_name").json()["results"] == [
            {"ruleType": "MAX_LENGTH", "ruleArguments": ["4"], "shouldApplyNormalization": False}]
        assert api.post("/crm/properties/2026-09/0-410", {
            "name": KEY, "label": "Key", "type": "string", "fieldType": "text",
            "groupName": "course_information", "hasUniqueValue": True}).status_code == 201
        r = api.post(DATED, {"inputs": [course("a", trace="1", hs_course_name="ab", hs_course_id="x"),
                                        course("b", trace="2", hs_course_name="abc"),
                                        course("c", trace="3", hs_course_name="abcde", hs_course_id="x")]})
        names = sorted(property_errors(e["message"])[0]["name"] for e in r.json()["errors"])
        assert names == ["hs_course_description", "hs_course_id", "hs_course_name"]
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_rules_must_fit_the_property_type(ruled: Sandbox, api: Api) -> None:
    with pytest.raises(ValueError):
        ruled.set_validation_rule("0-410", "seats", "MAX_LENGTH", ["3"])      # a number property
    with pytest.raises(ValueError):
        ruled.set_validation_rule("0-410", "lms_code", "MIN_NUMBER", ["3"])   # a string property
    ruled.set_validation_rule("0-410", "not_yet_created", "MAX_LENGTH", ["3"])  # allowed ahead of creation
    put = "/crm/v3/property-validations/0-410/{p}/rule-type/{t}"
    r = api.session.put(api.base_url + put.format(p="seats", t="MAX_LENGTH"), json={"ruleArguments": ["3"]}, timeout=10)
    assert r.status_code == 400
    r = api.session.put(api.base_url + put.format(p="nope", t="MAX_LENGTH"), json={"ruleArguments": ["3"]}, timeout=10)
    assert r.status_code == 400  # over HTTP the property must exist
