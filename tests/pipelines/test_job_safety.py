"""The job's safety rails: no run ends green while HubSpot was left wrong, and one mistake
never blocks later runs. Each test reproduces a mistake a new user made in the first week."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from hubspot_courses_destination.sandbox import DEFAULT_TOKEN, Sandbox
from hubspot_courses_destination.staging import Staging, rejection_reason_key
from lms_support import FIXED_CONFIG, OULAD_CSV, PROJECT_ROOT, checked_in_config, names_by_key, summary, upserted_inputs

from pipelines import lms_to_hubspot

SCRIPT = PROJECT_ROOT / "pipelines" / "lms_to_hubspot.py"


def _env(**extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DESTINATION__", "SOURCES__", "DLT_PROJECT_DIR"))}
    env.update(extra)
    return env


def write_csv(path: Path, keys: list[str], extra_header: str = "", extra_value: str = "") -> Path:
    header = "lms_course_key,hs_course_name" + (f",{extra_header}" if extra_header else "")
    lines = [header] + [f"{k},Course {k}" + (f",{extra_value}" if extra_header else "") for k in keys]
    path.write_text("\r\n".join(lines) + "\r\n", encoding="utf-8")
    return path


# ------------------------------------------------------------------ 1. dry run changes nothing


def test_a_dry_run_moves_no_cursor_and_records_nothing(portal: Sandbox, moodle_url, tmp_path, capsys) -> None:
    state = tmp_path / "state"
    args = ["--source", "moodle", "--moodle-url", moodle_url, "--state-dir", str(state)]
    assert lms_to_hubspot.main(args) == 0
    capsys.readouterr()
    engine = sa.create_engine(moodle_url)
    with engine.begin() as con:
        con.exec_driver_sql("UPDATE mdl_course SET fullname='Biology 102', timemodified=1700000900 WHERE id=2")
    engine.dispose()
    pipeline_dir = state / "hubspot" / "pipelines" / "lms_to_hubspot_moodle"
    before = {p: p.read_bytes() for p in pipeline_dir.rglob("*") if p.is_file()}
    staging_before = (state / "hubspot" / "staging.duckdb").read_bytes()
    portal.reset_log()

    assert lms_to_hubspot.main(args + ["--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "dry run" in out and summary(out)["updated"] == 1
    assert upserted_inputs(portal) == 0
    assert {p: p.read_bytes() for p in pipeline_dir.rglob("*") if p.is_file()} == before
    assert (state / "hubspot" / "staging.duckdb").read_bytes() == staging_before

    # the real run after it still sees the change (the dry run did not consume the cursor)
    assert lms_to_hubspot.main(args) == 0
    assert summary(capsys.readouterr().out)["updated"] == 1
    assert names_by_key(portal.records())["moodle:2"] == "Biology 102"


# ------------------------------------------------------------------ 2. the config it reads, the target it picks


def _copy_project(dest: Path) -> Path:
    """A checkout of the project elsewhere (as cron would call it), without .state or .venv."""
    shutil.copytree(PROJECT_ROOT / "pipelines", dest / "pipelines",
                    ignore=shutil.ignore_patterns("__pycache__", ".state"))
    (dest / ".dlt").mkdir()
    (dest / ".dlt" / "config.toml").write_text(checked_in_config(), encoding="utf-8")
    return dest


def test_started_from_another_directory_it_reads_the_projects_dlt_folder(tmp_path: Path) -> None:
    project = _copy_project(tmp_path / "project")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    with Sandbox() as portal:
        (project / ".dlt" / "secrets.toml").write_text(
            f'[destination.hubspot_courses]\naccess_token = "{DEFAULT_TOKEN}"\napi_base_url = "{portal.url}"\n'
        )
        proc = subprocess.run(
            [sys.executable, str(project / "pipelines" / "lms_to_hubspot.py"), "--source", "csv",
             "--csv-path", str(OULAD_CSV)],
            cwd=elsewhere, env=_env(), capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert f"Config: {project / '.dlt'}" in proc.stdout
        assert "EMBEDDED SANDBOX" not in proc.stdout
        assert len(portal.records()) == 22
    assert DEFAULT_TOKEN not in proc.stdout + proc.stderr


def test_a_non_interactive_run_without_a_token_fails_instead_of_using_the_sandbox(tmp_path: Path) -> None:
    project = _copy_project(tmp_path / "project")
    proc = subprocess.run(
        [sys.executable, str(project / "pipelines" / "lms_to_hubspot.py")],
        cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "no HubSpot token is configured" in proc.stderr and "--sandbox" in proc.stderr
    assert "EMBEDDED SANDBOX" not in proc.stdout and "Traceback" not in proc.stderr
    assert not (project / ".state" / "sandbox").exists()


@pytest.mark.parametrize(
    "sandbox_flag, if_no_token, token, interactive, synced_before, expected",
    [
        (True, False, True, False, True, "sandbox"),  # asked for
        (False, False, True, False, False, "hubspot"),  # a token: always HubSpot
        (False, True, False, False, False, "sandbox"),  # make run's quick start
        (False, False, False, True, False, "sandbox"),  # a first try in a terminal
        (False, False, False, False, False, None),  # cron / CI without a token
        (False, False, False, True, True, None),  # a terminal, but this project synced to HubSpot
        (False, True, False, True, True, None),  # make run, but this project synced to HubSpot
    ],
)
def test_choose_target(sandbox_flag, if_no_token, token, interactive, synced_before, expected, tmp_path) -> None:
    kwargs = dict(sandbox_flag=sandbox_flag, sandbox_if_no_token=if_no_token, token_configured=token,
                  interactive=interactive, synced_to_hubspot_before=synced_before, settings_dir=tmp_path)
    if expected is None:
        with pytest.raises(lms_to_hubspot.UsageError, match="does not fall back"):
            lms_to_hubspot.choose_target(**kwargs)
    else:
        assert lms_to_hubspot.choose_target(**kwargs) == expected


# ------------------------------------------------------------------ 3. --mirror-max-share


@pytest.mark.parametrize("value", ["5", "-1", "0", "1.5", "abc", "150%", "0%"])
def test_mirror_max_share_outside_0_to_1_is_refused(value, capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        lms_to_hubspot.build_parser().parse_args(["--mirror-max-share", value])
    assert exit_info.value.code == 2
    assert "--mirror-max-share" in capsys.readouterr().err


@pytest.mark.parametrize("value, share", [("0.05", 0.05), ("5%", 0.05), ("1", 1.0), ("100%", 1.0)])
def test_mirror_max_share_accepts_fractions_and_percents(value, share) -> None:
    assert lms_to_hubspot.build_parser().parse_args(["--mirror-max-share", value]).mirror_max_share == pytest.approx(share)


# ------------------------------------------------------------------ 4. flags, env, config in dlt's order


def test_create_missing_properties_false_in_config_is_honoured(portal: Sandbox, tmp_path, capsys) -> None:
    (tmp_path / ".dlt" / "config.toml").write_text(
        FIXED_CONFIG.read_text().replace(
            "create_missing_properties = true", "create_missing_properties = false")
    )
    export = write_csv(tmp_path / "typo.csv", ["x:1"], "hs_course_nmae", "Typo")
    rc = lms_to_hubspot.main(["--source", "csv", "--csv-path", str(export), "--state-dir", str(tmp_path / "s")])
    assert rc == 1
    assert "hs_course_nmae" in capsys.readouterr().err
    assert "hs_course_nmae" not in {p["name"] for p in portal.properties()}
    assert portal.records() == []


def test_create_missing_properties_false_in_the_environment_is_honoured(
    portal: Sandbox, tmp_path, monkeypatch, capsys
) -> None:
    monkeypatch.setenv("DESTINATION__HUBSPOT_COURSES__CREATE_MISSING_PROPERTIES", "false")
    export = write_csv(tmp_path / "typo.csv", ["x:1"], "hs_course_nmae", "Typo")
    assert lms_to_hubspot.main(["--source", "csv", "--csv-path", str(export), "--state-dir", str(tmp_path / "s")]) == 1
    assert "hs_course_nmae" not in {p["name"] for p in portal.properties()}
    # the flag wins over the environment
    assert lms_to_hubspot.main(["--source", "csv", "--csv-path", str(export), "--create-properties",
                                "--state-dir", str(tmp_path / "s"), "--drop-pending"]) == 0
    assert "hs_course_nmae" in {p["name"] for p in portal.properties()}


def test_every_property_a_run_creates_is_listed_in_the_summary(portal: Sandbox, tmp_path, capsys) -> None:
    export = write_csv(tmp_path / "new.csv", ["x:1"], "hs_course_nmae", "Typo")
    assert lms_to_hubspot.main(["--source", "csv", "--csv-path", str(export), "--state-dir", str(tmp_path / "s")]) == 0
    out = capsys.readouterr().out
    assert "properties created in HubSpot (3): hs_course_nmae (string/text), lms_course_key" in out
    assert "lms_source (string/text)" in out
    # the next run creates nothing and lists nothing
    assert lms_to_hubspot.main(["--source", "csv", "--csv-path", str(export), "--state-dir", str(tmp_path / "s")]) == 0
    assert "properties created" not in capsys.readouterr().out


# ------------------------------------------------------------------ 5. mirror only archives what the same input delivered


def test_mirror_of_one_export_never_archives_another_exports_courses(portal: Sandbox, tmp_path, capsys) -> None:
    state = ["--state-dir", str(tmp_path / "s")]
    one = write_csv(tmp_path / "export-a.csv", ["a:1"])
    many = write_csv(tmp_path / "export-b.csv", [f"b:{i}" for i in range(20)])
    assert lms_to_hubspot.main(["--source", "csv", "--csv-path", str(one), *state]) == 0
    assert lms_to_hubspot.main(["--source", "csv", "--csv-path", str(many), *state]) == 0
    write_csv(many, [f"b:{i}" for i in range(19)])  # b:19 dropped from export b
    capsys.readouterr()
    assert lms_to_hubspot.main(["--source", "csv", "--csv-path", str(many), "--mirror", *state]) == 0
    out = capsys.readouterr().out
    keys = set(names_by_key(portal.records()))
    assert "a:1" in keys and "b:19" not in keys and len(keys) == 20
    assert "archived 1 courses" in out
    assert summary(out)["rows seen"] == 19 and " archived            1" in out


# ------------------------------------------------------------------ 7. one mistake blocks nothing else


def test_a_bad_csv_column_blocks_only_its_own_input_and_the_fix_finishes_the_package(
    portal: Sandbox, moodle_url, tmp_path, monkeypatch, capsys
) -> None:
    state = ["--state-dir", str(tmp_path / "s")]
    export = write_csv(tmp_path / "staff.csv", ["x:1", "x:2"], "Instructor Name", "Ada")
    assert lms_to_hubspot.main(["--source", "csv", "--csv-path", str(export), *state]) == 1
    err = capsys.readouterr().err
    assert "'Instructor Name'" in err and "exclude_columns" in err and "property_map" in err
    assert "--drop-pending" in err and "Traceback" not in err
    assert "Instructor Name" not in {p["label"] for p in portal.properties()}

    # the nightly Moodle run on the same state is not blocked
    assert lms_to_hubspot.main(["--source", "moodle", "--moodle-url", moodle_url, *state]) == 0
    assert summary(capsys.readouterr().out)["created"] == 3

    # excluding the column, as the message says, finishes the pending package of the CSV
    monkeypatch.setenv("DESTINATION__HUBSPOT_COURSES__EXCLUDE_COLUMNS", '["Instructor Name"]')
    assert lms_to_hubspot.main(["--source", "csv", "--csv-path", str(export), *state]) == 0
    out = capsys.readouterr().out
    assert "Finishing load packages left pending" in out
    keys = set(names_by_key(portal.records()))
    assert {"x:1", "x:2", "moodle:2"} <= keys


# ------------------------------------------------------------------ 10. failing clearly, and fast


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_unreachable_hubspot_fails_fast_with_one_paragraph(tmp_path: Path) -> None:
    env = _env(DESTINATION__HUBSPOT_COURSES__ACCESS_TOKEN=DEFAULT_TOKEN,
               DESTINATION__HUBSPOT_COURSES__API_BASE_URL=f"http://127.0.0.1:{_closed_port()}",
               DLT_PROJECT_DIR=str(_copy_project(tmp_path / "p")))
    started = time.monotonic()
    proc = subprocess.run([sys.executable, str(SCRIPT), "--source", "csv", "--csv-path", str(OULAD_CSV),
                           "--state-dir", str(tmp_path / "s")],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=110)
    assert time.monotonic() - started < 60
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "could not be reached" in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert not list((tmp_path / "s").rglob("*.typed-jsonl*"))  # nothing extracted, nothing pending


def test_a_bad_token_fails_before_extracting_with_exit_2(portal: Sandbox, tmp_path, monkeypatch, capsys) -> None:
    args = ["--source", "csv", "--csv-path", str(OULAD_CSV), "--state-dir", str(tmp_path / "s")]
    monkeypatch.setenv("DESTINATION__HUBSPOT_COURSES__ACCESS_TOKEN", "pat-na1-not-a-token")
    assert lms_to_hubspot.main(args) == 2
    err = capsys.readouterr().err
    assert "401" in err or "token" in err.lower()
    assert "pat-na1-not-a-token" not in err and portal.records() == []
    monkeypatch.setenv("DESTINATION__HUBSPOT_COURSES__ACCESS_TOKEN", DEFAULT_TOKEN)
    assert lms_to_hubspot.main(args) == 0
    out = capsys.readouterr().out
    assert "Finishing load packages left pending" not in out and len(portal.records()) == 22


@pytest.mark.parametrize(
    "url, message",
    [
        ("mysql+pymysql://reader:s3cret@127.0.0.1:9/moodle", "pip install pymysql"),
        ("postgresql+psycopg2://reader:s3cret@127.0.0.1:9/moodle", "pip install psycopg2-binary"),
        ("nosuchdb://reader:s3cret@host/moodle", "unknown SQLAlchemy dialect"),
        ("sqlite:////nonexistent-dir/moodle.db", "does not exist"),
    ],
)
def test_moodle_database_errors_are_one_paragraph(url, message, tmp_path, capsys) -> None:
    rc = lms_to_hubspot.main(["--sandbox", "--source", "moodle", "--moodle-url", url, "--state-dir", str(tmp_path)])
    assert rc == 2
    err = capsys.readouterr().err
    assert message in err and "s3cret" not in err and "Traceback" not in err


def test_a_moodle_database_without_mdl_course_is_named(tmp_path, capsys) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    sa.create_engine(url).connect().close()
    assert lms_to_hubspot.main(["--sandbox", "--source", "moodle", "--moodle-url", url, "--state-dir", str(tmp_path)]) == 2
    assert "no table mdl_course" in capsys.readouterr().err


# ------------------------------------------------------------------ 12. no contradictions, no silent defaults


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--csv-path", "courses.csv"], "--source csv"),
        (["--source", "moodle", "--csv-path", "x.csv", "--moodle-url", "sqlite://"], "--source csv"),
        (["--source", "csv", "--canvas-base-url", "http://127.0.0.1:9", "--csv-path", "x.csv"], "--source canvas"),
        (["--sandbox", "--sandbox-if-no-token"], "contradict"),
        (["--sandbox", "--mirror-max-share", "5%"], "only applies with --mirror"),
    ],
)
def test_flags_of_another_source_are_an_error(argv, message, tmp_path, capsys) -> None:
    assert lms_to_hubspot.main(argv + ["--state-dir", str(tmp_path)]) == 2
    assert message in capsys.readouterr().err


def test_top_rejection_reasons_group_by_what_they_print(tmp_path: Path) -> None:
    from hubspot_courses_destination.outcomes import Rejection

    with Staging(str(tmp_path / "st.duckdb")) as st:
        st.record_rejections("0-410", "t", "L1", [
            Rejection("k1", "VALIDATION_ERROR", "INVALID_INTEGER", "bad a", {},
                           property_errors=[{"name": "a", "code": "INVALID_INTEGER", "message": "bad a"}]),
            Rejection("k2", "VALIDATION_ERROR", "INVALID_INTEGER", "bad b", {},
                           property_errors=[{"name": "b", "code": "INVALID_INTEGER", "message": "bad b"}]),
            Rejection("k3", "VALIDATION_ERROR", "INVALID_INTEGER", "bad b again", {},
                           property_errors=[{"name": "b", "code": "INVALID_INTEGER", "message": "bad b again"}]),
        ])
        top = st.top_rejections(["L1"])
    assert [(reason.split("  (e.g.")[0], n) for reason, n in top] == [
        ("VALIDATION_ERROR/INVALID_INTEGER b", 2), ("VALIDATION_ERROR/INVALID_INTEGER a", 1),
    ]
    assert rejection_reason_key("MISSING_KEY", "MISSING_KEY", None) == "MISSING_KEY"


def test_a_dry_run_lists_the_reasons_of_its_predicted_rejections(portal: Sandbox, tmp_path, capsys) -> None:
    export = tmp_path / "export.csv"
    export.write_bytes(b"lms_course_key,hs_course_name,course_length_days\r\nx:1,Good,3\r\nx:3,Bad,abc\r\n")
    args = ["--source", "csv", "--csv-path", str(export), "--state-dir", str(tmp_path / "s")]
    assert lms_to_hubspot.main(args + ["--dry-run"]) == 0
    out = capsys.readouterr().out
    assert summary(out)["rejected"] == 1 and "COERCION_ERROR/INVALID_VALUE course_length_days" in out
    assert "list them" not in out  # nothing was kept to list
    assert lms_to_hubspot.main(args) == 0  # the real run is not affected by the dry run's records
    out = capsys.readouterr().out
    assert summary(out)["created"] == 1 and summary(out)["rejected"] == 1


def test_a_failed_dry_run_says_nothing_was_kept(portal: Sandbox, tmp_path, capsys) -> None:
    export = write_csv(tmp_path / "owner.csv", ["x:1"], "Course Owner", "Ada")
    args = ["--source", "csv", "--csv-path", str(export), "--state-dir", str(tmp_path / "s")]
    assert lms_to_hubspot.main(args + ["--dry-run"]) == 1
    err = capsys.readouterr().err
    assert "dry run on a throwaway copy" in err and "--drop-pending" not in err
    assert lms_to_hubspot.main(args + ["--no-create-properties"]) == 1
    assert "Finishing load packages" not in capsys.readouterr().out


def test_the_rejected_list_footer_prints_a_retry_command_that_runs_as_printed(tmp_path, capsys) -> None:
    export = tmp_path / "export.csv"
    export.write_bytes(b"lms_course_key,hs_course_name,course_length_days\r\nx:1,Good,3\r\nx:3,Bad,abc\r\n")
    state = tmp_path / "s"
    assert lms_to_hubspot.main(["--sandbox", "--source", "csv", "--csv-path", str(export), "--state-dir", str(state)]) == 0
    listed = subprocess.run([sys.executable, "-m", "hubspot_courses_destination", "rejected", "list",
                             "--staging", str(state / "sandbox" / "staging.duckdb")],
                            cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=60)
    assert listed.returncode == 0, listed.stderr
    command = listed.stdout.split("`")[1]
    assert command.startswith(sys.executable) and "--sandbox" in command and "--staging" in command
    retried = subprocess.run(command.split(), cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=60)
    assert "Traceback" not in retried.stderr and "still rejected" in retried.stdout


def test_missing_canvas_configuration_is_one_paragraph(tmp_path, capsys) -> None:
    assert lms_to_hubspot.main(["--sandbox", "--source", "canvas", "--state-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "access_token" in err and "base_url" in err


def test_an_unquoted_glob_gets_a_hint(capsys) -> None:
    with pytest.raises(SystemExit):
        lms_to_hubspot.main(["--source", "csv", "--csv-path", "a.csv", "b.csv"])
    assert "must be quoted" in capsys.readouterr().err


def test_the_tests_fixed_config_is_the_checked_in_one() -> None:
    """tests/fixtures/config.toml stands in for .dlt/config.toml: they must not drift apart."""
    fixed = "".join(FIXED_CONFIG.read_text().splitlines(keepends=True)[2:])
    assert fixed == checked_in_config()


def test_an_api_family_the_portal_no_longer_serves_fails_before_extracting(portal: Sandbox, tmp_path, monkeypatch, capsys) -> None:
    portal.legacy_paths = False
    monkeypatch.setenv("DESTINATION__HUBSPOT_COURSES__API_VERSION", "v3")
    state = ["--state-dir", str(tmp_path / "s")]
    assert lms_to_hubspot.main(["--source", "csv", "--csv-path", str(OULAD_CSV), *state]) == 2
    err = capsys.readouterr().err
    assert "does not serve the 'v3' API paths" in err and "2026-09" in err
    assert not list((tmp_path / "s").rglob("*.typed-jsonl*"))  # nothing extracted, nothing pending
    monkeypatch.setenv("DESTINATION__HUBSPOT_COURSES__API_VERSION", "2026-09")
    assert lms_to_hubspot.main(["--source", "csv", "--csv-path", str(OULAD_CSV), *state]) == 0
    assert len(portal.records()) == 22


@pytest.mark.parametrize("abbreviation", ["--dry", "--full"])
def test_an_abbreviated_flag_is_refused_not_read_as_the_long_one(abbreviation, capsys) -> None:
    """`--dry` once meant --dry-run and `--full` --full-resync: a typo must not pick a mode."""
    with pytest.raises(SystemExit) as exit_info:
        lms_to_hubspot.build_parser().parse_args([abbreviation])
    assert exit_info.value.code == 2
    assert abbreviation in capsys.readouterr().err


def test_a_second_run_on_the_sandboxs_file_is_one_paragraph_exit_1(tmp_path, capsys) -> None:
    """Two runs against the embedded sandbox at once: DuckDB lets one process hold the portal
    file; the other run says so and what to do, instead of DuckDB's lock traceback."""
    portal_file = tmp_path / "state" / "sandbox" / "sandbox-portal.duckdb"
    portal_file.parent.mkdir(parents=True)
    code = ("import duckdb, sys; con = duckdb.connect(sys.argv[1]); con.execute('create table t (x int)'); "
            "print('held', flush=True); sys.stdin.readline()")
    holder = subprocess.Popen([sys.executable, "-c", code, str(portal_file)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        rc = lms_to_hubspot.main(["--sandbox", "--state-dir", str(tmp_path / "state")])
    finally:
        holder.communicate("done\n", timeout=10)
    err = capsys.readouterr().err
    assert rc == 1
    assert "Traceback" not in err and "IOException" not in err and err.count("\n") == 1
    assert "sandbox-portal.duckdb is in use by another process" in err
    assert "Nothing was read or sent" in err and "its own --state-dir" in err
    assert not (tmp_path / "state" / "sandbox" / "staging.duckdb").exists()
