"""HubSpot's rate limits: a rolling 10-second window per token and a daily count per portal.

docs/hubspot-behaviour.md, "Rate limits": "each private app will have its own separate burst
limit" while "all private apps in a HubSpot account collectively share the daily rate limit".
The headers: docs/hubspot-behaviour.md, "Response headers".

Decision (documented GUESS): requests answered 429 do NOT count against either limit by
default. HubSpot says an app over its limit "will receive a 429 for all subsequent API calls"
(docs/hubspot-behaviour.md, "Rate limits"), which holds here while the window is full; whether
the refused calls themselves extend the lock-out is unconfirmed. `count_rejected=True` makes
them count, for stricter client tests.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

WINDOW_MS = 10_000


@dataclass(frozen=True)
class Decision:
    """Outcome of one request against the limits, with the values for the headers."""

    allowed: bool
    policy: str | None  # "TEN_SECONDLY_ROLLING" or "DAILY" when refused
    headers: dict[str, str]


class RateLimits:
    """Thread-safe counters; `clock` is injectable so tests need not wait ten seconds."""

    def __init__(
        self,
        per_10s: int = 100,
        daily: int = 250_000,
        clock: Callable[[], float] = time.monotonic,
        count_rejected: bool = False,
    ) -> None:
        self.per_10s = per_10s
        self.daily = daily
        self.count_rejected = count_rejected
        self._clock = clock
        self._lock = threading.Lock()
        self._windows: dict[str, deque[float]] = {}
        self._daily_used = 0
        self._day = self._today()

    @staticmethod
    def _today() -> str:
        # GUESS: the daily count resets at midnight UTC; HubSpot uses the portal's time zone
        # (docs/hubspot-behaviour.md, "Rate limits").
        return datetime.now(timezone.utc).date().isoformat()

    def spend_daily(self, requests: int) -> None:
        """Count requests other apps of the portal sent today (the daily limit is the account's)."""
        with self._lock:
            self._roll_day()
            self._daily_used += max(0, requests)

    def daily_usage(self, *, with_resets_at: bool) -> dict[str, Any]:
        """One result of `GET /account-info/{v3,2026-09}/api-usage/daily/private-apps`
        (docs/hubspot-behaviour.md, "Daily usage"). GUESS: the `name` value and that the
        figures are live (HubSpot's `currentUsage` is observed to lag behind the headers);
        `resetsAt` only in the 2026-09 family, at the sandbox's midnight (UTC, see `_today`)."""
        with self._lock:
            self._roll_day()
            now = datetime.now(timezone.utc)
            out: dict[str, Any] = {
                "name": "api-calls-daily", "usageLimit": self.daily, "currentUsage": self._daily_used,
                "collectedAt": now.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                "fetchStatus": "SUCCESS",
            }
            if with_resets_at:
                midnight = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), timezone.utc)
                out["resetsAt"] = midnight.isoformat(timespec="milliseconds").replace("+00:00", "Z")
            return out

    def _roll_day(self) -> None:
        today = self._today()
        if today != self._day:
            self._day, self._daily_used = today, 0

    def reset(self) -> None:
        with self._lock:
            self._windows.clear()
            self._daily_used = 0

    def _headers(self, window: deque[float]) -> dict[str, str]:
        # docs/hubspot-behaviour.md, "Response headers".
        return {
            "X-HubSpot-RateLimit-Daily": str(self.daily),
            "X-HubSpot-RateLimit-Daily-Remaining": str(max(0, self.daily - self._daily_used)),
            "X-HubSpot-RateLimit-Interval-Milliseconds": str(WINDOW_MS),
            "X-HubSpot-RateLimit-Max": str(self.per_10s),
            "X-HubSpot-RateLimit-Remaining": str(max(0, self.per_10s - len(window))),
        }

    def _window(self, token: str | None, now: float) -> deque[float]:
        window = self._windows.setdefault(token or "", deque())
        while window and now - window[0] >= WINDOW_MS / 1000:
            window.popleft()
        return window

    def peek(self, token: str | None) -> dict[str, str]:
        """Headers without counting (for answers given before a request is attributed, e.g. 401)."""
        with self._lock:
            return self._headers(self._window(token, self._clock()))

    def check(self, token: str) -> Decision:
        """Count one request for `token`, or refuse it with the policy that was hit."""
        with self._lock:
            self._roll_day()
            now = self._clock()
            window = self._window(token, now)
            policy = None
            if self._daily_used >= self.daily:
                policy = "DAILY"
            elif len(window) >= self.per_10s:
                policy = "TEN_SECONDLY_ROLLING"
            if policy is None or self.count_rejected:
                window.append(now)
                self._daily_used += 1
            return Decision(policy is None, policy, self._headers(window))
