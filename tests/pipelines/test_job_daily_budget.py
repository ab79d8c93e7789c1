"""The job at HubSpot's daily limit: exit 3 with one paragraph (how much is left, when it
resets, the pending package), no traceback; the next run finishes what was left."""

from __future__ import annotations

from pathlib import Path

from hubspot_courses_destination.sandbox import Sandbox
from lms_support import names_by_key, summary, upserted_inputs

from pipelines import lms_to_hubspot

KEYS = [f"d:{i}" for i in range(250)]


def _csv(tmp_path: Path) -> Path:
    path = tmp_path / "courses.csv"
    path.write_text("lms_course_key,hs_course_name\r\n" + "".join(f"{k},Course {k}\r\n" for k in KEYS), encoding="utf-8")
    return path


def _job(export: Path, tmp_path: Path) -> int:
    return lms_to_hubspot.main(["--source", "csv", "--csv-path", str(export), "--state-dir", str(tmp_path / "s")])


def test_a_run_past_its_daily_budget_exits_3_and_the_next_day_finishes_it(portal: Sandbox, tmp_path, capsys) -> None:
    # 26 a day: the job's two portal checks leave 24, the usage read answers 23 left, so the
    # run may send 11: the load's ten preflight requests fit, its batch of three upserts does not
    portal.daily_limit = 26
    export = _csv(tmp_path)
    assert _job(export, tmp_path) == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err  # one paragraph
    assert "The run STOPPED at this run's daily budget (daily_budget_share), not at HubSpot's limit: " \
        "this run spent its daily budget" in err
    assert "of the 11 requests it may send today" in err
    assert "requests left today; the count resets at " in err and " UTC." in err
    assert "stays pending and the next run finishes it first" in err
    assert portal.records() == []
    assert portal.count_requests("POST", "/batch/upsert") == 0

    portal.reset_rate_limits()  # the portal's next day, with a day's usual limit
    portal.daily_limit = 250_000
    portal.reset_log()
    assert _job(export, tmp_path) == 0
    out = capsys.readouterr().out
    assert "Finishing load packages left pending" in out
    assert set(names_by_key(portal.records())) == set(KEYS)
    assert upserted_inputs(portal) == len(KEYS)
    assert summary(out)["created"] == len(KEYS)
    assert "  daily budget: this run used " in out and " of its cap " in out
    assert "(daily_budget_share of what was left); the portal has " in out and out.count(" left today") == 1


def test_a_portal_whose_day_is_spent_before_the_run_exits_3_not_2(portal: Sandbox, tmp_path, capsys) -> None:
    portal.spend_daily(portal.daily_limit)  # other apps of the portal spent the day
    assert _job(_csv(tmp_path), tmp_path) == 3
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("\n") == 1
    assert "The run STOPPED at HubSpot's daily limit (429 DAILY): HubSpot answered 429 DAILY" in err
    assert "0 requests left today" in err
    assert "at midnight in the HubSpot portal's time zone" in err  # the portal check reads no resetsAt
    assert "Nothing was extracted or sent in this run." in err
    assert portal.records() == []


def test_the_embedded_sandbox_takes_a_daily_limit_to_show_the_budget(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("LMS_TO_HUBSPOT__SANDBOX__DAILY_LIMIT", "30")
    assert lms_to_hubspot.main(["--sandbox", "--state-dir", str(tmp_path / "s")]) == 3
    assert "this run spent its daily budget" in capsys.readouterr().err
    monkeypatch.setenv("LMS_TO_HUBSPOT__SANDBOX__DAILY_LIMIT", "many")
    assert lms_to_hubspot.main(["--sandbox", "--state-dir", str(tmp_path / "s")]) == 2
    assert "LMS_TO_HUBSPOT__SANDBOX__DAILY_LIMIT" in capsys.readouterr().err


def test_a_daily_budget_share_that_is_no_number_is_exit_2_naming_the_setting(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("DESTINATION__HUBSPOT_COURSES__DAILY_BUDGET_SHARE", "half")
    assert lms_to_hubspot.main(["--sandbox", "--state-dir", str(tmp_path / "s")]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "daily_budget_share must be a fraction 0 < x <= 1 such as 0.5, or a percent such as \"50%\"" in err
    assert "got 'half'" in err and "env DESTINATION__HUBSPOT_COURSES__DAILY_BUDGET_SHARE" in err
    monkeypatch.setenv("DESTINATION__HUBSPOT_COURSES__DAILY_BUDGET_SHARE", "2")
    assert lms_to_hubspot.main(["--sandbox", "--state-dir", str(tmp_path / "s")]) == 2
    assert "daily_budget_share must be a fraction 0 < x <= 1" in capsys.readouterr().err


def test_the_paragraph_tells_a_spent_budget_from_a_day_spent_by_other_apps() -> None:
    from datetime import datetime, timezone

    from hubspot_courses_destination import DailyBudgetReachedError
    from pipelines.job.report import daily_limit_message

    def error(used: int, cap: int, left: int) -> DailyBudgetReachedError:
        e = DailyBudgetReachedError("stopped")
        e.daily_used, e.daily_cap, e.daily_remaining = used, cap, left
        e.resets_at = datetime(2026, 12, 2, 5, 0, tzinfo=timezone.utc)
        return e

    ours = daily_limit_message(error(500, 500, 1_500), "p", in_load=True)
    assert "this run spent its daily budget: 500 of the 500 requests" in ours
    assert "The portal has 1,500 requests left today; the count resets at 2026-12-02 05:00 UTC." in ours
    theirs = daily_limit_message(error(20, 500, 0), "p", in_load=True)
    assert "HubSpot reported no requests left today" in theirs and "0 requests left today" in theirs
    assert "STOPPED at HubSpot's daily limit:" in theirs and "STOPPED at this run's daily budget" in ours
    assert "load package of pipeline 'p' stays pending" in theirs
