"""Code that runs in spawned processes for test_shared_budget_processes.py and the client's
two-process test (a module of its own, so that ``spawn`` children can import it)."""

from __future__ import annotations

import random
import time
from typing import Any


def acquire_many(path: str, limit: int, hold_s: float, count: int, seed: int, out: Any) -> None:
    """Take ``count`` units one at a time, keep each in flight a few ms, release; send the
    (acquired, released) times (``time.monotonic``, one clock for the machine)."""
    from hubspot_courses_destination.hubspot.shared_budget import SharedBudget

    ledger = SharedBudget(path, in_flight_bound_s=30.0)
    rng = random.Random(seed)
    times = []
    for _ in range(count):
        while True:
            ticket, wait = ledger.try_acquire(1, limit, hold_s)
            if ticket is not None:
                break
            time.sleep(wait if wait is not None else 0.01)
        acquired = time.monotonic()
        time.sleep(rng.uniform(0.002, 0.02))
        ledger.release(ticket, hold_s)
        times.append((acquired, time.monotonic()))
    out.send(times)


def hang_in_flight(path: str, limit: int, hold_s: float, units: int, out: Any) -> None:
    """Take ``units`` units, say so, and never answer (to be SIGKILLed mid-flight)."""
    from hubspot_courses_destination.hubspot.shared_budget import SharedBudget

    ledger = SharedBudget(path, in_flight_bound_s=30.0)
    for _ in range(units):
        ticket, _ = ledger.try_acquire(1, limit, hold_s)
        assert ticket is not None
    out.send("holding")
    time.sleep(600)


class FastTime:
    """Monotonic time scaled by ``speed`` from ``t0``: the same clock in every process."""

    def __init__(self, t0: float, speed: float) -> None:
        self.t0, self.speed = t0, speed

    def clock(self) -> float:
        return 1000.0 + (time.monotonic() - self.t0) * self.speed

    def sleep(self, seconds: float) -> None:
        time.sleep(max(seconds, 0.0) / self.speed)


def upsert_worker(conn: Any) -> None:
    """Serve :func:`upsert_process` jobs (``None`` stops): one spawn, several runs."""
    from hubspot_courses_destination.hubspot import HubSpotClient  # noqa: F401 - imported before the start

    conn.send("ready")
    while True:
        job = conn.recv()
        if job is None:
            return
        upsert_process(*job, out=conn)


def upsert_process(url: str, token: str, limit: int, ledger: str | None, t0: float, speed: float,
                   start: int, n: int, out: Any) -> None:
    """One pipeline process: its own client and limiter (on the shared ledger if given)."""
    from hubspot_courses_destination.hubspot import HubSpotClient, UpsertRow
    from hubspot_courses_destination.hubspot.ratelimit import Rate, RateLimiter
    from hubspot_courses_destination.hubspot.retry import RetryPolicy
    from hubspot_courses_destination.hubspot.shared_budget import SharedBudget

    t = FastTime(t0, speed)
    shared = SharedBudget(ledger, clock=t.clock, in_flight_bound_s=65.0) if ledger else None
    # without a ledger, the law before it ("solo"): each process takes the whole budget, so the
    # control run of the test surely collides (the congestion law alone may or may not)
    control = "congestion" if ledger else "solo"
    limiter = RateLimiter(Rate(limit), clock=t.clock, sleep=t.sleep, control=control, shared=shared)
    policy = RetryPolicy(max_attempts=8, backoff_base_s=0.01, max_backoff_s=0.05, max_total_wait_s=30.0,
                         jitter_s=0.005, rate_limit_wait_s=0.05, locked_wait_s=0.02)
    client = HubSpotClient(token, url, rate_limiter=limiter, max_concurrency=4, retry_policy=policy,
                           read_timeout_s=5.0, connect_timeout_s=2.0)
    try:
        rows = [UpsertRow(key=f"c-{i:05d}", properties={"hs_course_name": f"Course {i}"})
                for i in range(start, start + n)]
        outcomes = client.batch_upsert("0-410", "lms_course_key", rows)
        out.send(sum(1 for o in outcomes if o.ok))
    finally:
        client.close()
