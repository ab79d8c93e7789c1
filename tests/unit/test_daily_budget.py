"""The daily budget's decisions, its reading of headers and of the daily-usage answer, and the
``daily_budget_share`` setting (pure units; the pipelines are in tests/destination)."""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timezone

import pytest

from hubspot_courses_destination import ConfigurationError, DailyBudgetReachedError, DailyLimitExceededError
from hubspot_courses_destination.hubspot.classify import RateLimitHeaders, rate_limit_headers
from hubspot_courses_destination.hubspot.daily_budget import (
    DailyBudget,
    DailyUsage,
    budget_cap,
    may_spend,
    parse_daily_usage,
)
from hubspot_courses_destination.settings import HubSpotCoursesConfiguration, resolve_settings

MIDNIGHT = datetime(2026, 12, 2, 5, 0, tzinfo=timezone.utc)


def headers(remaining: int | None, limit: int | None = 250_000) -> RateLimitHeaders:
    return RateLimitHeaders(daily_limit=limit, daily_remaining=remaining)


@pytest.mark.parametrize("share, remaining, cap", [
    (0.5, 1000, 500), (0.5, 1001, 500), (1.0, 7, 7), (0.1, 9, 0), (0.3, 10, 3), (0.5, 0, 0), (0.5, -4, 0),
])
def test_budget_cap_is_the_floor_of_share_times_remaining(share: float, remaining: int, cap: int) -> None:
    assert budget_cap(share, remaining) == cap


@pytest.mark.parametrize("used, wanted, cap, ok", [
    (0, 1, None, True), (10**9, 1, None, True), (4, 1, 5, True), (5, 1, 5, False), (3, 2, 5, True), (3, 3, 5, False),
])
def test_may_spend(used: int, wanted: int, cap: int | None, ok: bool) -> None:
    assert may_spend(used, wanted, cap) is ok


def test_the_daily_headers_are_read_with_the_burst_ones() -> None:
    read = rate_limit_headers({"X-HubSpot-RateLimit-Daily": "250000", "x-hubspot-ratelimit-daily-remaining": " 1234 ",
                               "X-HubSpot-RateLimit-Max": "100"})
    assert (read.daily_limit, read.daily_remaining, read.limit) == (250_000, 1234, 100)
    assert rate_limit_headers({"X-HubSpot-RateLimit-Daily-Remaining": "-3"}).daily_remaining == 0
    oauth = rate_limit_headers({"X-HubSpot-RateLimit-Max": "110", "X-HubSpot-RateLimit-Remaining": "9"})
    assert oauth.daily_limit is None and oauth.daily_remaining is None


def test_the_first_daily_remaining_sets_the_cap_and_the_request_past_it_is_refused() -> None:
    budget = DailyBudget(0.5)
    budget.spend()  # before any answer: no cap yet, the request counts
    budget.observe(headers(10))
    budget.observe(headers(9))  # later answers do not move the basis
    assert budget.snapshot().cap == 5
    for _ in range(4):
        budget.spend()
    with pytest.raises(DailyBudgetReachedError) as info:
        budget.spend()
    err = info.value
    assert isinstance(err, DailyLimitExceededError)
    assert (err.daily_used, err.daily_cap, err.daily_remaining) == (5, 5, 9)
    assert err.resets_at is None and "midnight in the HubSpot portal's time zone" in str(err)
    assert "5 of the 5 requests" in str(err) and "daily_budget_share=0.5 of the 10" in str(err)
    assert budget.snapshot().used == 5  # the refused request was not counted


def test_work_that_cannot_finish_under_the_cap_is_refused_before_any_of_it_is_sent() -> None:
    budget = DailyBudget(1.0)
    budget.observe(headers(10))
    for _ in range(7):
        budget.spend()
    budget.reserve(3, "a batch")  # 7 + 3 fits, and reserving counts nothing
    with pytest.raises(DailyBudgetReachedError, match=r"a batch \(4 requests\) was not sent"):
        budget.reserve(4, "a batch")
    assert budget.snapshot().used == 7


def test_a_reported_zero_stops_the_run_before_a_daily_429() -> None:
    budget = DailyBudget(0.5)
    budget.observe(headers(1000))
    budget.spend()
    budget.observe(headers(0))  # the portal's other apps spent the day
    with pytest.raises(DailyBudgetReachedError, match="no requests left today") as info:
        budget.spend()
    assert info.value.daily_remaining == 0


def test_without_daily_headers_or_usage_there_is_no_cap_and_it_is_said_once(caplog: pytest.LogCaptureFixture) -> None:
    budget = DailyBudget(0.5)
    with caplog.at_level(logging.INFO, logger="hubspot_courses_destination"):
        budget.observe(headers(None, None))
        budget.note_usage(None)
        budget.note_usage(None)
        for _ in range(1000):
            budget.spend()
        budget.reserve(10**6, "a batch")
    assert budget.snapshot().cap is None
    assert [r.getMessage() for r in caplog.records].count(caplog.records[0].getMessage()) == 1
    assert len(caplog.records) == 1 and "no daily cap" in caplog.records[0].getMessage()


def test_the_usage_answer_gives_the_reset_and_without_headers_the_basis() -> None:
    budget = DailyBudget(0.5)
    budget.note_usage(DailyUsage(usage_limit=1000, current_usage=400, resets_at=MIDNIGHT))
    snap = budget.snapshot()
    assert (snap.cap, snap.resets_at, snap.left_today) == (300, MIDNIGHT, 600)
    # a header seen first wins over the endpoint's (possibly lagging) figures
    other = DailyBudget(0.5)
    other.observe(headers(500))
    other.note_usage(DailyUsage(usage_limit=1000, current_usage=0, resets_at=MIDNIGHT))
    assert other.snapshot().cap == 250


