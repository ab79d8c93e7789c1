"""Each source's enrollments through a real dlt pipeline (SQLite Moodle, a local Canvas, CSV)."""

from __future__ import annotations

from typing import Any, Dict, List, Tuple

import sqlalchemy as sa

from lms_support import MOODLE_NOW, add_moodle_enrolments
from pipelines.sources.canvas import canvas_source
from pipelines.sources.moodle import moodle_enrollments

REMOVED = "enrollment_removed"


def _by_pair(rows: List[Dict[str, Any]], key: str = "lms_course_key") -> Dict[Tuple[str, str], Dict[str, Any]]:
    return {(r[key], r["email"]): r for r in rows}


def test_moodle_enrolments_active_suspended_expired_disabled_and_roles(capture_run, moodle_url) -> None:
    add_moodle_enrolments(moodle_url)
    captured = capture_run(moodle_enrollments(moodle_url, now=MOODLE_NOW))
    rows = _by_pair(captured.rows)
    summary = {pair: (r[REMOVED], r.get("association_label")) for pair, r in rows.items()}
    assert summary == {
        ("moodle:2", "alice@example.edu"): (False, "Student"),
        ("moodle:2", "bob@example.edu"): (True, "Student"),  # suspended user enrolment
        ("moodle:2", "erin@example.edu"): (False, "Instructor"),  # editingteacher over student
        ("moodle:3", "carol@example.edu"): (True, "Student"),  # timeend passed
        ("moodle:3", "dave@example.edu"): (True, None),  # enrolment method disabled
        ("moodle:3", "erin@example.edu"): (False, None),  # no role in course 3: unlabeled
        ("moodle:4", "frank@example.edu"): (False, "Student"),  # suspended manual, active self
        ("moodle:4", "fay@example.edu"): (True, None),  # starts tomorrow: not active yet
    }  # the deleted user and the front page's enrolment are not there
    assert rows[("moodle:2", "alice@example.edu")]["firstname"] == "Alice"
    assert rows[("moodle:2", "alice@example.edu")]["lastname"] == "Active"
    (table,) = captured.tables.values()
    assert table["name"] == "moodle_enrollments"
    assert table["columns"][REMOVED].get("hard_delete") is True
    assert not set(table["columns"]) & {"userid", "ue_status", "timeend", "courseid"}


def test_moodle_enrolments_are_incremental_and_see_expiry(capture_run, moodle_url) -> None:
    add_moodle_enrolments(moodle_url)
    assert len(capture_run(moodle_enrollments(moodle_url, now=MOODLE_NOW)).rows) == 8
    # same clock, nothing changed: only the pairs at the cursor's second are read again
    again = capture_run(moodle_enrollments(moodle_url, now=MOODLE_NOW))
    assert {(r["lms_course_key"], r["email"]) for r in again.rows} <= {("moodle:4", "fay@example.edu")}
    engine = sa.create_engine(moodle_url)
    with engine.begin() as con:  # Alice suspended; Erin's course-3 enrolment set to end in 2 days
        con.exec_driver_sql(f"UPDATE mdl_user_enrolments SET status = 1, timemodified = {MOODLE_NOW} WHERE id = 101")
        con.exec_driver_sql(f"UPDATE mdl_user_enrolments SET timeend = {MOODLE_NOW + 2 * 86400}, "
                            f"timemodified = {MOODLE_NOW - 100} WHERE id = 107")
    engine.dispose()
    changed = _by_pair(capture_run(moodle_enrollments(moodle_url, now=MOODLE_NOW + 60)).rows)
    assert {p: r[REMOVED] for p, r in changed.items()} == {
        ("moodle:2", "alice@example.edu"): True, ("moodle:3", "erin@example.edu"): False,
        ("moodle:4", "fay@example.edu"): True,  # at the old cursor's second: read again, unchanged
    }
    # three days later nothing was written, but Erin's enrolment expired and Fay's started
    later = _by_pair(capture_run(moodle_enrollments(moodle_url, now=MOODLE_NOW + 3 * 86400)).rows)
    assert {p: r[REMOVED] for p, r in later.items()} == {
        ("moodle:2", "alice@example.edu"): True,  # at the cursor's second: read again, unchanged
        ("moodle:3", "erin@example.edu"): True,  # not modified since, but expired meanwhile
        ("moodle:4", "fay@example.edu"): False,
    }


