"""`Sandbox`: the public, in-process handle on a HubSpot-compatible Courses server.

Tests, demos and users' own CI start one with `with Sandbox() as sb:` and point a client at
`sb.url`; the methods below set the portal up (tokens, properties, activation) and let tests
look inside (request log, stored records) without going through HTTP.
"""

from __future__ import annotations

import hashlib
import random
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from .bodies import ApiError
from .faults import FaultInjector
from .objects import ObjectsApi
from .properties_api import PropertyRegistry
from .ratelimits import RateLimits
from .server import SandboxHTTPServer, make_server
from .store import Store

# The private-app token the sandbox accepts unless told otherwise. It is not a secret: it only
# opens this local sandbox. Shaped like HubSpot's private-app tokens (`pat-na1-…`, §5.6).
DEFAULT_TOKEN = "pat-na1-sandbox-0000-0000-000000000000"
DEFAULT_PORTAL_ID = 12345678
# hubspot-api.md §4 "Scopes" and §3: what a fully set-up private app for courses holds.
ALL_SCOPES = frozenset({
    "crm.objects.courses.read",
    "crm.objects.courses.write",
    "crm.schemas.courses.read",
    "crm.schemas.courses.write",
})


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


class Sandbox:
    """A HubSpot Courses (0-410) look-alike on 127.0.0.1, backed by DuckDB."""

    def __init__(
        self,
        port: int = 0,
        *,
        host: str = "127.0.0.1",
        db_path: str | None = None,
        token: str = DEFAULT_TOKEN,
        rate_limit_per_10s: int = 100,
        daily_limit: int = 250_000,
        latency_ms: float = 0,
        portal_id: int = DEFAULT_PORTAL_ID,
        seed: int = 0,
        object_enabled: bool = True,
        count_rejected_requests: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.host = host
        self.port = port
        self.portal_id = portal_id
        self.latency_ms = latency_ms
        self.object_enabled = object_enabled
        self.faults = FaultInjector()
        self._tokens: dict[str, frozenset[str]] = {token: ALL_SCOPES}
        self._tokens_lock = threading.Lock()
        self._limits = RateLimits(rate_limit_per_10s, daily_limit, clock, count_rejected_requests)
        self._store = Store(db_path)
        self._registry = PropertyRegistry(self._store)
        self._objects = ObjectsApi(self._store, self._registry, portal_id, seed)
        self._latency_rng = random.Random(seed)
        self._latency_lock = threading.Lock()
        self._log_entries: list[RequestLogEntry] = []
        self._log_lock = threading.Lock()
        self._server: SandboxHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self) -> str:
        """Start serving in a daemon thread; returns the base URL (a free port when port=0)."""
        if self._server is not None:
            return self.url
        self._server = make_server(self, self.host, self.port)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.01},
            name=f"hubspot-sandbox-{self.port}", daemon=True,
        )
        self._thread.start()
        return self.url

    def stop(self) -> None:
        """Stop serving and close the database; safe to call twice."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server.close_connections()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self._store.close()

    def __enter__(self) -> "Sandbox":
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """Base URL to use in place of https://api.hubapi.com."""
        if self._server is None:
            raise RuntimeError("the sandbox is not running; call start() first")
        return f"http://{self.host}:{self.port}"

    # -- portal set-up ------------------------------------------------------------------------
    def add_token(self, token: str, scopes: Iterable[str] | None = None) -> None:
        """Accept another private-app token, with only `scopes` (all course scopes if None)."""
        with self._tokens_lock:
            self._tokens[token] = ALL_SCOPES if scopes is None else frozenset(scopes)

    def remove_token(self, token: str) -> None:
        """Revoke a token: later requests with it get 401."""
        with self._tokens_lock:
            self._tokens.pop(token, None)

    def set_object_enabled(self, enabled: bool) -> None:
        """Activate or deactivate Courses in the object library (hubspot-api.md §4)."""
        self.object_enabled = enabled

    def create_property(
        self,
        name: str,
        *,
        type: str = "string",  # noqa: A002 - HubSpot's field name
        field_type: str = "text",
        label: str | None = None,
        group_name: str = "course_information",
        has_unique_value: bool = False,
        options: list[dict[str, Any]] | None = None,
        description: str = "",
    ) -> dict[str, Any]:
        """Create a property as `POST /crm/v3/properties/0-410` would; returns its JSON.
        Raises ValueError with HubSpot's message if HubSpot would refuse it."""
        body = {
            "name": name, "label": label or name, "type": type, "fieldType": field_type,
            "groupName": group_name, "hasUniqueValue": has_unique_value, "description": description,
        }
        if options is not None:
            body["options"] = [{"hidden": False, **o} for o in options]
        try:
            return self._registry.create(body).to_json()
        except ApiError as e:
            raise ValueError(e.body["message"]) from e

    def add_option(self, property_name: str, *, label: str, value: str) -> dict[str, Any]:
        """Add an option to an enumeration property, as a PATCH in HubSpot would (e.g. the fix
        for an INVALID_OPTION rejection). Returns the updated property JSON."""
        prop = self._registry.get(property_name)
        if prop is None:
            raise ValueError(f"no property {property_name}")
        options = [*prop.options, {"label": label, "value": value, "displayOrder": len(prop.options),
                                   "hidden": False}]
        try:
            return self._registry.update(property_name, {"options": options}).to_json()
        except ApiError as e:
            raise ValueError(e.body["message"]) from e

    def properties(self) -> list[dict[str, Any]]:
        """All live property definitions, as the Properties API returns them."""
        return self._registry.list_json()["results"]

    def reset_rate_limits(self) -> None:
        """Forget the 10-second windows and the daily count."""
        self._limits.reset()

    # -- looking inside -----------------------------------------------------------------------
    def records(self, include_archived: bool = False) -> list[dict[str, Any]]:
        """Stored records, in creation order: [{"id", "properties", "createdAt", "updatedAt",
        "archived"}]."""
        return [r.to_json() for r in self._store.all_records(include_archived)]

    def record_by(self, property_name: str, value: str) -> dict[str, Any] | None:
        """The live record whose property equals value (the newest one if several)."""
        found = self._store.find_by(property_name, value)
        return found[-1].to_json() if found else None

    @property
    def request_log(self) -> list[RequestLogEntry]:
        """A copy of the requests seen so far, oldest first."""
        with self._log_lock:
            return list(self._log_entries)

    def reset_log(self) -> None:
        with self._log_lock:
            self._log_entries.clear()

    def count_requests(self, method: str, path_suffix: str, status: int | None = None) -> int:
        """Requests with this method whose path ends with `path_suffix` (any status if None)."""
        with self._log_lock:
            return sum(
                1 for e in self._log_entries
                if e.method == method.upper() and e.path.endswith(path_suffix)
                and (status is None or e.status == status)
            )

    # -- used by the request handler ----------------------------------------------------------
    def _token_known(self, token: str) -> bool:
        with self._tokens_lock:
            return token in self._tokens

    def _token_scopes(self, token: str) -> frozenset[str]:
        with self._tokens_lock:
            return self._tokens.get(token, frozenset())

    def _app_id(self, token: str) -> int:
        with self._tokens_lock:
            return 1_000_000 + list(self._tokens).index(token) if token in self._tokens else 0

    def _sleep_latency(self) -> None:
        """latency_ms with a seeded ±20% jitter, so benchmarks see realistic round trips."""
        if self.latency_ms <= 0:
            return
        with self._latency_lock:
            factor = self._latency_rng.uniform(0.8, 1.2)
        time.sleep(self.latency_ms * factor / 1000)

    def _log(self, method: str, path: str, status: int | None, n_inputs: int | None,
             fault: str | None, token: str | None, correlation_id: str, client_port: int,
             duration_ms: float) -> None:
        with self._log_lock:
            token_hash = hashlib.sha256(token.encode()).hexdigest()[:12] if token else None
            self._log_entries.append(RequestLogEntry(
                method, path, status, n_inputs, fault, token_hash, correlation_id, client_port, duration_ms,
            ))
