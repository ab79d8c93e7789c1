"""Enrollments: contacts upserted by email and associated with their courses (issue 15).

Real dlt pipelines into the sandbox; outcomes are read back from the sandbox (contacts,
associations, the request log) and from the staging file (rejected_rows, the summary).
"""

from __future__ import annotations

from typing import Any, Iterable

import dlt
import pytest

from hubspot_courses_destination.enrollments import COURSE_TO_CONTACT, CONTACT_TO_COURSE
from hubspot_courses_destination.mirror import archive_missing
from hubspot_courses_destination.settings import DestinationSettings
from hubspot_courses_destination.sandbox import DEFAULT_TOKEN

from pipelines.job.report import enrollment_lines

from .conftest import ID


def courses(n: int = 3) -> list[dict[str, Any]]:
    return [{ID: f"c{i}", "hs_course_name": f"Course {i}"} for i in range(n)]


def enrollment(course: str, email: str, **props: Any) -> dict[str, Any]:
    return {ID: course, "email": email, **props}


def lms(course_rows: Iterable[dict[str, Any]] | None, enrollment_rows: Iterable[dict[str, Any]] | None,
        *, enrollments_first: bool = False, course_table: str = "courses") -> Any:
    """One source with a courses and an enrollments table, yielded in the order asked."""
    resources = []
    if course_rows is not None:
        resources.append(dlt.resource(list(course_rows), name=course_table, primary_key=ID))
    if enrollment_rows is not None:
        columns = {"removed": {"hard_delete": True, "data_type": "bool"},
                   "firstname": {"data_type": "text"}, "lastname": {"data_type": "text"},
                   "association_label": {"data_type": "text"}}
        resources.append(dlt.resource(list(enrollment_rows), name="enrollments", columns=columns))
    if enrollments_first:
        resources.reverse()

    @dlt.source(max_table_nesting=0)
    def source() -> Any:
        return resources

    return source()


def pairs(sandbox) -> set[tuple[str, str]]:
    """(course key, contact email) of every stored association between live records."""
    course_key = {r["id"]: r["properties"][ID] for r in sandbox.records()}
    email = {c["id"]: c["properties"]["email"] for c in sandbox.contacts()}
    return {(course_key[a["courseId"]], email[a["contactId"]]) for a in sandbox.associations()
            if a["courseId"] in course_key and a["contactId"] in email}


def assoc_requests(sandbox, op: str) -> list[int]:
    return [e.n_inputs for e in sandbox.request_log if "/associations" in e.path and e.path.endswith(f"/batch/{op}")]


def contact_upserts(sandbox) -> list[int]:
    return [e.n_inputs for e in sandbox.request_log
            if e.path.endswith("/batch/upsert") and ("/contacts/" in e.path or "/0-1/" in e.path)]


def rejected(staging) -> dict[str, str]:
    """record_key -> category of open rejections."""
    return {r["record_key"]: r["category"] for r in staging().open_rejections()}


ENROLLMENTS = [
    enrollment("c0", "ada@example.com", firstname="Ada"),
    enrollment("c1", "ada@example.com", lastname="Lovelace"),
    enrollment("c1", "bob@example.com", firstname="Bob"),
]


@pytest.mark.parametrize("enrollments_first", [False, True], ids=["courses-first", "enrollments-first"])
def test_courses_and_enrollments_in_one_run_either_order(sandbox, make_pipeline, staging, enrollments_first):
    info = make_pipeline().run(lms(courses(), ENROLLMENTS, enrollments_first=enrollments_first))
    assert pairs(sandbox) == {("c0", "ada@example.com"), ("c1", "ada@example.com"), ("c1", "bob@example.com")}
    ada = sandbox.contact_by_email("ada@example.com")["properties"]
    assert (ada["firstname"], ada["lastname"]) == ("Ada", "Lovelace")  # rows of one contact merged
    assert contact_upserts(sandbox) == [2]
    assert assoc_requests(sandbox, "create") == [3]
    assert all(a["typeIds"] == [COURSE_TO_CONTACT, CONTACT_TO_COURSE] for a in sandbox.associations())
    summary = staging().enrollment_summary(info.loads_ids)
    assert (summary["contacts_created"], summary["associations_added"], summary["rejected"]) == (2, 3, 0)
    assert not rejected(staging)
    text = "\n".join(enrollment_lines(summary))  # the job's summary lines
    assert "contacts created 2, updated 0, unchanged 0" in text
    assert "associations added 3, removed 0, unchanged 0" in text


