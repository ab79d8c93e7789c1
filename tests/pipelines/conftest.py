"""Fixtures for the job's tests: a real SQLite Moodle database, a real local Canvas server,
a capturing dlt destination, and every dlt pipeline in its own tmp pipelines_dir."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest

from hubspot_courses_destination.sandbox import DEFAULT_TOKEN, Sandbox
from lms_support import PROJECT_ROOT, CanvasServer, canvas_course, canvas_enrollment, create_moodle_db


@pytest.fixture(autouse=True)
def _isolated_dlt(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No token or config leaks in from the developer's shell or .dlt/; quiet dlt logs."""
    import os

    for name in list(os.environ):
        if name.startswith(("DESTINATION__", "SOURCES__", "LMS_TO_HUBSPOT__")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("RUNTIME__LOG_LEVEL", "WARNING")
    monkeypatch.chdir(tmp_path)
    # the job reads the project's .dlt/ unless DLT_PROJECT_DIR names another folder: tests get
    # an empty one, so a developer's .dlt/secrets.toml never reaches them
    monkeypatch.setenv("DLT_PROJECT_DIR", str(tmp_path))
    (tmp_path / ".dlt").mkdir(exist_ok=True)
    shutil.copy(PROJECT_ROOT / "tests" / "fixtures" / "config.toml", tmp_path / ".dlt" / "config.toml")


@pytest.fixture
def moodle_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'moodle.db'}"
    create_moodle_db(url).dispose()
    return url


@pytest.fixture
def canvas_server() -> Iterator[CanvasServer]:
    courses = [canvas_course(i) for i in range(1, 6)]
    courses[0].update(start_at="2025-01-13T08:00:00Z", end_at="2025-05-02T22:00:00Z",
                      public_description="<p>Intro &amp; basics</p>", locale="nb")
    courses[1].update(name="My nickname", original_name="ING303-1 24H Systemtenking og innovasjon for ingeniører")
    courses[2].update(workflow_state="unpublished", term={"id": 1, "name": "Default Term", "start_at": None, "end_at": None})
    with CanvasServer(courses, enrollments=canvas_enrollments()) as server:
        yield server


def canvas_enrollments() -> Dict[int, List[Dict[str, Any]]]:
    """Course 1001: 5 students (one inactive, one deleted, one only invited), a teacher who is
    also a student, an observer; course 1002: a TA, a completed student; the rest none."""
    e = canvas_enrollment
    return {
        1001: [e(1, 1001, 1), e(2, 1001, 2), e(3, 1001, 3, state="inactive"), e(4, 1001, 4, state="deleted"),
               e(5, 1001, 5, state="invited"), e(6, 1001, 6, "TeacherEnrollment"), e(7, 1001, 6),
               e(8, 1001, 7, "ObserverEnrollment")],
        1002: [e(9, 1002, 8, "TaEnrollment"), e(10, 1002, 1, state="completed")],
    }


# ------------------------------------------------------------------ a sandbox as the job's portal


@pytest.fixture
def portal(monkeypatch: pytest.MonkeyPatch) -> Iterator[Sandbox]:
    """A sandbox standing in for a real portal: the job sees a configured token and API URL."""
    with Sandbox() as sb:
        monkeypatch.setenv("DESTINATION__HUBSPOT_COURSES__ACCESS_TOKEN", DEFAULT_TOKEN)
        monkeypatch.setenv("DESTINATION__HUBSPOT_COURSES__API_BASE_URL", sb.url)
        yield sb


# ------------------------------------------------------------------ capturing destination


class Captured:
    def __init__(self) -> None:
        self.tables: Dict[str, Dict[str, Any]] = {}
        self.rows: List[Dict[str, Any]] = []


@pytest.fixture
def capture_run(tmp_path: Path):
    """Run a source through a real dlt pipeline into a capturing destination; returns rows."""
    import dlt


    def run(data: Any, pipeline_name: str = "capture") -> Captured:
        captured = Captured()

        @dlt.destination(batch_size=1000, name="capture", naming_convention="direct",
                         max_table_nesting=0, skip_dlt_columns_and_tables=True)
        def capture(items: Any, table: Any) -> None:
            captured.tables[table["name"]] = table
            captured.rows.extend(items)

        pipeline = dlt.pipeline(pipeline_name, destination=capture,
                                pipelines_dir=str(tmp_path / "pipelines"), dev_mode=False)
        pipeline.run(data)
        return captured

    return run
