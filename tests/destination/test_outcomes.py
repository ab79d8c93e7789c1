"""Good rows land, bad rows end in rejected_rows with the reason, nothing is lost."""

from __future__ import annotations

import json
from pathlib import Path

from .conftest import ID, by_key, upsert_inputs

SAMPLE = Path(__file__).resolve().parents[2] / "pipelines" / "sample_data" / "mit_open_learning" / "test_sloan_courses.json"


def _level_property(sandbox):
    sandbox.create_property(ID, has_unique_value=True)
    sandbox.create_property("level", type="enumeration", field_type="select",
                            options=[{"label": "Beginner", "value": "beginner"}])
    sandbox.create_property("seats", type="number", field_type="number")


def test_good_rows_land_and_bad_rows_are_recorded_with_reasons(sandbox, make_pipeline, staging):
    _level_property(sandbox)
    rows = [
        {ID: "ok-1", "hs_course_name": "Statistics", "level": "beginner", "seats": 10},
        {ID: "bad-option", "hs_course_name": "Physics", "level": "expert", "seats": 5},  # local: not an option
        {ID: "bad-number", "hs_course_name": "Chemistry", "seats": "twelve"},  # local: not a number
        {ID: "no-name", "seats": 3},  # HubSpot: hs_course_name is required to create
        {ID: None, "hs_course_name": "Keyless"},  # no key
        {ID: "ok-2", "hs_course_name": "Old title"},
        {ID: "ok-2", "hs_course_name": "Biology"},  # same key later in the batch wins
    ]
    pipeline = make_pipeline()
    info = pipeline.run(rows, table_name="courses")
    assert not info.has_failed_jobs

    records = by_key(sandbox)
    assert set(records) == {"ok-1", "ok-2"}
    assert records["ok-2"]["hs_course_name"] == "Biology"
    # locally rejected rows cost no request: only ok-1, ok-2 and no-name were sent
    assert upsert_inputs(sandbox) == 3

    st = staging()
    open_rows = {r["record_key"]: r for r in st.open_rejections()}
    assert set(open_rows) == {"bad-option", "bad-number", "no-name", None}
    assert open_rows["bad-option"]["category"] == "COERCION_ERROR"
    assert "expert" in open_rows["bad-option"]["message"] and "level" in open_rows["bad-option"]["message"]
    assert open_rows["bad-number"]["category"] == "COERCION_ERROR"
    assert open_rows["no-name"]["category"] == "VALIDATION_ERROR"  # HubSpot's own category
    assert "hs_course_name" in open_rows["no-name"]["message"]
    assert json.loads(open_rows["no-name"]["row_json"]) == {ID: "no-name", "seats": 3}
    assert open_rows[None]["category"] == "MISSING_KEY"

    summary = st.load_summary(info.loads_ids)
    assert summary["rows_seen"] == 7 and summary["created"] == 2 and summary["rejected"] == 5
    # rows seen = created + updated + unchanged + rejected (+ superseded counted as rejected)
    assert summary["rows_seen"] == summary["created"] + summary["updated"] + summary["unchanged"] + summary["rejected"]
    assert summary["requests"] >= 1
    all_rows = st._query("SELECT record_key, category, resolved_at IS NOT NULL FROM rejected_rows WHERE category = 'SUPERSEDED'")
    assert all_rows == [("ok-2", "SUPERSEDED", True)]


def test_real_catalogue_data_loads_in_several_batches(sandbox, make_pipeline, staging):
    """99 MIT Sloan courses with HTML, smart quotes and nulls; duplicated to cross batch limits."""
    courses = json.loads(SAMPLE.read_text(encoding="utf-8"))
    rows = []
    for copy in range(12):  # 1188 rows: two dlt batches, twelve upsert chunks
        for c in courses:
            rows.append({ID: f"{c['Course_Id']}-{copy}", "hs_course_name": c["Title"],
                         "hs_course_description": c.get("Description"), "course_url": c.get("URL")})
    info = make_pipeline().run(rows, table_name="courses")
    assert not info.has_failed_jobs
    records = by_key(sandbox)
    assert len(records) == len(rows)
    first = courses[0]
    assert records[f"{first['Course_Id']}-0"]["hs_course_name"] == first["Title"]
    summary = staging().load_summary(info.loads_ids)
    assert summary["created"] == len(rows) and summary["rejected"] == 0
    assert sandbox.count_requests("POST", "/batch/upsert") == summary["requests"]
    assert all((e.n_inputs or 0) <= 100 for e in sandbox.request_log)


def test_hard_delete_hint_archives_the_course(sandbox, make_pipeline, staging):
    import dlt

    pipeline = make_pipeline()
    pipeline.run([{ID: "a", "hs_course_name": "A"}, {ID: "b", "hs_course_name": "B"}], table_name="courses")
    deleted = dlt.resource(
        [{ID: "a", "hs_course_name": "A", "is_deleted": True}, {ID: "zz-never-synced", "is_deleted": True}],
        name="courses", columns={"is_deleted": {"hard_delete": True, "data_type": "bool"}},
    )
    info = pipeline.run(deleted)
    assert set(by_key(sandbox)) == {"b"}
    summary = staging().load_summary(info.loads_ids)
    # the never-synced key is a no-op, counted as unchanged rather than archived
    assert (summary["archived"], summary["unchanged"], summary["rows_seen"]) == (1, 1, 2)
    assert "is_deleted" not in {p["name"] for p in sandbox.properties()}


def test_required_property_rejections_name_the_properties_and_are_grouped(sandbox, make_pipeline, staging):
    # HubSpot's 400 VALIDATION_ERROR per input for a property required on create (the create
    # form's required fields; conditional-required rules answer alike from 2026-09)
    sandbox.create_property(ID, has_unique_value=True)
    rows = [{ID: f"no-name-{i}", "seats_text": "3"} for i in range(3)] + [{ID: "ok", "hs_course_name": "Statistics"}]
    info = make_pipeline().run(rows, table_name="courses")
    assert not info.has_failed_jobs
    st = staging()
    rejected = st.open_rejections()
    assert len(rejected) == 3 and {r["category"] for r in rejected} == {"VALIDATION_ERROR"}
    for r in rejected:
        assert [e["name"] for e in json.loads(r["property_errors"])] == ["hs_course_name"]
    (reason, count), = st.top_rejections(info.loads_ids)
    assert count == 3 and reason.startswith("VALIDATION_ERROR/") and " hs_course_name" in reason
