"""What a batch recorded when part of it failed, and staging shared by sessions (from review)."""

from __future__ import annotations

import threading

import dlt
import pytest

from hubspot_courses_destination.hubspot.client import HubSpotClient
from hubspot_courses_destination.session import close_sessions, session_for
from hubspot_courses_destination.settings import HubSpotCoursesConfiguration

from .conftest import ID

OBJ = "0-410"


def test_a_rejection_of_a_key_also_synced_in_the_batch_stays_open(sandbox, make_pipeline, staging):
    """The first row of a key is sent, its last row (what the source holds now) fails coercion:
    that rejection must stay open, or `rejected list` never shows the stale HubSpot value."""
    sandbox.create_property("seats", type="number", field_type="number")
    make_pipeline().run([{ID: "k", "hs_course_name": "A", "seats": 3},
                         {ID: "k", "hs_course_name": "A", "seats": "lots"}], table_name="courses")
    assert [r["record_key"] for r in staging().open_rejections(OBJ)] == ["k"]


def test_rows_upserted_before_a_failing_archive_are_recorded(sandbox, make_pipeline, staging, monkeypatch):
    """The batch's upsert reached HubSpot; the archive of its hard-deleted row then fails. The
    upserted row must be in sync_state (an archive outage injected at our client: the sandbox's
    own faults are retried for minutes)."""
    pipeline = make_pipeline()
    pipeline.run([{ID: "gone", "hs_course_name": "G"}], table_name="courses")

    def archive_down(self, *args, **kwargs):
        raise RuntimeError("archive endpoint down")

    monkeypatch.setattr(HubSpotClient, "batch_archive", archive_down)
    rows = dlt.resource(
        [{ID: "fresh", "hs_course_name": "F", "is_deleted": False},
         {ID: "gone", "hs_course_name": "G", "is_deleted": True}],
        name="courses", columns={"is_deleted": {"hard_delete": True, "data_type": "bool"}},
    )
    with pytest.raises(Exception):
        pipeline.run(rows)
    assert "fresh" in {r["properties"][ID] for r in sandbox.records()}
    assert staging().hubspot_ids(OBJ, ["fresh"]), "created in HubSpot but not recorded in sync_state"


def test_sessions_on_one_staging_file_share_one_connection(tmp_path, sandbox) -> None:
    base = dict(access_token="pat-na1-x", id_property="lms_key", api_base_url=sandbox.url,
                staging_path=str(tmp_path / "staging.duckdb"))
    try:
        a = session_for(HubSpotCoursesConfiguration.from_values(**base))
        b = session_for(HubSpotCoursesConfiguration.from_values(**base, exclude_columns=["x"]))
        assert a is not b and a.staging is b.staging  # one lock serialises their writes
        errors: list[BaseException] = []

        def write(session, prefix: str) -> None:
            try:
                for i in range(50):
                    session.staging.set_meta(f"portal:{prefix}:{i % 5}", "x")
            except BaseException as exc:  # noqa: BLE001 - collected for the assertion
                errors.append(exc)

        threads = [threading.Thread(target=write, args=(s, p)) for s, p in ((a, "p"), (b, "p"))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        close_sessions(base["staging_path"])
        assert a.closed and b.closed and a.staging.closed
    finally:
        close_sessions()
