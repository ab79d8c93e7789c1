"""Each source's enrollments through a real dlt pipeline (SQLite Moodle, a local Canvas, CSV)."""

from __future__ import annotations

from typing import Any, Dict, List, Tuple

import sqlalchemy as sa

from lms_support import MOODLE_NOW, add_moodle_enrolments
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
