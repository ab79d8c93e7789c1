"""next_wait_s / should_retry as tables; nothing sleeps."""

from __future__ import annotations

import random

import pytest

from hubspot_courses_destination.hubspot.classify import Action, Reason, Verdict
from hubspot_courses_destination.hubspot.retry import RetryPolicy, next_wait_s, should_retry

P = RetryPolicy(
    max_attempts=5,
    backoff_base_s=1.0,
    max_backoff_s=8.0,
    max_total_wait_s=20.0,
    jitter_s=0.0,
    rate_limit_wait_s=10.0,
    locked_wait_s=2.0,
)


def v(reason: Reason, **kw: object) -> Verdict:
    return Verdict(Action.RETRY, reason, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "attempt, verdict, expected_s",
    [
        # 5xx and transport failures: exponential, capped at max_backoff_s
        (1, v(Reason.SERVER_ERROR, status=503), 1.0),
        (2, v(Reason.SERVER_ERROR, status=502), 2.0),
        (3, v(Reason.SERVER_ERROR, status=504), 4.0),
        (4, v(Reason.SERVER_ERROR, status=504), 8.0),
        (9, v(Reason.SERVER_ERROR, status=504), 8.0),
        (1, v(Reason.CONNECTION_LOST), 1.0),
        (2, v(Reason.READ_TIMEOUT), 2.0),
        (3, v(Reason.CONNECT_ERROR), 4.0),
        # a 5xx that names Retry-After gets exactly that
        (1, v(Reason.SERVER_ERROR, status=503, retry_after_s=5.0), 5.0),
        # 429 burst: Retry-After, else the window from the interval header, else the policy
        (1, v(Reason.RATE_LIMITED, status=429), 10.0),
        (3, v(Reason.RATE_LIMITED, status=429), 10.0),
        (1, v(Reason.RATE_LIMITED, status=429, interval_s=2.5), 2.5),
        (1, v(Reason.RATE_LIMITED, status=429, interval_s=30.0), 10.0),  # the policy caps the window
        (1, v(Reason.RATE_LIMITED, status=429, interval_s=10.0, retry_after_s=3.0), 3.0),
        (1, v(Reason.RATE_LIMITED, status=429, retry_after_s=0.0), 0.0),
        (1, v(Reason.RATE_LIMITED, status=429, retry_after_s=40.0), 40.0),  # honoured beyond max_backoff_s
        # 423: at least the lock time, exponential once that grows past it
        (1, v(Reason.LOCKED, status=423), 2.0),
        (2, v(Reason.LOCKED, status=423), 2.0),
        (3, v(Reason.LOCKED, status=423), 4.0),
    ],
)
def test_next_wait_s(attempt: int, verdict: Verdict, expected_s: float) -> None:
    assert next_wait_s(P, attempt, verdict, random.Random(0)) == pytest.approx(expected_s)


def test_retry_after_can_be_ignored_by_policy() -> None:
    policy = RetryPolicy(backoff_base_s=1.0, jitter_s=0.0, respect_retry_after=False)
    assert next_wait_s(policy, 2, v(Reason.SERVER_ERROR, retry_after_s=30.0), random.Random(0)) == 2.0
    assert next_wait_s(policy, 1, v(Reason.RATE_LIMITED, retry_after_s=30.0, interval_s=10.0), random.Random(0)) == 10.0
    short = RetryPolicy(jitter_s=0.0, rate_limit_wait_s=0.05)
    assert next_wait_s(short, 1, v(Reason.RATE_LIMITED, interval_s=10.0), random.Random(0)) == 0.05


def test_jitter_is_bounded_and_reproducible() -> None:
    policy = RetryPolicy(backoff_base_s=1.0, max_backoff_s=60, jitter_s=0.5)
    waits = [next_wait_s(policy, 3, v(Reason.SERVER_ERROR), random.Random(seed)) for seed in range(200)]
    assert all(4.0 <= w < 4.5 for w in waits)
    assert len(set(waits)) > 100  # spread, not constant
    assert next_wait_s(policy, 3, v(Reason.SERVER_ERROR), random.Random(7)) == next_wait_s(
        policy, 3, v(Reason.SERVER_ERROR), random.Random(7)
    )


@pytest.mark.parametrize(
    "attempt, waited_s, wait_s, expected",
    [
        (1, 0.0, 1.0, True),
        (4, 7.0, 8.0, True),
        (5, 0.0, 1.0, False),  # max_attempts reached
        (2, 15.0, 5.0, True),  # exactly at max_total_wait_s
        (2, 15.0, 5.1, False),  # would wait past max_total_wait_s
        (1, 0.0, 40.0, False),  # one Retry-After longer than the whole budget
    ],
)
def test_should_retry(attempt: int, waited_s: float, wait_s: float, expected: bool) -> None:
    assert should_retry(P, attempt, waited_s, wait_s) is expected


def test_policy_validation() -> None:
    with pytest.raises(ValueError):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ValueError):
        RetryPolicy(jitter_s=-1)
    with pytest.raises(ValueError):
        next_wait_s(P, 0, v(Reason.SERVER_ERROR), random.Random(0))
