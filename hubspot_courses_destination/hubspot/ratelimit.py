"""Client-side throttle for HubSpot's rolling 10-second burst limit, one per portal/token.

HubSpot counts every request a private app makes in a rolling window
(``X-HubSpot-RateLimit-Interval-Milliseconds``, 10 000 ms) against a per-app maximum
(``X-HubSpot-RateLimit-Max``: 100 on Free/Starter, 190 on Professional/Enterprise).
Going over it gives ``429 TEN_SECONDLY_ROLLING`` for every following call, so the
connector throttles itself *before* sending instead of reacting to 429s.

How budget is counted (conservative, so the server's window can never hold more than
``limit`` of our requests): a request takes one unit of budget from :meth:`RateLimiter.acquire`
and keeps it while it is in flight; when its response arrives (:meth:`RateLimiter.release`)
the unit stays taken for a further ``interval_s + margin_s``. HubSpot counts the request at
some moment between those two points, so by the time we reuse the unit the server's
window has let go of it too. The cost is one response latency per window (about 2.5 %
at 250 ms).

When the server sends ``X-HubSpot-RateLimit-*`` headers the limiter follows them:
``Max`` and ``Interval-Milliseconds`` replace the configured rate, and a ``Remaining``
lower than our own count means someone else (another process, another tool on the
same private app) is spending the budget, so the difference is reserved for one window.
A 429 blocks every caller until :meth:`RateLimiter.backoff` says the window is free.

Time is injectable (``clock`` and ``sleep``) so tests run in zero wall time. Instances are
thread-safe; the destination's sessions (``session.py``) hand every client of one portal
and token in the process the same instance.
"""

from __future__ import annotations

import heapq
import threading
import time
from dataclasses import dataclass
from typing import Callable, Mapping

from .classify import RateLimitHeaders, rate_limit_headers

__all__ = [
    "Rate",
    "Permit",
    "RateLimiter",
    "BURST_INTERVAL_S",
]

BURST_INTERVAL_S = 10.0
"""HubSpot's burst window: requests are counted over a rolling 10 seconds."""


@dataclass(frozen=True)
class Rate:
    """``limit`` requests per rolling ``interval_s`` seconds."""

    limit: int
    interval_s: float = BURST_INTERVAL_S

    def __post_init__(self) -> None:
        if self.limit < 1:
            raise ValueError(f"Rate.limit must be >= 1, got {self.limit}")
        if self.interval_s <= 0:
            raise ValueError(f"Rate.interval_s must be > 0, got {self.interval_s}")


class Permit:
    """One unit (or ``weight`` units) of budget taken by :meth:`RateLimiter.acquire`.

    Hand it back with :meth:`RateLimiter.release` once the response (or the error) is in.
    """

    __slots__ = ("weight", "acquired_at", "waited_s", "released_at")

    def __init__(self, weight: int, acquired_at: float, waited_s: float) -> None:
        self.weight = weight
        self.acquired_at = acquired_at
        self.waited_s = waited_s
        self.released_at: float | None = None

    def __repr__(self) -> str:
        return f"Permit(weight={self.weight}, acquired_at={self.acquired_at:.3f}, waited_s={self.waited_s:.3f})"


