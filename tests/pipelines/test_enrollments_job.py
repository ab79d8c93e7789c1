"""The job's enrollments end to end: real sources, real dlt pipelines, the sandbox over HTTP.

Runs "with a token" point the job at a sandbox this test owns (the ``portal`` fixture), whose
course-contact labels the test creates as a HubSpot admin would; its records, contacts,
associations and request log are read back.
"""

from __future__ import annotations

from typing import Dict, List, Set, Tuple

import pytest
import sqlalchemy as sa

from hubspot_courses_destination.sandbox import Sandbox
from lms_support import add_moodle_enrolments, summary

from pipelines import lms_to_hubspot


def with_labels(sb: Sandbox) -> Dict[int, str]:
    """Create the sources' labels in the portal; returns course->contact type id -> label."""
    made = [sb.create_association_label(label) for label in ("Student", "Instructor")]
    return {m["courseToContact"]["typeId"]: m["courseToContact"]["label"] for m in made}


def associated(sb: Sandbox, labels: Dict[int, str]) -> Set[Tuple[str, str, str]]:
    """(course key, contact email, label or "") of every association in the portal."""
    keys = {r["id"]: r["properties"]["lms_course_key"] for r in sb.records()}
    emails = {c["id"]: c["properties"]["email"] for c in sb.contacts()}
    out = set()
    for a in sb.associations():
        label = next((labels[t] for t in a["typeIds"] if t in labels), "")
        out.add((keys[a["courseId"]], emails[a["contactId"]], label))
    return out


def writes(sb: Sandbox) -> List[str]:
    """Requests that change the portal (reads by batch/read and search left out)."""
    return [f"{e.method} {e.path}" for e in sb.request_log
            if e.method != "GET" and not e.path.endswith(("/batch/read", "/search"))]


def enrollment_numbers(out: str) -> Dict[str, int]:
    import re

    found = re.search(r"contacts created (\d+), updated (\d+), unchanged (\d+)[^\n]*\n\s+associations added (\d+), "
                      r"removed (\d+), unchanged (\d+)(?:; (\d+) removal\(s\) had nothing to remove)?[^\n]*\n"
                      r"\s+rejected (\d+), requests (\d+)", out)
    assert found, out
    names = ("contacts_created", "contacts_updated", "contacts_unchanged", "added", "removed", "unchanged",
             "nothing_to_remove", "rejected", "requests")
    return dict(zip(names, (int(g or 0) for g in found.groups())))


def test_sample_enrollments_reach_the_portal_and_a_rerun_sends_nothing(portal: Sandbox, tmp_path, capsys) -> None:
    labels = with_labels(portal)
    args = ["--state-dir", str(tmp_path / "state")]
    assert lms_to_hubspot.main(args) == 0
    out = capsys.readouterr().out
    assert enrollment_numbers(out) == {"contacts_created": 70, "contacts_updated": 0, "contacts_unchanged": 0,
                                       "added": 363, "removed": 0, "unchanged": 0, "nothing_to_remove": 0,
                                       "rejected": 1,
                                       "requests": enrollment_numbers(out)["requests"]}
    pairs = associated(portal, labels)
    assert len(pairs) == 363 and len(portal.contacts()) == 70
    first = "mit-sloan:a056g00000URaaQAAT"  # the first row of synthetic/enrollments.csv
    assert {(e, lb) for k, e, lb in pairs if k == first} == {
        ("instructor01@example.edu", "Instructor"), ("learner001@example.edu", "Student"),
        ("learner014@example.edu", "Student")}
    alice = portal.contact_by_email("learner001@example.edu")
    assert alice["properties"]["firstname"] == "Sample" and alice["properties"]["lastname"] == "Learner 001"
    assert "INVALID_EMAIL" in out  # the one malformed synthetic address, rejected with its reason
    assert "  courses (the course tables' rows; enrollments below)\n  rows seen         121" in out

    portal.reset_log()
    assert lms_to_hubspot.main(args) == 0
    out = capsys.readouterr().out
    assert writes(portal) == []  # nothing changed: no course, contact or association request
    numbers = enrollment_numbers(out)
    assert (numbers["contacts_unchanged"], numbers["unchanged"], numbers["requests"]) == (70, 363, 0)


