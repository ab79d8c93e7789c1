"""A staging file written by the previous release (0.1) opens, upgrades in place and keeps
skipping what it recorded as synced."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb

from hubspot_courses_destination.session import close_sessions

from .conftest import ID, upsert_inputs

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "staging_0_1" / "staging.duckdb"
ROWS = [{ID: f"old:{i}", "hs_course_name": f"Old course {i}", "seats": i} for i in range(3)]


def test_a_staging_file_of_the_previous_release_is_upgraded_in_place(sandbox, make_pipeline, staging_path):
    shutil.copy(FIXTURE, staging_path)
    make_pipeline().run(ROWS + [{ID: "new:1", "hs_course_name": "New"}], table_name="courses")
    assert upsert_inputs(sandbox) == 1  # the three courses 0.1 synced are unchanged, not re-sent
    close_sessions(staging_path)
    con = duckdb.connect(staging_path, read_only=True)
    try:
        tables = {t for (t,) in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        assert {"sync_state", "rejected_rows", "sync_runs", "staging_meta", "created_properties"} <= tables
        synced = dict(con.execute("SELECT record_key, hubspot_id FROM sync_state").fetchall())
        assert synced["old:0"] == "30000000001" and "new:1" in synced
        assert con.execute("SELECT unchanged, created FROM sync_runs ORDER BY finished_at DESC LIMIT 1").fetchone() == (3, 1)
    finally:
        con.close()