class RateLimiter:
    """Thread-safe rolling-window limiter shared by every thread that talks to one portal.

    Args:
        rate: the starting budget, normally the portal's tier (100 or 190 per 10 s).
        clock: monotonic seconds; inject a fake one in tests.
        sleep: blocks the calling thread for the given seconds; inject a fake one in tests.
        margin_s: extra seconds a finished request keeps its budget, on top of the window,
            to absorb timer granularity on either side.
        idle_wait_s: how long a caller waits for an in-flight request to finish before
            looking again, when the whole budget is in flight (woken early on release).
    """

    def __init__(
        self,
        rate: Rate,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        margin_s: float = 0.05,
        idle_wait_s: float = 0.05,
    ) -> None:
        if margin_s < 0:
            raise ValueError(f"margin_s must be >= 0, got {margin_s}")
        if idle_wait_s <= 0:
            raise ValueError(f"idle_wait_s must be > 0, got {idle_wait_s}")
        self._limit = rate.limit
        self._interval_s = rate.interval_s
        self._clock = clock
        self._sleep = sleep
        self._margin_s = margin_s
        self._idle_wait_s = idle_wait_s
        self._cond = threading.Condition(threading.Lock())
        self._in_flight = 0
        # (expires_at, weight) of finished requests and reservations still inside the window
        self._expiring: list[tuple[float, int]] = []
        self._expiring_weight = 0
        self._blocked_until = float("-inf")
        self._acquired_total = 0
        self._waited_s_total = 0.0

    # -- public API -------------------------------------------------------------------

    @property
    def rate(self) -> Rate:
        """The budget in force now (the configured one, or the one the server announced)."""
        with self._cond:
            return Rate(self._limit, self._interval_s)

    @property
    def in_use(self) -> int:
        """Budget units currently taken (in flight plus finished within the window)."""
        with self._cond:
            self._expire(self._clock())
            return self._in_flight + self._expiring_weight

    @property
    def waited_s_total(self) -> float:
        """Seconds callers have spent waiting in :meth:`acquire`, summed over all callers."""
        with self._cond:
            return self._waited_s_total

    @property
    def acquired_total(self) -> int:
        """Number of permits handed out so far."""
        with self._cond:
            return self._acquired_total

    def acquire(self, weight: int = 1) -> Permit:
        """Block until ``weight`` units of budget are free, take them, return the permit."""
        if weight < 1:
            raise ValueError(f"weight must be >= 1, got {weight}")
        with self._cond:
            if weight > self._limit:
                raise ValueError(f"weight {weight} exceeds the rate limit {self._limit}")
            start = self._clock()
            while True:
                now = self._clock()
                self._expire(now)
                wait_s: float | None
                if self._blocked_until > now:
                    wait_s = self._blocked_until - now
                elif self._in_flight + self._expiring_weight + weight <= self._limit:
                    self._in_flight += weight
                    self._acquired_total += 1
                    waited = now - start
                    self._waited_s_total += waited
                    return Permit(weight, now, waited)
                elif self._expiring:
                    wait_s = self._expiring[0][0] - now
                else:
                    wait_s = None  # everything is in flight: wait for a release
                if wait_s is None:
                    self._cond.wait(self._idle_wait_s)
                else:
                    self._cond.release()
                    try:
                        self._sleep(max(wait_s, 0.0))
                    finally:
                        self._cond.acquire()

    def release(self, permit: Permit, headers: RateLimitHeaders | Mapping[str, str] | None = None) -> None:
        """Give back a permit once its response (or failure) arrived; learn from headers.

        ``headers`` are the response's headers, or their rate-limit part already read by
        :func:`~.classify.rate_limit_headers` (the send loop reads them once per response).
        The permit's budget stays taken for one more window (see the module docstring).
        Releasing the same permit twice is a no-op.
        """
        limits = headers if headers is None or isinstance(headers, RateLimitHeaders) else rate_limit_headers(headers)
        with self._cond:
            if permit.released_at is not None:
                return
            now = self._clock()
            permit.released_at = now
            self._in_flight -= permit.weight
            if limits is not None:
                self._follow_headers(limits)
            self._reserve(now + self._interval_s + self._margin_s, permit.weight)
            if limits is not None:
                self._resync_remaining(limits, now)
            self._cond.notify_all()

    def backoff(self, wait_s: float) -> None:
        """Hold every caller for ``wait_s`` seconds, e.g. after a 429 from the server."""
        if wait_s <= 0:
            return
        with self._cond:
            self._blocked_until = max(self._blocked_until, self._clock() + wait_s)
            self._cond.notify_all()

    def set_rate(self, rate: Rate) -> None:
        """Replace the budget (what headers do automatically)."""
        with self._cond:
            self._limit = rate.limit
            self._interval_s = rate.interval_s
            self._cond.notify_all()

    def __repr__(self) -> str:
        return f"RateLimiter(limit={self._limit}, interval_s={self._interval_s})"

    # -- internals (call with the lock held) -------------------------------------------

    def _expire(self, now: float) -> None:
        while self._expiring and self._expiring[0][0] <= now:
            _, weight = heapq.heappop(self._expiring)
            self._expiring_weight -= weight

    def _reserve(self, expires_at: float, weight: int) -> None:
        heapq.heappush(self._expiring, (expires_at, weight))
        self._expiring_weight += weight

    def _follow_headers(self, limits: RateLimitHeaders) -> None:
        if limits.interval_s is not None:
            self._interval_s = limits.interval_s
        if limits.limit is not None:
            self._limit = limits.limit

    def _resync_remaining(self, limits: RateLimitHeaders, now: float) -> None:
        remaining = limits.remaining
        if remaining is None:
            return
        server_used = self._limit - max(remaining, 0)
        local_used = self._in_flight + self._expiring_weight
        if server_used > local_used:
            # Someone else spends this budget too; hold their share for one window.
            self._reserve(now + self._interval_s + self._margin_s, server_used - local_used)


# -- process-wide registry ---------------------------------------------------------------
