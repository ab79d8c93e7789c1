"""The retry policy as data, and the pure function that turns a failure into a wait.

No sleeping happens here: :func:`next_wait_s` only computes, so it is tested as a table. Waits
follow HubSpot's guidance (docs/hubspot-behaviour.md, "Retrying"): 429 burst -> wait for the
window (``Retry-After`` if sent, else ``rate_limit_wait_s`` capped by the server's
``X-HubSpot-RateLimit-Interval-Milliseconds`` window); 423 -> at least ``locked_wait_s``
(HubSpot's locks last 2 s); 5xx and transport failures -> exponential backoff with jitter.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from .classify import Reason, Verdict

__all__ = ["RetryPolicy", "next_wait_s", "should_retry"]


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long the client retries one request.

    Attributes:
        max_attempts: attempts in total, the first one included.
        backoff_base_s: first exponential wait; attempt ``n`` waits ``base * 2**(n-1)``.
        max_backoff_s: cap for one exponential wait (not for a server-given ``Retry-After``).
        max_total_wait_s: give up rather than wait longer than this in total for one request.
        jitter_s: a uniform random ``[0, jitter_s)`` added to every wait.
        rate_limit_wait_s: wait after a burst 429 without ``Retry-After`` (at most the
            server's announced window).
        locked_wait_s: minimum wait after a 423 Locked.
        respect_retry_after: honour ``Retry-After`` when the server sends it.
    """

    max_attempts: int = 6
    backoff_base_s: float = 1.0
    max_backoff_s: float = 30.0
    max_total_wait_s: float = 120.0
    jitter_s: float = 0.5
    rate_limit_wait_s: float = 10.0
    locked_wait_s: float = 2.0
    respect_retry_after: bool = True

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"RetryPolicy.max_attempts must be >= 1, got {self.max_attempts}")
        for name in ("backoff_base_s", "max_backoff_s", "max_total_wait_s", "jitter_s", "rate_limit_wait_s", "locked_wait_s"):
            if getattr(self, name) < 0:
                raise ValueError(f"RetryPolicy.{name} must be >= 0, got {getattr(self, name)}")


def next_wait_s(policy: RetryPolicy, attempt: int, verdict: Verdict, rng: random.Random) -> float:
    """Seconds to wait before retrying after attempt number ``attempt`` (1-based) failed.

    Args:
        policy: the retry policy.
        attempt: the number of the attempt that just failed (1 for the first).
        verdict: the classifier's verdict for that attempt.
        rng: source of jitter (seeded in tests).
    """
    if attempt < 1:
        raise ValueError(f"attempt is 1-based, got {attempt}")
    jitter = rng.uniform(0.0, policy.jitter_s) if policy.jitter_s > 0 else 0.0
    exponential = min(policy.max_backoff_s, policy.backoff_base_s * 2 ** (attempt - 1))
    if policy.respect_retry_after and verdict.retry_after_s is not None:
        # The server said when; exponential growth would only delay. Jitter spreads threads.
        return verdict.retry_after_s + jitter
    if verdict.reason is Reason.RATE_LIMITED:
        # Wait for the window to roll on. The server's interval header bounds it; the policy
        # value caps it (and is what a short test policy shortens).
        window = policy.rate_limit_wait_s
        if verdict.interval_s is not None:
            window = min(window, verdict.interval_s)
        return window + jitter
    if verdict.reason is Reason.LOCKED:
        return max(policy.locked_wait_s, exponential) + jitter
    return exponential + jitter


def should_retry(policy: RetryPolicy, attempt: int, waited_s: float, wait_s: float) -> bool:
    """Whether another attempt fits the policy after ``attempt`` attempts and ``waited_s`` waited."""
    return attempt < policy.max_attempts and waited_s + wait_s <= policy.max_total_wait_s
