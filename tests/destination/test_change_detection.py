"""Send only what changed: hashes, full resync, dry run, lost state, mirror, replay."""

from __future__ import annotations

import os


from hubspot_courses_destination.session import close_sessions
from hubspot_courses_destination.staging import Staging
from hubspot_courses_destination.hubspot.endpoints import Endpoints
from hubspot_courses_destination.settings import DEFAULT_API_VERSION, DestinationSettings
from hubspot_courses_destination.mirror import archive_missing
from hubspot_courses_destination.replay import replay_rejections
from hubspot_courses_destination.sandbox import DEFAULT_TOKEN

from .conftest import ID, by_key, upsert_inputs

LIST_COURSES = Endpoints(DEFAULT_API_VERSION).path("list_objects", object_type="0-410")
"""The list path of the family pipelines call by default."""


def _rows(n: int, *, changed: dict[int, str] | None = None) -> list[dict]:
    changed = changed or {}
    return [{ID: f"c{i:04d}", "hs_course_name": changed.get(i, f"Course {i}"), "seats": i % 50} for i in range(n)]


def test_unchanged_rerun_sends_nothing_and_one_change_sends_one_input(sandbox, make_pipeline, staging):
    pipeline = make_pipeline()
    pipeline.run(_rows(250), table_name="courses")
    assert upsert_inputs(sandbox) == 250
    sandbox.reset_log()

    info = pipeline.run(_rows(250), table_name="courses")
    assert sandbox.count_requests("POST", "/batch/upsert") == 0
    assert staging().load_summary(info.loads_ids)["unchanged"] == 250

    info = pipeline.run(_rows(250, changed={7: "Course 7, revised"}), table_name="courses")
    upserts = [e for e in sandbox.request_log if e.path.endswith("/batch/upsert")]
    assert [e.n_inputs for e in upserts] == [1]
    assert by_key(sandbox)["c0007"]["hs_course_name"] == "Course 7, revised"
    summary = staging().load_summary(info.loads_ids)
    assert (summary["updated"], summary["unchanged"]) == (1, 249)


def test_full_resync_sends_everything_again(sandbox, make_pipeline):
    make_pipeline().run(_rows(120), table_name="courses")
    sandbox.reset_log()
    make_pipeline(full_resync=True).run(_rows(120), table_name="courses")
    assert upsert_inputs(sandbox) == 120


def test_dry_run_predicts_and_writes_nothing(sandbox, make_pipeline, staging):
    make_pipeline().run(_rows(10), table_name="courses")
    before = by_key(sandbox)
    sandbox.reset_log()
    rows = _rows(12, changed={3: "Renamed"}) + [{ID: "bad", "hs_course_name": "x", "seats": "many"}]
    info = make_pipeline(dry_run=True).run(rows, table_name="courses")
    assert sandbox.count_requests("POST", "/batch/upsert") == 0
    assert by_key(sandbox) == before
    summary = staging().load_summary(info.loads_ids)
    assert (summary["created"], summary["updated"], summary["unchanged"], summary["rejected"]) == (2, 1, 9, 1)
    assert staging().open_rejections() == []  # a dry run records nothing but its summary


def test_dry_run_creates_no_property_and_sends_nothing_on_a_fresh_portal(sandbox, make_pipeline, staging):
    before = {p["name"] for p in sandbox.properties()}
    info = make_pipeline(dry_run=True).run(_rows(5), table_name="courses")
    assert {p["name"] for p in sandbox.properties()} == before
    assert sandbox.records() == []
    assert [e.method for e in sandbox.request_log if e.method != "GET"] == []
    assert staging().load_summary(info.loads_ids)["created"] == 5


def test_lost_staging_is_rebuilt_from_hubspot_without_upserts(sandbox, make_pipeline, staging_path):
    make_pipeline().run(_rows(230), table_name="courses")
    close_sessions(staging_path)
    os.remove(staging_path)
    sandbox.reset_log()

    make_pipeline().run(_rows(230), table_name="courses")
    assert sandbox.count_requests("POST", "/batch/upsert") == 0
    # the rebuild listed the portal: 230 records at 100 per page
    assert sandbox.count_requests("GET", LIST_COURSES) == 3
    assert Staging(staging_path).synced_count("0-410") == 230


