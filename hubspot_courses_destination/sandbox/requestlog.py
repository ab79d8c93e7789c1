"""The request log: what the sandbox saw, for tests to assert on without going through HTTP."""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass


@dataclass(frozen=True)
class RequestLogEntry:
    """One request as the sandbox saw it. `status` is None when no answer was sent (a dropped
    connection); `fault` names the injected fault, if any; `token_hash` tells tokens apart
    (a sha256 prefix: logs of the sandbox may end up in CI output)."""

    method: str
    path: str
    status: int | None
    n_inputs: int | None
    fault: str | None
    token_hash: str | None
    correlation_id: str
    client_port: int
    duration_ms: float


def token_hash(token: str | None) -> str | None:
    """A short fingerprint that tells tokens apart without revealing them."""
    return hashlib.sha256(token.encode()).hexdigest()[:12] if token else None


class RequestLog:
    """Thread-safe, append-only until cleared; readers get copies."""

    def __init__(self) -> None:
        self._entries: list[RequestLogEntry] = []
        self._lock = threading.Lock()

    def add(self, entry: RequestLogEntry) -> None:
        with self._lock:
            self._entries.append(entry)

    def entries(self) -> list[RequestLogEntry]:
        """A copy of the entries, oldest first."""
        with self._lock:
            return list(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def count(self, method: str, path_suffix: str, status: int | None = None) -> int:
        """Entries with this method whose path ends with `path_suffix` (any status if None)."""
        with self._lock:
            return sum(
                1 for e in self._entries
                if e.method == method.upper() and e.path.endswith(path_suffix)
                and (status is None or e.status == status)
            )