def test_after_resets_at_the_budget_starts_afresh() -> None:
    now = [MIDNIGHT.timestamp() - 60]
    budget = DailyBudget(0.5, clock=lambda: now[0])
    assert budget.needs_usage()
    assert not budget.needs_usage()  # once a day
    budget.observe(headers(4))
    budget.note_usage(DailyUsage(resets_at=MIDNIGHT))
    budget.spend()
    budget.spend()
    with pytest.raises(DailyBudgetReachedError, match="2026-12-02 05:00 UTC"):
        budget.spend()
    now[0] = MIDNIGHT.timestamp()  # the portal's midnight
    assert budget.needs_usage()  # the new day's usage is read again
    budget.spend()
    assert budget.snapshot().used == 1 and budget.snapshot().cap is None
    budget.observe(headers(250_000))
    assert budget.snapshot().cap == 125_000


def test_threads_spending_at_once_never_pass_the_cap() -> None:
    budget = DailyBudget(0.5)
    budget.observe(headers(400))  # cap 200
    sent, refused = [], []
    lock = threading.Lock()

    def work() -> None:
        for _ in range(50):
            try:
                budget.spend()
                outcome = sent
            except DailyBudgetReachedError:
                outcome = refused
            with lock:
                outcome.append(1)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(sent) == 200 and len(refused) == 200


@pytest.mark.parametrize("body, expected", [
    ({"results": [{"name": "api-calls-daily", "usageLimit": 250000, "currentUsage": 1200,
                   "collectedAt": "2026-12-01T22:00:00.000Z", "fetchStatus": "SUCCESS",
                   "resetsAt": "2026-12-02T05:00:00.000Z"}]}, DailyUsage(250000, 1200, MIDNIGHT)),
    ({"results": [{"usageLimit": "1000", "currentUsage": 5, "resetsAt": int(MIDNIGHT.timestamp() * 1000)}]},
     DailyUsage(1000, 5, MIDNIGHT)),
    ({"results": [{"usageLimit": 1000, "currentUsage": 5}]}, DailyUsage(1000, 5, None)),  # v3: no resetsAt
    ({"results": [{"usageLimit": 10, "currentUsage": 1}, {"usageLimit": 10, "currentUsage": 7}]}, DailyUsage(10, 7, None)),
    ({"results": [{"usageLimit": True, "currentUsage": "lots", "resetsAt": "soon"}]}, DailyUsage(None, None, None)),
    ({"results": [{"resetsAt": "2026-12-02T00:00:00-05:00"}]}, DailyUsage(None, None, MIDNIGHT)),
    ({"results": []}, None), ({}, None), (None, None), ([1, 2], None),
])
def test_parse_daily_usage(body: object, expected: DailyUsage | None) -> None:
    assert parse_daily_usage(body) == expected


def test_a_daily_429_error_gets_what_the_run_knew_of_the_day() -> None:
    budget = DailyBudget(0.5)
    budget.observe(headers(100))
    budget.note_usage(DailyUsage(resets_at=MIDNIGHT))
    budget.spend()
    err = budget.annotate(DailyLimitExceededError("429 DAILY"))
    assert (err.daily_remaining, err.resets_at, err.daily_cap, err.daily_used) == (0, MIDNIGHT, 50, 1)
    assert err.resets_when == "at 2026-12-02 05:00 UTC"


@pytest.mark.parametrize("value", [0, 0.0, -0.5, 1.01, 2, float("nan"), True, "half", "0%", "150%", "nan"])
def test_a_bad_daily_budget_share_fails_fast_naming_the_setting(value: object) -> None:
    with pytest.raises(ConfigurationError, match="daily_budget_share must be a fraction 0 < x <= 1 such as 0.5, "
                                                 "or a percent such as \"50%\"") as info:
        HubSpotCoursesConfiguration.from_values(access_token="pat-na1-x", id_property="lms_course_key",
                                                daily_budget_share=value)
    assert "DESTINATION__HUBSPOT_COURSES__DAILY_BUDGET_SHARE" in str(info.value)


def test_daily_budget_share_defaults_to_a_half_and_resolves_from_the_environment(monkeypatch) -> None:
    assert HubSpotCoursesConfiguration.from_values(access_token="pat-na1-x", id_property="k").daily_budget_share == 0.5
    monkeypatch.setenv("DESTINATION__HUBSPOT_COURSES__DAILY_BUDGET_SHARE", "0.25")
    assert resolve_settings(access_token="pat-na1-x", id_property="k").daily_budget_share == 0.25
    monkeypatch.setenv("DESTINATION__HUBSPOT_COURSES__DAILY_BUDGET_SHARE", "1.5")
    with pytest.raises(ConfigurationError, match="daily_budget_share"):
        resolve_settings(access_token="pat-na1-x", id_property="k")


@pytest.mark.parametrize("value, share", [("50%", 0.5), (" 5% ", 0.05), ("100%", 1.0), ("0.5", 0.5), (0.3, 0.3)])
def test_daily_budget_share_takes_a_percent_like_mirror_max_share(value, share, monkeypatch) -> None:
    assert resolve_settings(access_token="pat-na1-x", id_property="k",
                            daily_budget_share=value).daily_budget_share == pytest.approx(share)
    monkeypatch.setenv("DESTINATION__HUBSPOT_COURSES__DAILY_BUDGET_SHARE", str(value))
    resolved = resolve_settings(access_token="pat-na1-x", id_property="k").daily_budget_share
    assert isinstance(resolved, float) and resolved == pytest.approx(share)
