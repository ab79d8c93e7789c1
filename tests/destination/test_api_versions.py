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
