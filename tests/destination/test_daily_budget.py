"""The daily budget in real dlt pipelines against the sandbox: a run that reaches its share of
the day (or HubSpot's DAILY 429) stops cleanly, its load package stays pending, and the next
run finishes it without sending again what the first one synced."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterator

import dlt
import pytest
from dlt.pipeline.exceptions import PipelineStepFailed

from hubspot_courses_destination import DailyBudgetReachedError, DailyLimitExceededError, hubspot_courses
from hubspot_courses_destination.sandbox import DEFAULT_TOKEN, Sandbox
from hubspot_courses_destination.session import close_sessions
from hubspot_courses_destination.staging import Staging

from .conftest import ID, by_key, upsert_inputs

ROWS = 1000
BATCH = 200  # rows per call of the destination: two upsert requests each
OAUTH_TOKEN = "oauth-access-token-for-tests"


def rows() -> Iterator[dict[str, Any]]:
    for i in range(ROWS):
        yield {ID: f"c-{i:04d}", "hs_course_name": f"Course {i}"}


def courses() -> Any:
    return dlt.resource(rows, name="courses")


def root_of(exc: BaseException) -> BaseException:
    while exc.__cause__ or exc.__context__:
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    return exc


def load_fails(pipeline: dlt.Pipeline) -> BaseException:
    """Run 1: the load step fails, with the destination's own error at the root."""
    with pytest.raises(PipelineStepFailed) as info:
        pipeline.run(courses())
    assert info.value.step == "load"
    return root_of(info.value)


def next_utc_midnight() -> datetime:
    """The sandbox's reset (docs/hubspot-behaviour.md, "Rate limits": a GUESS of UTC)."""
    today = datetime.now(timezone.utc).date()
    return datetime.combine(today + timedelta(days=1), datetime.min.time(), timezone.utc)


@pytest.fixture
def pipeline_into(tmp_path, staging_path: str) -> Iterator[Callable[..., dlt.Pipeline]]:
    """The same pipeline (name, state) each call, as the next run of a job would open it."""

    def make(sb: Sandbox, name: str = "daily", **settings: Any) -> dlt.Pipeline:
        kw: dict[str, Any] = dict(
            access_token=DEFAULT_TOKEN, api_base_url=sb.url, id_property=ID, staging_path=staging_path,
            create_missing_properties=True, batch_size=BATCH,
        )
        kw.update(settings)
        return dlt.pipeline(name, destination=hubspot_courses(**kw), pipelines_dir=str(tmp_path / "pipelines"))

    yield make
    close_sessions(staging_path)


def end_of_run(staging_path: str) -> None:
    """What the job does when a run ends: its sessions, and with them the run's budget, close."""
    close_sessions(staging_path)


def test_a_run_stops_at_its_share_of_the_day_and_the_next_run_finishes_it_without_resending(
    pipeline_into: Callable[..., dlt.Pipeline], staging_path: str
) -> None:
    # 28 a day: the daily-usage read answers with 27 left, so the cap is floor(0.5 * 27) = 13
    # requests: the load's 9 preflight requests and two batches of two upserts; the third batch
    # does not fit
    with Sandbox(rate_limit_per_10s=1000, daily_limit=28) as sb:
        pipeline = pipeline_into(sb)
        err = load_fails(pipeline)
        assert isinstance(err, DailyBudgetReachedError)
        assert err.daily_cap == 13 and err.daily_used == 13
        assert err.resets_at == next_utc_midnight()  # resetsAt of the 2026-09 daily-usage answer
        assert err.daily_remaining == 28 - 13
        assert "daily_budget_share=0.5" in str(err) and "was not sent" in str(err)
        # nothing past the cap was sent: the sandbox saw exactly what the budget counted
        assert len(sb.request_log) == err.daily_used
        assert pipeline.has_pending_data
        first = by_key(sb)
        assert len(first) == 2 * BATCH  # two whole batches; the third was not started
        with Staging(staging_path) as st:
            assert st.synced_count("0-410") == 2 * BATCH  # recorded, so not sent again
        end_of_run(staging_path)

        # the next day (the sandbox's count reset): the pending package is finished
        sb.reset_rate_limits()
        sb.reset_log()
        again = pipeline_into(sb)
        assert again.has_pending_data
        again.run()
        assert not again.has_pending_data
        final = by_key(sb)  # also fails on a duplicated key
        assert set(final) == {r[ID] for r in rows()}
        assert {k: final[k]["hs_course_name"] for k in first} == {k: v["hs_course_name"] for k, v in first.items()}
        assert upsert_inputs(sb) == ROWS - 2 * BATCH  # only what run 1 did not sync
        assert sb.count_requests("POST", "/batch/upsert") == (ROWS - 2 * BATCH) // 100


class _OtherAppsSpendTheDay(Sandbox):
    """Another app of the portal spends the rest of the day once our second upsert arrives."""

    spent = False

    def log_request(self, method: str, path: str, *args: Any) -> None:
        super().log_request(method, path, *args)
        if not self.spent and path.endswith("/batch/upsert") and self.count_requests("POST", "/batch/upsert") == 2:
            self.spent = True
            self.spend_daily(self.daily_limit)


def test_a_daily_429_stops_the_run_cleanly_and_the_next_run_finishes_it(
    pipeline_into: Callable[..., dlt.Pipeline], staging_path: str
) -> None:
    # v3 has no resetsAt: tests/sandbox (the answer) and tests/pipelines (the job's wording)
    api_version = "2026-09"
    with _OtherAppsSpendTheDay(rate_limit_per_10s=1000, daily_limit=1000) as sb:
        pipeline = pipeline_into(sb, api_version=api_version, max_concurrency=1)
        err = load_fails(pipeline)
        assert type(err) is DailyLimitExceededError and err.status == 429 and err.category == "DAILY"
        assert err.daily_remaining == 0
        # resetsAt of the 2026-09 daily-usage answer (docs/hubspot-behaviour.md, "Daily usage")
        assert err.resets_at == next_utc_midnight() and "UTC" in err.resets_when
        assert sb.count_requests("POST", "/batch/upsert", status=429) == 1  # not retried, nothing after it
        assert pipeline.has_pending_data
        assert len(by_key(sb)) == BATCH
        end_of_run(staging_path)

        sb.reset_rate_limits()
        sb.reset_log()
        pipeline_into(sb, api_version=api_version, max_concurrency=1).run()
        assert set(by_key(sb)) == {r[ID] for r in rows()}
        assert upsert_inputs(sb) == ROWS - BATCH


def test_an_oauth_token_gets_no_daily_headers_so_the_run_has_no_cap(
    pipeline_into: Callable[..., dlt.Pipeline], caplog: pytest.LogCaptureFixture
) -> None:
    # the day would allow a cap of 11 requests, but an OAuth token is told nothing of it
    with Sandbox(rate_limit_per_10s=1000, daily_limit=24) as sb:
        sb.add_token(OAUTH_TOKEN, oauth=True)
        with caplog.at_level(logging.INFO, logger="hubspot_courses_destination"):
            pipeline_into(sb, access_token=OAUTH_TOKEN).run(courses())
        assert len(by_key(sb)) == ROWS
        said = [r.getMessage() for r in caplog.records if "daily budget" in r.getMessage()]
        assert len(said) == 1 and "no daily cap" in said[0]

