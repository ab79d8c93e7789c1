"""A deterministic simulation of several processes sharing one rolling burst window.

Each simulated process has its own :class:`RateLimiter` (as separate OS processes would)
and a number of request slots; the simulated server counts a request when it answers it
(after its latency, as the sandbox does) against one rolling window, refuses it with 429
when the window is full and answers with HubSpot's ``X-HubSpot-RateLimit-*`` headers.
Everything runs on one fake clock in fixed steps, so a minute of traffic takes well under
a second and the same seed gives the same figures.
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass, field

from hubspot_courses_destination.hubspot.ratelimit import CongestionLaw, Rate, RateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:  # never called by try_acquire; here for the API
        raise AssertionError("the simulation never blocks")


@dataclass
class Sender:
    limiter: RateLimiter
    slots: int
    start_at: float
    work: int  # requests to complete (None-like large for "forever")
    in_flight: list[tuple[float, object]] = field(default_factory=list)
    ok_times: list[float] = field(default_factory=list)
    refused: int = 0
    finished_at: float | None = None


def simulate(n: int, *, limit: int = 100, latency_s: float = 0.25, slots: int = 8, duration_s: float = 60.0,
             starts: list[float] | None = None, work: int | None = None, control: str = "congestion",
             count_rejected: bool = False, law: CongestionLaw = CongestionLaw(), step_s: float = 0.01,
             seed: int = 1) -> list[Sender]:
    clock = Clock()
    rng = random.Random(seed)
    window: deque[float] = deque()
    senders = [
        Sender(RateLimiter(Rate(limit), clock=clock, sleep=clock.sleep, control=control, law=law,
                           rng=random.Random(seed + i)),
               slots, (starts or [0.0] * n)[i], work if work is not None else 10**9)
        for i in range(n)
    ]
    while clock.now < duration_s:
        clock.now = round(clock.now + step_s, 6)
        while window and clock.now - window[0] >= 10.0:
            window.popleft()
        for s in senders:
            # answers due now: the server counts (or refuses) the request as it answers it
            due = [x for x in s.in_flight if x[0] <= clock.now]
            s.in_flight = [x for x in s.in_flight if x[0] > clock.now]
            for _, permit in due:
                ok = len(window) < limit
                if ok or count_rejected:
                    window.append(clock.now)
                headers = {"X-HubSpot-RateLimit-Max": str(limit), "X-HubSpot-RateLimit-Interval-Milliseconds": "10000",
                           "X-HubSpot-RateLimit-Remaining": str(max(0, limit - len(window)))}
                s.limiter.release(permit, headers, rate_limited=not ok)
                if ok:
                    s.ok_times.append(clock.now)
                    if len(s.ok_times) >= s.work and s.finished_at is None:
                        s.finished_at = clock.now
                else:
                    s.refused += 1
                    s.limiter.rate_limited(10.0)
        for s in senders:
            if clock.now < s.start_at or len(s.ok_times) + len(s.in_flight) >= s.work:
                continue
            while len(s.in_flight) < s.slots:
                permit = s.limiter.try_acquire()
                if permit is None:
                    break
                s.in_flight.append((clock.now + latency_s * rng.uniform(0.8, 1.2), permit))
    return senders


def served_between(senders: list[Sender], t0: float, t1: float) -> list[int]:
    return [sum(1 for t in s.ok_times if t0 <= t < t1) for s in senders]
