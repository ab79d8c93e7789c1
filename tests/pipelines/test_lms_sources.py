"""Each source through a real dlt pipeline (extract, normalize, load into a capturing sink)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import sqlalchemy as sa

from lms_support import OULAD_CSV, SAMPLE_DIR, create_moodle_db
from pipelines.sources.canvas import canvas_source
from pipelines.sources.csv_export import csv_courses
from pipelines.sources.moodle import moodle_courses
from pipelines.sources.sample import sample_source


def test_moodle_source_excludes_the_site_course_and_maps_quirks(capture_run, moodle_url) -> None:
    captured = capture_run(moodle_courses(moodle_url))
    by_key = {r["lms_course_key"]: r for r in captured.rows}
    assert sorted(by_key) == ["moodle:2", "moodle:3", "moodle:4"]  # course 1 is the front page
    assert by_key["moodle:2"]["hs_course_name"] == "Biology & Chemistry 101"
    assert by_key["moodle:2"]["hs_course_description"] == "Cells, molecules & life.\n\nWeek 1: intro"
    assert "course_end_date" not in by_key["moodle:2"]  # enddate 0 = no end date
    assert by_key["moodle:3"]["hs_course_name"] == "Statistics"
    assert by_key["moodle:3"]["course_visible"] is False
    assert by_key["moodle:4"]["hs_course_name"] == "Café Ünïcode – Ελληνικά"
    # only course properties reach the destination, never Moodle's own columns
    (table,) = captured.tables.values()  # one table per source, named after it
    assert table["name"].endswith("_courses")
    columns = set(table["columns"])
    assert not columns & {"fullname", "summary", "timemodified", "startdate", "format"}
    assert columns >= {"lms_course_key", "hs_course_name", "course_start_date"}


def test_moodle_second_run_only_reads_modified_rows(capture_run, moodle_url) -> None:
    assert len(capture_run(moodle_courses(moodle_url)).rows) == 3
    engine = sa.create_engine(moodle_url)
    with engine.begin() as con:
        con.exec_driver_sql("UPDATE mdl_course SET fullname = 'Biology 102', timemodified = 1700000500 WHERE id = 2")
        con.exec_driver_sql(
            "INSERT INTO mdl_course (id, fullname, shortname, timemodified) VALUES (5, 'New', 'NEW', 1700000600)"
        )
    engine.dispose()
    second = capture_run(moodle_courses(moodle_url))
    assert sorted((r["lms_course_key"], r["hs_course_name"]) for r in second.rows) == [
        ("moodle:2", "Biology 102"), ("moodle:5", "New")
    ]
    assert capture_run(moodle_courses(moodle_url)).rows == []  # nothing changed since


def test_moodle_table_prefix_and_custom_id_property(capture_run, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'prefixed.db'}"
    create_moodle_db(url, prefix="lms_").dispose()
    captured = capture_run(moodle_courses(url, table_prefix="lms_", id_property="external_course_id"))
    assert sorted(r["external_course_id"] for r in captured.rows) == ["moodle:2", "moodle:3", "moodle:4"]
    assert all("lms_course_key" not in r for r in captured.rows)


def test_canvas_source_follows_link_headers_with_bearer_auth(capture_run, canvas_server) -> None:
    source = canvas_source(base_url=canvas_server.url, account_id="1",
                           access_token=canvas_server.token, per_page=2, enrollments=False)
    captured = capture_run(source)
    assert sorted(r["lms_course_key"] for r in captured.rows) == [f"canvas:{1000 + i}" for i in range(1, 6)]
    pages = [r["query"].get("page", ["1"])[0] for r in canvas_server.requests]
    assert pages == ["1", "2", "3"]  # 5 courses, 2 per page, followed through rel="next"
    assert all(r["auth"] == "Bearer canvas-test-token" for r in canvas_server.requests)
    assert canvas_server.requests[0]["query"]["state[]"] == ["created", "claimed", "available", "completed"]
    by_key = {r["lms_course_key"]: r for r in captured.rows}
    assert by_key["canvas:1001"]["hs_course_description"] == "Intro & basics"
    assert by_key["canvas:1002"]["hs_course_name"].startswith("ING303-1 24H Systemtenking")
    assert by_key["canvas:1003"]["course_visible"] is False
    assert "course_start_date" not in by_key["canvas:1003"]  # null course and term dates
    assert by_key["canvas:1004"]["course_start_date"].isoformat() == "2024-09-02T06:00:00+00:00"


def test_canvas_token_comes_from_dlt_secrets(capture_run, canvas_server, monkeypatch) -> None:
    monkeypatch.setenv("SOURCES__CANVAS__ACCESS_TOKEN", canvas_server.token)
    monkeypatch.setenv("SOURCES__CANVAS__BASE_URL", canvas_server.url)
    monkeypatch.setenv("SOURCES__CANVAS__ACCOUNT_ID", "1")
    assert len(capture_run(canvas_source(enrollments=False)).rows) == 5


def test_csv_source_reads_the_real_oulad_file_with_crlf_and_quotes(capture_run) -> None:
    raw = OULAD_CSV.read_bytes()
    assert b'"AAA","2013J","268"\r\n' in raw  # the fixture really is all-quoted CRLF
    captured = capture_run(csv_courses(str(OULAD_CSV)))
    with OULAD_CSV.open(newline="") as f:
        expected = {f"oulad:{r['code_module']}-{r['code_presentation']}" for r in csv.DictReader(f)}
    assert len(expected) == 22
    assert {r["lms_course_key"] for r in captured.rows} == expected
    assert all("\r" not in v for r in captured.rows for v in r.values() if isinstance(v, str))


def test_csv_source_pass_through_with_embedded_commas_newlines_and_a_glob(capture_run, tmp_path) -> None:
    exports = tmp_path / "exports"
    exports.mkdir()
    with (exports / "courses-1.csv").open("w", newline="", encoding="utf-8-sig") as f:
        w = csv.writer(f, quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
        w.writerow(["lms_course_key", "hs_course_name", "hs_course_description", "course_start_date"])
        w.writerow(["x:1", 'Law, "Ethics" & Society', "line one\r\nline two", "2025-02-03T09:00:00Z"])
    (exports / "courses-2.csv").write_text("lms_course_key,hs_course_name\nx:2,Plain\n", encoding="utf-8")
    captured = capture_run(csv_courses(str(exports / "courses-*.csv")))
    by_key = {r["lms_course_key"]: r for r in captured.rows}
    assert by_key["x:1"]["hs_course_name"] == 'Law, "Ethics" & Society'
    assert by_key["x:1"]["hs_course_description"] == "line one\nline two"
    assert by_key["x:1"]["course_start_date"].isoformat() == "2025-02-03T09:00:00+00:00"
    assert by_key["x:2"] == {"lms_course_key": "x:2", "hs_course_name": "Plain", "lms_source": "csv"}


def test_sample_source_yields_every_bundled_course(capture_run) -> None:
    captured = capture_run(sample_source(enrollments=False))
    sloan = json.loads((SAMPLE_DIR / "mit_open_learning" / "test_sloan_courses.json").read_text("utf-8"))
    keys = [r["lms_course_key"] for r in captured.rows]
    assert len(keys) == len(set(keys)) == 99 + 22
    names = {r["lms_course_key"]: r["hs_course_name"] for r in captured.rows}
    assert all(names[f"mit-sloan:{c['Course_Id']}"] == c["Title"] for c in sloan)


def test_sample_data_is_the_unmodified_licensed_copy() -> None:
    import hashlib

    sums = {
        "mit_open_learning/test_sloan_courses.json": "5ac0a99a9cf5169487ddfb641badd87b7d626891b0b4050434cdefadd65dfe68",
        "mit_open_learning/test_sloan_runs.json": "76b0f01ab3801c3aec92843a36df380e9efae8a66af92d713ea5d7c05347d4ce",
        "mit_open_learning/LICENSE.mit-learn.txt": "be8971a0f9633fa545550ea6b2bf6563747228973d7e01537354212556daccb5",
        "oulad/courses.csv": "4f16eee7454b15e109b0a21a0e43be820e6846ed6f9301bb7feb5ab5ad737a75",
        "synthetic/enrollments.csv": "0b37c79f70ea20a170d319b3ebb97904aa70b6f6d64e35032f4e2c9ed4943b6d",
    }
    for name, digest in sums.items():
        assert hashlib.sha256((SAMPLE_DIR / name).read_bytes()).hexdigest() == digest, name
    notes = (SAMPLE_DIR / "SOURCES.md").read_text()
    assert "CC BY 4.0" in notes and "doi:10.1038/sdata.2017.171" in notes and "BSD 3-Clause" in notes
