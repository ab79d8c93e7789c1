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

That is the ``solo`` control law: right for one process, wasteful for several sharing one
private app (each believes it owns the whole budget, so they overrun the window together
and spend whole windows backed off). The default ``congestion`` law
(:class:`CongestionWindow`) treats the budget as a shared link: it estimates what the
other senders hold from ``Remaining``, keeps a congestion window of its own share that it
cuts multiplicatively when the server's window is full while others spend (or on a 429)
and grows additively while it is the bottleneck. With no one else on the token it never
cuts, so one process behaves exactly as under ``solo``. docs/internals.md, "Sharing the
burst limit (congestion control)", explains the law and its constants.

Processes on one machine can do better than the headers: with ``shared`` (the setting
``shared_budget_dir``, ``shared_budget.py``) every permit also passes a ledger file that all
of them count in, and the law then sees the machine's use as its own.

Time is injectable (``clock`` and ``sleep``) so tests run in zero wall time. Instances are
thread-safe; the destination's sessions (``session.py``) hand every client of one portal
and token in the process the same instance.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
import random
import threading
import time
from dataclasses import dataclass
from typing import Callable, Mapping

from .classify import RateLimitHeaders, rate_limit_headers
from .shared_budget import SharedBudget, Ticket, Usage

__all__ = [
    "Rate",
    "Permit",
    "RateLimiter",
    "CongestionLaw",
    "CongestionWindow",
    "CONTROLS",
    "BURST_INTERVAL_S",
]

CONTROLS = ("congestion", "solo")
"""Values of ``control`` (the ``rate_limit_control`` setting): share the budget, or own it."""

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


@dataclass(frozen=True)
class CongestionLaw:
    """The constants of the ``congestion`` law (docs/internals.md explains each figure).

    Shares are fractions of the server's ``Max``; a unit is one request in the window.

    Attributes:
        initial_window: units a process may hold before it has seen any answer. Slow start
            then adds two per clean answer while no one else is seen (doubling the requests
            in flight per round trip, so one process is not held back by it), one per clean
            answer once others are, and never more than this many beyond what it holds.
        pressure_share: ``Remaining`` at or below this share of ``Max`` while others spend
            means the shared window is full: a congestion signal.
        pressure_decrease: the multiplicative decrease on that signal, weighted by this
            process's share ``s`` of the window: the window becomes ``held x (1 - d x s)``
            (or less, by the measured overload; docs/internals.md), so the largest holders
            give most and a process among many does not cut the aggregate by ``d`` each time.
        rate_limited_decrease: the same for a 429 (the window overran); a lone process
            (``s = 1``) halves.
        increase_share: the additive increase per window in which the congestion window
            was what held this process back.
        floor_share: the smallest congestion window (at least one unit): no process starves.
        others_tolerance: units of ``Max - Remaining`` above this process's own count that
            are not yet "someone else" (a check request of the same process, rounding).
        pause_s: how long every thread holds after a 429; doubled for each further 429 in a
            row, at most one interval.
        jitter: holds are scaled by a uniform factor in ``[1 - jitter, 1 + jitter]`` so
            processes that overran together do not come back together.
    """

    initial_window: int = 4
    pressure_share: float = 0.05
    pressure_decrease: float = 0.2
    rate_limited_decrease: float = 0.5
    increase_share: float = 0.02
    floor_share: float = 0.02
    others_tolerance: int = 1
    pause_s: float = 1.0
    jitter: float = 0.5

    def __post_init__(self) -> None:
        if self.initial_window < 1:
            raise ValueError(f"CongestionLaw.initial_window must be >= 1, got {self.initial_window}")
        for name in ("pressure_decrease", "rate_limited_decrease"):
            if not 0 < getattr(self, name) < 1:
                raise ValueError(f"CongestionLaw.{name} must be in (0, 1), got {getattr(self, name)}")
        for name in ("pressure_share", "increase_share", "floor_share", "jitter"):
            if not 0 <= getattr(self, name) < 1:
                raise ValueError(f"CongestionLaw.{name} must be in [0, 1), got {getattr(self, name)}")
        if self.pause_s < 0 or self.others_tolerance < 0:
            raise ValueError("CongestionLaw.pause_s and others_tolerance must be >= 0")


