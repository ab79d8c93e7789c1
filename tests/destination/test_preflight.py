"""Configuration problems stop the run before any write, with one message that says what to do."""

from __future__ import annotations

import pytest
from dlt.pipeline.exceptions import PipelineStepFailed

from hubspot_courses_destination.hubspot.endpoints import Endpoints
from hubspot_courses_destination.settings import DEFAULT_API_VERSION

from hubspot_courses_destination.errors import (
    AuthenticationError,
    ConfigurationError,
    MissingScopesError,
    ObjectNotActivatedError,
    PreflightError,
)

from .conftest import ID

PROPERTIES = Endpoints(DEFAULT_API_VERSION).path("properties", object_type="0-410")
"""POST here creates a property (in the family pipelines call by default)."""

ROWS = [{ID: "c1", "hs_course_name": "Intro", "seats": 3}]


def _root_cause(exc: BaseException) -> BaseException:
    """dlt wraps job errors: PipelineStepFailed -> LoadClientJob... -> our exception."""
    seen = exc
    while True:
        nxt = getattr(seen, "client_exception", None) or getattr(seen, "exception", None) or seen.__cause__
        if nxt is None or nxt is seen:
            return seen
        seen = nxt


def _run_expecting(make_pipeline, error_type, rows=ROWS, **settings):
    with pytest.raises(PipelineStepFailed) as info:
        make_pipeline(**settings).run(rows, table_name="courses")
    cause = _root_cause(info.value)
    assert isinstance(cause, error_type), repr(cause)
    return cause


def test_missing_id_property_without_create_lists_it(sandbox, make_pipeline):
    cause = _run_expecting(make_pipeline, PreflightError, create_missing_properties=False)
    text = str(cause)
    assert f"id property {ID!r} does not exist" in text
    assert "seats" in text  # every missing property is listed in the same message
    assert "create_missing_properties" in text
    assert sandbox.count_requests("POST", "/batch/upsert") == 0


def test_id_property_without_unique_values_is_refused(sandbox, make_pipeline):
    sandbox.create_property(ID, has_unique_value=False)
    cause = _run_expecting(make_pipeline, PreflightError)
    assert "does not have unique values" in str(cause)
    assert sandbox.count_requests("POST", "/batch/upsert") == 0


def test_read_only_target_property_is_refused(sandbox, make_pipeline):
    cause = _run_expecting(make_pipeline, PreflightError, rows=[{ID: "c1", "hs_course_name": "x", "hs_object_id": 5}])
    assert "read-only" in str(cause) and "hs_object_id" in str(cause)
    assert sandbox.count_requests("POST", "/batch/upsert") == 0


def test_courses_not_activated(sandbox, make_pipeline):
    sandbox.set_object_enabled(False)
    cause = _run_expecting(make_pipeline, ObjectNotActivatedError)
    assert "not activated" in str(cause) and "Super Admin" in str(cause)
    assert sandbox.count_requests("POST", "/batch/upsert") == 0


def test_token_without_schema_scope_cannot_create_properties(sandbox, make_pipeline):
    token = "pat-na1-limited-scopes-token-0001"
    sandbox.add_token(token, scopes={"crm.objects.courses.read", "crm.objects.courses.write"})
    cause = _run_expecting(make_pipeline, MissingScopesError, access_token=token)
    assert "crm.schemas.courses.write" in str(cause)
    assert token not in str(cause)
    assert sandbox.count_requests("POST", "/batch/upsert") == 0


def test_token_without_write_scope(sandbox, make_pipeline):
    token = "pat-na1-read-only-token-0002"
    sandbox.add_token(token, scopes={"crm.objects.courses.read", "crm.schemas.courses.read", "crm.schemas.courses.write"})
    cause = _run_expecting(make_pipeline, MissingScopesError, access_token=token)
    assert "crm.objects.courses.write" in str(cause)


def test_bad_token_is_terminal_and_not_echoed(sandbox, make_pipeline):
    token = "pat-na1-wrong-token-9999"
    cause = _run_expecting(make_pipeline, AuthenticationError, access_token=token)
    assert token not in str(cause) and token not in repr(cause)
    assert "token" in str(cause).lower()
    assert sandbox.count_requests("POST", "/batch/upsert") == 0


def test_invalid_settings_fail_before_any_request(sandbox, make_pipeline):
    cause = _run_expecting(make_pipeline, ConfigurationError, id_property="Course Key")
    assert "id_property" in str(cause)
    assert sandbox.request_log == []


def test_unknown_property_group_fails_before_creating_anything(sandbox, make_pipeline):
    before = {p["name"] for p in sandbox.properties()}
    cause = _run_expecting(make_pipeline, PreflightError, property_group="no_such_group")
    assert "no_such_group" in str(cause) and "course_information" in str(cause)
    assert {p["name"] for p in sandbox.properties()} == before
    assert sandbox.count_requests("POST", "/batch/upsert") == 0


def test_a_column_that_is_no_property_name_stops_the_load_and_the_excluded_rerun_finishes_it(
    sandbox, make_pipeline, tmp_path
):
    import dlt

    from hubspot_courses_destination import hubspot_courses
    from hubspot_courses_destination.sandbox import DEFAULT_TOKEN

    rows = [{ID: "c1", "hs_course_name": "Intro", "Instructor Name": "Ada"}]
    pipeline = make_pipeline()
    with pytest.raises(PipelineStepFailed) as info:
        pipeline.run(rows, table_name="courses")
    cause = _root_cause(info.value)
    assert isinstance(cause, PreflightError)
    assert "'Instructor Name'" in str(cause) and "exclude_columns" in str(cause) and "property_map" in str(cause)
    assert sandbox.records() == [] and sandbox.count_requests("POST", PROPERTIES) == 0
    assert pipeline.has_pending_data

    fixed = dlt.pipeline(
        pipeline.pipeline_name, pipelines_dir=pipeline.pipelines_dir,
        destination=hubspot_courses(
            access_token=DEFAULT_TOKEN, api_base_url=sandbox.url, id_property=ID,
            staging_path=str(tmp_path / "staging.duckdb"), create_missing_properties=True,
            exclude_columns=["Instructor Name"],
        ),
    )
    fixed.run()  # the pending package, with the column excluded
    assert not fixed.has_pending_data
    assert [r["properties"]["hs_course_name"] for r in sandbox.records()] == ["Intro"]


def test_a_misspelt_property_gets_a_did_you_mean(sandbox, make_pipeline):
    cause = _run_expecting(make_pipeline, PreflightError, rows=[{ID: "c1", "hs_course_nmae": "Intro"}],
                           create_missing_properties=False)
    assert "hs_course_nmae (did you mean hs_course_name?)" in str(cause)
