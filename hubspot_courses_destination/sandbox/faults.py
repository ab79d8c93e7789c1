"""Injected failures, so clients can be tested against HubSpot's transient errors.

Faults are taken per request, either from a schedule ("the next N matching requests") or by a
seeded probability; schedules win. Which kinds exist and what they mean is fixed in
docs/internals.md ("Sandbox"); the status codes and advice come from
docs/hubspot-behaviour.md, "Retrying".
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass
from typing import Mapping

FAULT_KINDS = frozenset({"502", "503", "504", "423", "429", "reset", "write_then_drop", "slow"})


@dataclass
class Fault:
    """One fault to apply to one request."""

    kind: str
    delay_ms: int = 0


@dataclass
class _Rule:
    kind: str
    remaining: int
    path_contains: str | None
    method: str | None
    delay_ms: int

    def matches(self, method: str, path: str) -> bool:
        return (self.path_contains is None or self.path_contains in path) and (
            self.method is None or self.method.upper() == method.upper()
        )


class FaultInjector:
    """Thread-safe fault schedule plus seeded random faults."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[_Rule] = []
        self._rates: dict[str, float] = {}
        self._rates_path: str | None = None
        self._rates_delay_ms = 0
        self._rng = random.Random(0)

    def add(
        self,
        kind: str,
        times: int = 1,
        path_contains: str | None = None,
        delay_ms: int = 0,
        method: str | None = None,
    ) -> None:
        """Apply `kind` to the next `times` requests whose path contains `path_contains`."""
        _check_kind(kind)
        if times < 1:
            raise ValueError("times must be >= 1")
        with self._lock:
            self._rules.append(_Rule(kind, times, path_contains, method, delay_ms))

    def set_rates(
        self,
        rates: Mapping[str, float],
        seed: int | None = None,
        path_contains: str | None = None,
        delay_ms: int = 1000,
    ) -> None:
        """Fail each matching request with kind k with probability rates[k], reproducibly."""
        for k, p in rates.items():
            _check_kind(k)
            if not 0 <= p <= 1:
                raise ValueError(f"rate for {k} must be within [0, 1]")
        if sum(rates.values()) > 1:
            raise ValueError("fault rates must add up to at most 1")
        with self._lock:
            self._rates = dict(rates)
            self._rates_path = path_contains
            self._rates_delay_ms = delay_ms
            self._rng = random.Random(seed)

    def clear(self) -> None:
        """Remove every scheduled and random fault."""
        with self._lock:
            self._rules.clear()
            self._rates = {}
            self._rates_path = None

    def pending(self) -> int:
        """Scheduled faults not yet taken (lets tests assert a schedule was used up)."""
        with self._lock:
            return sum(r.remaining for r in self._rules)

    def take(self, method: str, path: str) -> Fault | None:
        """The fault for this request, if any; consumes one scheduled use."""
        with self._lock:
            for rule in self._rules:
                if rule.matches(method, path):
                    rule.remaining -= 1
                    if rule.remaining <= 0:
                        self._rules.remove(rule)
                    return Fault(rule.kind, rule.delay_ms)
            if self._rates and (self._rates_path is None or self._rates_path in path):
                x = self._rng.random()
                acc = 0.0
                for kind in sorted(self._rates):
                    acc += self._rates[kind]
                    if x < acc:
                        return Fault(kind, self._rates_delay_ms if kind == "slow" else 0)
        return None


def _check_kind(kind: str) -> None:
    if kind not in FAULT_KINDS:
        raise ValueError(f"unknown fault kind {kind!r}; expected one of {sorted(FAULT_KINDS)}")
