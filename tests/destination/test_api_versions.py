"""The destination end to end in both API families: the same portal, the same outcomes; only
the paths and the status of a partial upsert (207 on v3, 200 with errors on 2026-09) differ."""

from __future__ import annotations

import pytest

from .conftest import ID, by_key, upsert_inputs

FAMILY_PREFIXES = {"2026-09": ("/crm/objects/2026-09/", "/crm/properties/2026-09/", "/account-info/2026-09/",
                               "/crm/object-library/2026-09/", "/crm/property-validations/2026-09/",
                               "/crm/limits/2026-09/"),
                   "v3": ("/crm/v3/", "/account-info/v3/")}


@pytest.mark.parametrize("api_version", ["2026-09", "v3"])
def test_a_load_with_a_bad_row_in_each_family(api_version, sandbox, make_pipeline, staging):
    # a rule HubSpot applies but this app cannot read: only HubSpot's answer rejects the row
    sandbox.set_validation_rule("0-410", "hs_course_name", "MAX_LENGTH", ["5"])
    sandbox.serve_portal_rules_endpoints(validations=False)
    rows = [{ID: "ok", "hs_course_name": "Stats"}, {ID: "bad", "hs_course_name": "Physics"}]
    info = make_pipeline(api_version=api_version).run(rows, table_name="courses")
    assert not info.has_failed_jobs
    assert set(by_key(sandbox)) == {"ok"}
    rejected = {r["record_key"]: r for r in staging().open_rejections()}
    assert set(rejected) == {"bad"} and rejected["bad"]["category"] == "VALIDATION_ERROR"
    upserts = [e for e in sandbox.request_log if e.path.endswith("/batch/upsert")]
    assert {e.status for e in upserts} == ({207} if api_version == "v3" else {200})
    assert all(e.path.startswith(FAMILY_PREFIXES[api_version]) for e in sandbox.request_log), \
        sorted({e.path for e in sandbox.request_log})

    sandbox.reset_log()  # unchanged re-run: nothing sent in either family
    make_pipeline(api_version=api_version).run(rows[:1], table_name="courses")
    assert upsert_inputs(sandbox) == 0


def test_conditional_and_form_required_refusals_are_recorded_with_hubspots_property_names(
    sandbox, make_pipeline, staging
):
    """Rules HubSpot enforces from 2026-09 and no API reads: only its answer can reject."""
    sandbox.create_property("course_status", label="Status")
    sandbox.create_property("course_url", label="URL")
    sandbox.create_property("course_code", label="Code")
    sandbox.add_conditional_required("0-410", "course_url", "course_status", "published")
    sandbox.set_create_form_required("0-410", ["course_code"])
    rows = [
        {ID: "fine", "hs_course_name": "A", "course_code": "A1", "course_status": "draft"},
        {ID: "no-url", "hs_course_name": "B", "course_code": "B1", "course_status": "published"},
        {ID: "no-code", "hs_course_name": "C", "course_status": "draft"},
    ]
    info = make_pipeline().run(rows, table_name="courses")
    assert not info.has_failed_jobs
    assert set(by_key(sandbox)) == {"fine"}
    rejected = {r["record_key"]: r for r in staging().open_rejections()}
    assert set(rejected) == {"no-url", "no-code"}
    assert all(r["category"] == "VALIDATION_ERROR" for r in rejected.values())
    assert "course_url" in rejected["no-url"]["property_errors"]
    assert "course_code" in rejected["no-code"]["property_errors"]
    reasons = [reason for reason, _ in staging().top_rejections(info.loads_ids)]
    assert any(" course_url" in r for r in reasons) and any(" course_code" in r for r in reasons)


def test_a_sandbox_without_the_legacy_paths_gets_no_request_to_them(sandbox, make_pipeline):
    sandbox.legacy_paths = False  # HubSpot after the retirement of /crm/v3 and /crm/v4
    info = make_pipeline().run([{ID: "c1", "hs_course_name": "A"}], table_name="courses")
    assert not info.has_failed_jobs and set(by_key(sandbox)) == {"c1"}
    assert sandbox.request_log and not any(e.path.startswith(("/crm/v3/", "/crm/v4/", "/account-info/v3/"))
                                           for e in sandbox.request_log)
