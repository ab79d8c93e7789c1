"""A 200 that leaves rows out: they are sent again, then reported, never counted as written.

The sandbox always answers for every input, so this uses a tiny scripted HTTP server on
127.0.0.1 that answers like HubSpot but drops one row from its results.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator

import pytest

from hubspot_courses_destination.hubspot import MISSING_FROM_RESPONSE, HubSpotClient
from hubspot_courses_destination.hubspot.ratelimit import Rate, RateLimiter

from .conftest import FAST_POLICY, rows


class _OmittingHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    omit_key = "c-00001"
    bodies: list[Any] = []

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).bodies.append(body)
        results = [
            {"id": str(100 + i), "new": True, "objectWriteTraceId": inp["objectWriteTraceId"], "properties": {}}
            for i, inp in enumerate(body["inputs"])
            if inp["id"] != self.omit_key
        ]
        data = json.dumps({"status": "COMPLETE", "results": results[::-1]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def omitting_server() -> Iterator[str]:
    _OmittingHandler.bodies = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _OmittingHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_omitted_row_is_resent_once_then_reported(omitting_server: str) -> None:
    with HubSpotClient("pat-test", omitting_server, retry_policy=FAST_POLICY, rate_limiter=RateLimiter(Rate(100))) as client:
        outcomes = {o.key: o for o in client.batch_upsert("0-410", "lms_course_key", rows(3))}
    assert [outcomes[k].status for k in ("c-00000", "c-00002")] == ["created", "created"]
    missing = outcomes["c-00001"]
    assert missing.status == "rejected" and missing.category == MISSING_FROM_RESPONSE and missing.hubspot_id is None
    sent = [[inp["id"] for inp in body["inputs"]] for body in _OmittingHandler.bodies]
    assert sent == [["c-00000", "c-00001", "c-00002"], ["c-00001"]]
    assert client.stats.rows_resent_after_omission == 1
