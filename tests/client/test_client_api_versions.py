"""The client's API family: every request goes through the endpoint table of its version.

The sandbox serves both families from one portal, so each is tested against it.
"""

from __future__ import annotations

from typing import Callable

import pytest

from hubspot_courses_destination.hubspot import HubSpotClient, UpsertRow
from hubspot_courses_destination.sandbox import DEFAULT_TOKEN, Sandbox

from .conftest import COURSES, ID_PROPERTY, rows, settle


def test_v3_client_calls_only_v3_paths(sandbox: Sandbox, make_client: Callable[..., HubSpotClient]) -> None:
    client = make_client(sandbox, api_version="v3")
    client.batch_upsert(COURSES, ID_PROPERTY, rows(2))
    client.batch_read(COURSES, ["c-00000"], id_property=ID_PROPERTY)
    client.list_properties(COURSES)
    client.is_object_enabled(COURSES)
    client.portal_id()
    paths = [e.path for e in settle(sandbox).request_log]
    assert paths and all(p.startswith(("/crm/v3/", "/account-info/v3/")) for p in paths), paths


def test_record_limits_unavailable_is_none(sandbox: Sandbox, make_client: Callable[..., HubSpotClient]) -> None:
    sandbox.serve_portal_rules_endpoints(limits=False)  # a 404, as for a portal without them
    client = make_client(sandbox, api_version="v3")
    assert client.has_record_limits is True
    assert client.record_limit(COURSES) is None
    assert [e.path for e in settle(sandbox).request_log] == ["/crm/v3/limits/records"]


def test_property_validations_unavailable_is_none(sandbox: Sandbox, make_client: Callable[..., HubSpotClient]) -> None:
    sandbox.serve_portal_rules_endpoints(validations=False)  # a 404, as for a portal without it
    client = make_client(sandbox, api_version="v3")
    assert client.property_validations(COURSES) is None
    assert [e.path for e in settle(sandbox).request_log] == [f"/crm/v3/property-validations/{COURSES}"]


def test_2026_09_client_calls_only_2026_09_paths(sandbox: Sandbox, make_client: Callable[..., HubSpotClient]) -> None:
    client = make_client(sandbox, api_version="2026-09")
    outcomes = client.batch_upsert(COURSES, ID_PROPERTY, rows(2))
    assert [o.status for o in outcomes] == ["created", "created"]
    assert len(client.batch_read(COURSES, ["c-00000", "c-00001"], id_property=ID_PROPERTY)) == 2
    assert ID_PROPERTY in {p["name"] for p in client.list_properties(COURSES)}
    client.portal_id()
    client.property_validations(COURSES)
    client.record_limit(COURSES)
    paths = [e.path for e in settle(sandbox).request_log]
    assert paths and not any("/v3/" in p or "/v4/" in p for p in paths), paths


def test_2026_09_upsert_200_with_errors_is_read_per_row(sandbox: Sandbox, make_client: Callable[..., HubSpotClient]) -> None:
    client = make_client(sandbox, api_version="2026-09")
    outcomes = client.batch_upsert(
        COURSES, ID_PROPERTY, [UpsertRow("c-ok", {"hs_course_name": "A"}), UpsertRow("c-bad", {"no_such_property": "x"})]
    )
    assert [(o.key, o.status) for o in outcomes] == [("c-ok", "created"), ("c-bad", "rejected")]
    assert outcomes[1].property_errors and outcomes[1].property_errors[0].name == "no_such_property"
    statuses = [e.status for e in settle(sandbox).request_log if e.path.endswith("/batch/upsert")]
    assert statuses == [200]  # 2026-09 declares only 200; v3 answers 207


# the documented answer of GET .../limits/records (docs/hubspot-behaviour.md, "Record limits")
LIMITS_BODY = {
    "hubspotDefinedObjectTypes": [
        {"objectTypeId": "0-421", "singularLabel": "Appointment", "pluralLabel": "Appointments", "limit": 500000, "usage": 3, "percentage": 0},
        {"objectTypeId": "0-410", "singularLabel": "Course", "pluralLabel": "Courses", "limit": 1000, "usage": 990, "percentage": 99},
    ],
    "customObjectTypes": {"byObjectType": [{"objectTypeId": "2-123", "usage": 40}], "overallLimit": 500, "overallUsage": 45, "overallPercentage": 9},
}


class _Canned:
    """A tiny HTTP server of our own answering every GET with one status and body (for answers
    the sandbox of this branch does not give: documented bodies, 403s)."""

    def __init__(self, status: int, body: dict) -> None:
        import json
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.seen: list[str] = []
        seen = self.seen
        payload = json.dumps(body).encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                seen.append(self.path)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> "_Canned":
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def test_record_limit_read_from_the_documented_answer() -> None:
    with _Canned(200, LIMITS_BODY) as server:
        for family, path in (("2026-09", "/crm/limits/2026-09/records"), ("v3", "/crm/v3/limits/records")):
            with HubSpotClient(DEFAULT_TOKEN, server.url, api_version=family) as client:
                assert client.record_limit(COURSES) == (1000, 990)
                assert client.record_limit("2-123") == (500, 45)  # custom objects share one limit
                assert client.record_limit("0-999") is None
            assert server.seen[-1] == path


# the documented answer of GET .../property-validations/{objectTypeId}
RULES_BODY = {"results": [
    {"propertyName": "zip", "propertyValidationRules": [
        {"ruleType": "ALPHANUMERIC", "ruleArguments": ["NUMERIC_ONLY"], "shouldApplyNormalization": False}]},
    {"propertyName": "age", "propertyValidationRules": [{"ruleType": "MIN_NUMBER", "ruleArguments": ["1"]}]},
]}


def test_property_validations_read_from_the_documented_answer() -> None:
    with _Canned(200, RULES_BODY) as server, HubSpotClient(DEFAULT_TOKEN, server.url, api_version="2026-09") as client:
        rules = client.property_validations("0-1")
        assert server.seen == ["/crm/property-validations/2026-09/0-1"]
    assert rules == {
        "zip": [{"ruleType": "ALPHANUMERIC", "ruleArguments": ["NUMERIC_ONLY"], "shouldApplyNormalization": False}],
        "age": [{"ruleType": "MIN_NUMBER", "ruleArguments": ["1"]}],
    }


MISSING_SCOPES = {
    "status": "error", "category": "MISSING_SCOPES", "message": "This app hasn't been granted all required scopes",
    "errors": [{"message": "One or more of the following scopes are required.", "context": {"requiredGranularScopes": ["x"]}}],
}


@pytest.mark.parametrize("family", ["2026-09", "v3"])
def test_a_token_without_the_scope_gets_none_not_an_error(family: str) -> None:
    with _Canned(403, MISSING_SCOPES) as server, HubSpotClient(DEFAULT_TOKEN, server.url, api_version=family) as client:
        assert client.property_validations(COURSES) is None
        assert client.record_limit(COURSES) is None
        assert len(server.seen) == 2  # a 403 is not retried
