"""HTTP layer: routing, auth, scopes, rate limits, faults, latency, headers and the request log.

A stdlib `ThreadingHTTPServer` speaking HTTP/1.1 with keep-alive, so a client's connection
pool is reused as it would be against api.hubapi.com. The business rules live in objects.py
and properties_api.py; this module only decides *whether* and *how* a request is answered.
"""

from __future__ import annotations

import json
import logging
import re
import socket
import struct
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import orjson

from .bodies import (
    ApiError,
    bad_json,
    daily_body,
    error_body,
    missing_scopes_body,
    object_type_unknown,
    ten_secondly_body,
    unauthenticated_body,
)
from .catalog import OBJECT_TYPE_ALIASES, OBJECT_TYPE_ID, PROPERTY_GROUPS

if TYPE_CHECKING:
    from .app import Sandbox

logger = logging.getLogger(__name__)

# Scopes (hubspot-api.md §4 "Scopes", §3): any one of a list is enough ("One or more of the
# following scopes are required", §5.6).
READ_OBJECTS = ["crm.objects.courses.read"]
WRITE_OBJECTS = ["crm.objects.courses.write"]
# hubspot-api.md §3: property reads accept object read/write or schema read.
READ_PROPERTIES = ["crm.objects.courses.read", "crm.schemas.courses.read", "crm.objects.courses.write"]
# hubspot-api.md §3 / §7.12: creating properties needs the schema write scope.
WRITE_PROPERTIES = ["crm.schemas.courses.write"]

_BATCH = re.compile(r"^/crm/v3/objects/([^/]+)/batch/(upsert|read|archive)$")
_OBJECT_ONE = re.compile(r"^/crm/v3/objects/([^/]+)/([^/]+)$")
_OBJECTS = re.compile(r"^/crm/v3/objects/([^/]+)$")
_PROPERTY_GROUPS = re.compile(r"^/crm/v3/properties/([^/]+)/groups$")
_PROPERTY_ONE = re.compile(r"^/crm/v3/properties/([^/]+)/([^/]+)$")
_PROPERTIES = re.compile(r"^/crm/v3/properties/([^/]+)$")
_ENABLEMENT_ONE = re.compile(r"^/crm/v3/object-library/enablement/([^/]+)$")
_ENABLEMENT = "/crm/v3/object-library/enablement"


class SandboxHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    sandbox: "Sandbox"

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()

    def track(self, conn: socket.socket, is_open: bool) -> None:
        with self._open_lock:
            (self._open.add if is_open else self._open.discard)(conn)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away mid-request (killed, or its connection cut) is routine for a
        test server: a debug line, not the stdlib's traceback on stderr. Anything else keeps it."""
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            logger.debug("client %s went away mid-request: %s", client_address, sys.exc_info()[1])
            return
        super().handle_error(request, client_address)

    def close_connections(self) -> None:
        """Cut idle keep-alive connections, so a stopped sandbox really stops answering."""
        with self._open_lock:
            conns = list(self._open)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class Handler(BaseHTTPRequestHandler):
    """One instance per connection; `handle_one_request` runs once per request on it."""

    protocol_version = "HTTP/1.1"  # keep-alive (every answer carries Content-Length)
    server_version = "HubSpotSandbox/1"
    timeout = 60  # idle keep-alive connections give their thread back after a minute
    server: SandboxHTTPServer

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, True)
        # Headers and body go out in two writes; without TCP_NODELAY, Nagle plus the client's
        # delayed ACK add ~40 ms to every keep-alive request.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def finish(self) -> None:
        self.server.track(self.connection, False)
        super().finish()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        """Silence the stdlib's per-request stderr line; the request log is the record."""

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    # -- the pipeline of one request ----------------------------------------------------------
    def _handle(self, method: str) -> None:
        sb = self.server.sandbox
        started = time.monotonic()
        split = urlsplit(self.path)
        path = split.path.rstrip("/") or "/"
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        correlation_id = str(uuid.uuid4())
        body, body_error = _parse_json(raw)
        n_inputs = len(body["inputs"]) if isinstance(body, dict) and isinstance(body.get("inputs"), list) else None
        # hubspot-api.md §5.3: correlation id on every response ([OBS] x-request-id alongside).
        headers = {"x-hubspot-correlation-id": correlation_id, "x-request-id": correlation_id}
        token = _bearer(self.headers.get("Authorization"))
        status, out, fault_kind = self._answer(sb, method, path, parse_qs(split.query), token, body,
                                               body_error, headers)
        # Logged before answering, so a client that has its answer always finds the entry.
        sb._log(method, path, status, n_inputs, fault_kind, token, correlation_id,
                self.client_address[1], (time.monotonic() - started) * 1000)
        if status is None:
            self._drop()
        else:
            self._send(status, out, headers, correlation_id)

    def _answer(
        self, sb: "Sandbox", method: str, path: str, query: dict[str, list[str]], token: str | None,
        body: Any, body_error: ApiError | None, headers: dict[str, str],
    ) -> tuple[int | None, dict[str, Any] | None, str | None]:
        """(status, body, fault kind) for one request; status None means drop the connection.
        Order: latency, auth, rate limits, faults, then the endpoint itself."""
        sb._sleep_latency()
        if token is None or not sb._token_known(token):
            # GUESS: a 401 is attributed to no app, so it counts against no limit.
            headers.update(sb._limits.peek(token))
            return 401, unauthenticated_body(), None
        decision = sb._limits.check(token)
        headers.update(decision.headers)
        if not decision.allowed:
            out = daily_body(str(uuid.uuid4())) if decision.policy == "DAILY" \
                else ten_secondly_body(sb._app_id(token), sb.portal_id)
            return 429, out, None
        fault = sb.faults.take(method, path)
        if fault is not None:
            if fault.kind == "reset":
                return None, None, fault.kind  # nothing processed
            if fault.kind == "slow":
                time.sleep(fault.delay_ms / 1000)
            elif fault.kind != "write_then_drop":
                return int(fault.kind), _fault_body(fault.kind, sb), fault.kind
        try:
            status, out = self._route(sb, method, path, query, token, body, body_error)
        except ApiError as e:
            status, out = e.status, e.body
        except Exception:  # a sandbox bug must still answer, like HubSpot's 500s do
            logger.exception("sandbox error on %s %s", method, path)
            status, out = 500, error_body("INTERNAL_ERROR", "Internal error in the sandbox")
        if fault is not None and fault.kind == "write_then_drop":
            return None, None, fault.kind  # the write above is applied; the answer is lost
        return status, out, fault.kind if fault is not None else None

    def _route(
        self, sb: "Sandbox", method: str, path: str, query: dict[str, list[str]], token: str,
        body: Any, body_error: ApiError | None,
    ) -> tuple[int, dict[str, Any] | None]:
        def need(scopes: list[str]) -> None:
            if not sb._token_scopes(token) & set(scopes):
                raise ApiError(403, missing_scopes_body(scopes))

        def json_body() -> Any:
            if body_error is not None:
                raise body_error
            return body

        def object_type(name: str, *, objects: bool) -> None:
            if name not in OBJECT_TYPE_ALIASES:
                raise object_type_unknown(name)
            if objects and not sb.object_enabled:
                raise _not_enabled(sb.portal_id)

        archived = query.get("archived", ["false"])[0].lower() == "true"
        if m := _BATCH.match(path):
            _allow(method, "POST")
            op = m[2]
            need(READ_OBJECTS if op == "read" else WRITE_OBJECTS)
            object_type(m[1], objects=True)
            if op == "upsert":
                return sb._objects.batch_upsert(json_body())
            if op == "read":
                return sb._objects.batch_read(json_body(), archived=archived)
            return sb._objects.batch_archive(json_body()), None
        if path == "/account-info/v3/details":
            _allow(method, "GET")
            # GUESS: field set of HubSpot's account details; not in hubspot-api.md. No scope
            # beyond a valid token is required here.
            return 200, {
                "portalId": sb.portal_id, "accountType": "STANDARD", "timeZone": "US/Eastern",
                "companyCurrency": "USD", "additionalCurrencies": [], "utcOffset": "-05:00",
                "utcOffsetMilliseconds": -18000000, "uiDomain": "app.hubspot.com",
                "dataHostingLocation": "na1",
            }
        if path == _ENABLEMENT:
            _allow(method, "GET")
            # hubspot-api.md §4: {"enablementByObjectTypeId": {"0-410": false, ...}}.
            # GUESS: no scope beyond a valid token; only courses are listed.
            return 200, {"enablementByObjectTypeId": {OBJECT_TYPE_ID: sb.object_enabled}}
        if m := _ENABLEMENT_ONE.match(path):
            _allow(method, "GET")
            if m[1] not in OBJECT_TYPE_ALIASES:
                raise object_type_unknown(m[1])
            return 200, {"enablement": sb.object_enabled}
        if m := _PROPERTY_GROUPS.match(path):
            _allow(method, "GET")
            object_type(m[1], objects=False)
            need(READ_PROPERTIES)
            return 200, {"results": [dict(g) for g in PROPERTY_GROUPS]}
        if m := _PROPERTY_ONE.match(path):
            _allow(method, "GET", "PATCH")
            object_type(m[1], objects=False)
            if method == "GET":
                need(READ_PROPERTIES)
                return 200, sb._registry.get_json(m[2])
            need(WRITE_PROPERTIES)
            return 200, sb._registry.update(m[2], json_body()).to_json()
        if m := _PROPERTIES.match(path):
            _allow(method, "GET", "POST")
            object_type(m[1], objects=False)
            if method == "GET":
                need(READ_PROPERTIES)
                return 200, sb._registry.list_json(archived=archived)
            need(WRITE_PROPERTIES)
            return 201, sb._registry.create(json_body()).to_json()
        if m := _OBJECT_ONE.match(path):
            _allow(method, "GET")
            need(READ_OBJECTS)
            object_type(m[1], objects=True)
            return 200, sb._objects.get_one(m[2], query)
        if m := _OBJECTS.match(path):
            _allow(method, "GET")
            need(READ_OBJECTS)
            object_type(m[1], objects=True)
            return 200, sb._objects.list(query, sb.url)
        # GUESS: body of HubSpot's answer for an unknown path.
        raise ApiError(404, error_body("OBJECT_NOT_FOUND", f"No route for {method} {path}"))

    # -- writing answers ----------------------------------------------------------------------
    def _send(self, status: int, body: dict[str, Any] | None, headers: dict[str, str], correlation_id: str) -> None:
        if body is not None and body.get("status") == "error":
            body = _with_correlation_id(body, correlation_id)
        data = b"" if body is None or status == 204 else orjson.dumps(body)
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        if data:
            self.send_header("Content-Type", "application/json;charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if data:
            self.wfile.write(data)

    def _drop(self) -> None:
        """Close the socket with RST and no answer, as a connection reset in flight looks."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass


def _allow(method: str, *allowed: str) -> None:
    if method not in allowed:
        # GUESS: status and body for a known path with an unsupported method.
        raise ApiError(405, error_body("VALIDATION_ERROR", f"Method {method} is not supported here"))


def _bearer(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    return value.strip() or None if scheme.lower() == "bearer" else None


def _parse_json(raw: bytes) -> tuple[Any, ApiError | None]:
    if not raw:
        return None, bad_json("No content to map due to end-of-input")
    try:
        return json.loads(raw), None
    except (ValueError, UnicodeDecodeError) as e:
        return None, bad_json(str(e))


def _with_correlation_id(body: dict[str, Any], correlation_id: str) -> dict[str, Any]:
    """HubSpot puts correlationId right after message (hubspot-api.md §1.4, §5.6)."""
    out: dict[str, Any] = {}
    for k, v in body.items():
        out[k] = v
        if k == "message":
            out["correlationId"] = correlation_id
    out.setdefault("correlationId", correlation_id)
    return out


def _not_enabled(portal_id: int) -> ApiError:
    # GUESS: HubSpot's answer when the Courses object is not activated is UNCONFIRMED
    # (hubspot-api.md §4, §8). Chosen: 403 with a category of its own that names the fix.
    return ApiError(403, error_body(
        "OBJECT_NOT_ENABLED",
        f"The object type {OBJECT_TYPE_ID} (courses) is not activated in portal ID {portal_id}."
        " A Super Admin must activate it in the object library before records can be managed.",
        context={"objectTypeId": [OBJECT_TYPE_ID]},
    ))


def _fault_body(kind: str, sb: "Sandbox") -> dict[str, Any]:
    """Bodies of injected errors (hubspot-api.md §5.5 for the meaning of each status)."""
    if kind == "429":
        return ten_secondly_body(0, sb.portal_id)
    # GUESS: the JSON bodies of 423/502/503/504; real 5xx may come from a proxy as HTML.
    messages: dict[str, tuple[str, str]] = {
        "423": ("LOCKED", "The resource is locked while a large volume of data is synced. Retry"
                " after at least 2 seconds."),
        "502": ("BAD_GATEWAY", "HubSpot's processing limits have been met. Pause your requests for"
                " a few seconds, then retry."),
        "503": ("SERVICE_UNAVAILABLE", "The service is temporarily unavailable. Pause for a few"
                " seconds, then retry."),
        "504": ("GATEWAY_TIMEOUT", "The request timed out. Pause your requests for a few seconds,"
                " then retry."),
    }
    category, message = messages[kind]
    return error_body(category, message)


def make_server(sandbox: "Sandbox", host: str, port: int) -> SandboxHTTPServer:
    server = SandboxHTTPServer((host, port), Handler)
    server.sandbox = sandbox
    return server

