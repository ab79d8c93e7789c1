"""`rejected list|retry` against the job's state: its default staging file, sandbox mode on
the persisted sandbox portal, what "can be retried" means, closed pipes and error exits.

The state is produced the way the job lays it out (``<state>/sandbox/staging.duckdb`` next to
``sandbox-portal.duckdb``) by a real dlt pipeline into a sandbox on that portal file; the
CLI runs in-process, or as a subprocess where a real pipe or a fresh dlt config matters.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import dlt
import pytest
from dlt.common.configuration.container import Container
from dlt.common.configuration.specs.pluggable_run_context import PluggableRunContext

from hubspot_courses_destination.session import close_sessions
from hubspot_courses_destination import hubspot_courses
from hubspot_courses_destination.__main__ import main
from hubspot_courses_destination.mapping import MAX_STRING_LENGTH
import hubspot_courses_destination.replay as replay_module
from hubspot_courses_destination.sandbox import DEFAULT_TOKEN, Sandbox
from hubspot_courses_destination.outcomes import Rejection
from hubspot_courses_destination.staging import Staging

from .conftest import ID

REPO = Path(__file__).resolve().parents[2]
TOO_LONG = "x" * (MAX_STRING_LENGTH + 10)
ROWS = [
    {ID: "a", "hs_course_name": "A", "level": "Expert"},  # missing option: fixable in HubSpot
    {ID: "long", "hs_course_name": "Long", "hs_course_description": TOO_LONG},  # needs a source fix
    {ID: None, "hs_course_name": "keyless"},  # needs a source fix
]


@pytest.fixture(autouse=True)
def _no_configured_portal(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No token or settings from the developer's shell: the CLI sees the job's sandbox mode.

    dlt keeps the resolved settings of destinations earlier tests ran (staging_path included)
    in its in-memory config provider; reloading the providers reads only the files again.
    """
    for name in list(os.environ):
        if name.startswith("DESTINATION__") or name == "DLT_PROJECT_DIR":
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    Container()[PluggableRunContext].reload_providers()


def run_job_like(project: Path, rows: list, target: str = "sandbox") -> Path:
    """Sync ``rows`` as the job does in sandbox mode; returns the staging file's path."""
    state = project / ".state" / target
    state.mkdir(parents=True, exist_ok=True)
    staging_path = state / "staging.duckdb"
    with Sandbox(db_path=str(state / "sandbox-portal.duckdb"), rate_limit_per_10s=1000) as sb:
        if not any(p["name"] == ID for p in sb.properties()):
            sb.create_property(ID, has_unique_value=True)
            sb.create_property("level", type="enumeration", field_type="select",
                               options=[{"label": "Beginner", "value": "beginner"}])
        pipeline = dlt.pipeline(
            "job_like", pipelines_dir=str(state / "pipelines"),
            destination=hubspot_courses(access_token=DEFAULT_TOKEN, api_base_url=sb.url, id_property=ID,
                                        staging_path=str(staging_path), create_missing_properties=True),
        )
        pipeline.run(rows, table_name="courses")
    close_sessions(str(staging_path))
    return staging_path


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "project").mkdir()
    run_job_like(tmp_path / "project", ROWS)
    return tmp_path / "project"


def portal_records(project: Path) -> dict:
    with Sandbox(db_path=str(project / ".state" / "sandbox" / "sandbox-portal.duckdb")) as sb:
        return {r["properties"][ID]: r["properties"] for r in sb.records()}


