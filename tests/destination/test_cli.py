"""python -m hubspot_courses_destination rejected list|retry, on a real staging file."""

from __future__ import annotations

import json

from hubspot_courses_destination.__main__ import main
from hubspot_courses_destination.sandbox import DEFAULT_TOKEN

from .conftest import ID, by_key


def test_rejected_list_and_retry(sandbox, make_pipeline, staging_path, monkeypatch, capsys):
    sandbox.create_property(ID, has_unique_value=True)
    sandbox.create_property("level", type="enumeration", field_type="select",
                            options=[{"label": "Beginner", "value": "beginner"}])
    make_pipeline().run([{ID: "a", "hs_course_name": "A", "level": "Expert"},
                         {ID: None, "hs_course_name": "keyless"}], table_name="courses")

    assert main(["rejected", "list", "--staging", staging_path]) == 0
    out = capsys.readouterr().out
    assert "COERCION_ERROR" in out and "Expert" in out and "MISSING_KEY" in out
    assert "1 can be retried" in out
    assert main(["rejected", "list", "--staging", staging_path, "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {r["record_key"] for r in rows} == {"a", None}
    assert json.loads(next(r for r in rows if r["record_key"] == "a")["row_json"])["level"] == "Expert"

    monkeypatch.setenv("DESTINATION__HUBSPOT_COURSES__ACCESS_TOKEN", DEFAULT_TOKEN)
    monkeypatch.setenv("DESTINATION__HUBSPOT_COURSES__API_BASE_URL", sandbox.url)
    monkeypatch.setenv("DESTINATION__HUBSPOT_COURSES__ID_PROPERTY", ID)
    assert main(["rejected", "retry", "--staging", staging_path]) == 1  # still failing
    assert "0 now synced, 1 still rejected" in capsys.readouterr().out
    sandbox.add_option("level", label="Expert", value="expert")
    assert main(["rejected", "retry", "--staging", staging_path]) == 0
    assert "1 now synced" in capsys.readouterr().out
    assert by_key(sandbox)["a"]["level"] == "expert"
    assert DEFAULT_TOKEN not in capsys.readouterr().out


def test_list_without_a_staging_file_is_an_error(tmp_path, capsys):
    # a missing file means a wrong directory or target, not "no rejections": exit 2, one line
    assert main(["rejected", "list", "--staging", str(tmp_path / "none.duckdb")]) == 2
    err = capsys.readouterr().err
    assert "nothing was synced" in err and "Traceback" not in err
    assert not (tmp_path / "none.duckdb").exists()


def test_rejected_refuses_abbreviated_flags(tmp_path, capsys):
    import pytest

    with pytest.raises(SystemExit) as exit_info:
        main(["rejected", "list", "--sand", "--staging", str(tmp_path / "x.duckdb")])
    assert exit_info.value.code == 2
    assert "--sand" in capsys.readouterr().err


def test_rejected_with_a_state_url_that_cannot_be_used_is_one_line(tmp_path, capsys):
    assert main(["rejected", "list", "--sandbox", "--state-url", "nosuchfs://bucket/state"]) == 2
    err = capsys.readouterr().err
    assert "the state store nosuchfs://bucket/state could not be used" in err and "Traceback" not in err
    assert main(["rejected", "retry", "--sandbox", "--state-url", str(tmp_path / "empty")]) == 2
    assert "no sandbox state in the state store" in capsys.readouterr().err
    assert not (tmp_path / "empty" / "sandbox" / "lock.json").exists()  # refused before locking
