"""HTTP transport: carries requests to a `Responder` and its answers back, nothing HubSpot-specific.

A stdlib `ThreadingHTTPServer` speaking HTTP/1.1 with keep-alive, so a client's connection
pool is reused as it would be against api.hubapi.com. What to answer is decided by the
responder (api.py's `SandboxApi`); this module only reads requests, writes answers, drops
connections when told to, and runs the server in a background thread.
"""

from __future__ import annotations

import logging
import socket
import struct
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson

from .exchange import ApiRequest, Responder

logger = logging.getLogger(__name__)


class SandboxHTTPServer(ThreadingHTTPServer):
    """Answers every request with `responder` and tracks open connections, so they can be cut."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, host: str, port: int, responder: Responder) -> None:
        super().__init__((host, port), Handler)
        self.responder = responder
        self.base_url = f"http://{host}:{self.server_address[1]}"
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

    def _handle(self, method: str) -> None:
        received_at = time.monotonic()
        split = urlsplit(self.path)
        request = ApiRequest(
            method=method,
            path=split.path.rstrip("/") or "/",
            query=parse_qs(split.query),
            authorization=self.headers.get("Authorization"),
            body=self.rfile.read(int(self.headers.get("Content-Length") or 0)),
            client_port=self.client_address[1],
            base_url=self.server.base_url,
            received_at=received_at,
        )
        response = self.server.responder.handle(request)
        if response.status is None:
            self._drop()
        else:
            self._send(response.status, response.body, response.headers)

    def _send(self, status: int, body: dict[str, Any] | None, headers: dict[str, str]) -> None:
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


class BackgroundServer:
    """`responder` served over HTTP on host:port from a daemon thread (port 0: any free port)."""

    def __init__(self, responder: Responder, host: str, port: int) -> None:
        self._httpd = SandboxHTTPServer(host, port, responder)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.01},
            name=f"hubspot-sandbox-{self.port}", daemon=True,
        )
        self._thread.start()

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def base_url(self) -> str:
        return self._httpd.base_url

    def wait(self) -> None:
        """Block until the server stops (the CLI waits here for Ctrl-C)."""
        self._thread.join()

    def stop(self) -> None:
        """Stop serving and cut open keep-alive connections."""
        self._httpd.shutdown()
        self._httpd.server_close()
        self._httpd.close_connections()
        self._thread.join(timeout=5)
