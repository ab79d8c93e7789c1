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

from .conftest import ID


def courses(n: int = 3) -> list[dict[str, Any]]:
    return [{ID: f"c{i}", "hs_course_name": f"Course {i}"} for i in range(n)]


def enrollment(course: str, email: str, **props: Any) -> dict[str, Any]:
    return {ID: course, "email": email, **props}


def lms(course_rows: Iterable[dict[str, Any]] | None, enrollment_rows: Iterable[dict[str, Any]] | None,
        *, enrollments_first: bool = False) -> Any:
    """One source with a courses and an enrollments table, yielded in the order asked."""
    resources = []
    if course_rows is not None:
        resources.append(dlt.resource(list(course_rows), name="courses", primary_key=ID))
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
    """(course key, contact email) of every stored association."""
    course_key = {r["id"]: r["properties"][ID] for r in sandbox.records()}
    email = {c["id"]: c["properties"]["email"] for c in sandbox.contacts()}
    return {(course_key[a["courseId"]], email[a["contactId"]]) for a in sandbox.associations()}


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