def test_rerun_sends_nothing_and_one_changed_property_sends_one_contact_input(sandbox, make_pipeline, staging):
    pipeline = make_pipeline()
    pipeline.run(lms(courses(), ENROLLMENTS))
    sandbox.reset_log()
    info = pipeline.run(lms(courses(), ENROLLMENTS))
    writes = [e for e in sandbox.request_log if e.method == "POST" and ("/batch/" in e.path)]
    assert writes == []  # no course, contact or association request (reads included)
    summary = staging().enrollment_summary(info.loads_ids)
    assert (summary["contacts_unchanged"], summary["associations_unchanged"], summary["requests"]) == (2, 3, 0)

    changed = [dict(r) for r in ENROLLMENTS]
    changed[2]["firstname"] = "Robert"
    info = pipeline.run(lms(courses(), changed))
    assert contact_upserts(sandbox) == [1]
    assert assoc_requests(sandbox, "create") == []
    assert sandbox.contact_by_email("bob@example.com")["properties"]["firstname"] == "Robert"
    summary = staging().enrollment_summary(info.loads_ids)
    assert (summary["contacts_updated"], summary["contacts_unchanged"], summary["associations_unchanged"]) == (1, 1, 3)


def test_hard_delete_removes_the_association_and_keeps_the_contact(sandbox, make_pipeline, staging):
    pipeline = make_pipeline()
    pipeline.run(lms(courses(), ENROLLMENTS))
    sandbox.reset_log()
    # email case differs from the row that created it: still the same enrollment
    info = pipeline.run(lms(None, [{ID: "c1", "email": "ADA@example.com", "removed": True},
                                   {ID: "c2", "email": "nobody@example.com", "removed": True}]))
    assert pairs(sandbox) == {("c0", "ada@example.com"), ("c1", "bob@example.com")}
    assert sandbox.contact_by_email("ada@example.com") is not None  # contacts are never archived
    assert assoc_requests(sandbox, "archive") == [1]
    assert sandbox.count_requests("POST", "/batch/archive") == 1  # no contact archive
    summary = staging().enrollment_summary(info.loads_ids)
    # nobody@ in c2 was never associated: its removal is counted apart, not as "unchanged"
    assert (summary["associations_removed"], summary["associations_unchanged"], summary["nothing_to_remove"]) == \
        (1, 0, 1)
    sandbox.reset_log()
    info = pipeline.run(lms(None, [{ID: "c1", "email": "ada@example.com", "removed": True}]))
    assert assoc_requests(sandbox, "archive") == []  # already removed: nothing to send
    summary = staging().enrollment_summary(info.loads_ids)
    assert (summary["associations_removed"], summary["associations_unchanged"], summary["nothing_to_remove"]) == \
        (0, 0, 1)


def test_mirror_removes_associations_a_snapshot_no_longer_has(sandbox, make_pipeline, staging, staging_path):
    many = [enrollment(f"c{i % 3}", f"s{i}@example.com") for i in range(20)]
    pipeline = make_pipeline()
    pipeline.run(lms(courses(), many))
    settings = DestinationSettings.from_values(
        access_token=DEFAULT_TOKEN, api_base_url=sandbox.url, id_property=ID, staging_path=staging_path)

    info = pipeline.run(lms(courses(), many[:19]))
    result = archive_missing(settings, info.loads_ids, max_share=0.1)
    assert result.associations_archived == 1 and not result.refused
    assert result.associations_missing == ["c1 s19@example.com"]
    assert len(sandbox.associations()) == 19
    assert sandbox.contact_by_email("s19@example.com") is not None  # contacts stay

    info = pipeline.run(lms(courses(), many[:10]))  # 9 of 19 missing: over the share guard
    result = archive_missing(settings, info.loads_ids, max_share=0.1)
    assert result.refused and result.associations_archived == 0
    assert "mirror refused for enrollments" in result.message
    assert len(sandbox.associations()) == 19


def test_bad_emails_and_unknown_courses_are_rejected_with_both_keys(sandbox, make_pipeline, staging):
    rows = [
        enrollment("c0", "good@example.com"),
        enrollment("c0", ""),
        enrollment("c0", "not-an-email"),
        enrollment("nope", "lost@example.com", firstname="Lost"),
        {ID: "c1", "email": None},
    ]
    info = make_pipeline().run(lms(courses(2), rows))
    assert pairs(sandbox) == {("c0", "good@example.com")}
    assert sandbox.contact_by_email("lost@example.com") is None  # no contact for an unknown course
    assert rejected(staging) == {
        "c0 ": "INVALID_EMAIL", "c0 not-an-email": "INVALID_EMAIL", "nope lost@example.com": "UNKNOWN_COURSE",
        "c1 ": "INVALID_EMAIL",
    }
    reasons = {r["record_key"]: r["message"] for r in staging().open_rejections()}
    assert "no course with lms_course_key = 'nope'" in reasons["nope lost@example.com"]
    assert staging().enrollment_summary(info.loads_ids)["rejected"] == 4


