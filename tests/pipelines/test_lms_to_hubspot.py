"""The job end to end: real dlt pipelines, a real sandbox over HTTP, real SQLite/CSV/HTTP sources.

Runs with no token use the job's embedded sandbox (records persisted in the state dir, read
back here). Runs "with a token" point the job's real-API path at a sandbox this test owns, via
the same env vars a user sets for HubSpot, so its request log can be inspected.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Dict

import pytest
import sqlalchemy as sa

from lms_support import OULAD_CSV, PROJECT_ROOT, SAMPLE_DIR, names_by_key, summary, upserted_inputs
from hubspot_courses_destination.sandbox import Sandbox

from pipelines import lms_to_hubspot

SCRIPT = PROJECT_ROOT / "pipelines" / "lms_to_hubspot.py"


def expected_sample() -> Dict[str, str]:
    """key -> name of every bundled course, read straight from the files."""
    expected = {
        f"mit-sloan:{c['Course_Id']}": c["Title"]
        for c in json.loads((SAMPLE_DIR / "mit_open_learning" / "test_sloan_courses.json").read_text("utf-8"))
    }
    with OULAD_CSV.open(newline="") as f:
        for r in csv.DictReader(f):
            expected[f"oulad:{r['code_module']}-{r['code_presentation']}"] = (
                f"{r['code_module']} {r['code_presentation']}"
            )
    return expected


# ------------------------------------------------------------------ the default run


def test_default_run_on_a_fresh_checkout_fills_the_embedded_sandbox(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DESTINATION__", "SOURCES__"))}
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--sandbox-if-no-token", "--state-dir", str(tmp_path / "state")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=90,
    )
    assert proc.returncode == 0, proc.stderr
    assert "EMBEDDED SANDBOX" in proc.stdout
    expected = expected_sample()
    assert summary(proc.stdout)["created"] == len(expected) == 121
    with Sandbox(db_path=str(tmp_path / "state" / "sandbox" / "sandbox-portal.duckdb")) as sb:
        assert names_by_key(sb.records()) == expected
        key_prop = next(p for p in sb.properties() if p["name"] == "lms_course_key")
        assert key_prop["hasUniqueValue"] is True


def test_second_default_run_finds_everything_unchanged(tmp_path: Path, capsys) -> None:
    args = ["--sandbox", "--state-dir", str(tmp_path / "state")]
    assert lms_to_hubspot.main(args) == 0
    capsys.readouterr()
    assert lms_to_hubspot.main(args) == 0
    out = capsys.readouterr().out
    assert summary(out)["unchanged"] == 121 and summary(out)["created"] == 0
    assert "Sandbox now holds 121 live course record(s)" in out


# ------------------------------------------------------------------ sources against a "portal"


def test_moodle_path_second_run_sends_only_modified_courses(portal: Sandbox, moodle_url, tmp_path, capsys) -> None:
    args = ["--source", "moodle", "--moodle-url", moodle_url, "--state-dir", str(tmp_path / "state")]
    assert lms_to_hubspot.main(args) == 0
    out = capsys.readouterr().out
    assert "Target: the HubSpot API" in out and "EMBEDDED SANDBOX" not in out
    assert summary(out)["created"] == 3
    assert names_by_key(portal.records()) == {
        "moodle:2": "Biology & Chemistry 101", "moodle:3": "Statistics", "moodle:4": "Café Ünïcode – Ελληνικά",
    }
    engine = sa.create_engine(moodle_url)
    with engine.begin() as con:
        con.exec_driver_sql("UPDATE mdl_course SET fullname='Biology 102', timemodified=1700000900 WHERE id=2")
    engine.dispose()
    portal.reset_log()
    assert lms_to_hubspot.main(args) == 0
    out = capsys.readouterr().out
    assert summary(out)["rows seen"] == 1 and summary(out)["updated"] == 1
    assert upserted_inputs(portal) == 1
    assert names_by_key(portal.records())["moodle:2"] == "Biology 102"

    portal.reset_log()  # --full-resync: the cursor is reset and the hashes are ignored
    assert lms_to_hubspot.main(args + ["--full-resync"]) == 0
    assert summary(capsys.readouterr().out)["rows seen"] == 3
    assert upserted_inputs(portal) == 3


def test_canvas_path(portal: Sandbox, canvas_server, tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("SOURCES__CANVAS__ACCESS_TOKEN", canvas_server.token)
    rc = lms_to_hubspot.main([
        "--source", "canvas", "--canvas-base-url", canvas_server.url, "--canvas-account-id", "1",
        "--state-dir", str(tmp_path / "state"),
    ])
    assert rc == 0
    assert summary(capsys.readouterr().out)["created"] == 5
    names = names_by_key(portal.records())
    assert sorted(names) == [f"canvas:{1000 + i}" for i in range(1, 6)]
    assert names["canvas:1002"] == "ING303-1 24H Systemtenking og innovasjon for ingeniører"


def test_csv_path_on_the_oulad_file(portal: Sandbox, tmp_path, capsys) -> None:
    rc = lms_to_hubspot.main(["--source", "csv", "--csv-path", str(OULAD_CSV),
                              "--id-property", "external_course_id", "--state-dir", str(tmp_path / "s")])
    assert rc == 0
    assert summary(capsys.readouterr().out)["created"] == 22
    names = names_by_key(portal.records(), "external_course_id")
    assert names["oulad:AAA-2013J"] == "AAA 2013J" and len(names) == 22


def test_dry_run_writes_nothing(portal: Sandbox, tmp_path, capsys) -> None:
    assert lms_to_hubspot.main(["--source", "csv", "--csv-path", str(OULAD_CSV), "--dry-run",
                                "--state-dir", str(tmp_path / "s")]) == 0
    assert "dry run" in capsys.readouterr().out
    assert portal.records() == []


def test_mirror_archives_a_course_dropped_from_the_export_and_refuses_a_truncated_one(
    portal: Sandbox, tmp_path, capsys
) -> None:
    # one export path rewritten by each night's export: mirror compares snapshots of one input
    state = ["--state-dir", str(tmp_path / "s")]
    export = tmp_path / "courses.csv"
    export.write_bytes(OULAD_CSV.read_bytes())
    assert lms_to_hubspot.main(["--source", "csv", "--csv-path", str(export), *state]) == 0
    lines = OULAD_CSV.read_bytes().split(b"\r\n")
    export.write_bytes(b"\r\n".join(l for l in lines if not l.startswith(b'"AAA","2013J"')))
    assert lms_to_hubspot.main(["--source", "csv", "--csv-path", str(export), "--mirror", *state]) == 0
    assert "archived 1 courses" in capsys.readouterr().out
    keys = set(names_by_key(portal.records()))
    assert "oulad:AAA-2013J" not in keys and len(keys) == 21

    export.write_bytes(b"\r\n".join([lines[0], *lines[2:5]]) + b"\r\n")  # header, three courses
    assert lms_to_hubspot.main(["--source", "csv", "--csv-path", str(export), "--mirror", *state]) == 1
    assert "mirror refused" in capsys.readouterr().out
    assert len(portal.records()) == 21


# ------------------------------------------------------------------ failures and usage


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--source", "moodle"], "--moodle-url"),
        (["--source", "csv"], "--csv-path"),
        (["--source", "csv", "--csv-path", "/nonexistent/courses.csv"], "not found"),
        (["--source", "canvas", "--canvas-base-url", "http://127.0.0.1:9"], "missing configuration"),
        (["--source", "moodle", "--moodle-url", "sqlite://", "--mirror"], "--full-resync"),
    ],
)
def test_missing_configuration_exits_2(argv, message, tmp_path, capsys) -> None:
    assert lms_to_hubspot.main(argv + ["--sandbox", "--state-dir", str(tmp_path)]) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    "secrets, message",
    [
        ('[destination.hubspot_courses]\naccess_tokn = "pat-na1-typo"\n', "no access_token"),
        ('[destination.hubspot_courses\naccess_token = "pat-na1-x"\n', "configuration"),
    ],
)
def test_a_broken_secrets_file_fails_instead_of_syncing_into_the_sandbox(secrets, message, tmp_path) -> None:
    (tmp_path / ".dlt").mkdir(exist_ok=True)
    (tmp_path / ".dlt" / "secrets.toml").write_text(secrets)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DESTINATION__", "SOURCES__"))}
    proc = subprocess.run([sys.executable, str(SCRIPT), "--state-dir", str(tmp_path / "state")],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=90)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert message in proc.stderr
    assert "EMBEDDED SANDBOX" not in proc.stdout
    assert "pat-na1" not in proc.stdout + proc.stderr


def test_help_explains_every_flag(capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        lms_to_hubspot.main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    parser = lms_to_hubspot.build_parser()
    for action in parser._actions:
        for flag in action.option_strings:
            assert flag in out
        assert action.help, action.option_strings


def test_summary_counts_the_requests_the_portal_saw(portal: Sandbox, tmp_path, capsys) -> None:
    assert lms_to_hubspot.main(["--source", "csv", "--csv-path", str(OULAD_CSV),
                                "--state-dir", str(tmp_path / "s")]) == 0
    upserts = portal.count_requests("POST", "/batch/upsert")
    assert upserts >= 1
    assert summary(capsys.readouterr().out)["requests"] >= upserts


def test_rejected_rows_are_reported_not_a_failure(tmp_path, capsys) -> None:
    export = tmp_path / "export.csv"
    export.write_bytes(b'lms_course_key,hs_course_name,course_length_days\r\n'
                       b'x:1,Good,3\r\nx:2,,4\r\nx:3,"Bad, length",abc\r\n')
    rc = lms_to_hubspot.main(["--sandbox", "--source", "csv", "--csv-path", str(export), "--state-dir", str(tmp_path / "s")])
    assert rc == 0
    out = capsys.readouterr().out
    assert summary(out)["created"] == 1 and summary(out)["rejected"] == 2
    assert "top rejection reasons" in out and "course_length_days" in out and "hs_course_name" in out
    assert "-m hubspot_courses_destination rejected list --sandbox --staging" in out
