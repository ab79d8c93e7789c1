"""The full type matrix: Python values from a dlt source land as HubSpot expects them."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

from .conftest import ID, by_key

CEST = timezone(timedelta(hours=2))


def _create_typed_properties(sandbox):
    sandbox.create_property(ID, has_unique_value=True)
    sandbox.create_property("level", type="enumeration", field_type="select",
                            options=[{"label": "Beginner", "value": "beginner"}, {"label": "Advanced", "value": "advanced"}])
    sandbox.create_property("topics", type="enumeration", field_type="checkbox",
                            options=[{"label": "Data", "value": "data"}, {"label": "Leadership", "value": "lead"},
                                     {"label": "Finance", "value": "fin"}])
    sandbox.create_property("start_date", type="date", field_type="date")
    sandbox.create_property("starts_at", type="datetime", field_type="date")
    sandbox.create_property("is_public", type="bool", field_type="booleancheckbox",
                            options=[{"label": "Yes", "value": "true"}, {"label": "No", "value": "false"}])
    sandbox.create_property("price", type="number", field_type="number")
    sandbox.create_property("details", type="string", field_type="textarea")


def test_every_hubspot_type_is_coerced_by_the_target_property(sandbox, make_pipeline):
    _create_typed_properties(sandbox)
    rows = [
        {ID: "MIT-15.071", "hs_course_name": "The Analytics Edge", "hs_enrollment_capacity": 250,
         "level": "Advanced", "topics": ["data", "Finance"], "start_date": date(2019, 2, 20),
         "starts_at": datetime(2019, 2, 20, 17, 0, tzinfo=CEST), "is_public": True, "price": Decimal("150.00"),
         "details": {"effort": "12 hrs/wk", "runs": [1, 2]}},
        {ID: 42, "hs_course_name": "Programa en Alta Dirección", "level": "beginner", "topics": "lead;data",
         "start_date": datetime(2024, 9, 4, 23, 30, tzinfo=timezone.utc), "starts_at": "2024-09-04T15:00:00Z",
         "is_public": "no", "price": 13900.5, "details": None},
    ]
    info = make_pipeline().run(rows, table_name="courses")
    assert not info.has_failed_jobs
    records = by_key(sandbox)
    assert records["MIT-15.071"] | {} == records["MIT-15.071"]  # keyed by the id property
    first = records["MIT-15.071"]
    assert first["hs_course_name"] == "The Analytics Edge"
    assert first["hs_enrollment_capacity"] == "250"
    assert first["level"] == "advanced"  # label -> option value
    assert set(first["topics"].split(";")) == {"data", "fin"}
    assert first["start_date"] == "2019-02-20"
    assert first["starts_at"] == "2019-02-20T15:00:00.000Z"  # converted to UTC
    assert first["is_public"] == "true"
    assert first["price"] == "150"
    assert first["details"] == '{"effort": "12 hrs/wk", "runs": [1, 2]}'
    second = records["42"]  # an integer key becomes its text
    assert second["hs_course_name"] == "Programa en Alta Dirección"
    assert second["start_date"] == "2024-09-04"  # the UTC day of a datetime
    assert second["starts_at"] == "2024-09-04T15:00:00.000Z"
    assert second["is_public"] == "false"
    assert second["price"] == "13900.5"
    assert set(second["topics"].split(";")) == {"lead", "data"}
    assert "details" not in second or second["details"] in ("", None)  # None is left out


def test_missing_properties_are_created_from_dlt_column_types(sandbox, make_pipeline):
    rows = [{ID: "c1", "hs_course_name": "Intro", "seats": 30, "fee": 9.5, "published": True,
             "opens_at": datetime(2025, 1, 6, 9, 0, tzinfo=timezone.utc), "meta": {"a": 1}}]
    make_pipeline().run(rows, table_name="courses")
    props = {p["name"]: p for p in sandbox.properties()}
    assert props[ID]["hasUniqueValue"] is True and props[ID]["type"] == "string"
    assert (props["seats"]["type"], props["fee"]["type"]) == ("number", "number")
    assert props["published"]["type"] == "bool"
    assert props["opens_at"]["type"] == "datetime"
    assert props["meta"]["type"] == "string"
    record = by_key(sandbox)["c1"]
    assert record["published"] == "true" and record["opens_at"] == "2025-01-06T09:00:00.000Z"


def test_none_leaves_values_alone_unless_clear_nulls(sandbox, tmp_path, staging_path):
    import dlt

    from hubspot_courses_destination import hubspot_courses
    from hubspot_courses_destination.sandbox import DEFAULT_TOKEN

    def pipeline(**extra):
        # the same pipeline name and directory: dlt keeps the column in its schema even when
        # a later load has only nulls in it, as a nightly job would
        dest = hubspot_courses(access_token=DEFAULT_TOKEN, api_base_url=sandbox.url, id_property=ID,
                               staging_path=staging_path, create_missing_properties=True, **extra)
        return dlt.pipeline("clear_nulls", destination=dest, pipelines_dir=str(tmp_path / "p"))

    pipeline().run([{ID: "c1", "hs_course_name": "Intro", "course_end": "2025-06-30"}], table_name="courses")
    pipeline().run([{ID: "c1", "hs_course_name": "Intro", "course_end": None}], table_name="courses")
    assert by_key(sandbox)["c1"]["course_end"] == "2025-06-30"  # partial update: untouched

    pipeline(clear_nulls=True).run([{ID: "c1", "hs_course_name": "Intro", "course_end": None}], table_name="courses")
    assert by_key(sandbox)["c1"].get("course_end") in (None, "")  # the LMS cleared it; so does HubSpot


def test_text_keys_after_integer_keys_are_read_from_the_variant_column(sandbox, make_pipeline, staging):
    """dlt typed the key column bigint in the first load; later text keys land in
    ``lms_course_key▶v_text`` and must still be the key, not a "key is empty" rejection."""
    pipeline = make_pipeline()
    first = pipeline.run([{ID: 1, "hs_course_name": "One"}, {ID: 2, "hs_course_name": "Two"}], table_name="courses")
    assert not first.has_failed_jobs
    second = pipeline.run(
        [{ID: "c-3", "hs_course_name": "Three"}, {ID: 2, "hs_course_name": "Two, revised"},
         {ID: " C-4 ", "hs_course_name": "Four"}],
        table_name="courses",
    )
    assert not second.has_failed_jobs
    assert f"{ID}▶v_text" in pipeline.default_schema.get_table("courses")["columns"]  # the setup holds

    records = by_key(sandbox)
    assert set(records) == {"1", "2", "c-3", "C-4"}
    assert records["c-3"]["hs_course_name"] == "Three" and records["C-4"]["hs_course_name"] == "Four"
    assert records["2"]["hs_course_name"] == "Two, revised"
    st = staging()
    assert st._query("SELECT count(*) FROM rejected_rows")[0][0] == 0
    summary = st.load_summary(second.loads_ids)
    assert (summary["created"], summary["updated"], summary["rejected"]) == (2, 1, 0)


def test_bytes_are_sent_as_utf8_text_and_other_bytes_are_rejected(sandbox, make_pipeline, staging):
    rows = [
        {ID: b"k-1", "hs_course_name": "Café".encode()},
        {ID: "k-2", "hs_course_name": b"\xff\xfe"},  # not UTF-8
        {ID: b"\xe9t\xe9", "hs_course_name": "Latin-1 key"},  # a key that is not UTF-8 either
    ]
    info = make_pipeline().run(rows, table_name="courses")
    assert not info.has_failed_jobs
    records = by_key(sandbox)
    assert set(records) == {"k-1"}
    assert records["k-1"]["hs_course_name"] == "Café"
    rejected = {r["record_key"]: r for r in staging().open_rejections()}
    assert set(rejected) == {"k-2", None}
    for r in rejected.values():
        assert r["category"] == "COERCION_ERROR"
        assert "bytes that are not valid UTF-8 text" in r["message"]
    assert "hs_course_name" in rejected["k-2"]["message"] and ID in rejected[None]["message"]
