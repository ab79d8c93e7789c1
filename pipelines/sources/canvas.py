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
"""

from __future__ import annotations

from typing import Any, Dict, Optional

import dlt
from dlt.extract import DltResource
from dlt.sources.rest_api import rest_api_resources

from .common import (
    DEFAULT_ID_PROPERTY,
    CourseRow,
    as_course_resource,
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


@dlt.source(name="canvas")
def canvas_source(
    base_url: str = dlt.config.value,
    account_id: str = dlt.config.value,
    access_token: str = dlt.secrets.value,
    per_page: int = 100,
    id_property: str = DEFAULT_ID_PROPERTY,
) -> DltResource:
    """Courses of one Canvas account (and its sub-accounts), mapped to HubSpot courses.

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
    return as_course_resource(
        courses, lambda course: map_canvas_course(course, base_url), id_property, "canvas_courses_mapped"
    )