def cli(*args: str, cwd: Path, env: dict | None = None, **kw) -> subprocess.Popen:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("DESTINATION__") and k != "DLT_PROJECT_DIR"}
    environment["PYTHONPATH"] = os.pathsep.join([str(REPO), environment.get("PYTHONPATH", "")])
    environment.update(env or {})
    return subprocess.Popen([sys.executable, "-m", "hubspot_courses_destination", *args], cwd=cwd,
                            env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


# ------------------------------------------------------------------ the job's staging file by default


def test_list_defaults_to_the_jobs_sandbox_staging_file(project: Path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(project)
    assert main(["rejected", "list"]) == 0
    captured = capsys.readouterr()
    assert f"Staging: {project / '.state' / 'sandbox' / 'staging.duckdb'} (the job's sandbox state" in captured.err
    assert "Expert" in captured.out and "MISSING_KEY" in captured.out and "65,536" in captured.out
    assert "3 open rejection(s); 1 can be retried" in captured.out
    assert "2 need a fix in the source data" in captured.out


def test_the_project_directory_comes_from_dlt_project_dir(project: Path, tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("DLT_PROJECT_DIR", str(project))
    assert main(["rejected", "list", "--json"]) == 0  # cwd is tmp_path, not the project
    captured = capsys.readouterr()
    assert str(project / ".state" / "sandbox" / "staging.duckdb") in captured.err
    rows = [json.loads(line) for line in captured.out.splitlines()]  # stdout stays pure JSON lines
    assert {r["record_key"]: r["needs_source_fix"] for r in rows} == {"a": False, "long": True, None: True}


def test_state_dir_and_sandbox_flags_mirror_the_jobs(project: Path, tmp_path: Path, capsys, monkeypatch) -> None:
    # a configured staging_path loses to the flags that name the job's state
    monkeypatch.setenv("DESTINATION__HUBSPOT_COURSES__STAGING_PATH", str(tmp_path / "configured.duckdb"))
    monkeypatch.setenv("DESTINATION__HUBSPOT_COURSES__ACCESS_TOKEN", "pat-na1-configured")
    assert main(["rejected", "list", "--state-dir", str(project / ".state"), "--sandbox"]) == 0
    captured = capsys.readouterr()
    assert str(project / ".state" / "sandbox" / "staging.duckdb") in captured.err and "(the job's sandbox state: --sandbox)" in captured.err
    assert "1 can be retried" in captured.out
    # without flags, the configured file wins; with a token, the job's default is its hubspot state
    assert main(["rejected", "list"]) == 2
    assert f"no staging database at {tmp_path / 'configured.duckdb'} ({'destination.hubspot_courses.staging_path'}" in capsys.readouterr().err
    monkeypatch.delenv("DESTINATION__HUBSPOT_COURSES__STAGING_PATH")
    assert main(["rejected", "list", "--state-dir", str(project / ".state")]) == 2
    assert str(project / ".state" / "hubspot" / "staging.duckdb") in capsys.readouterr().err


# ------------------------------------------------------------------ sandbox-mode retry


def test_retry_in_sandbox_mode_uses_the_persisted_portal(project: Path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(project)
    assert main(["rejected", "retry"]) == 1  # the option is still missing
    captured = capsys.readouterr()
    assert "Target: the embedded sandbox on" in captured.err
    assert "retried 1: 0 now synced, 1 still rejected" in captured.out
    assert "2 left open: they need a fix in the source data" in captured.out

    with Sandbox(db_path=str(project / ".state" / "sandbox" / "sandbox-portal.duckdb")) as sb:
        sb.add_option("level", label="Expert", value="expert")  # the fix a HubSpot admin makes
    assert main(["rejected", "retry"]) == 0
    assert "retried 1: 1 now synced, 0 still rejected" in capsys.readouterr().out
    records = portal_records(project)
    assert records["a"]["level"] == "expert" and "long" not in records

    assert main(["rejected", "list"]) == 0
    assert "2 open rejection(s); 0 can be retried" in capsys.readouterr().out


def test_retry_never_resends_a_text_over_hubspots_limit(project: Path, tmp_path: Path, capsys, monkeypatch) -> None:
    # the staging file as the old CLI knew it (--staging), against a portal given by settings
    staging = str(project / ".state" / "sandbox" / "staging.duckdb")
    with Sandbox(db_path=str(project / ".state" / "sandbox" / "sandbox-portal.duckdb")) as sb:
        monkeypatch.setenv("DESTINATION__HUBSPOT_COURSES__ACCESS_TOKEN", DEFAULT_TOKEN)
        monkeypatch.setenv("DESTINATION__HUBSPOT_COURSES__API_BASE_URL", sb.url)
        monkeypatch.setenv("DESTINATION__HUBSPOT_COURSES__ID_PROPERTY", ID)
        assert main(["rejected", "list", "--staging", staging]) == 0
        assert "1 can be retried" in capsys.readouterr().out
        assert main(["rejected", "retry", "--staging", staging]) == 1
        assert "retried 1:" in capsys.readouterr().out
    close_sessions(staging)
    with Staging(staging) as st:
        load_ids = {r["record_key"]: r["load_id"] for r in st.open_rejections()}
    assert load_ids["a"].startswith("replay-")  # retried, rejected again with a fresh reason
    assert not load_ids["long"].startswith("replay-")  # left as the load recorded it


def test_a_retry_with_another_id_property_sends_nothing(project: Path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(project)
    assert main(["rejected", "retry", "--id-property", "external_course_id"]) == 2
    assert "have no column 'external_course_id'" in capsys.readouterr().err
    with Staging(str(project / ".state" / "sandbox" / "staging.duckdb")) as st:
        assert {r["record_key"] for r in st.open_rejections()} == {"a", "long", None}  # untouched


def test_retry_of_a_value_dlt_stored_in_a_variant_column(tmp_path: Path, capsys) -> None:
    # 'abc' in a bigint column: dlt delivers it as course_length_days▶v_text, for the same property
    run_job_like(tmp_path, [{ID: "n", "hs_course_name": "N", "course_length_days": 3},
                            {ID: "v", "hs_course_name": "V", "course_length_days": "abc"}])
    assert main(["rejected", "retry"]) == 1  # rejected again for its value, not a preflight error
    out = capsys.readouterr().out
    assert "retried 1: 0 now synced, 1 still rejected" in out
    assert main(["rejected", "list"]) == 0
    assert "course_length_days: 'abc' is not a number" in capsys.readouterr().out


@pytest.mark.parametrize(
    "rejection, source_fix",
    [
        ({"category": "MISSING_KEY"}, True),
        ({"category": "COERCION_ERROR", "code": "INVALID_VALUE", "row": {"d": TOO_LONG},
          "message": f"d: text is {len(TOO_LONG):,} characters; HubSpot string properties hold at most 65,536"}, True),
        ({"category": "VALIDATION_ERROR", "code": "INVALID_OPTION", "row": {"d": "x", "lvl": "Expert"},
          "property_errors": [{"name": "lvl", "code": "INVALID_OPTION"}, {"name": "d", "code": "INVALID_STRING_LENGTH"}]}, True),
        ({"category": "VALIDATION_ERROR", "code": "INVALID_OPTION", "row": {"lvl": "Expert"},
          "property_errors": [{"name": "lvl", "code": "INVALID_OPTION"}]}, False),
        ({"category": "VALIDATION_ERROR", "code": "PROPERTY_DOESNT_EXIST", "row": {"x": "1"}}, False),
        # a too-long value in a column the rejection does not name (excluded, never sent)
        ({"category": "COERCION_ERROR", "code": "INVALID_VALUE", "row": {"notes": TOO_LONG, "lvl": "E"},
          "message": "lvl: 'E' is not one of the options of lvl: [beginner]"}, False),
        ({"category": "COERCION_ERROR", "code": "INVALID_VALUE", "row": {"n": "abc"}, "message": "n: 'abc' is not a number"}, False),
        ({"category": "VALIDATION_ERROR", "code": "REQUIRED_PROPERTY", "row": {"hs_course_name": None}}, True),
        ({"category": "MISSING_FROM_RESPONSE"}, False),
    ],
    ids=["missing-key", "too-long-local", "too-long-hubspot", "missing-option", "missing-property",
         "too-long-but-not-sent", "not-a-number", "no-course-name", "left-out-of-answer"],
)
def test_which_rejections_need_a_source_fix(rejection: dict, source_fix: bool) -> None:
    stored = {
        "category": rejection["category"], "code": rejection.get("code"), "message": rejection.get("message"),
        "row_json": json.dumps(rejection.get("row", {})),
        "property_errors": json.dumps(rejection["property_errors"]) if "property_errors" in rejection else None,
    }
    assert replay_module.needs_source_fix(stored) is source_fix


# ------------------------------------------------------------------ pipes and errors


def test_list_into_a_pipe_closed_early_exits_quietly(tmp_path: Path) -> None:
    staging_path = str(tmp_path / "many.duckdb")
    with Staging(staging_path) as st:
        st.record_rejections("0-410", "courses", "load-1", [
            Rejection(f"key-{i}", "COERCION_ERROR", "INVALID_VALUE",
                           f"level: 'Expert {i}' is not one of the options of level: [beginner]", {ID: f"key-{i}"})
            for i in range(3000)
        ])
    proc = cli("rejected", "list", "--staging", staging_path, cwd=tmp_path)
    assert proc.stdout.readline()  # what `| head -1` reads, then it exits
    proc.stdout.close()
    err = proc.stderr.read()
    assert proc.wait(timeout=60) == 0, err
    assert "Traceback" not in err and "BrokenPipe" not in err and "Exception ignored" not in err


def test_no_staging_file_is_one_line_and_exit_2(tmp_path: Path) -> None:
    proc = cli("rejected", "list", cwd=tmp_path)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2, out + err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "no staging database at" in errors[0]
    assert str(Path(".state") / "sandbox" / "staging.duckdb") in errors[0]
    assert "Traceback" not in err


def test_a_broken_secrets_file_is_one_line_and_exit_2(tmp_path: Path) -> None:
    (tmp_path / ".dlt").mkdir()
    (tmp_path / ".dlt" / "secrets.toml").write_text('[destination.hubspot_courses\naccess_token = "pat-na1-x"\n')
    proc = cli("rejected", "list", cwd=tmp_path)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2, out + err
    assert err.startswith("error:") and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert "pat-na1" not in out + err


def test_sandbox_retry_without_the_sandbox_portal_is_an_error(tmp_path: Path, capsys) -> None:
    staging_path = run_job_like(tmp_path, ROWS)
    (staging_path.parent / "sandbox-portal.duckdb").unlink()
    assert main(["rejected", "retry"]) == 2  # must not retry into a new, empty sandbox
    assert "no sandbox portal at" in capsys.readouterr().err