def test_no_enrollments_sends_no_contact_or_association_request(portal: Sandbox, tmp_path, capsys) -> None:
    with_labels(portal)
    assert lms_to_hubspot.main(["--no-enrollments", "--state-dir", str(tmp_path / "state")]) == 0
    out = capsys.readouterr().out
    assert summary(out)["created"] == 121
    assert "enrollments" not in out.split("Summary", 1)[1]
    assert portal.contacts() == [] and portal.associations() == []
    assert not [w for w in writes(portal) if "contacts" in w or "associations" in w]


def test_moodle_enrolments_end_to_end_with_a_suspension_later(portal: Sandbox, moodle_url, tmp_path, capsys,
                                                               monkeypatch) -> None:
    labels = with_labels(portal)
    add_moodle_enrolments(moodle_url)
    args = ["--source", "moodle", "--moodle-url", moodle_url, "--state-dir", str(tmp_path / "state")]
    assert lms_to_hubspot.main(args) == 0
    first = enrollment_numbers(capsys.readouterr().out)
    # removals of enrolments never associated remove nothing; expired/disabled/suspended absent
    assert first["removed"] == 0 and first["nothing_to_remove"] > 0
    assert associated(portal, labels) == {
        ("moodle:2", "alice@example.edu", "Student"),
        ("moodle:2", "erin@example.edu", "Instructor"),
        ("moodle:3", "erin@example.edu", ""),
        ("moodle:4", "frank@example.edu", "Student"),
        ("moodle:4", "fay@example.edu", ""),  # the job's clock is real: her start date (2025) has passed
    }
    engine = sa.create_engine(moodle_url)
    with engine.begin() as con:  # Alice suspended in course 2, in the past second
        con.exec_driver_sql("UPDATE mdl_user_enrolments SET status = 1, timemodified = strftime('%s','now') "
                            "WHERE id = 101")
    engine.dispose()
    portal.reset_log()
    assert lms_to_hubspot.main(args) == 0
    numbers = enrollment_numbers(capsys.readouterr().out)
    assert numbers["removed"] == 1
    assert ("moodle:2", "alice@example.edu", "Student") not in associated(portal, labels)
    assert portal.contact_by_email("alice@example.edu") is not None  # the contact is kept
    assert [w for w in writes(portal) if "contacts" in w and "upsert" in w] == []


def test_moodle_without_enrolment_tables_syncs_courses_and_says_so(portal: Sandbox, moodle_url, tmp_path,
                                                                   capsys) -> None:
    args = ["--source", "moodle", "--moodle-url", moodle_url, "--state-dir", str(tmp_path / "state")]
    assert lms_to_hubspot.main(args) == 0
    out = capsys.readouterr().out
    assert "syncing courses only" in out and summary(out)["created"] == 3
    assert lms_to_hubspot.main(args + ["--enrollments"]) == 2
    assert "has no table mdl_user_enrolments" in capsys.readouterr().err


def test_embedded_sandbox_has_the_labels_and_reports_associations(tmp_path, capsys) -> None:
    assert lms_to_hubspot.main(["--sandbox", "--state-dir", str(tmp_path / "state")]) == 0
    out = capsys.readouterr().out
    assert enrollment_numbers(out)["added"] == 363  # no UNKNOWN_LABEL: the job made the labels
    assert "121 live course record(s), 70 contact(s), 363 course-contact association(s)" in out


def test_embedded_sandbox_keeps_contacts_and_associations_between_runs(tmp_path, capsys) -> None:
    args = ["--sandbox", "--state-dir", str(tmp_path / "state")]
    assert lms_to_hubspot.main(args) == 0
    capsys.readouterr()
    assert lms_to_hubspot.main(args) == 0  # a new sandbox process on the same file, as a second `make run`
    out = capsys.readouterr().out
    numbers = enrollment_numbers(out)
    assert (numbers["contacts_unchanged"], numbers["unchanged"], numbers["added"], numbers["requests"]) == \
        (70, 363, 0, 0)
    assert "121 live course record(s), 70 contact(s), 363 course-contact association(s)" in out
    with Sandbox(db_path=str(tmp_path / "state" / "sandbox" / "sandbox-portal.duckdb")) as sb:
        assert len(sb.contacts()) == 70 and len(sb.associations()) == 363
        for label in ("Student", "Instructor"):  # the labels the job made in the first run are kept
            with pytest.raises(ValueError):
                sb.create_association_label(label)


