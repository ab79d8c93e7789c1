"""Fixtures for HubSpotClient tests: a real sandbox over HTTP on 127.0.0.1, tiny retry waits."""

from __future__ import annotations

import threading
import time
from typing import Any, Callable, Iterator

import pytest

from hubspot_courses_destination.hubspot import HubSpotClient, UpsertRow
from hubspot_courses_destination.hubspot.ratelimit import Rate, RateLimiter
from hubspot_courses_destination.hubspot.retry import RetryPolicy
from hubspot_courses_destination.sandbox import DEFAULT_TOKEN, Sandbox

ID_PROPERTY = "lms_course_key"
COURSES = "0-410"

# Waits in milliseconds so the whole suite stays fast; the shapes (exponential, windows) are
# the same as in production and are tested as tables in tests/unit/test_retry.py.
FAST_POLICY = RetryPolicy(
    max_attempts=4,
    backoff_base_s=0.01,
    max_backoff_s=0.05,
    max_total_wait_s=2.0,
    jitter_s=0.005,
    rate_limit_wait_s=0.05,
    locked_wait_s=0.02,
)


class FakeTime:
    """A clock that moves only when someone sleeps; shared by the sandbox and the limiter."""

    def __init__(self) -> None:
        self._now = 50_000.0
        self._lock = threading.Lock()

    def clock(self) -> float:
        with self._lock:
            return self._now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self._now += max(seconds, 0.0)




def start_sandbox(**kw: Any) -> Sandbox:
    sb = Sandbox(**kw)
    sb.start()
    sb.create_property(ID_PROPERTY, type="string", field_type="text", has_unique_value=True)
    sb.reset_log()
    return sb


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    sb = start_sandbox(rate_limit_per_10s=1000)
    try:
        yield sb
    finally:
        sb.stop()


@pytest.fixture
def make_client() -> Iterator[Callable[..., HubSpotClient]]:
    clients: list[HubSpotClient] = []

    def factory(sb: Sandbox, token: str = DEFAULT_TOKEN, **kw: Any) -> HubSpotClient:
        kw.setdefault("retry_policy", FAST_POLICY)
        kw.setdefault("read_timeout_s", 2.0)
        kw.setdefault("connect_timeout_s", 1.0)
        if "rate_limiter" not in kw and "requests_per_10s" not in kw:
            kw["rate_limiter"] = RateLimiter(Rate(1000))
        client = HubSpotClient(token, sb.url, **kw)
        clients.append(client)
        return client

    yield factory
    for client in clients:
        client.close()


@pytest.fixture
def client(sandbox: Sandbox, make_client: Callable[..., HubSpotClient]) -> HubSpotClient:
    return make_client(sandbox)


def rows(n: int, start: int = 0, **extra: str) -> list[UpsertRow]:
    return [
        UpsertRow(key=f"c-{i:05d}", properties={"hs_course_name": f"Course {i}", **extra})
        for i in range(start, start + n)
    ]


def settle(sb: Sandbox, quiet_s: float = 0.05, timeout_s: float = 2.0) -> Sandbox:
    """Wait until the sandbox's request log stops growing.

    The sandbox appends to its log after the answer is on the wire, so a client can hold
    the response a moment before the entry exists. Call this before counting requests.
    """
    deadline = time.monotonic() + timeout_s
    last = len(sb.request_log)
    quiet_since = time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.01)
        now_len = len(sb.request_log)
        if now_len != last:
            last, quiet_since = now_len, time.monotonic()
        elif time.monotonic() - quiet_since >= quiet_s:
            break
    return sb


def keys_in(sb: Sandbox) -> list[str]:
    return sorted(r["properties"][ID_PROPERTY] for r in sb.records())
