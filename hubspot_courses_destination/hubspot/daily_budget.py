"""The daily budget: how much of the portal's remaining daily requests one run may spend.

HubSpot's daily limit is per account: every private app of the portal spends the same count,
which resets at midnight in the account's time zone (docs/hubspot-behaviour.md, "Rate
limits"). A run that spends it all leaves the portal's other integrations nothing until
midnight, so one run spends at most ``daily_budget_share`` of what remained when it started:

- the basis is ``X-HubSpot-RateLimit-Daily-Remaining`` of the run's first answer that carries
  it (the session reads the daily-usage endpoint first, so that answer is usually its own,
  docs/hubspot-behaviour.md, "Daily usage"); without the header, ``usageLimit - currentUsage``
  of that endpoint (a snapshot that may lag);
- the cap is ``floor(share * basis)``; every request the run sends counts (retries too, the
  first request included), whatever thread or session of the portal sends it;
- the request that would pass the cap is not sent: :class:`DailyBudgetReachedError` (terminal
  for dlt, so the load package stays pending and the next run finishes it). Nor is one after
  HubSpot reported 0 remaining (a DAILY 429 would follow).

OAuth tokens get no daily headers (and cannot read the private-app usage): then there is no
cap, said once in the log. The budget starts afresh after HubSpot's ``resetsAt`` (when known).

Pure decisions (:func:`budget_cap`, :func:`may_spend`) plus one small thread-safe object fed
by the client's send loop; no I/O here.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Mapping

from ..errors import DailyBudgetReachedError, DailyLimitExceededError, daily_reset_text
from .classify import RateLimitHeaders

__all__ = [
    "DEFAULT_DAILY_BUDGET_SHARE",
    "BudgetSnapshot",
    "DailyBudget",
    "DailyUsage",
    "budget_cap",
    "may_spend",
    "parse_daily_usage",
]

log = logging.getLogger("hubspot_courses_destination")

DEFAULT_DAILY_BUDGET_SHARE = 0.5
"""Half of what remains of the day: the portal's other integrations keep the rest."""


def budget_cap(share: float, remaining: int) -> int:
    """The most requests a run may send: ``floor(share * remaining)``, never below 0."""
    return max(0, math.floor(share * max(remaining, 0) + 1e-9))


def may_spend(used: int, wanted: int, cap: int | None) -> bool:
    """Whether ``wanted`` more requests fit under ``cap`` after ``used`` (no cap: always)."""
    return cap is None or used + wanted <= cap


@dataclass(frozen=True)
class DailyUsage:
    """The account's daily usage as the daily-usage endpoint reports it (fields may be None)."""

    usage_limit: int | None = None
    current_usage: int | None = None
    resets_at: datetime | None = None

    @property
    def remaining(self) -> int | None:
        if self.usage_limit is None or self.current_usage is None:
            return None
        return max(0, self.usage_limit - self.current_usage)


def parse_daily_usage(body: Any) -> DailyUsage | None:
    """``{"results": [{name, usageLimit, currentUsage, collectedAt, fetchStatus, resetsAt?}]}``
    (docs/hubspot-behaviour.md, "Daily usage"): the first result; None if there is none.

    GUESS: one result stands for the account's shared daily count (the limit is one per
    account); if several come back, the one with the largest ``currentUsage`` is used.
    """
    results = body.get("results") if isinstance(body, Mapping) else None
    rows = [r for r in results if isinstance(r, Mapping)] if isinstance(results, list) else []
    if not rows:
        return None
    row = max(rows, key=lambda r: _whole(r.get("currentUsage")) or 0)
    return DailyUsage(_whole(row.get("usageLimit")), _whole(row.get("currentUsage")), _instant(row.get("resetsAt")))


@dataclass(frozen=True)
class BudgetSnapshot:
    """What the run knows of the day, for messages and the summary (None: unknown)."""

    share: float
    used: int
    cap: int | None
    remaining_at_start: int | None
    remaining: int | None  # the portal's, as last reported (others spend it too)
    resets_at: datetime | None

    @property
    def left_today(self) -> int | None:
        """Requests the portal has left today: the last header, else the start minus ours."""
        if self.remaining is not None:
            return self.remaining
        if self.remaining_at_start is not None:
            return max(0, self.remaining_at_start - self.used)
        return None


