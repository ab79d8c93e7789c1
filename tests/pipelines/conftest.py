"""Fixtures for the job's tests: a real SQLite Moodle database, a real local Canvas server,
a capturing dlt destination, and every dlt pipeline in its own tmp pipelines_dir."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest

from lms_support import CanvasServer, canvas_course, create_moodle_db


@pytest.fixture(autouse=True)
def _isolated_dlt(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No token or config leaks in from the developer's shell or .dlt/; quiet dlt logs."""
    import os

    for name in list(os.environ):
        if name.startswith(("DESTINATION__", "SOURCES__", "LMS_TO_HUBSPOT__")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("RUNTIME__LOG_LEVEL", "WARNING")
    monkeypatch.chdir(tmp_path)  # dlt reads .dlt/ from the working directory


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
    with CanvasServer(courses) as server:
        yield server


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
