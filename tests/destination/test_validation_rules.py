"""The portal's property validation rules: rule-breaking rows are rejected before any request.

The sandbox of this branch does not serve the property-validations endpoint yet (it answers
404, as a portal without it would). Tests that need rules either give the client the rules a
portal would serve (``portal_rules``: only the one read is replaced, every other request goes
to the sandbox over HTTP), or set them through the sandbox's HubSpot-shaped API and run once it
serves the 2026-09 family (``needs_2026_09``).
"""

from __future__ import annotations

import functools
import json
import logging
from typing import Any

import pytest
import requests

from hubspot_courses_destination.hubspot import HubSpotClient
from hubspot_courses_destination.sandbox import DEFAULT_TOKEN, Sandbox

from .conftest import ID, by_key, upsert_inputs

RULES = {
    "hs_course_name": [{"ruleType": "MAX_LENGTH", "ruleArguments": ["12"], "shouldApplyNormalization": False}],
    "seats": [
        {"ruleType": "MIN_NUMBER", "ruleArguments": ["1"]},
        {"ruleType": "BEFORE_DURATION", "ruleArguments": ["P1D"]},  # not decidable here
    ],
}


@functools.lru_cache(maxsize=1)
def sandbox_serves_2026_09() -> bool:
    with Sandbox() as sb:
        answer = requests.get(f"{sb.url}/crm/objects/2026-09/0-410", headers={"Authorization": f"Bearer {DEFAULT_TOKEN}"}, timeout=5)
        return answer.status_code != 404


needs_2026_09 = pytest.mark.skipif(not sandbox_serves_2026_09(), reason="the sandbox does not serve the 2026-09 paths yet")


@pytest.fixture
def portal_rules(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The client reads RULES as a portal would serve them; returns the object types asked."""
    asked: list[str] = []

    def property_validations(self: HubSpotClient, object_type: str) -> dict[str, list[dict[str, Any]]]:
        asked.append(object_type)
        return json.loads(json.dumps(RULES))

    monkeypatch.setattr(HubSpotClient, "property_validations", property_validations)
    return asked


def _portal(sandbox: Sandbox) -> None:
    sandbox.create_property(ID, has_unique_value=True)
    sandbox.create_property("seats", type="number", field_type="number")


ROWS = [
    {ID: "ok", "hs_course_name": "Statistics", "seats": 30},
    {ID: "long-name", "hs_course_name": "Statistics for engineers", "seats": 30},
    {ID: "no-seats", "hs_course_name": "Physics", "seats": 0},
]


def test_rule_breaking_rows_are_rejected_locally_with_no_request(sandbox, make_pipeline, staging, portal_rules):
    _portal(sandbox)
    info = make_pipeline().run(ROWS, table_name="courses")
    assert not info.has_failed_jobs
    assert portal_rules == ["0-410"]  # one read per object and load
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


def test_dry_run_lists_predicted_rule_rejections(sandbox, make_pipeline, staging, portal_rules):
    _portal(sandbox)
    info = make_pipeline(dry_run=True).run(ROWS, table_name="courses")
    assert sandbox.count_requests("POST", "/batch/upsert") == 0
    st = staging()
    summary = st.load_summary(info.loads_ids)
    assert (summary["created"], summary["rejected"]) == (1, 2)
    predicted = st._query("SELECT record_key, code FROM rejected_rows WHERE dry_run ORDER BY record_key")
    assert predicted == [("long-name", "RULE_MAX_LENGTH"), ("no-seats", "RULE_MIN_NUMBER")]


def test_a_portal_without_the_rules_endpoint_is_logged_once_and_the_load_goes_on(sandbox, make_pipeline, caplog):
    if sandbox_serves_2026_09():
        pytest.skip("the sandbox serves property validations now")
    _portal(sandbox)
    with caplog.at_level(logging.WARNING, logger="hubspot_courses_destination"):
        info = make_pipeline().run(ROWS, table_name="courses")
    assert not info.has_failed_jobs
    assert set(by_key(sandbox)) == {"ok", "long-name", "no-seats"}  # HubSpot's rules would decide
    warnings = [r for r in caplog.records if "property validation rules" in r.getMessage()]
    assert len(warnings) == 1 and warnings[0].levelno == logging.WARNING
    asked = [e for e in sandbox.request_log if "property-validations" in e.path]
    assert [(e.path, e.status) for e in asked] == [("/crm/v3/property-validations/0-410", 404)]


@needs_2026_09
def test_rules_set_in_the_portal_reject_rows_locally_under_2026_09(sandbox, make_pipeline, staging):
    _portal(sandbox)
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