def test_moodle_role_change_alone_is_read_again(capture_run, moodle_url) -> None:
    add_moodle_enrolments(moodle_url)
    capture_run(moodle_enrollments(moodle_url, now=MOODLE_NOW))
    engine = sa.create_engine(moodle_url)
    with engine.begin() as con:  # Alice becomes a non-editing teacher of course 2
        con.exec_driver_sql(f"UPDATE mdl_role_assignments SET roleid = 4, timemodified = {MOODLE_NOW} WHERE id = 201")
    engine.dispose()
    rows = capture_run(moodle_enrollments(moodle_url, now=MOODLE_NOW + 60)).rows
    assert {(r["email"], r.get("association_label")) for r in rows} == {
        ("alice@example.edu", "Instructor"), ("fay@example.edu", None)}  # Fay: at the old cursor


def test_moodle_enrolments_prefix_and_id_property(capture_run, tmp_path) -> None:
    from lms_support import create_moodle_db

    url = f"sqlite:///{tmp_path / 'prefixed.db'}"
    create_moodle_db(url, prefix="lms_").dispose()
    add_moodle_enrolments(url, prefix="lms_")
    rows = capture_run(moodle_enrollments(url, table_prefix="lms_", id_property="external_course_id",
                                          now=MOODLE_NOW)).rows
    assert len(rows) == 8 and all(r["external_course_id"].startswith("moodle:") for r in rows)
    assert all("lms_course_key" not in r for r in rows)


def test_canvas_enrollments_per_course_with_link_paging_states_and_types(capture_run, canvas_server) -> None:
    source = canvas_source(base_url=canvas_server.url, account_id="1", access_token=canvas_server.token,
                           per_page=2)
    captured = capture_run(source)
    assert set(captured.tables) == {"canvas_courses_mapped", "canvas_enrollments"}
    rows = _by_pair([r for r in captured.rows if "email" in r])
    assert {p: (r[REMOVED], r.get("association_label")) for p, r in rows.items()} == {
        ("canvas:1001", "person1@example.edu"): (False, "Student"),
        ("canvas:1001", "person2@example.edu"): (False, "Student"),
        ("canvas:1001", "person3@example.edu"): (True, "Student"),  # inactive
        ("canvas:1001", "person4@example.edu"): (True, "Student"),  # deleted
        ("canvas:1001", "person6@example.edu"): (False, "Instructor"),  # teacher and student
        ("canvas:1002", "person8@example.edu"): (False, "Instructor"),  # TA
        ("canvas:1002", "person1@example.edu"): (False, "Student"),  # completed: still took it
    }  # person 5 is only invited, person 7 an observer
    assert rows[("canvas:1001", "person1@example.edu")]["firstname"] == "Test"
    assert rows[("canvas:1001", "person1@example.edu")]["lastname"] == "Person 1"
    enrollment_requests = [r for r in canvas_server.requests if r["path"].endswith("/enrollments")]
    course_1001 = [r["query"].get("page", ["1"])[0] for r in enrollment_requests
                   if r["path"] == "/api/v1/courses/1001/enrollments"]
    assert course_1001 == ["1", "2", "3", "4"]  # 7 type-filtered enrollments, 2 per page, via rel="next"
    assert {r["path"] for r in enrollment_requests} == {f"/api/v1/courses/{1000 + i}/enrollments" for i in range(1, 6)}
    assert all(r["auth"] == "Bearer canvas-test-token" for r in enrollment_requests)
    assert "deleted" in enrollment_requests[0]["query"]["state[]"]  # else Canvas hides removals
    assert "ObserverEnrollment" not in enrollment_requests[0]["query"]["type[]"]


def test_canvas_without_enrollments_reads_no_enrollment_list(capture_run, canvas_server) -> None:
    capture_run(canvas_source(base_url=canvas_server.url, account_id="1", access_token=canvas_server.token,
                              enrollments=False))
    assert not [r for r in canvas_server.requests if r["path"].endswith("/enrollments")]


# ------------------------------------------------------------------ CSV


