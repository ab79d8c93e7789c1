"""Record-limit headroom: a load whose creates would pass the portal's limit is refused before sending.

The limit is set in the sandbox (``Sandbox.set_record_limit``) and read by the destination
over HTTP from the record-limits endpoint, as from a portal.
"""

from __future__ import annotations

import logging

import pytest
from dlt.pipeline.exceptions import PipelineStepFailed

from hubspot_courses_destination import RecordLimitExceededError

from .conftest import ID, by_key, upsert_inputs


def _rows(n: int, start: int = 0) -> list[dict[str, object]]:
    return [{ID: f"c-{i}", "hs_course_name": f"Course {i}"} for i in range(start, start + n)]


def _limited_portal(sandbox, make_pipeline, limit: int = 10, used: int = 4) -> None:
    """A portal holding ``used`` courses of other keys, limited to ``limit`` records."""
    sandbox.create_property(ID, has_unique_value=True)
    make_pipeline().run([{ID: f"other-{i}", "hs_course_name": "Other"} for i in range(used)], table_name="courses")
    sandbox.set_record_limit("0-410", limit)
    sandbox.reset_log()


def _limit_reads(sandbox) -> int:
    return sum(1 for e in sandbox.request_log if "/limits/" in e.path)


def _error_of(exc: BaseException) -> BaseException:
    while exc.__cause__ is not None or exc.__context__ is not None:
        if isinstance(exc, RecordLimitExceededError):
            return exc
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    return exc


def test_a_load_past_the_record_limit_is_refused_before_sending(sandbox, make_pipeline):
    _limited_portal(sandbox, make_pipeline)
    with pytest.raises(PipelineStepFailed) as failed:
        make_pipeline().run(_rows(7), table_name="courses")  # 4 used + 7 new > 10
    error = _error_of(failed.value)
    assert isinstance(error, RecordLimitExceededError), repr(failed.value)
    text = str(error)
    assert "10 records allowed" in text and "4 in use" in text and "create up to 7" in text
    assert "Nothing of this batch was sent" in text
    assert upsert_inputs(sandbox) == 0 and len(sandbox.records()) == 4


def test_a_load_within_the_limit_goes_and_known_keys_are_not_creates(sandbox, make_pipeline):
    _limited_portal(sandbox, make_pipeline)
    info = make_pipeline().run(_rows(6), table_name="courses")  # 4 + 6 = 10: fits exactly
    assert not info.has_failed_jobs and len(by_key(sandbox)) == 10
    assert _limit_reads(sandbox) == 1  # once per load
    # full now: updates of known keys still go
    changed = [{ID: f"c-{i}", "hs_course_name": f"Renamed {i}"} for i in range(6)]
    info = make_pipeline().run(changed, table_name="courses")
    assert not info.has_failed_jobs
    assert by_key(sandbox)["c-0"]["hs_course_name"] == "Renamed 0"
    with pytest.raises(PipelineStepFailed):
        make_pipeline().run(_rows(1, start=6), table_name="courses")  # one new course: no room
    assert "c-6" not in by_key(sandbox)


def test_the_dry_run_of_a_refused_load_is_refused_too(sandbox, make_pipeline):
    _limited_portal(sandbox, make_pipeline)
    with pytest.raises(PipelineStepFailed) as failed:
        make_pipeline(dry_run=True).run(_rows(7), table_name="courses")
    assert isinstance(_error_of(failed.value), RecordLimitExceededError)


def test_a_portal_that_does_not_give_the_limit_skips_the_check_and_says_so(sandbox, make_pipeline, caplog):
    sandbox.create_property(ID, has_unique_value=True)
    sandbox.serve_portal_rules_endpoints(limits=False)
    with caplog.at_level(logging.INFO, logger="hubspot_courses_destination"):
        info = make_pipeline().run(_rows(3), table_name="courses")
        info2 = make_pipeline().run(_rows(2, start=3), table_name="courses")
    assert not info.has_failed_jobs and not info2.has_failed_jobs and len(by_key(sandbox)) == 5
    said = [r.getMessage() for r in caplog.records if "record-limit check skipped" in r.getMessage()]
    assert len(said) == 1 and "did not give" in said[0]
    assert [e.path for e in sandbox.request_log if "limits" in e.path] == ["/crm/limits/2026-09/records"] * 2  # once per load
