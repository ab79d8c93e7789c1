"""The shared limiter over HTTP. The sandbox's window and the client's limiter run on one fake
clock, so several 10-second windows pass in no wall time and the sandbox is the referee."""

from __future__ import annotations

import threading
from typing import Callable

from hubspot_courses_destination.hubspot import HubSpotClient
from hubspot_courses_destination.hubspot.ratelimit import Rate, RateLimiter
from hubspot_courses_destination.sandbox import DEFAULT_TOKEN, Sandbox

from .conftest import COURSES, ID_PROPERTY, FakeTime, rows, settle, start_sandbox

UPSERT = "/batch/upsert"


def test_threads_and_clients_share_one_budget_without_429(make_client: Callable[..., HubSpotClient]) -> None:
    t = FakeTime()
    sb = start_sandbox(rate_limit_per_10s=10, clock=t.clock)
    try:
        limiter = RateLimiter(Rate(10), clock=t.clock, sleep=t.sleep)
        clients = [make_client(sb, rate_limiter=limiter, max_concurrency=4) for _ in range(3)]
        errors: list[BaseException] = []

        def load(client: HubSpotClient, start: int) -> None:
            try:
                outcomes = client.batch_upsert(COURSES, ID_PROPERTY, rows(1000, start=start))
                assert all(o.ok for o in outcomes)
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=load, args=(c, i * 1000)) for i, c in enumerate(clients)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(60)
        assert not errors
        settle(sb)
        assert sb.count_requests("POST", UPSERT) == 30
        assert sb.count_requests("POST", UPSERT, status=429) == 0
        assert len(sb.records()) == 3000
        assert t.clock() - 50_000.0 >= 20.0  # 30 requests at 10 per window: at least 2 windows waited
    finally:
        sb.stop()


def test_limiter_learns_the_servers_limit_from_headers(make_client: Callable[..., HubSpotClient]) -> None:
    t = FakeTime()
    sb = start_sandbox(rate_limit_per_10s=5, clock=t.clock)
    try:
        # configured for the wrong tier (100); the server says 5 per 10 s
        limiter = RateLimiter(Rate(100), clock=t.clock, sleep=t.sleep)
        client = make_client(sb, rate_limiter=limiter, max_concurrency=1)
        outcomes = client.batch_upsert(COURSES, ID_PROPERTY, rows(1500))
        assert all(o.ok for o in outcomes) and len(sb.records()) == 1500
        assert limiter.rate == Rate(5, 10.0)
        assert settle(sb).count_requests("POST", UPSERT, status=429) == 0
    finally:
        sb.stop()


def test_remaining_header_accounts_for_another_consumer(make_client: Callable[..., HubSpotClient]) -> None:
    t = FakeTime()
    sb = start_sandbox(rate_limit_per_10s=10, clock=t.clock)
    try:
        # another tool on the same private app spends 6 of the 10 first
        other = make_client(sb, rate_limiter=RateLimiter(Rate(10), clock=t.clock, sleep=t.sleep), max_concurrency=1)
        for i in range(6):
            other.batch_upsert(COURSES, ID_PROPERTY, rows(1, start=9000 + i))
        limiter = RateLimiter(Rate(10), clock=t.clock, sleep=t.sleep)
        client = make_client(sb, rate_limiter=limiter, max_concurrency=1)
        outcomes = client.batch_upsert(COURSES, ID_PROPERTY, rows(800))
        assert all(o.ok for o in outcomes)
        assert settle(sb).count_requests("POST", UPSERT, status=429) == 0
    finally:
        sb.stop()


def test_clients_share_a_limiter_when_given_one(sandbox: Sandbox) -> None:
    """One budget per portal and token is the sessions' job (tests/unit/test_session.py); a
    client shares a limiter only when handed one, so no process-wide registry is needed."""
    a = HubSpotClient(DEFAULT_TOKEN, sandbox.url)
    b = HubSpotClient(DEFAULT_TOKEN, sandbox.url + "/", rate_limiter=a.rate_limiter)
    c = HubSpotClient("pat-other", sandbox.url)
    try:
        assert a.rate_limiter is b.rate_limiter
        assert a.rate_limiter is not c.rate_limiter
    finally:
        for client in (a, b, c):
            client.close()


def test_concurrent_chunks_overlap(make_client: Callable[..., HubSpotClient]) -> None:
    """Ten chunks of one call are sent concurrently (max_concurrency=5), not one after another.

    Asserted on the server's side, from the times each upsert arrived and was answered (the
    log's duration): a timed assertion would flake on a loaded machine."""
    import time

    spans: list[tuple[float, float]] = []

    class Timed(Sandbox):
        def log_request(self, method: str, path: str, status: int | None, n_inputs: int | None, *rest: object,
                        **kw: object) -> None:
            super().log_request(method, path, status, n_inputs, *rest, **kw)  # type: ignore[arg-type]
            if path.endswith(UPSERT):
                end = time.monotonic()
                spans.append((end - float(rest[-1]) / 1000.0, end))  # duration_ms is the last field

    sb = Timed(rate_limit_per_10s=1000, latency_ms=100)
    sb.start()
    try:
        sb.create_property(ID_PROPERTY, type="string", field_type="text", has_unique_value=True)
        client = make_client(sb, max_concurrency=5)
        client.batch_upsert(COURSES, ID_PROPERTY, rows(1000))
        assert len(sb.records()) == 1000 and len(spans) == 10
        # the most upserts the server held at one moment: > 1 only if the client overlapped them
        most = max(sum(1 for a, b in spans if a <= start < b) for start, _ in spans)
        assert 2 <= most <= 5, (most, spans)
    finally:
        sb.stop()