def _write(path, text: str) -> str:
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_csv_enrollments_layout_is_recognised_by_its_whole_header(tmp_path) -> None:
    import pytest

    from pipelines.sources.csv_export import UnknownCsvLayout, detect_layout

    assert detect_layout(["lms_course_key", "email"]) == "enrollments"
    assert detect_layout(["email", "lastname", "firstname", "association_label", "lms_course_key"]) == "enrollments"
    assert detect_layout(["course_ref", "email", "firstname"], id_property="course_ref") == "enrollments"
    assert detect_layout(["lms_course_key", "hs_course_name", "email"]) == "hubspot"  # a course file
    with pytest.raises(UnknownCsvLayout) as wrong:
        detect_layout(["lms_course_key", "email", "phone"], "roster.csv")
    message = str(wrong.value)
    assert message.startswith("roster.csv: unrecognised CSV header")
    assert "looks like an enrollments file, but phone is no enrollments column" in message
    assert "association_label" in message  # says what the layout allows
    with pytest.raises(UnknownCsvLayout, match="has no key column"):
        detect_layout(["course", "email", "firstname"], "roster.csv")
    with pytest.raises(UnknownCsvLayout, match="repeated column email"):
        detect_layout(["lms_course_key", "email", "email"])


def test_csv_glob_routes_course_and_enrollment_files_to_their_own_tables(capture_run, tmp_path) -> None:
    from pipelines.sources.csv_export import csv_source, csv_table_name

    exports = tmp_path / "exports"
    exports.mkdir()
    _write(exports / "courses.csv", "lms_course_key,hs_course_name\nx:1,One\nx:2,Two\n")
    _write(exports / "enrollments.csv",
           "lms_course_key,email,firstname,lastname,association_label\n"
           'x:1,ann@example.edu,Ann,"Doe, Jr.",Student\n'
           "x:1, Bo@Example.edu ,,,\n"  # values pass as written: the destination judges emails
           "x:2,ann@example.edu,Ann,Doe,Instructor\n")
    path = str(exports / "*.csv")
    captured = capture_run(csv_source(path))
    table = csv_table_name(path)
    assert set(captured.tables) == {table, f"{table}_enrollments"}
    courses = [r for r in captured.rows if "hs_course_name" in r]
    enrollments = [r for r in captured.rows if "email" in r]
    assert sorted(r["lms_course_key"] for r in courses) == ["x:1", "x:2"]
    assert enrollments == [
        {"lms_course_key": "x:1", "email": "ann@example.edu", "firstname": "Ann", "lastname": "Doe, Jr.",
         "association_label": "Student", REMOVED: False},
        {"lms_course_key": "x:1", "email": " Bo@Example.edu ", REMOVED: False},
        {"lms_course_key": "x:2", "email": "ann@example.edu", "firstname": "Ann", "lastname": "Doe",
         "association_label": "Instructor", REMOVED: False},
    ]


def test_csv_job_refuses_a_wrong_enrollments_header_before_the_run(tmp_path, capsys) -> None:
    from pipelines import lms_to_hubspot

    roster = _write(tmp_path / "roster.csv", "lms_course_key,email,phone\nx:1,a@example.edu,123\n")
    code = lms_to_hubspot.main(["--source", "csv", "--csv-path", roster, "--sandbox",
                                "--state-dir", str(tmp_path / "state")])
    err = capsys.readouterr().err
    assert code == 2
    assert "looks like an enrollments file, but phone is no enrollments column" in err
    assert "Traceback" not in err


# ------------------------------------------------------------------ the bundled sample


def test_sample_enrollments_are_synthetic_and_match_the_sample_courses(capture_run) -> None:
    from pipelines.sources.sample import sample_source

    captured = capture_run(sample_source())
    courses = {r["lms_course_key"] for r in captured.rows if "email" not in r}
    enrollments = [r for r in captured.rows if "email" in r]
    assert "sample_enrollments" in captured.tables
    assert len(enrollments) == 364
    assert {r["lms_course_key"] for r in enrollments} == courses  # every course, no other key
    emails = {r["email"] for r in enrollments}
    assert all(e.endswith("@example.edu") for e in emails - {"learner-without-at.example.edu"})
    assert {r["firstname"] for r in enrollments} == {"Sample"}
    assert {r["association_label"] for r in enrollments} == {"Student", "Instructor"}
    assert not any(r[REMOVED] for r in enrollments)