class DailyBudget:
    """The run's daily budget for one portal: shared by every client of the portal in the
    process (``session_for`` hands the same one to each). Thread-safe.

    Args:
        share: the part of the remaining daily requests this run may spend, 0 < share <= 1.
        clock: wall-clock seconds since the epoch (injectable), to notice ``resetsAt``.
    """

    def __init__(self, share: float = DEFAULT_DAILY_BUDGET_SHARE, *, clock: Callable[[], float] = time.time) -> None:
        if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 < share <= 1:
            raise ValueError(f"daily budget share must be a number 0 < x <= 1, got {share!r}")
        self.share = float(share)
        self._clock = clock
        self._lock = threading.Lock()
        self._used = 0
        self._start: int | None = None
        self._remaining: int | None = None
        self._resets_at: datetime | None = None
        self._usage_asked = False
        self._no_cap_said = False

    def __repr__(self) -> str:
        s = self.snapshot()
        return f"DailyBudget(share={s.share}, used={s.used}, cap={s.cap})"

    # -- fed by the send loop -------------------------------------------------------------------

    def spend(self) -> None:
        """Count one request about to be sent; raise instead when it would pass the cap."""
        with self._lock:
            self._roll_over()
            if not may_spend(self._used, 1, self._cap()) or self._remaining == 0:
                raise self._reached("the next request")
            self._used += 1

    def reserve(self, requests: int, what: str) -> None:
        """Refuse work of ``requests`` requests that cannot finish under the cap, before any of
        it is sent (a batch of upserts: its rows are then all re-sent by the next run, none
        half-done). Counts nothing; :meth:`spend` counts each request as it goes."""
        with self._lock:
            self._roll_over()
            if requests > 0 and not may_spend(self._used, requests, self._cap()):
                raise self._reached(f"{what} ({requests} request{'s' if requests != 1 else ''})")

    def observe(self, limits: RateLimitHeaders | None) -> None:
        """One answer's rate-limit headers: the first ``Daily-Remaining`` sets the basis."""
        if limits is None or limits.daily_remaining is None:
            return
        with self._lock:
            self._remaining = limits.daily_remaining
            if self._start is None:
                self._start = limits.daily_remaining

    def needs_usage(self) -> bool:
        """True once per day: the caller then reads the daily-usage endpoint (``resetsAt``)."""
        with self._lock:
            self._roll_over()
            asked, self._usage_asked = self._usage_asked, True
            return not asked

    def note_usage(self, usage: DailyUsage | None) -> None:
        """What the daily-usage endpoint said (its answer's headers came through :meth:`observe`
        already); without any header the endpoint's own figures are the basis. Says once when
        no cap can be computed."""
        with self._lock:
            if usage is not None:
                self._resets_at = usage.resets_at or self._resets_at
                if self._start is None and usage.remaining is not None:
                    self._start = usage.remaining
            if self._start is None and not self._no_cap_said:
                self._no_cap_said = True
                log.info(
                    "daily budget: HubSpot reported no daily request count (no "
                    "X-HubSpot-RateLimit-Daily-Remaining header, which OAuth tokens never get, and "
                    "no readable daily usage), so this run has no daily cap"
                )

    def annotate(self, error: DailyLimitExceededError) -> DailyLimitExceededError:
        """Attach what the run knows of the day to a DAILY 429's error."""
        s = self.snapshot()
        error.daily_remaining = 0
        error.resets_at = s.resets_at
        error.daily_cap, error.daily_used = s.cap, s.used
        return error

    def snapshot(self) -> BudgetSnapshot:
        with self._lock:
            return BudgetSnapshot(self.share, self._used, self._cap(), self._start, self._remaining, self._resets_at)

    # -- inside the lock ----------------------------------------------------------------------

    def _cap(self) -> int | None:
        return None if self._start is None else budget_cap(self.share, self._start)

    def _roll_over(self) -> None:
        """After HubSpot's ``resetsAt`` it is a new day: a new basis, a new count."""
        if self._resets_at is not None and self._clock() >= self._resets_at.timestamp():
            self._used, self._start, self._remaining, self._resets_at = 0, None, None, None
            self._usage_asked = False

    def _reached(self, what: str) -> DailyBudgetReachedError:
        cap, used, start = self._cap() or 0, self._used, self._start or 0
        left = self._remaining if self._remaining is not None else max(0, start - used)
        why = (
            "the portal has no requests left today (HubSpot's Daily-Remaining is 0: the portal's "
            "other apps count too)" if left == 0 and used < cap else
            f"it has sent {used:,} of the {cap:,} requests it may send today "
            f"(daily_budget_share={self.share:g} of the {start:,} the portal had left when the run started)"
        )
        error = DailyBudgetReachedError(
            f"This run reached its daily HubSpot budget: {why}, so {what} was not sent. The portal "
            f"has {left:,} requests left today; the count resets {daily_reset_text(self._resets_at)}. "
            "Run again after that, or raise daily_budget_share."
        )
        error.daily_remaining, error.resets_at = left, self._resets_at
        error.daily_cap, error.daily_used = cap, used
        return error


def _whole(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    return None


def _instant(value: Any) -> datetime | None:
    """An ISO-8601 timestamp (``2026-12-02T05:00:00Z``) or epoch milliseconds, as aware UTC."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)) and math.isfinite(value):
        return datetime.fromtimestamp(value / 1000, tz=timezone.utc)
    if isinstance(value, str) and value.strip():
        text = value.strip()
        try:
            when = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
        except ValueError:
            return None
        return when if when.tzinfo is not None else when.replace(tzinfo=timezone.utc)
    return None
