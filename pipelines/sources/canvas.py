"""Canvas LMS: ``GET /api/v1/accounts/:account_id/courses`` with dlt's ``rest_api`` source.

- Auth: ``Authorization: Bearer <token>`` (a Canvas access token of an account admin).
  The token is the secret ``sources.canvas.access_token`` (``.dlt/secrets.toml`` or the env var
  ``SOURCES__CANVAS__ACCESS_TOKEN``); it is never passed on the command line.
- Paging: Canvas returns 10 items by default and a ``Link`` header with ``rel="next"``; the
  ``header_link`` paginator follows it (``per_page`` raises the page size). The next links are
  absolute and carry every query parameter, so nothing is re-appended.
- No ``updated_since`` filter exists for courses, so every run lists them all; the destination
  skips the unchanged ones by content hash, so only changed courses cost HubSpot calls.
- ``start_at``/``end_at`` are ISO 8601 UTC or (very often) null. A null course date means the
  term's date applies, so the term's date (``include[]=term``) is used then.

Enrollments (``canvas_enrollments``): ``GET /api/v1/courses/:id/enrollments`` for each listed
course (Canvas has no account-wide enrollment list), the same bearer token and ``Link`` paging.
Facts from Canvas's "Enrollments" and "Users" API pages (developerdocs.instructure.com,
services/canvas/resources/enrollments and .../users):
- ``type[]``: students, teachers, TAs and designers; observers (parents, mentors) are not
  course members and are left out. Types map to labels: ``StudentEnrollment`` -> "Student",
  ``TeacherEnrollment`` and ``TaEnrollment`` -> "Instructor", designers unlabeled.
- ``state[]``: without it Canvas returns only active and invited enrollments, so removals would
  never be seen. ``active`` and ``completed`` (the course or term concluded: the person did
  take the course) are associations; ``inactive``, ``deleted`` and ``rejected`` are removals;
  ``invited`` and ``creation_pending`` (not accepted yet) are skipped, neither added nor removed.
- One user with several enrollments in a course (two sections, student and TA) is one row:
  kept if any enrollment is, labelled by the first type in ``CANVAS_TYPE_LABELS`` held.
- The email: the enrollment's user object has ``login_id`` and no email field; ``user.email``
  is used when present, else ``login_id`` (the email where people log in with it; any other
  login is rejected by the destination with its reason). Names come from ``sortable_name``
  ("Last, First").
- No ``updated_since`` either: every run lists them all; the destination skips unchanged rows.
"""

from __future__ import annotations

from typing import Any, Dict, Iterable, Iterator, List, Optional, Tuple

import dlt
from dlt.extract import DltResource
from dlt.sources.helpers.rest_client import RESTClient
from dlt.sources.helpers.rest_client.auth import BearerTokenAuth
from dlt.sources.helpers.rest_client.paginators import HeaderLinkPaginator
from dlt.sources.rest_api import rest_api_resources

from .common import (
    DEFAULT_ID_PROPERTY,
    CourseRow,
    EnrollmentRow,
    as_course_resource,
    as_enrollment_resource,
    enrollment_row,
    enrollments_table_name,
    blank_to_none,
    course_key,
    drop_none,
    html_to_text,
    parse_iso_datetime,
)

#: ``state[]`` values of the account listing; "deleted" is left out on purpose
CANVAS_STATES = ["created", "claimed", "available", "completed"]


def map_canvas_course(course: Dict[str, Any], base_url: Optional[str] = None) -> CourseRow:
    """One Canvas Course object -> one HubSpot course. The one place Canvas fields are mapped."""
    term = course.get("term") or {}
    return drop_none(
        {
            DEFAULT_ID_PROPERTY: course_key("canvas", course["id"]),
            "lms_source": "canvas",
            "hs_course_id": str(course["id"]),
            # `name` is the token user's nickname when one is set; `original_name` is the real one
            "hs_course_name": course.get("original_name") or course.get("name"),
            "hs_course_description": html_to_text(course.get("public_description")),
            "course_code": blank_to_none(course.get("course_code")),
            "course_start_date": parse_iso_datetime(course.get("start_at") or term.get("start_at")),
            "course_end_date": parse_iso_datetime(course.get("end_at") or term.get("end_at")),
            "course_status": course.get("workflow_state"),
            # "available" is Canvas' "published": visible to enrolled students
            "course_visible": (
                course["workflow_state"] == "available" if course.get("workflow_state") else None
            ),
            "course_language": blank_to_none(course.get("locale")),
            "course_category": blank_to_none(term.get("name")),
            "course_url": f"{base_url.rstrip('/')}/courses/{course['id']}" if base_url else None,
        }
    )


