"""Faults over real HTTP: 429 bursts, 5xx, 423, resets, write-then-drop, slow answers, daily limit."""

from __future__ import annotations

from typing import Callable

import pytest

from hubspot_courses_destination.hubspot import HubSpotClient
from hubspot_courses_destination.errors import DailyLimitExceededError, HubSpotTransientError
from hubspot_courses_destination.hubspot.retry import RetryPolicy
from hubspot_courses_destination.sandbox import Sandbox

from .conftest import COURSES, FAST_POLICY, ID_PROPERTY, keys_in, rows, settle, start_sandbox

UPSERT = "/batch/upsert"


@pytest.mark.parametrize("kind", ["429", "423", "502", "503", "504"])
def test_transient_statuses_are_retried_until_written(kind: str, sandbox: Sandbox, client: HubSpotClient) -> None:
    sandbox.faults.add(kind, times=2, path_contains=UPSERT)
    outcomes = client.batch_upsert(COURSES, ID_PROPERTY, rows(10))
    assert {o.status for o in outcomes} == {"created"}
    assert keys_in(sandbox) == [r.key for r in rows(10)]
    assert settle(sandbox).count_requests("POST", UPSERT) == 3
    assert settle(sandbox).count_requests("POST", UPSERT, status=int(kind)) == 2
    stats = client.stats
    assert stats.retries == 2 and stats.responses_by_status == {int(kind): 2, 200: 1}
    assert stats.rate_limited_429 == (2 if kind == "429" else 0)
    assert stats.retry_wait_s > 0


def test_429_holds_every_thread_of_the_portal(sandbox: Sandbox, make_client: Callable[..., HubSpotClient]) -> None:
    policy = RetryPolicy(max_attempts=3, backoff_base_s=0.01, max_backoff_s=0.01, jitter_s=0.0, rate_limit_wait_s=0.3)
    client = make_client(sandbox, retry_policy=policy, max_concurrency=4)
    sandbox.faults.add("429", times=1, path_contains=UPSERT)
    import time

    started = time.monotonic()
    outcomes = client.batch_upsert(COURSES, ID_PROPERTY, rows(400))
    assert len(outcomes) == 400 and all(o.ok for o in outcomes)
    assert time.monotonic() - started >= 0.3  # the retry waited for the (shortened) window
    assert client.rate_limiter.waited_s_total > 0 or client.stats.retry_wait_s >= 0.3
    assert settle(sandbox).count_requests("POST", UPSERT) == 5 and len(sandbox.records()) == 400


def test_retries_are_bounded_then_transient_error(sandbox: Sandbox, client: HubSpotClient) -> None:
    sandbox.faults.add("503", times=10, path_contains=UPSERT)
    with pytest.raises(HubSpotTransientError) as info:
        client.batch_upsert(COURSES, ID_PROPERTY, rows(3))
    assert info.value.status == 503 and info.value.row_keys == ("c-00000", "c-00001", "c-00002")
    assert "4 attempts" in str(info.value)
    assert settle(sandbox).count_requests("POST", UPSERT) == FAST_POLICY.max_attempts
    assert sandbox.records() == []


def test_total_wait_bound_stops_before_max_attempts(sandbox: Sandbox, make_client: Callable[..., HubSpotClient]) -> None:
    policy = RetryPolicy(max_attempts=10, backoff_base_s=0.05, max_backoff_s=1.0, max_total_wait_s=0.2, jitter_s=0.0)
    client = make_client(sandbox, retry_policy=policy)
    sandbox.faults.add("502", times=20, path_contains=UPSERT)
    with pytest.raises(HubSpotTransientError):
        client.batch_upsert(COURSES, ID_PROPERTY, rows(1))
    # waits 0.05 + 0.1 = 0.15 fit, a further 0.2 would not: 3 attempts, not 10
    assert settle(sandbox).count_requests("POST", UPSERT) == 3


def test_connection_reset_is_retried(sandbox: Sandbox, client: HubSpotClient) -> None:
    sandbox.faults.add("reset", times=2, path_contains=UPSERT)
    outcomes = client.batch_upsert(COURSES, ID_PROPERTY, rows(5))
    assert [o.status for o in outcomes] == ["created"] * 5
    assert len(sandbox.records()) == 5
    assert settle(sandbox).count_requests("POST", UPSERT) == 3
    assert client.stats.transport_errors == 2


def test_write_then_drop_neither_duplicates_nor_loses(sandbox: Sandbox, client: HubSpotClient) -> None:
    sandbox.faults.add("write_then_drop", times=1, path_contains=UPSERT)
    outcomes = client.batch_upsert(COURSES, ID_PROPERTY, rows(50))
    # The first attempt wrote all 50 and lost the answer; the retry upserts the same keys.
    assert len(sandbox.records()) == 50
    assert keys_in(sandbox) == [r.key for r in rows(50)]
    assert {o.status for o in outcomes} == {"updated"}  # honest: HubSpot saw them as existing
    assert {o.hubspot_id for o in outcomes} == {r["id"] for r in sandbox.records()}
    assert settle(sandbox).count_requests("POST", UPSERT) == 2


def test_slow_answer_past_read_timeout_is_retried(sandbox: Sandbox, make_client: Callable[..., HubSpotClient]) -> None:
    client = make_client(sandbox, read_timeout_s=0.2)
    sandbox.faults.add("slow", times=1, path_contains=UPSERT, delay_ms=500)
    outcomes = client.batch_upsert(COURSES, ID_PROPERTY, rows(20))
    assert all(o.ok for o in outcomes)
    assert len(sandbox.records()) == 20
    # the slow attempt is logged only when its 500 ms are over, after the retry
    assert settle(sandbox, quiet_s=0.6).count_requests("POST", UPSERT) == 2
    assert client.stats.transport_errors == 1 and client.stats.requests_sent == 2


def test_random_faults_over_many_chunks(sandbox: Sandbox, make_client: Callable[..., HubSpotClient]) -> None:
    policy = RetryPolicy(max_attempts=8, backoff_base_s=0.005, max_backoff_s=0.02, max_total_wait_s=5, jitter_s=0.005, rate_limit_wait_s=0.02, locked_wait_s=0.01)
    client = make_client(sandbox, retry_policy=policy, max_concurrency=6)
    sandbox.faults.set_rates({"503": 0.1, "429": 0.1, "reset": 0.05, "write_then_drop": 0.05}, seed=7, path_contains=UPSERT)
    outcomes = client.batch_upsert(COURSES, ID_PROPERTY, rows(1500))
    sandbox.faults.clear()
    assert len(outcomes) == 1500 and all(o.ok for o in outcomes)
    assert keys_in(sandbox) == [r.key for r in rows(1500)]
    assert client.stats.retries > 0
    assert settle(sandbox).count_requests("POST", UPSERT) == 15 + client.stats.retries


def test_daily_limit_is_terminal_and_not_retried(make_client: Callable[..., HubSpotClient]) -> None:
    sb = start_sandbox(daily_limit=1)
    try:
        client = make_client(sb)
        client.batch_upsert(COURSES, ID_PROPERTY, rows(1))
        with pytest.raises(DailyLimitExceededError, match="midnight") as info:
            client.batch_upsert(COURSES, ID_PROPERTY, rows(1, start=1))
        assert info.value.status == 429 and info.value.category == "DAILY" and info.value.correlation_id
        assert settle(sb).count_requests("POST", UPSERT) == 2
        assert client.stats.retries == 0
    finally:
        sb.stop()
