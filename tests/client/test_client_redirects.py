"""Redirects are never followed: HubSpot's API does not redirect, so a 3xx means a wrong
api_base_url or something in between, and following it would send the rows (and maybe the
token) to a host nobody configured. Two tiny HTTP servers on loopback addresses stand in."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterator

import pytest

from hubspot_courses_destination.hubspot import HubSpotClient, UpsertRow
from hubspot_courses_destination.errors import HubSpotTerminalError, RequestRejectedError
from hubspot_courses_destination.hubspot.ratelimit import Rate, RateLimiter

from .conftest import COURSES, FAST_POLICY, ID_PROPERTY

TOKEN = "pat-na1-99999999-8888-7777-6666-555555555555"


class _Server:
    """One HTTP server in a thread; ``answer`` builds (status, headers) for every request."""

    def __init__(self, host: str, answer) -> None:
        self.requests: list[tuple[str, str]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            timeout = 5  # a stuck client cannot hold a handler thread forever

            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                server.requests.append((self.command, self.path))
                status, headers = answer()
                self.send_response(status)
                for name, value in {**headers, "Content-Length": "0"}.items():
                    self.send_header(name, value)
                self.end_headers()

            do_GET = do_POST = do_PUT = _any

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer((host, 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = f"http://{host}:{self.port}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self) -> "_Server":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(timeout=5)


@pytest.fixture
def elsewhere() -> Iterator[_Server]:
    """Where a redirect points: another loopback address, counting what reaches it."""
    with _Server("127.0.0.2", lambda: (200, {"Content-Type": "application/json"})) as server:
        yield server


def _client(url: str) -> HubSpotClient:
    return HubSpotClient(
        TOKEN, url, retry_policy=FAST_POLICY, rate_limiter=RateLimiter(Rate(1000)),
        connect_timeout_s=1.0, read_timeout_s=2.0,
    )


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_is_not_followed_and_fails_naming_status_and_host(status: int, elsewhere: _Server) -> None:
    location = f"{elsewhere.url}/crm/v3/objects/0-410/batch/upsert?code=s3cr3t"
    with _Server("127.0.0.1", lambda: (status, {"Location": location})) as api, _client(api.url) as client:
        with pytest.raises(HubSpotTerminalError) as info:
            client.batch_upsert(COURSES, ID_PROPERTY, [UpsertRow("c-1", {"hs_course_name": "Intro"})])
        assert api.requests == [("POST", "/crm/v3/objects/0-410/batch/upsert")]  # once, no retry
    assert elsewhere.requests == []
    error = info.value
    assert not isinstance(error, RequestRejectedError)  # not a row problem: no halving
    text = str(error)
    assert f"status {status}" in text and f"127.0.0.2:{elsewhere.port}" in text
    assert "api_base_url" in text
    assert TOKEN not in text and "s3cr3t" not in text


def test_a_redirect_on_a_read_is_not_followed_either(elsewhere: _Server) -> None:
    with _Server("127.0.0.1", lambda: (302, {"Location": elsewhere.url + "/"})) as api, _client(api.url) as client:
        with pytest.raises(HubSpotTerminalError, match="status 302"):
            client.list_properties(COURSES)
    assert elsewhere.requests == []