def test_hashes_of_an_older_format_are_rebuilt_from_hubspot_not_resent(sandbox, make_pipeline, staging_path):
    """A staging file from a release with another hash format: reads, not 230 rewrites."""
    import duckdb

    make_pipeline().run(_rows(230), table_name="courses")
    close_sessions(staging_path)
    con = duckdb.connect(staging_path)  # what the previous release left: its hashes, no format marker
    con.execute("UPDATE sync_state SET content_hash = 'v1-' || content_hash")
    con.execute("DELETE FROM staging_meta WHERE key LIKE 'content_hash_format:%'")
    con.close()
    sandbox.reset_log()

    snapshot = [r for r in _rows(230, changed={5: "Course 5, revised"}) if r[ID] != "c0009"]
    info = make_pipeline().run(snapshot, table_name="courses")
    upserts = [e for e in sandbox.request_log if e.path.endswith("/batch/upsert")]
    assert [e.n_inputs for e in upserts] == [1]  # only the course that really changed
    assert sandbox.count_requests("GET", LIST_COURSES) == 3  # the rebuild: 230 records, 100 a page
    staging = Staging(staging_path)
    assert staging.get_meta("content_hash_format:0-410") == "2"
    assert staging.synced_count("0-410") == 230
    # the keys kept their source table: mirror mode still archives the course the snapshot lost
    settings = DestinationSettings.from_values(
        access_token=DEFAULT_TOKEN, api_base_url=sandbox.url, id_property=ID, staging_path=staging_path,
    )
    result = archive_missing(settings, info.loads_ids, max_share=0.1)
    assert (result.archived, result.missing) == (1, ["c0009"])
    sandbox.reset_log()
    make_pipeline().run(snapshot, table_name="courses")
    assert sandbox.count_requests("POST", "/batch/upsert") == 0
    assert sandbox.count_requests("GET", LIST_COURSES) == 0  # no second rebuild


def test_a_failed_rebuild_after_a_hash_format_change_is_tried_again(sandbox, make_pipeline, staging_path):
    """The format marker is written only once the rebuild worked; else the next load would
    trust the dropped (empty) hashes and re-send every course."""
    import duckdb
    import pytest

    make_pipeline().run(_rows(120), table_name="courses")
    close_sessions(staging_path)
    con = duckdb.connect(staging_path)
    con.execute("UPDATE sync_state SET content_hash = 'v1-' || content_hash")
    con.execute("DELETE FROM staging_meta WHERE key LIKE 'content_hash_format:%'")
    con.close()
    # a token that may write courses and read properties, but not list courses: the rebuild fails
    sandbox.add_token(DEFAULT_TOKEN, scopes={"crm.objects.courses.write", "crm.schemas.courses.read",
                                             "crm.schemas.courses.write"})
    sandbox.reset_log()
    with pytest.raises(Exception, match="crm.objects.courses.read"):
        make_pipeline().run(_rows(120), table_name="courses")
    assert sandbox.count_requests("POST", "/batch/upsert") == 0
    sandbox.add_token(DEFAULT_TOKEN)  # the scope granted
    sandbox.reset_log()
    make_pipeline().run(_rows(120), table_name="courses")
    assert sandbox.count_requests("POST", "/batch/upsert") == 0
    assert Staging(staging_path).get_meta("content_hash_format:0-410") == "2"


def test_mirror_archives_missing_courses_and_refuses_past_threshold(sandbox, make_pipeline, staging_path):
    pipeline = make_pipeline()
    pipeline.run(_rows(20), table_name="courses")
    settings = DestinationSettings.from_values(
        access_token=DEFAULT_TOKEN, api_base_url=sandbox.url, id_property=ID, staging_path=staging_path,
        create_missing_properties=True,
    )
    # one course dropped from the snapshot: 5 % <= 10 %
    info = pipeline.run([r for r in _rows(20) if r[ID] != "c0005"], table_name="courses")
    result = archive_missing(settings, info.loads_ids, max_share=0.1)
    assert (result.refused, result.archived, result.missing) == (False, 1, ["c0005"])
    assert "c0005" not in by_key(sandbox) and len(by_key(sandbox)) == 19

    # a truncated extract (half the courses) must not empty HubSpot
    info = pipeline.run(_rows(20)[10:], table_name="courses")
    result = archive_missing(settings, info.loads_ids, max_share=0.1)
    assert result.refused and result.archived == 0 and "refused" in result.message
    assert len(by_key(sandbox)) == 19


