"""The one mapping function per source, on real-shaped rows (pure, no dlt run)."""

from __future__ import annotations

from datetime import datetime, timezone

from pipelines.sources.canvas import map_canvas_course
from pipelines.sources.common import epoch_to_datetime, html_to_text, parse_iso_datetime
from pipelines.sources.csv_export import detect_layout, map_course_csv_row, map_oulad_course, split_path
from pipelines.sources.moodle import map_moodle_course, moodle_description
from pipelines.sources.sample import map_sloan_course

UTC = timezone.utc


def test_html_to_text_strips_tags_unescapes_entities_and_keeps_paragraphs() -> None:
    assert html_to_text("<p>Cells, <b>molecules</b> &amp; life.</p><p>Week&nbsp;1</p>") == (
        "Cells, molecules & life.\n\nWeek 1"
    )
    assert html_to_text("<script>alert(1)</script>ok") == "ok"
    assert html_to_text("<p> </p>") is None
    assert html_to_text(None) is None


def test_epoch_zero_means_unset() -> None:
    assert epoch_to_datetime(0) is None
    assert epoch_to_datetime(1_725_148_800) == datetime(2024, 9, 1, tzinfo=UTC)


def test_parse_iso_datetime_formats_seen_in_real_data() -> None:
    assert parse_iso_datetime("2020-02-10T14:56:33.000Z") == datetime(2020, 2, 10, 14, 56, 33, tzinfo=UTC)
    assert parse_iso_datetime("2024-10-20") == datetime(2024, 10, 20, tzinfo=UTC)
    assert parse_iso_datetime(None) is None


def test_moodle_course_mapping_handles_the_quirks() -> None:
    row = {
        "id": 3, "fullname": '<span lang="en" class="multilang">Statistics</span>'
        '<span lang="de" class="multilang">Statistik</span>', "shortname": "STAT", "idnumber": "",
        "summary": "<p>Mean &amp; median</p>", "summaryformat": 1, "format": "topics",
        "startdate": 1_725_148_800, "enddate": 0, "visible": 0, "lang": "", "timemodified": 5,
    }
    mapped = map_moodle_course(row, site_url="https://moodle.example.edu/")
    assert mapped == {
        "lms_course_key": "moodle:3",
        "lms_source": "moodle",
        "hs_course_id": "3",
        "hs_course_name": "Statistics",
        "hs_course_description": "Mean & median",
        "course_code": "STAT",
        "course_start_date": datetime(2024, 9, 1, tzinfo=UTC),
        "course_visible": False,
        "course_url": "https://moodle.example.edu/course/view.php?id=3",
    }  # enddate 0 and lang '' are unset: no value at all, not "" or 1970-01-01


def test_moodle_site_course_is_skipped_and_plain_summaries_kept() -> None:
    assert map_moodle_course({"id": 1, "fullname": "Site", "format": "site"}) is None
    assert map_moodle_course({"id": 7, "fullname": "Front", "format": "site"}) is None
    assert moodle_description("a <b> literal", 2) == "a <b> literal"  # FORMAT_PLAIN
    assert moodle_description("**md**", 4) == "**md**"  # FORMAT_MARKDOWN


def test_canvas_course_mapping_null_dates_fall_back_to_the_term() -> None:
    course = {
        "id": 370663, "name": "Nick", "original_name": "InstructureCon 2012", "course_code": "INSTCON12",
        "workflow_state": "available", "start_at": None, "end_at": "2012-09-01T00:00:00Z",
        "term": {"name": "Summer", "start_at": "2012-06-01T00:00:00Z", "end_at": None},
        "public_description": "<p>Hi</p>", "locale": "en",
    }
    mapped = map_canvas_course(course, "https://canvas.example.edu/")
    assert mapped["lms_course_key"] == "canvas:370663"
    assert mapped["hs_course_name"] == "InstructureCon 2012"  # not the user's nickname
    assert mapped["course_start_date"] == datetime(2012, 6, 1, tzinfo=UTC)
    assert mapped["course_end_date"] == datetime(2012, 9, 1, tzinfo=UTC)
    assert mapped["course_visible"] is True and mapped["course_status"] == "available"
    assert mapped["course_url"] == "https://canvas.example.edu/courses/370663"
    bare = map_canvas_course({"id": 5, "name": "X", "start_at": None, "end_at": None})
    assert "course_start_date" not in bare and "course_end_date" not in bare


def test_oulad_mapping_synthesises_a_name_and_composite_key() -> None:
    mapped = map_oulad_course(
        {"code_module": "AAA", "code_presentation": "2013J", "module_presentation_length": "268"}
    )
    assert mapped["lms_course_key"] == "oulad:AAA-2013J"
    assert mapped["hs_course_name"] == "AAA 2013J"
    assert "synthesised" in mapped["hs_course_description"]
    assert mapped["course_length_days"] == 268


def test_csv_layouts_and_pass_through_typing() -> None:
    assert detect_layout(["code_module", "code_presentation", "module_presentation_length"]) == "oulad"
    assert detect_layout(["lms_course_key", "hs_course_name", "x"]) == "hubspot"
    row = map_course_csv_row({"lms_course_key": "k1", "hs_course_name": "N", "course_visible": "true",
                              "course_start_date": "2024-01-02", "course_end_date": "", "extra": "v"})
    assert row == {"lms_course_key": "k1", "hs_course_name": "N", "course_visible": True,
                   "course_start_date": datetime(2024, 1, 2, tzinfo=UTC), "extra": "v", "lms_source": "csv"}


def test_split_path_for_files_and_globs(tmp_path) -> None:
    (tmp_path / "exports").mkdir()
    assert split_path(str(tmp_path / "exports" / "a.csv")) == ((tmp_path / "exports").as_uri(), "a.csv")
    assert split_path(str(tmp_path / "exports" / "*.csv")) == ((tmp_path / "exports").as_uri(), "*.csv")
    assert split_path("s3://bucket/exports/*.csv") == ("s3://bucket/exports", "*.csv")


def test_sloan_course_dates_come_from_its_runs() -> None:
    mapped = map_sloan_course({
        "Course_Id": "a05", "Title": "Leading Change", "Description": "“Smart” – quotes",
        "Topics": None, "URL": "https://executive.mit.edu/x",
        "_runs": [{"Start_Date": "2024-10-20", "End_Date": "2024-10-25"},
                  {"Start_Date": "2024-03-01", "End_Date": None}, {"Start_Date": None}],
    })
    assert mapped["course_start_date"] == datetime(2024, 3, 1, tzinfo=UTC)
    assert mapped["course_end_date"] == datetime(2024, 10, 25, tzinfo=UTC)
    assert mapped["hs_course_description"] == "“Smart” – quotes"
    assert "course_category" not in mapped
