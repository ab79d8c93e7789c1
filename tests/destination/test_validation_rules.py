"""The portal's property validation rules: rule-breaking rows are rejected before any request.

Rules are set in the sandbox (``Sandbox.set_validation_rule``) and read by the destination
over HTTP from its property-validations endpoint, as from a portal.
"""

from __future__ import annotations

import json
import logging

import requests

from hubspot_courses_destination.sandbox import DEFAULT_TOKEN, Sandbox

from .conftest import ID, by_key, upsert_inputs

def _portal(sandbox: Sandbox, *, rules: bool = True) -> None:
    sandbox.create_property(ID, has_unique_value=True)
    sandbox.create_property("seats", type="number", field_type="number")
    if rules:
        sandbox.set_validation_rule("0-410", "hs_course_name", "MAX_LENGTH", ["12"])
        sandbox.set_validation_rule("0-410", "seats", "MIN_NUMBER", ["1"])
        sandbox.set_validation_rule("0-410", "hs_course_name", "SPECIAL_CHARACTERS", [])  # left to HubSpot


def _rule_reads(sandbox: Sandbox) -> list[str]:
    return [e.path for e in sandbox.request_log if "property-validations" in e.path]


ROWS = [
    {ID: "ok", "hs_course_name": "Statistics", "seats": 30},
    {ID: "long-name", "hs_course_name": "Statistics for engineers", "seats": 30},
    {ID: "no-seats", "hs_course_name": "Physics", "seats": 0},
]


def test_rule_breaking_rows_are_rejected_locally_with_no_request(sandbox, make_pipeline, staging):
    _portal(sandbox)
    info = make_pipeline().run(ROWS, table_name="courses")
    assert not info.has_failed_jobs
    assert _rule_reads(sandbox) == ["/crm/property-validations/2026-09/0-410"]  # one read per object and load
    assert set(by_key(sandbox)) == {"ok"}
    assert upsert_inputs(sandbox) == 1  # the rule-breaking rows were never sent
    st = staging()
    rejected = {r["record_key"]: r for r in st.open_rejections()}
    assert set(rejected) == {"long-name", "no-seats"}
    long = rejected["long-name"]
    assert (long["category"], long["code"]) == ("VALIDATION_ERROR", "RULE_MAX_LENGTH")
    assert "MAX_LENGTH" in long["message"] and "hs_course_name" in long["message"]
    assert json.loads(long["property_errors"])[0]["name"] == "hs_course_name"
    assert rejected["no-seats"]["code"] == "RULE_MIN_NUMBER"
    reasons = dict(st.top_rejections(info.loads_ids))
    assert any(r.startswith("VALIDATION_ERROR/RULE_MAX_LENGTH hs_course_name") for r in reasons)


def test_dry_run_lists_predicted_rule_rejections(sandbox, make_pipeline, staging):
    _portal(sandbox)
    info = make_pipeline(dry_run=True).run(ROWS, table_name="courses")
    assert sandbox.count_requests("POST", "/batch/upsert") == 0
    st = staging()
    summary = st.load_summary(info.loads_ids)
    assert (summary["created"], summary["rejected"]) == (1, 2)
    predicted = st._query("SELECT record_key, code FROM rejected_rows WHERE dry_run ORDER BY record_key")
    assert predicted == [("long-name", "RULE_MAX_LENGTH"), ("no-seats", "RULE_MIN_NUMBER")]


def test_a_portal_without_the_rules_endpoint_is_logged_once_and_the_load_goes_on(sandbox, make_pipeline, caplog):
    _portal(sandbox, rules=False)
    sandbox.serve_portal_rules_endpoints(validations=False)
    with caplog.at_level(logging.WARNING, logger="hubspot_courses_destination"):
        info = make_pipeline().run(ROWS, table_name="courses")
    assert not info.has_failed_jobs
    assert set(by_key(sandbox)) == {"ok", "long-name", "no-seats"}  # HubSpot's rules would decide
    warnings = [r for r in caplog.records if "property validation rules" in r.getMessage()]
    assert len(warnings) == 1 and warnings[0].levelno == logging.WARNING
    asked = [e for e in sandbox.request_log if "property-validations" in e.path]
    assert [(e.path, e.status) for e in asked] == [("/crm/property-validations/2026-09/0-410", 404)]


def test_rules_set_through_hubspots_api_reject_rows_locally(sandbox, make_pipeline, staging):
    _portal(sandbox, rules=False)
    # HubSpot's API for setting a rule: PUT .../{objectTypeId}/{propertyName}/rule-type/{ruleType}
    # (documented for v3; the 2026-09 path is taken to follow the family's layout)
    answers = [
        requests.put(
            f"{sandbox.url}{prefix}/0-410/hs_course_name/rule-type/MAX_LENGTH",
            json={"ruleArguments": ["12"], "shouldApplyNormalization": False},
            headers={"Authorization": f"Bearer {DEFAULT_TOKEN}"}, timeout=5,
        )
        for prefix in ("/crm/property-validations/2026-09", "/crm/v3/property-validations")
    ]
    assert any(a.status_code < 300 for a in answers), [a.text for a in answers]
    sandbox.reset_log()
    info = make_pipeline(api_version="2026-09").run(ROWS[:2], table_name="courses")
    assert not info.has_failed_jobs
    assert set(by_key(sandbox)) == {"ok"} and upsert_inputs(sandbox) == 1
    assert [r["code"] for r in staging().open_rejections()] == ["RULE_MAX_LENGTH"]
    assert not any("/v3/" in e.path for e in sandbox.request_log)
