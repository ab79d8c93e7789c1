"""RateLimiter with a fake clock: budget, windows, headers, 429 backoff, many threads."""

from __future__ import annotations

import threading

import pytest

from hubspot_courses_destination.hubspot.classify import rate_limit_headers
from hubspot_courses_destination.hubspot.ratelimit import (
    Permit,
    Rate,
    RateLimiter,
)


class FakeTime:
    """A clock that only moves when someone sleeps; safe to share between threads."""

    def __init__(self) -> None:
        self._now = 1000.0
        self._lock = threading.Lock()
        self.sleeps: list[float] = []

    def clock(self) -> float:
        with self._lock:
            return self._now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self._now += seconds


def make(limit: int, interval_s: float = 10.0, margin_s: float = 0.05, control: str = "congestion") -> tuple[RateLimiter, FakeTime]:
    t = FakeTime()
    return RateLimiter(Rate(limit, interval_s), clock=t.clock, sleep=t.sleep, margin_s=margin_s, control=control), t


def test_full_budget_then_wait_for_the_window() -> None:
    limiter, t = make(5)
    for _ in range(5):
        limiter.release(limiter.acquire())
    assert t.clock() == 1000.0  # no wait for the first `limit` requests
    permit = limiter.acquire()
    assert permit.acquired_at == pytest.approx(1010.05)  # window + margin after the releases
    assert permit.waited_s == pytest.approx(10.05)


def test_budget_counts_from_release_not_from_acquire() -> None:
    limiter, t = make(1)
    first = limiter.acquire()
    t.sleep(3.0)  # the request takes 3 s
    limiter.release(first)
    second = limiter.acquire()
    assert second.acquired_at == pytest.approx(1000.0 + 3.0 + 10.05)


def test_sequential_throughput_is_limit_per_window() -> None:
    limiter, t = make(10, margin_s=0.0)
    for _ in range(50):
        limiter.release(limiter.acquire())
    # 5 windows' worth: the 50th request starts at the beginning of the 5th window
    assert t.clock() == pytest.approx(1040.0)


def test_in_flight_requests_hold_budget_until_released() -> None:
    limiter, t = make(2)
    a, b = limiter.acquire(), limiter.acquire()
    got: list[Permit] = []
    waiter = threading.Thread(target=lambda: got.append(limiter.acquire()))
    waiter.start()
    waiter.join(0.2)
    assert waiter.is_alive() and not got  # nothing free while both are in flight
    limiter.release(a)
    waiter.join(2.0)
    assert got and got[0].acquired_at == pytest.approx(a.released_at + 10.05)  # type: ignore[operator]
    limiter.release(b)
    limiter.release(got[0])


def test_release_twice_is_a_no_op() -> None:
    limiter, _ = make(3)
    p = limiter.acquire()
    limiter.release(p)
    limiter.release(p)
    assert limiter.in_use == 1


def test_headers_replace_the_configured_rate() -> None:
    limiter, _ = make(100)
    limiter.release(
        limiter.acquire(),
        {"X-HubSpot-RateLimit-Max": "190", "X-HubSpot-RateLimit-Interval-Milliseconds": "10000"},
    )
    assert limiter.rate == Rate(190, 10.0)
    limiter.release(limiter.acquire(), {"x-hubspot-ratelimit-max": "3", "x-hubspot-ratelimit-interval-milliseconds": "2000"})
    assert limiter.rate == Rate(3, 2.0)


def test_solo_remaining_lower_than_ours_reserves_the_difference() -> None:
    limiter, t = make(10, control="solo")
    # the server saw 8 requests in the window (someone else sent 7), we sent 1
    limiter.release(limiter.acquire(), {"X-HubSpot-RateLimit-Max": "10", "X-HubSpot-RateLimit-Remaining": "2"})
    assert limiter.in_use == 8
    limiter.release(limiter.acquire())
    limiter.release(limiter.acquire())
    assert t.clock() == 1000.0
    assert limiter.acquire().acquired_at == pytest.approx(1010.05)


def test_remaining_higher_than_ours_changes_nothing() -> None:
    limiter, _ = make(10)
    limiter.release(limiter.acquire(), {"X-HubSpot-RateLimit-Remaining": "9"})
    assert limiter.in_use == 1


def test_garbage_headers_are_ignored() -> None:
    limiter, _ = make(10)
    limiter.release(limiter.acquire(), {"X-HubSpot-RateLimit-Max": "lots", "X-HubSpot-RateLimit-Remaining": ""})
    assert limiter.rate == Rate(10, 10.0) and limiter.in_use == 1


def test_headers_read_once_by_the_send_loop_count_the_same() -> None:
    # the client reads the headers once (rate_limit_headers) and hands the result over
    headers = {"X-HubSpot-RateLimit-Max": "10", "X-HubSpot-RateLimit-Remaining": "2", "X-HubSpot-RateLimit-Interval-Milliseconds": "5000"}
    raw, _ = make(100, control="solo")
    raw.release(raw.acquire(), headers)
    parsed, _ = make(100, control="solo")
    parsed.release(parsed.acquire(), rate_limit_headers(headers))
    assert raw.rate == parsed.rate == Rate(10, 5.0)
    assert raw.in_use == parsed.in_use == 8


def test_backoff_holds_every_caller() -> None:
    limiter, t = make(100)
    limiter.backoff(3.0)
    limiter.backoff(1.0)  # a shorter backoff does not shorten the longer one
    assert limiter.acquire().acquired_at == pytest.approx(1003.0)


def test_validation() -> None:
    with pytest.raises(ValueError):
        Rate(0)
    with pytest.raises(ValueError):
        Rate(10, 0)
    limiter, _ = make(2)
    with pytest.raises(ValueError):
        limiter.acquire(weight=3)
    with pytest.raises(ValueError):
        limiter.acquire(weight=0)


@pytest.mark.parametrize("latency_s", [0.0, 0.25])
def test_many_threads_share_one_budget_and_never_exceed_it(latency_s: float) -> None:
    limit, interval_s, threads, per_thread = 10, 10.0, 12, 15
    limiter, t = make(limit, interval_s)
    spans: list[tuple[float, float]] = []
    spans_lock = threading.Lock()

    def worker() -> None:
        for _ in range(per_thread):
            permit = limiter.acquire()
            if latency_s:
                t.sleep(latency_s)
            limiter.release(permit)
            with spans_lock:
                spans.append((permit.acquired_at, permit.released_at))  # type: ignore[arg-type]

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for th in pool:
        th.start()
    for th in pool:
        th.join(30)
    assert len(spans) == threads * per_thread
    # The server counts a request at some moment in [acquired, released]. For every window
    # (T - interval, T], count the requests that could have landed in it: none may exceed
    # the limit. The count only rises at an acquisition, so checking T = each acquire suffices.
    worst = max(
        sum(1 for a, r in spans if a <= t_end and r > t_end - interval_s) for t_end, _ in spans
    )
    assert worst <= limit
    # and the budget is actually used: at least `limit` requests share some window
    assert worst == limit