def test_a_contact_hubspot_refuses_is_rejected_and_the_rest_syncs(sandbox, make_pipeline, staging):
    # passes the local shape check, HubSpot's (the sandbox's) INVALID_EMAIL refuses it
    rows = [enrollment("c0", "ok@example.com"), enrollment("c0", "x@y.z")]
    make_pipeline().run(lms(courses(1), rows))
    assert pairs(sandbox) == {("c0", "ok@example.com")}
    rows_open = staging().open_rejections()
    assert [(r["record_key"], r["category"]) for r in rows_open] == [("c0 x@y.z", "VALIDATION_ERROR")]
    assert "refused the contact" in rows_open[0]["message"]


def test_duplicates_differing_in_email_case_make_one_contact_and_one_association(sandbox, make_pipeline, staging):
    rows = [enrollment("c0", "Dup@Example.com", firstname="D"), enrollment("c0", "dup@example.com", lastname="Up"),
            enrollment("c1", "DUP@example.com")]
    make_pipeline().run(lms(courses(2), rows))
    assert pairs(sandbox) == {("c0", "dup@example.com"), ("c1", "dup@example.com")}
    assert len(sandbox.contacts()) == 1 and contact_upserts(sandbox) == [1]
    assert assoc_requests(sandbox, "create") == [2]
    assert rejected(staging) == {}  # the superseded duplicate is recorded closed


def test_association_labels_and_unknown_label(sandbox, make_pipeline, staging):
    student = sandbox.create_association_label("Student")["courseToContact"]["typeId"]
    rows = [enrollment("c0", "s@example.com", association_label="Student"),
            enrollment("c0", "t@example.com", association_label="Teacher")]
    make_pipeline().run(lms(courses(1), rows))
    (stored,) = sandbox.associations()
    assert student in stored["typeIds"] and COURSE_TO_CONTACT in stored["typeIds"]
    assert rejected(staging) == {"c0 t@example.com": "UNKNOWN_LABEL"}
    assert sandbox.contact_by_email("t@example.com") is None


@pytest.mark.parametrize("api_version", ["v3", "2026-09"])
def test_both_api_families(sandbox, make_pipeline, api_version):
    make_pipeline(api_version=api_version).run(lms(courses(), ENROLLMENTS))
    assert len(pairs(sandbox)) == 3
    prefix = "/crm/v4/associations/" if api_version == "v3" else "/crm/associations/2026-09/"
    assert [e.path for e in sandbox.request_log if "/batch/create" in e.path] == [f"{prefix}0-410/0-1/batch/create"]
    contacts = "/crm/v3/objects/0-1/" if api_version == "v3" else "/crm/objects/2026-09/0-1/"
    assert sandbox.count_requests("POST", f"{contacts}batch/upsert") == 1


def test_missing_contact_scopes_fail_fast_with_one_message(sandbox, make_pipeline):
    sandbox.add_token("pat-courses-only", scopes={"crm.objects.courses.read", "crm.objects.courses.write",
                                                 "crm.schemas.courses.read", "crm.schemas.courses.write"})
    with pytest.raises(Exception) as failed:
        make_pipeline(access_token="pat-courses-only").run(lms(courses(1), ENROLLMENTS[:1]))
    text = str(failed.value)
    assert "crm.objects.contacts.read" in text and "crm.objects.contacts.write" in text
    assert sandbox.contacts() == [] and sandbox.associations() == []
    assert contact_upserts(sandbox) == []


def test_enrollment_before_its_course_job_waits_for_it(sandbox, make_pipeline, staging):
    # the course upsert is slow: the enrollments job (run concurrently) finds no course first
    sandbox.faults.add("slow", times=1, path_contains="/0-410/batch/upsert", delay_ms=1500)
    make_pipeline().run(lms(courses(1), [enrollment("c0", "early@example.com")], enrollments_first=True))
    assert pairs(sandbox) == {("c0", "early@example.com")}
    assert rejected(staging) == {}


def test_wait_that_runs_out_hands_the_job_back_to_dlt(sandbox, make_pipeline, staging):
    # no wait at all: the enrollments job raises a transient error while the course job is
    # still running, and dlt retries it once the course is in HubSpot
    sandbox.faults.add("slow", times=1, path_contains="/0-410/batch/upsert", delay_ms=1500)
    info = make_pipeline(enrollments_wait_s=0).run(lms(courses(1), [enrollment("c0", "late@example.com")],
                                                       enrollments_first=True))
    assert pairs(sandbox) == {("c0", "late@example.com")}
    jobs = info.load_packages[0].jobs["completed_jobs"]
    (retries,) = [j.job_file_info.retry_count for j in jobs if j.job_file_info.table_name == "enrollments"]
    assert retries >= 1  # handed back to dlt at least once
    assert rejected(staging) == {}


