"""A whole-chunk 400 is narrowed down to the rows at fault instead of blocking the load.

HubSpot answers bad values with a 207 when every input has a trace id, so a row-specific 400
for the whole chunk is the case we do not foresee; a tiny scripted server on 127.0.0.1 refuses
any chunk holding a "bad" key, the way a no-trace-id HubSpot batch would
(docs/hubspot-behaviour.md, "Partial success").
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator

import pytest

from hubspot_courses_destination.hubspot import HubSpotClient
from hubspot_courses_destination.errors import RequestRejectedError
from hubspot_courses_destination.hubspot.ratelimit import Rate, RateLimiter

from .conftest import FAST_POLICY, rows


class _RefusingHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    bad_keys: set[str] = set()
    refuse_everything = False
    sent: list[list[str]] = []

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass

    def _answer(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        inputs = json.loads(self.rfile.read(int(self.headers["Content-Length"])))["inputs"]
        keys = [i["id"] for i in inputs]
        type(self).sent.append(keys)
        bad = [k for k in keys if k in self.bad_keys]
        if self.refuse_everything or bad:
            what = "the portal refuses this" if self.refuse_everything else f"{bad[0]} was not a valid number"
            self._answer(400, {
                "status": "error", "category": "VALIDATION_ERROR", "correlationId": "c0ffee00-0000-4000-8000-000000000000",
                "message": f'Property values were not valid: [{{"isValid":false,"message":"{what}","error":"INVALID_INTEGER","name":"seats"}}]',
            })
            return
        results = [{"id": str(100 + n), "new": True, "objectWriteTraceId": i["objectWriteTraceId"], "properties": {}}
                   for n, i in enumerate(inputs)]
        self._answer(200, {"status": "COMPLETE", "results": results})


@pytest.fixture
def refusing_server() -> Iterator[type[_RefusingHandler]]:
    _RefusingHandler.sent, _RefusingHandler.bad_keys, _RefusingHandler.refuse_everything = [], set(), False
    server = ThreadingHTTPServer(("127.0.0.1", 0), _RefusingHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _RefusingHandler.url = f"http://127.0.0.1:{server.server_address[1]}"  # type: ignore[attr-defined]
    try:
        yield _RefusingHandler
    finally:
        server.shutdown()
        server.server_close()


def _client(url: str) -> HubSpotClient:
    return HubSpotClient("pat-test", url, retry_policy=FAST_POLICY, rate_limiter=RateLimiter(Rate(1000)))


def test_rows_at_fault_are_isolated_and_the_rest_is_written(refusing_server) -> None:
    refusing_server.bad_keys = {"c-00005", "c-00061"}
    with _client(refusing_server.url) as client:
        outcomes = {o.key: o for o in client.batch_upsert("0-410", "k", rows(100))}
    rejected = {k for k, o in outcomes.items() if o.status == "rejected"}
    assert rejected == {"c-00005", "c-00061"}
    assert sum(o.status == "created" for o in outcomes.values()) == 98
    bad = outcomes["c-00005"]
    assert bad.category == "VALIDATION_ERROR" and "not a valid number" in (bad.message or "")
    assert [(e.name, e.code) for e in bad.property_errors] == [("seats", "INVALID_INTEGER")]
    # halving: far fewer requests than one per row
    assert len(refusing_server.sent) < 30


def test_a_refusal_that_is_not_about_a_row_is_raised_after_one_split(refusing_server) -> None:
    refusing_server.refuse_everything = True
    with _client(refusing_server.url) as client, pytest.raises(RequestRejectedError):
        client.batch_upsert("0-410", "k", rows(100))
    assert [len(keys) for keys in refusing_server.sent] == [100, 50, 50]
