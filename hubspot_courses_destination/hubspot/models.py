"""What goes to HubSpot and what comes back: rows, requests, per-row outcomes, counters.

Plain data, no I/O. The per-row types sit on the hot path (one object per row, twice), so
they are slotted, non-frozen dataclasses (see docs/internals.md "Where the time goes").
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Iterable, List, Literal, Mapping, Sequence

__all__ = [
    "PropertyError",
    "UpsertRow",
    "RowOutcome",
    "UpsertResult",
    "OutgoingRequest",
    "ClientStats",
    "Counters",
    "Tally",
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


@dataclass(slots=True)
class OutgoingRequest:
    """One HTTP request as the send loop sends it, attempt after attempt.

    Attributes:
        data: the JSON body, encoded once (not per attempt); ``None`` for no body.
        safe_to_repeat: whether a retry after an ambiguous failure can do no harm.
        row_keys: the rows the request carries, named in its exceptions.
    """

    method: str
    path: str
    url: str
    data: bytes | None = None
    params: Mapping[str, Any] | None = None
    safe_to_repeat: bool = True
    row_keys: Sequence[str] = ()


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


class Tally:
    """Where one request's counts go: the client's counters, and its call's when it has some.

    Requests, answers by status and retries count for both (a batch upsert reports its own);
    waits and transport errors only for the client.
    """

    __slots__ = ("_client", "_all")

    def __init__(self, client: Counters, call: Counters | None = None) -> None:
        self._client = client
        self._all = (client,) if call is None else (client, call)

    def sent(self) -> None:
        for c in self._all:
            c.add("requests_sent")

    def answered(self, status: int) -> None:
        for c in self._all:
            c.status(status)

    def retried(self, wait_s: float) -> None:
        for c in self._all:
            c.add("retries")
        self._client.add("retry_wait_s", wait_s)

    def waited_for_budget(self, waited_s: float) -> None:
        self._client.add("limiter_wait_s", waited_s)

    def transport_error(self) -> None:
        self._client.add("transport_errors")


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