def test_replay_after_adding_the_missing_option(sandbox, make_pipeline, staging_path, staging):
    sandbox.create_property(ID, has_unique_value=True)
    sandbox.create_property("level", type="enumeration", field_type="select",
                            options=[{"label": "Beginner", "value": "beginner"}])
    make_pipeline().run([{ID: "a", "hs_course_name": "A", "level": "beginner"},
                         {ID: "b", "hs_course_name": "B", "level": "Expert"}], table_name="courses")
    assert [r["record_key"] for r in staging().open_rejections()] == ["b"]

    settings = DestinationSettings.from_values(
        access_token=DEFAULT_TOKEN, api_base_url=sandbox.url, id_property=ID, staging_path=staging_path,
    )
    result = replay_rejections(settings)  # still failing: nothing changed in HubSpot
    assert (result.attempted, result.fixed, result.still_rejected) == (1, 0, 1)
    assert [r["record_key"] for r in staging().open_rejections()] == ["b"]  # one open record, not two

    sandbox.add_option("level", label="Expert", value="expert")  # the fix, made in HubSpot
    result = replay_rejections(settings)
    assert (result.attempted, result.fixed, result.still_rejected) == (1, 1, 0)
    assert by_key(sandbox)["b"]["level"] == "expert"
    assert staging().open_rejections() == []


def test_staging_used_with_another_portal_does_not_skip_rows(make_pipeline, staging_path):
    from hubspot_courses_destination.sandbox import Sandbox

    make_pipeline().run(_rows(5), table_name="courses")  # portal A (the fixture's sandbox)
    with Sandbox(rate_limit_per_10s=1000, portal_id=87654321) as production:
        make_pipeline(api_base_url=production.url).run(_rows(5), table_name="courses")
        assert len(by_key(production)) == 5  # not skipped as "unchanged"


def test_mirror_never_archives_another_source_tables_courses(sandbox, make_pipeline, staging_path):
    pipeline = make_pipeline()
    canvas = [{ID: f"canvas:{i}", "hs_course_name": f"Canvas {i}"} for i in range(3)]
    pipeline.run(canvas, table_name="canvas_courses")
    pipeline.run(_rows(40), table_name="moodle_courses")
    settings = DestinationSettings.from_values(
        access_token=DEFAULT_TOKEN, api_base_url=sandbox.url, id_property=ID, staging_path=staging_path,
    )
    info = pipeline.run(_rows(39), table_name="moodle_courses")  # c0039 left the Moodle snapshot
    result = archive_missing(settings, info.loads_ids, max_share=0.1)
    assert result.missing == ["c0039"] and result.archived == 1
    assert {f"canvas:{i}" for i in range(3)} <= set(by_key(sandbox))


def test_dry_run_mirror_predicts_without_refusing(sandbox, make_pipeline, staging_path):
    make_pipeline().run(_rows(20), table_name="courses")
    settings = DestinationSettings.from_values(
        access_token=DEFAULT_TOKEN, api_base_url=sandbox.url, id_property=ID, staging_path=staging_path,
    )
    info = make_pipeline(dry_run=True).run(_rows(19), table_name="courses")
    result = archive_missing(settings, info.loads_ids, max_share=0.1, dry_run=True)
    assert (result.refused, result.missing, result.archived) == (False, ["c0019"], 0)
    assert len(by_key(sandbox)) == 20


def test_a_rejection_is_closed_when_the_source_returns_to_the_synced_content(sandbox, make_pipeline, staging):
    pipeline = make_pipeline()
    pipeline.run([{ID: "a", "hs_course_name": "A", "seats": 3}], table_name="courses")
    pipeline.run([{ID: "a", "hs_course_name": "A", "seats": "lots"}], table_name="courses")
    assert [r["record_key"] for r in staging().open_rejections()] == ["a"]
    pipeline.run([{ID: "a", "hs_course_name": "A", "seats": 3}], table_name="courses")  # unchanged again
    assert staging().open_rejections() == []  # a later replay must not write the stale "lots" row


def test_rebuild_serves_tables_with_different_columns(sandbox, make_pipeline, staging_path):
    """Each source table sends its own properties; the rebuilt state must match each of them."""
    sloan = [{ID: f"s{i}", "hs_course_name": f"Sloan {i}", "course_url": f"https://x/{i}"} for i in range(30)]
    oulad = [{ID: f"o{i}", "hs_course_name": f"OU {i}", "course_length_days": 260 + i} for i in range(20)]
    pipeline = make_pipeline()
    pipeline.run(oulad, table_name="oulad_courses")
    pipeline.run(sloan, table_name="sloan_courses")
    close_sessions(staging_path)
    os.remove(staging_path)
    sandbox.reset_log()

    pipeline.run(oulad, table_name="oulad_courses")
    pipeline.run(sloan, table_name="sloan_courses")
    assert sandbox.count_requests("POST", "/batch/upsert") == 0
    # a changed row after the rebuild is still sent
    pipeline.run([{**sloan[0], "hs_course_name": "Sloan 0, revised"}], table_name="sloan_courses")
    assert upsert_inputs(sandbox) == 1