class CongestionWindow:
    """One process's share of a burst budget that others spend too, learnt from headers.

    Pure state and arithmetic, no lock and no clock of its own: :class:`RateLimiter` calls
    it under its lock with the time. Two estimates and one control variable:

    - ``others`` (units): what the server counts beyond this process's own requests, read
      from ``Max - Remaining`` on every answer and assumed to run out evenly over one
      interval (their requests leave the rolling window at some point of it);
    - others in flight: requests the others have sent that the server has not counted yet
      (:meth:`others_in_flight`);
    - ``cwnd`` (units per interval): this process's own share; multiplicative decrease on
      congestion, additive increase while it binds (AIMD, which converges to equal shares).
    """

    def __init__(self, law: CongestionLaw = CongestionLaw(), rng: random.Random | None = None) -> None:
        self.law = law
        self._rng = rng or random.Random()
        self.cwnd = float(law.initial_window)
        self.slow_start = True
        self._others = 0.0
        self._others_at = float("-inf")
        self._others_seen_at = float("-inf")
        self._last_decrease = float("-inf")
        self._epoch_start: float | None = None
        self._limited = False
        self._rate_limited_run = 0
        self._readings: deque[tuple[float, float]] = deque()  # (time, others) over the last round trip
        self._rtt_s = 0.0
        self.decreases = 0

    # -- estimates ------------------------------------------------------------------------

    def others(self, now: float, interval_s: float) -> float:
        """Units the others hold in the server's window now (the last reading, decayed)."""
        age = now - self._others_at
        if self._others <= 0 or age >= interval_s:
            return 0.0
        return self._others * (1.0 - max(age, 0.0) / interval_s)

    def others_in_flight(self, now: float, interval_s: float, own_held: int, own_in_flight: int) -> float:
        """The others' requests on their way, not yet in ``Remaining``: the larger of two
        guesses: as many per unit held as this process has, and (Little's law) what their
        count grew by over the last round trip."""
        others = self.others(now, interval_s)
        if others <= 0:
            return 0.0
        mirrored = others / max(own_held, 1) * own_in_flight
        grew = 0.0
        if self._readings and now - self._others_at <= 2 * self._rtt_s:
            # only while the readings are fresh: those in flight then have landed since
            grew = self._others - self._readings[0][1]
        return max(mirrored, grew)

    def window(self, limit: int) -> int:
        """Units this process may hold now."""
        return max(1, min(limit, math.floor(self.cwnd + 1e-9)))

    # -- signals ----------------------------------------------------------------------------

    def note_limited(self, now: float) -> None:
        """The congestion window (not the others) held a request back: it may grow."""
        self._limited = True
        if self._epoch_start is None:
            self._epoch_start = now

    def on_answer(self, now: float, *, limit: int, interval_s: float, remaining: int | None,
                  own_in_flight: int, own_held: int, weight: int = 1, rate_limited: bool = False,
                  rtt_s: float | None = None) -> None:
        """Learn from one answer: its ``Remaining`` (if sent), whether it was a 429, and
        how long it took (``rtt_s``)."""
        if self._epoch_start is None:
            self._epoch_start = now
        if rtt_s is not None and rtt_s >= 0:
            self._rtt_s = rtt_s if self._rtt_s == 0 else 0.8 * self._rtt_s + 0.2 * rtt_s
        others_now = False
        if remaining is not None:
            server_used = limit - max(remaining, 0)
            others = server_used - own_in_flight - own_held
            if not self._readings:
                self._readings.append((now - self._rtt_s, 0.0))  # nothing was counted before we began
            self._readings.append((now, float(max(others, 0))))
            while len(self._readings) > 1 and self._readings[1][0] <= now - self._rtt_s:
                self._readings.popleft()
            if others > self.law.others_tolerance:
                self._others, self._others_at, self._others_seen_at = float(others), now, now
                others_now = True
            else:
                self._others, self._others_at = 0.0, now
            if others_now and remaining <= self.law.pressure_share * limit:
                self._decrease(now, self.law.pressure_decrease, limit, interval_s, own_in_flight + own_held,
                               demand=server_used + own_in_flight + self.others_in_flight(now, interval_s, own_held, own_in_flight))
        if rate_limited:
            return
        self._rate_limited_run = 0
        if self.slow_start:
            if self._others_seen_at == float("-inf"):
                # alone so far: an answer does not free its unit (held for a window), so two
                # more units per clean answer double the requests in flight per round trip
                self.cwnd = min(float(limit), self.cwnd + 2 * weight)
            else:
                # others spend too: one more unit per clean answer, never more than one initial
                # window beyond what is held (a process held back by the others' estimate
                # learns nothing about its share from a clean answer)
                self.cwnd = min(float(limit), self.cwnd + weight,
                                float(own_in_flight + own_held + self.law.initial_window))
            return
        if not others_now and now - self._others_seen_at > interval_s and now - self._last_decrease > interval_s:
            self.slow_start = True  # alone again for a whole window: the budget is ours
            return
        if (self._limited and remaining is not None and now - self._last_decrease >= interval_s
                and remaining - self.others_in_flight(now, interval_s, own_held, own_in_flight) > 2 * self.law.pressure_share * limit):
            # the share binds and the server's window has room the others are not about to
            # take (one of them finished, or cut): reclaim it as fast as slow start would
            self.cwnd = min(float(limit), self.cwnd + weight, float(own_in_flight + own_held + self.law.initial_window))
        if now - self._epoch_start >= interval_s:
            if self._limited:
                self.cwnd = min(float(limit), self.cwnd + max(1.0, self.law.increase_share * limit))
            self._epoch_start, self._limited = now, False

    def on_rate_limited(self, now: float, *, limit: int, interval_s: float, own_used: int, own_in_flight: int = 0) -> float:
        """A 429 for the burst window: cut the share; returns how long every thread holds."""
        self._decrease(now, self.law.rate_limited_decrease, limit, interval_s, own_used,
                       demand=limit + own_in_flight + self.others_in_flight(now, interval_s, own_used - own_in_flight, own_in_flight))
        self._rate_limited_run += 1
        hold = min(interval_s, self.law.pause_s * 2 ** (self._rate_limited_run - 1))
        return hold * self._rng.uniform(1 - self.law.jitter, 1 + self.law.jitter)

    def _decrease(self, now: float, depth: float, limit: int, interval_s: float, own_used: int,
                  demand: float = 0.0) -> None:
        # once per interval: the answers of the next interval still show the window the cut
        # has not had time to empty, and cutting on each of them would collapse the share
        if now - self._last_decrease < interval_s:
            return
        floor = max(1.0, self.law.floor_share * limit)
        held = float(max(own_used, 1))
        share = held / (held + self.others(now, interval_s))
        factor = 1.0 - depth * share
        # the window overran (or is about to) by demand / target: every sender scaling its
        # share by that brings the sum back under the target, however many there are
        target = (1.0 - self.law.pressure_share) * limit
        if demand > target:
            factor = min(factor, target / demand)
        # cut what is really held (slow start may have run ahead of it), never below the floor
        cut = min(self.cwnd, held) * factor
        others = self.others(now, interval_s)
        if held > others:
            # holding more than everyone else together is more than a fair share however
            # many the others are: give back down to half of the target at once
            cut = min(cut, max(target / 2, others))
        self.cwnd = max(floor, cut)
        self.slow_start = False
        self._last_decrease = now
        self._epoch_start, self._limited = now, False
        self.decreases += 1

    def __repr__(self) -> str:
        return f"CongestionWindow(cwnd={self.cwnd:.1f}, slow_start={self.slow_start})"