def test_retry_replays_an_unknown_course_once_the_course_exists(sandbox, make_pipeline, staging, staging_path):
    from hubspot_courses_destination.replay import replay_rejections

    pipeline = make_pipeline()
    pipeline.run(lms(courses(1), [enrollment("c0", "a@example.com"), enrollment("c9", "late@example.com"),
                                  enrollment("c0", "bad")]))
    assert rejected(staging) == {"c9 late@example.com": "UNKNOWN_COURSE", "c0 bad": "INVALID_EMAIL"}
    pipeline.run(lms([{ID: "c9", "hs_course_name": "Course 9"}], None))  # the course arrives later
    settings = DestinationSettings.from_values(
        access_token=DEFAULT_TOKEN, api_base_url=sandbox.url, id_property=ID, staging_path=staging_path)
    result = replay_rejections(settings)
    assert (result.attempted, result.fixed, result.needs_source_fix) == (1, 1, 1)
    assert ("c9", "late@example.com") in pairs(sandbox)
    assert rejected(staging) == {"c0 bad": "INVALID_EMAIL"}  # an email is fixed in the source only


def test_dry_run_predicts_and_writes_nothing(sandbox, make_pipeline, staging):
    make_pipeline().run(lms(courses(), ENROLLMENTS[:1]))
    sandbox.reset_log()
    rows = ENROLLMENTS + [enrollment("c0", "bad")]
    info = make_pipeline(dry_run=True).run(lms(None, rows))
    assert contact_upserts(sandbox) == [] and assoc_requests(sandbox, "create") == []
    assert pairs(sandbox) == {("c0", "ada@example.com")}
    s = staging().enrollment_summary(info.loads_ids)
    assert (s["contacts_created"], s["contacts_updated"], s["associations_added"], s["associations_unchanged"],
            s["rejected"]) == (1, 1, 2, 1, 1)  # bob new, ada gains a lastname; c0-ada is there already
    assert rejected(staging) == {}  # a dry run's rejections are stored closed


def test_a_contact_deleted_in_hubspot_is_upserted_again_on_the_next_run(sandbox, make_pipeline, staging):
    import requests

    pipeline = make_pipeline()
    pipeline.run(lms(courses(), ENROLLMENTS))
    bob = sandbox.contact_by_email("bob@example.com")["id"]
    answer = requests.post(f"{sandbox.url}/crm/v3/objects/contacts/batch/archive", json={"inputs": [{"id": bob}]},
                           headers={"Authorization": f"Bearer {DEFAULT_TOKEN}"}, timeout=10)
    assert answer.status_code == 204
    rows = ENROLLMENTS + [enrollment("c2", "bob@example.com", firstname="Bob")]
    pipeline.run(lms(courses(), rows))
    assert list(rejected(staging).values()) == ["VALIDATION_ERROR"]  # the stored contact id is gone
    pipeline.run(lms(courses(), rows))
    assert {("c1", "bob@example.com"), ("c2", "bob@example.com")} <= pairs(sandbox)  # the new contact
    assert rejected(staging) == {}


def test_mirror_keeps_an_enrollment_rejected_for_its_label(sandbox, make_pipeline, staging, staging_path):
    pipeline = make_pipeline()
    pipeline.run(lms(courses(), ENROLLMENTS))
    rows = [dict(r) for r in ENROLLMENTS]
    rows[0]["association_label"] = "No such label"
    info = pipeline.run(lms(courses(), rows))
    settings = DestinationSettings.from_values(
        access_token=DEFAULT_TOKEN, api_base_url=sandbox.url, id_property=ID, staging_path=staging_path)
    result = archive_missing(settings, info.loads_ids, max_share=1.0)
    assert result.associations_archived == 0 and len(pairs(sandbox)) == 3