#: enrollment types read, in label priority order, and the label of each (None: unlabeled)
CANVAS_TYPE_LABELS: Dict[str, Optional[str]] = {
    "TeacherEnrollment": "Instructor",
    "TaEnrollment": "Instructor",
    "StudentEnrollment": "Student",
    "DesignerEnrollment": None,
}
CANVAS_KEPT_STATES = ("active", "completed")
CANVAS_REMOVED_STATES = ("inactive", "deleted", "rejected")
CANVAS_SKIPPED_STATES = ("invited", "creation_pending")


def _names(user: Dict[str, Any]) -> Tuple[Optional[str], Optional[str]]:
    """(first, last) from ``sortable_name`` "Last, First"; else all of ``name`` as the first."""
    sortable = (user.get("sortable_name") or "").strip()
    if "," in sortable:
        last, first = (part.strip() for part in sortable.split(",", 1))
        return first or None, last or None
    return blank_to_none(user.get("name")), None


def map_canvas_enrollments(course_id: Any, enrollments: Iterable[Dict[str, Any]]) -> List[EnrollmentRow]:
    """A course's Enrollment objects -> one enrollment per user. The one place Canvas
    enrollment fields are mapped."""
    by_user: Dict[Any, List[Dict[str, Any]]] = {}
    for enrollment in enrollments:
        by_user.setdefault(enrollment.get("user_id") or (enrollment.get("user") or {}).get("id"), []).append(enrollment)
    rows = []
    for found in by_user.values():
        states = {e.get("enrollment_state") for e in found}
        kept = [e for e in found if e.get("enrollment_state") in CANVAS_KEPT_STATES]
        if not kept and not states & set(CANVAS_REMOVED_STATES):
            continue  # only invitations: nothing to add or remove yet
        types = {e.get("type") for e in (kept or found)}
        label = next((CANVAS_TYPE_LABELS[t] for t in CANVAS_TYPE_LABELS if t in types), None)
        user = found[0].get("user") or {}
        first, last = _names(user)
        rows.append(enrollment_row(course_key("canvas", course_id), user.get("email") or user.get("login_id"),
                                   first, last, label, removed=not kept))
    return rows


def canvas_enrollments(
    courses: DltResource, base_url: str, access_token: str, per_page: int = 100,
    id_property: str = DEFAULT_ID_PROPERTY,
) -> DltResource:
    """The enrollments of every course ``courses`` lists, as rows of ``canvas_enrollments``."""
    client = RESTClient(base_url=f"{base_url}/api/v1/", auth=BearerTokenAuth(access_token),
                        paginator=HeaderLinkPaginator())
    params = {
        "per_page": per_page,
        "type[]": list(CANVAS_TYPE_LABELS),
        "state[]": list(CANVAS_KEPT_STATES + CANVAS_REMOVED_STATES + CANVAS_SKIPPED_STATES),
    }

    def _read(page: Any) -> Iterator[List[EnrollmentRow]]:
        for course in page if isinstance(page, list) else [page]:
            found = [e for p in client.paginate(f"courses/{course['id']}/enrollments", params=params) for e in p]
            yield map_canvas_enrollments(course["id"], found)

    def _flatten(rows: List[EnrollmentRow]) -> Iterable[EnrollmentRow]:
        return rows

    read = dlt.transformer(_read, name="canvas_course_enrollments")
    return as_enrollment_resource(courses | read, _flatten, id_property, enrollments_table_name("canvas"))


@dlt.source(name="canvas")
def canvas_source(
    base_url: str = dlt.config.value,
    account_id: str = dlt.config.value,
    access_token: str = dlt.secrets.value,
    per_page: int = 100,
    id_property: str = DEFAULT_ID_PROPERTY,
    enrollments: bool = True,
) -> List[DltResource]:
    """Courses of one Canvas account (and its sub-accounts), mapped to HubSpot courses, and
    unless ``enrollments=False`` their enrollments (``canvas_enrollments``).

    Config keys (``.dlt/config.toml`` / env): ``sources.canvas.base_url``
    (``https://school.instructure.com``), ``sources.canvas.account_id``; secret
    ``sources.canvas.access_token``.
    """
    base_url = base_url.rstrip("/")
    (courses,) = rest_api_resources(
        {
            "client": {
                "base_url": f"{base_url}/api/v1/",
                "auth": {"type": "bearer", "token": access_token},
                "paginator": {"type": "header_link"},
            },
            "resources": [
                {
                    "name": "canvas_courses",
                    "endpoint": {
                        "path": f"accounts/{account_id}/courses",
                        "params": {
                            "per_page": per_page,
                            "include[]": ["term"],
                            "state[]": CANVAS_STATES,
                        },
                    },
                }
            ],
        }
    )
    resources = [as_course_resource(
        courses, lambda course: map_canvas_course(course, base_url), id_property, "canvas_courses_mapped"
    )]
    if enrollments:
        resources.append(canvas_enrollments(courses, base_url, access_token, per_page, id_property))
    return resources
