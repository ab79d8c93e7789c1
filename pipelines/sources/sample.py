"""The bundled sample: real course data shipped in ``pipelines/sample_data/`` (see its SOURCES.md).

- 99 MIT Sloan Executive Education courses (``test_sloan_courses.json``, BSD-3-Clause,
  mitodl/mit-learn), dated from their runs (``test_sloan_runs.json``);
- 22 Open University module presentations (``oulad/courses.csv``, CC BY 4.0, Kuzilek et al.
  2017), read through the same ``filesystem`` CSV path as ``--source csv``.

121 courses in all, with unicode, nulls and missing names: enough to see every outcome.

The course data has no people, so the enrollments are **synthetic** (``synthetic/
enrollments.csv``, made for this project): 70 made-up people with ``@example.edu`` addresses
and names like "Sample Learner 007"; one instructor ("Instructor") and two learners
("Student") per course, 363 enrollments, and one malformed address the destination rejects.
Read through the CSV enrollments layout.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, Iterator, List

import dlt
from dlt.extract import DltResource

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
from .csv_export import csv_courses, csv_enrollments

SAMPLE_DIR = Path(__file__).resolve().parent.parent / "sample_data"
SLOAN_COURSES = SAMPLE_DIR / "mit_open_learning" / "test_sloan_courses.json"
SLOAN_RUNS = SAMPLE_DIR / "mit_open_learning" / "test_sloan_runs.json"
OULAD_COURSES = SAMPLE_DIR / "oulad" / "courses.csv"
SYNTHETIC_ENROLLMENTS = SAMPLE_DIR / "synthetic" / "enrollments.csv"


def map_sloan_course(course: Dict[str, Any]) -> CourseRow:
    """One Sloan catalog record (with ``_runs`` attached) -> one HubSpot course."""
    runs = course.get("_runs") or []
    starts = [s for s in (parse_iso_datetime(r.get("Start_Date")) for r in runs) if s]
    ends = [e for e in (parse_iso_datetime(r.get("End_Date")) for r in runs) if e]
    return drop_none(
        {
            DEFAULT_ID_PROPERTY: course_key("mit-sloan", course["Course_Id"]),
            "lms_source": "mit-sloan",
            "hs_course_id": course["Course_Id"],
            "hs_course_name": blank_to_none(course.get("Title")),
            "hs_course_description": html_to_text(course.get("Description")),
            "course_category": blank_to_none(course.get("Topics")),
            "course_url": blank_to_none(course.get("URL")),
            "course_start_date": min(starts) if starts else None,  # the first run
            "course_end_date": max(ends) if ends else None,  # the last run
        }
    )


def _runs_by_course(runs: List[Dict[str, Any]]) -> Dict[str, List[Dict[str, Any]]]:
    by_course: Dict[str, List[Dict[str, Any]]] = {}
    for run in runs:
        by_course.setdefault(run["Course_Id"], []).append(run)
    return by_course


@dlt.resource(name="sloan_catalog")
def sloan_catalog(
    courses_path: Path = SLOAN_COURSES, runs_path: Path = SLOAN_RUNS
) -> Iterator[List[Dict[str, Any]]]:
    """Raw Sloan course records, each with its runs under ``_runs`` (JSON arrays, no reader in dlt)."""
    courses = json.loads(Path(courses_path).read_text(encoding="utf-8"))
    runs = _runs_by_course(json.loads(Path(runs_path).read_text(encoding="utf-8")))
    yield [{**course, "_runs": runs.get(course["Course_Id"], [])} for course in courses]


@dlt.source(name="sample")
def sample_source(id_property: str = DEFAULT_ID_PROPERTY, enrollments: bool = True) -> List[DltResource]:
    """The default source: bundled real course data, no LMS needed, and unless
    ``enrollments=False`` synthetic enrollments of them (table ``sample_enrollments``)."""
    resources = [
        as_course_resource(sloan_catalog(), map_sloan_course, id_property, "sloan_courses"),
        csv_courses(str(OULAD_COURSES), id_property, name="oulad"),
    ]
    if enrollments:
        resources.append(csv_enrollments(str(SYNTHETIC_ENROLLMENTS), id_property, name="sample"))
    return resources


__all__ = ["sample_source", "sloan_catalog", "map_sloan_course", "SAMPLE_DIR"]