class Permit:
    """One unit (or ``weight`` units) of budget taken by :meth:`RateLimiter.acquire`.

    Hand it back with :meth:`RateLimiter.release` once the response (or the error) is in.
    """

    __slots__ = ("weight", "acquired_at", "waited_s", "released_at", "ticket")

    def __init__(self, weight: int, acquired_at: float, waited_s: float, ticket: Ticket | None = None) -> None:
        self.weight = weight
        self.acquired_at = acquired_at
        self.waited_s = waited_s
        self.released_at: float | None = None
        self.ticket = ticket  # the entry in the shared ledger, if there is one

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
        control: ``"congestion"`` (default) shares the budget with other senders on the
            same token (:class:`CongestionWindow`); ``"solo"`` is the law before it: the
            budget is all ours, others' observed use is reserved for one window, a 429
            holds everyone for the retry policy's wait.
        law: the constants of the ``congestion`` law.
        rng: jitter source of the ``congestion`` law; seed it in tests.
        shared: the machine's ledger for this portal and token (``shared_budget.py``): an
            extra gate every permit passes, so the processes of one machine never hold more
            than the limit together. The headers then measure only what it does not count
            (other machines), and the control law sees the machine's use as its own.
    """

    def __init__(
        self,
        rate: Rate,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        margin_s: float = 0.05,
        idle_wait_s: float = 0.05,
        control: str = "congestion",
        law: CongestionLaw = CongestionLaw(),
        rng: random.Random | None = None,
        shared: SharedBudget | None = None,
    ) -> None:
        if control not in CONTROLS:
            raise ValueError(f"control must be one of {', '.join(CONTROLS)}, got {control!r}")
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
        self.control = control
        self._congestion = CongestionWindow(law, rng) if control == "congestion" else None
        self.shared = shared
        self._shared_until = float("-inf")  # the ledger said: nothing frees before then

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
    def congestion(self) -> CongestionWindow | None:
        """The ``congestion`` law's state (``None`` under ``solo``), for figures and tests."""
        return self._congestion

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
                elif self._congestion is not None:
                    wait_s = self._congestion_wait(now, weight)
                    if wait_s == 0.0:
                        taken = self._take(now, weight, now - start)
                        if isinstance(taken, Permit):
                            return taken
                        wait_s = taken
                elif self._in_flight + self._expiring_weight + weight <= self._limit:
                    taken = self._take(now, weight, now - start)
                    if isinstance(taken, Permit):
                        return taken
                    wait_s = taken
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

    def try_acquire(self, weight: int = 1) -> Permit | None:
        """Take ``weight`` units if they are free now, else ``None`` (never waits)."""
        if weight < 1:
            raise ValueError(f"weight must be >= 1, got {weight}")
        with self._cond:
            now = self._clock()
            self._expire(now)
            if self._blocked_until > now:
                return None
            if self._congestion is not None:
                free = self._congestion_wait(now, weight) == 0.0
            else:
                free = self._in_flight + self._expiring_weight + weight <= self._limit
            if not free:
                return None
            taken = self._take(now, weight, 0.0)
            return taken if isinstance(taken, Permit) else None

    def release(
        self, permit: Permit, headers: RateLimitHeaders | Mapping[str, str] | None = None, *,
        rate_limited: bool = False,
    ) -> None:
        """Give back a permit once its response (or failure) arrived; learn from headers.

        ``headers`` are the response's headers, or their rate-limit part already read by
        :func:`~.classify.rate_limit_headers` (the send loop reads them once per response).
        The permit's budget stays taken for one more window (see the module docstring).
        ``rate_limited``: the answer was a burst 429 (then call :meth:`rate_limited` too).
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
            # with a shared ledger the machine's use is "ours": headers then show the rest
            own = Usage(self._in_flight, self._expiring_weight)
            if permit.ticket is not None and self.shared is not None:
                own = self.shared.release(permit.ticket, self._interval_s + self._margin_s)
            if self._congestion is not None:
                self._congestion.on_answer(
                    now, limit=self._limit, interval_s=self._interval_s,
                    remaining=limits.remaining if limits is not None else None,
                    own_in_flight=own.in_flight, own_held=own.held, weight=permit.weight,
                    rate_limited=rate_limited, rtt_s=now - permit.acquired_at,
                )
            elif limits is not None:
                self._resync_remaining(limits, now, own.in_flight + own.held)
            self._cond.notify_all()

    def backoff(self, wait_s: float) -> None:
        """Hold every caller for ``wait_s`` seconds, e.g. after a 429 from the server."""
        if wait_s <= 0:
            return
        with self._cond:
            self._blocked_until = max(self._blocked_until, self._clock() + wait_s)
            self._cond.notify_all()

    def rate_limited(self, wait_s: float, *, retry_after: bool = False) -> float:
        """The server refused a request for the burst window; hold every caller, return for how long.

        ``wait_s`` is the retry policy's wait. Under ``solo`` every caller holds for it.
        Under ``congestion`` the share is cut (:meth:`CongestionWindow.on_rate_limited`) and
        the hold is the law's short jittered pause: the estimate of what others hold then
        paces the way back in. A server-given ``Retry-After`` (``retry_after``) is always
        honoured in full.
        """
        if self._congestion is None:
            self.backoff(wait_s)
            return wait_s
        with self._cond:
            now = self._clock()
            self._expire(now)
            hold = self._congestion.on_rate_limited(
                now, limit=self._limit, interval_s=self._interval_s,
                own_used=self._in_flight + self._expiring_weight, own_in_flight=self._in_flight,
            )
        hold = max(hold, wait_s) if retry_after else hold
        self.backoff(hold)
        return hold

    def set_rate(self, rate: Rate) -> None:
        """Replace the budget (what headers do automatically)."""
        with self._cond:
            self._limit = rate.limit
            self._interval_s = rate.interval_s
            self._cond.notify_all()

    def __repr__(self) -> str:
        return f"RateLimiter(limit={self._limit}, interval_s={self._interval_s})"

    # -- internals (call with the lock held) -------------------------------------------

    def _take(self, now: float, weight: int, waited: float) -> Permit | float | None:
        """Take the budget the local law allows, if the shared ledger (if any) agrees;
        else how long to wait (``None``: until a release)."""
        ticket = None
        if self.shared is not None:
            if self._shared_until > now:
                return self._shared_until - now  # a thread of ours was just told when: no herd
            ticket, wait_s = self.shared.try_acquire(weight, self._limit, self._interval_s + self._margin_s)
            if ticket is None:
                # look again at least every second: a larger Max from the headers frees units too
                wait_s = self._idle_wait_s if wait_s is None else min(max(wait_s, 0.001), 1.0)
                self._shared_until = now + wait_s
                return wait_s
        self._in_flight += weight
        self._acquired_total += 1
        self._waited_s_total += waited
        return Permit(weight, now, waited, ticket)

    def _congestion_wait(self, now: float, weight: int) -> float | None:
        """0.0: take the budget now; else seconds to wait (``None``: until a release)."""
        cw = self._congestion
        assert cw is not None
        own = self._in_flight + self._expiring_weight
        next_expiry = self._expiring[0][0] - now if self._expiring else None
        if weight > cw.window(self._limit) and own == 0:
            return 0.0  # a request heavier than the share still goes out, alone
        if own + weight > cw.window(self._limit):
            cw.note_limited(now)
            return next_expiry
        others = cw.others(now, self._interval_s)
        coming = cw.others_in_flight(now, self._interval_s, self._expiring_weight, self._in_flight)
        excess = own + others + coming + weight - self._limit
        if excess <= 1e-9:
            return 0.0
        # the others' reading runs out evenly over one interval: when has enough of it gone?
        decay_s = self._interval_s * excess / others if others > 0 else None
        waits = [w for w in (next_expiry, decay_s) if w is not None]
        if self._in_flight:
            # an answer changes the estimate (fewer of ours, and so of theirs, in flight)
            waits.append(self._idle_wait_s)
        return max(min(waits), 0.001) if waits else None

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

    def _resync_remaining(self, limits: RateLimitHeaders, now: float, local_used: int) -> None:
        remaining = limits.remaining
        if remaining is None:
            return
        server_used = self._limit - max(remaining, 0)
        if server_used > local_used:
            # Someone else spends this budget too; hold their share for one window.
            self._reserve(now + self._interval_s + self._margin_s, server_used - local_used)

