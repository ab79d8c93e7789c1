"""What goes into a batch upsert and what comes out: rows, per-row outcomes, call counters.

Plain data, no I/O. The per-row types sit on the hot path (one object per row, twice), so
they are slotted, non-frozen dataclasses (see docs/internals.md "Where the time goes").
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Iterable, List, Literal, Mapping

__all__ = [
    "PropertyError",
    "UpsertRow",
    "RowOutcome",
    "UpsertResult",
    "ClientStats",
    "Counters",
]


@dataclass(frozen=True)
class PropertyError:
    """One property-level failure from ``Property values were not valid: [...]``."""

    name: str | None
    code: str | None
    message: str | None


# one per row: slots and no frozen __init__ (object.__setattr__ per field made it 5x slower)
@dataclass(slots=True)
class UpsertRow:
    """One record to upsert: its unique key (the ``idProperty`` value) and its properties."""

    key: str
    properties: Mapping[str, str]
    trace_id: str | None = None

    def __repr__(self) -> str:
        # property values may be personal data: show only their names
        return f"UpsertRow(key={self.key!r}, properties=<{len(self.properties)} values>, trace_id={self.trace_id!r})"


# one per row: slots and no frozen __init__ (object.__setattr__ per field made it 5x slower)
@dataclass(slots=True)
class RowOutcome:
    """What happened to one input row of a batch upsert."""

    key: str
    trace_id: str | None
    status: Literal["created", "updated", "rejected"]
    hubspot_id: str | None = None
    category: str | None = None
    code: str | None = None
    message: str | None = None
    property_errors: tuple[PropertyError, ...] = ()

    @property
    def ok(self) -> bool:
        return self.status != "rejected"


@dataclass(frozen=True)
class ClientStats:
    """A snapshot of the client's counters (see :attr:`HubSpotClient.stats`)."""

    requests_sent: int = 0
    responses_by_status: Mapping[int, int] = field(default_factory=dict)
    rate_limited_429: int = 0
    transport_errors: int = 0
    retries: int = 0
    retry_wait_s: float = 0.0
    limiter_wait_s: float = 0.0
    rows_resent_after_omission: int = 0

    @property
    def total_wait_s(self) -> float:
        """Seconds spent waiting: retry backoff plus waits for rate-limit budget (all threads)."""
        return self.retry_wait_s + self.limiter_wait_s


class Counters:
    """Thread-safe mutable counters behind :class:`ClientStats`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: dict[str, Any] = {}
        self._by_status: dict[int, int] = {}

    def add(self, name: str, amount: float = 1) -> None:
        with self._lock:
            self._values[name] = self._values.get(name, 0) + amount

    def status(self, status: int) -> None:
        with self._lock:
            self._by_status[status] = self._by_status.get(status, 0) + 1
            if status == 429:
                self._values["rate_limited_429"] = self._values.get("rate_limited_429", 0) + 1

    def snapshot(self) -> ClientStats:
        with self._lock:
            return ClientStats(responses_by_status=dict(self._by_status), **self._values)


class UpsertResult(List[RowOutcome]):
    """:meth:`HubSpotClient.batch_upsert` outcomes in input order, plus what the call cost.

    The client's ``stats`` are shared by every thread; these figures belong to one call,
    so a caller running several calls at once can still attribute requests correctly.
    """

    def __init__(self, outcomes: Iterable[RowOutcome] = (), stats: ClientStats | None = None) -> None:
        super().__init__(outcomes)
        stats = stats or ClientStats()
        self.requests: int = stats.requests_sent
        self.responses_429: int = stats.rate_limited_429
        self.retries: int = stats.retries