def test_dry_run_mirror_keeps_every_association_still_in_the_source(portal: Sandbox, tmp_path, capsys) -> None:
    with_labels(portal)
    args = ["--state-dir", str(tmp_path / "state")]
    assert lms_to_hubspot.main(args) == 0
    capsys.readouterr()
    portal.reset_log()
    assert lms_to_hubspot.main(args + ["--dry-run", "--mirror"]) == 0
    out = capsys.readouterr().out
    assert "every synced enrollment is still in the source" in out and "refused" not in out
    assert enrollment_numbers(out)["removed"] == 0
    assert writes(portal) == []


def test_mirror_removes_associations_a_csv_snapshot_no_longer_has(portal: Sandbox, tmp_path, capsys) -> None:
    labels = with_labels(portal)
    exports = tmp_path / "exports"
    exports.mkdir()
    (exports / "courses.csv").write_text("lms_course_key,hs_course_name\nx:1,One\n", encoding="utf-8")
    roster = exports / "enrollments.csv"
    people = [f"p{i:02d}@example.edu" for i in range(20)]
    roster.write_text("lms_course_key,email,association_label\n"
                      + "".join(f"x:1,{p},Student\n" for p in people), encoding="utf-8")
    args = ["--source", "csv", "--csv-path", str(exports / "*.csv"), "--state-dir", str(tmp_path / "state")]
    assert lms_to_hubspot.main(args) == 0
    assert len(associated(portal, labels)) == 20
    roster.write_text("lms_course_key,email,association_label\n"
                      + "".join(f"x:1,{p},Student\n" for p in people[:-1]), encoding="utf-8")
    capsys.readouterr()
    portal.reset_log()
    assert lms_to_hubspot.main(args + ["--dry-run", "--mirror"]) == 0  # predicts the one removal only
    out = capsys.readouterr().out
    assert "dry run: would remove 1 course-contact associations" in out and "refused" not in out
    assert writes(portal) == [] and len(associated(portal, labels)) == 20
    assert lms_to_hubspot.main(args + ["--mirror"]) == 0
    out = capsys.readouterr().out
    assert "removed 1 course-contact associations missing from the source" in out
    assert {e for _, e, _ in associated(portal, labels)} == set(people[:-1])


def test_canvas_enrollments_end_to_end_and_a_rerun_sends_nothing(portal: Sandbox, canvas_server, tmp_path,
                                                                  monkeypatch, capsys) -> None:
    labels = with_labels(portal)
    monkeypatch.setenv("SOURCES__CANVAS__ACCESS_TOKEN", canvas_server.token)
    args = ["--source", "canvas", "--canvas-base-url", canvas_server.url, "--canvas-account-id", "1",
            "--state-dir", str(tmp_path / "state")]
    assert lms_to_hubspot.main(args) == 0
    capsys.readouterr()
    assert associated(portal, labels) == {  # inactive, deleted, invited and observer: none
        ("canvas:1001", "person1@example.edu", "Student"), ("canvas:1001", "person2@example.edu", "Student"),
        ("canvas:1001", "person6@example.edu", "Instructor"), ("canvas:1002", "person8@example.edu", "Instructor"),
        ("canvas:1002", "person1@example.edu", "Student"),
    }
    portal.reset_log()
    assert lms_to_hubspot.main(args) == 0
    numbers = enrollment_numbers(capsys.readouterr().out)
    # 5 kept; the 2 removal rows (inactive or deleted enrollments) were never associated: nothing to remove
    assert (numbers["added"], numbers["removed"], numbers["unchanged"], numbers["nothing_to_remove"]) == (0, 0, 5, 2)
    assert writes(portal) == []