def test_one_load_worker_loads_the_waiting_course_job_first(sandbox, make_pipeline, staging, monkeypatch):
    # one worker, busy with the enrollments job: no course job can run, and handed back, the
    # enrollments job could be picked again (dlt takes new jobs in directory order). It loads
    # the waiting course job's rows itself instead of holding the worker for enrollments_wait_s
    # (longer than the test's timeout); the course job then finds the course unchanged
    monkeypatch.setenv("LOAD__WORKERS", "1")
    make_pipeline(enrollments_wait_s=600).run(
        lms(courses(1), [enrollment("c0", "solo@example.com"), enrollment("nope", "x@example.com")],
            course_table="zz_courses", enrollments_first=True))
    assert pairs(sandbox) == {("c0", "solo@example.com")}
    assert sandbox.count_requests("POST", "/0-410/batch/upsert") == 1
    assert rejected(staging) == {"nope x@example.com": "UNKNOWN_COURSE"}  # loaded once, then rejected


@pytest.mark.parametrize("batch_size", [5000, 1])
def test_course_counts_of_a_waiting_course_job_loaded_by_the_enrollments_job(sandbox, make_pipeline, staging,
                                                                               monkeypatch, batch_size):
    # the enrollments job loads the waiting course job's rows (created in HubSpot); when the
    # course job itself runs, it finds them unchanged: the summary must still say created, and
    # count each row once (the inline load batches rows as the destination's batch_size says)
    monkeypatch.setenv("LOAD__WORKERS", "1")
    info = make_pipeline(enrollments_wait_s=600, batch_size=batch_size).run(
        lms(courses(2), [enrollment("c0", "solo@example.com")], course_table="zz_courses", enrollments_first=True))
    assert sum(e.n_inputs for e in sandbox.request_log if e.path.endswith("/0-410/batch/upsert")) == 2  # sent once
    summary = staging().load_summary(info.loads_ids)
    assert (summary["rows_seen"], summary["created"], summary["unchanged"]) == (2, 2, 0)


def test_an_enrollments_batch_that_cannot_finish_under_the_daily_budget_is_not_started(
        sandbox, make_pipeline, staging, staging_path):
    from dlt.pipeline.exceptions import PipelineStepFailed

    from hubspot_courses_destination import DailyBudgetReachedError
    from hubspot_courses_destination.session import close_sessions

    make_pipeline().run(lms(courses(), None))
    close_sessions(staging_path)  # the next run has its own budget
    sandbox.reset_rate_limits()
    sandbox.reset_log()
    # 10 a day: 9 left after the first answer, a cap of 4: the preflight fits, the batch's
    # contact upsert and association create together do not
    sandbox.daily_limit = 10
    pipeline = make_pipeline()
    with pytest.raises(PipelineStepFailed) as failed:
        pipeline.run(lms(None, ENROLLMENTS))
    err = failed.value
    while err.__cause__ or err.__context__:
        err = err.__cause__ or err.__context__
    assert isinstance(err, DailyBudgetReachedError)
    assert contact_upserts(sandbox) == [] and sandbox.contacts() == []  # not half-done: not started
    assert pipeline.has_pending_data
    close_sessions(staging_path)

    sandbox.reset_rate_limits()  # the next day
    sandbox.daily_limit = 10_000
    sandbox.reset_log()
    info = pipeline.run()  # finishes the pending package
    assert len(pairs(sandbox)) == 3 and contact_upserts(sandbox) == [2]
    summary = staging().enrollment_summary(info.loads_ids)
    assert (summary["contacts_created"], summary["associations_added"]) == (2, 3)


def test_a_dry_run_of_mirror_sees_the_enrollments_its_load_delivered(sandbox, make_pipeline, staging, staging_path):
    make_pipeline().run(lms(courses(), ENROLLMENTS))
    info = make_pipeline(dry_run=True).run(lms(courses(), ENROLLMENTS[:2]))  # bob left the source
    settings = DestinationSettings.from_values(
        access_token=DEFAULT_TOKEN, api_base_url=sandbox.url, id_property=ID, staging_path=staging_path)
    result = archive_missing(settings, info.loads_ids, max_share=1.0, dry_run=True)
    assert result.associations_missing == ["c1 bob@example.com"] and not result.refused
    assert len(pairs(sandbox)) == 3  # a dry run removes nothing


def test_a_contact_whose_rows_span_batches_is_not_upserted_again_by_an_unchanged_rerun(sandbox, make_pipeline,
                                                                                        staging):
    # one row per dlt batch: ada's firstname and lastname arrive in two batches
    pipeline = make_pipeline(batch_size=1)
    pipeline.run(lms(courses(), ENROLLMENTS))
    ada = sandbox.contact_by_email("ada@example.com")["properties"]
    assert (ada["firstname"], ada["lastname"]) == ("Ada", "Lovelace")
    sandbox.reset_log()
    info = pipeline.run(lms(courses(), ENROLLMENTS))
    assert contact_upserts(sandbox) == []
    assert staging().enrollment_summary(info.loads_ids)["contacts_unchanged"] == 3
