"""What passes between the HTTP transport (server.py) and the API (api.py).

A leaf module, so the transport and the API depend on it and never on each other: the server
knows nothing of HubSpot, and the API nothing of sockets.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class ApiRequest:
    """One HTTP request, already read off the wire. `path` has no trailing slash and no query;
    `base_url` is where the server listens (paging links point back at it); `received_at` is
    `time.monotonic()` when the request arrived, so durations include reading the body."""

    method: str
    path: str
    query: dict[str, list[str]]
    authorization: str | None
    body: bytes
    client_port: int
    base_url: str
    received_at: float


@dataclass(frozen=True)
class ApiResponse:
    """The answer to send. `status` None means send nothing and reset the connection, as a
    connection cut in flight looks to the client."""

    status: int | None
    body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)


class Responder(Protocol):
    """Anything that answers requests; the HTTP server is built around one."""

    def handle(self, request: ApiRequest) -> ApiResponse: ...
