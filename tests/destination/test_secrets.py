"""The token never shows up in logs, errors, staging files, dlt's trace or its working files."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import dlt
import pytest
from dlt.pipeline.exceptions import PipelineStepFailed

from hubspot_courses_destination.session import close_sessions
from hubspot_courses_destination import hubspot_courses

from .conftest import ID

TOKEN = "pat-na1-canary-7f3e9c1d-0000-4b1e-9a55-deadbeefcafe"


def _all_bytes(root: Path) -> list[tuple[Path, bytes]]:
    return [(p, p.read_bytes()) for p in root.rglob("*") if p.is_file()]


def test_token_absent_from_logs_errors_staging_and_trace(sandbox, tmp_path, caplog):
    sandbox.add_token(TOKEN)
    caplog.set_level(logging.DEBUG)
    staging_path = str(tmp_path / "staging.duckdb")
    pipelines_dir = tmp_path / "pipelines"
    dest = hubspot_courses(access_token=TOKEN, api_base_url=sandbox.url, id_property=ID,
                           staging_path=staging_path, create_missing_properties=True)
    pipeline = dlt.pipeline("secrets_test", destination=dest, pipelines_dir=str(pipelines_dir))
    info = pipeline.run([{ID: "a", "hs_course_name": "A"}, {ID: "b", "seats": "x"}], table_name="courses")

    # a failing run too: the error path must not leak it either
    sandbox.remove_token(TOKEN)
    failing = dlt.pipeline("secrets_fail", destination=dest, pipelines_dir=str(pipelines_dir))
    with pytest.raises(PipelineStepFailed) as failure:
        failing.run([{ID: "c", "hs_course_name": "C"}], table_name="courses")
    close_sessions(staging_path)

    texts = {
        "logs": caplog.text,
        "load info": str(info) + json.dumps(info.asdict(), default=str),
        "trace": str(pipeline.last_trace) + json.dumps(pipeline.last_trace.asdict(), default=str),
        "failure": str(failure.value) + repr(failure.value),
        "destination repr": repr(dest) + str(dest),
    }
    for where, text in texts.items():
        assert TOKEN not in text, f"token found in {where}"
    assert "DEBUG" in caplog.text or caplog.records, "logging was captured"
    for path, data in _all_bytes(tmp_path):
        assert TOKEN.encode() not in data, f"token found in {path.relative_to(tmp_path)}"
    assert any(p.name.startswith("staging.duckdb") for p, _ in _all_bytes(tmp_path))
    assert any("trace" in p.name for p, _ in _all_bytes(pipelines_dir)), "dlt wrote its trace file"
