"""The response classifier as a table, body parsing and error messages (matching: test_matching.py)."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from dlt.common.destination.exceptions import DestinationTerminalException, DestinationTransientException

from hubspot_courses_destination.errors import (
    AuthenticationError,
    DailyLimitExceededError,
    HubSpotTerminalError,
    HubSpotTransientError,
    MissingScopesError,
    RequestRejectedError,
)
from hubspot_courses_destination.hubspot.classify import (
    Action,
    RateLimitHeaders,
    Reason,
    Verdict,
    classify,
    classify_exception,
    error_for,
    parse_retry_after,
    rate_limit_headers,
)

CID = "a43683b0-5717-4ceb-80b4-104d02915d8c"
TEN_SECONDLY = {
    "status": "error",
    "message": "You have reached your ten_secondly_rolling limit.",
    "errorType": "RATE_LIMIT",
    "correlationId": CID,
    "policyName": "TEN_SECONDLY_ROLLING",
    "groupName": "publicapi:private_app-api-calls-ten-secondly:1512050:26892217",
}
DAILY = {
    "status": "error",
    "message": "You have reached your daily limit.",
    "errorType": "RATE_LIMIT",
    "correlationId": CID,
    "policyName": "DAILY",
}
SECONDLY_SEARCH = {"status": "error", "message": "You have reached your secondly limit.", "errorType": "RATE_LIMIT"}
UNAUTHENTICATED = {
    "status": "error",
    "message": "Authentication credentials not found.",
    "correlationId": CID,
    "category": "INVALID_AUTHENTICATION",
}
EXPIRED = {"status": "error", "message": "The OAuth token used to make this call expired 75 second(s) ago.", "category": "EXPIRED_AUTHENTICATION"}
MISSING_SCOPES = {
    "status": "error",
    "message": "This app hasn't been granted all required scopes to make this call.",
    "correlationId": CID,
    "errors": [{"message": "One or more of the following scopes are required.", "context": {"requiredGranularScopes": ["crm.objects.courses.write"]}}],
    "category": "MISSING_SCOPES",
}
MISSING_SCOPES_OLD = {"status": "error", "message": "x", "category": "MISSING_SCOPES", "errors": [{"message": "m", "context": {"missingScopes": ["a.read", "b.write"]}}]}
FORBIDDEN_OTHER = {"status": "error", "message": "nope", "category": "FORBIDDEN"}
DUPLICATE_IDS = {
    "status": "error",
    "message": "Duplicate IDs found in batch input: [c-1]. IDs must be unique",
    "correlationId": CID,
    "context": {"ids": ["c-1"]},
    "category": "VALIDATION_ERROR",
}
# A message that *sounds* retryable must not change a 400's verdict (no message-text rules).
MISLEADING_400 = {"status": "error", "message": "You have reached your ten_secondly_rolling limit.", "category": "VALIDATION_ERROR"}
# ... and a 429 whose message says "daily" but whose policy says burst is a burst.
MISLEADING_429 = {**TEN_SECONDLY, "message": "You have reached your daily limit."}
GATEWAY_HTML = "<html>502 Bad Gateway</html>"


@pytest.mark.parametrize(
    "status, body, headers, action, reason, extra",
    [
        (200, {"status": "COMPLETE", "results": []}, {}, Action.OK, Reason.SUCCESS, {}),
        (201, {}, {}, Action.OK, Reason.SUCCESS, {}),
        (204, None, {}, Action.OK, Reason.SUCCESS, {}),
        (207, {"status": "COMPLETE", "numErrors": 1, "errors": [{"category": "VALIDATION_ERROR"}]}, {}, Action.OK, Reason.SUCCESS, {}),
        (429, TEN_SECONDLY, {}, Action.RETRY, Reason.RATE_LIMITED, {"policy_name": "TEN_SECONDLY_ROLLING", "correlation_id": CID}),
        (429, TEN_SECONDLY, {"Retry-After": "3"}, Action.RETRY, Reason.RATE_LIMITED, {"retry_after_s": 3.0}),
        (429, TEN_SECONDLY, {"X-HubSpot-RateLimit-Interval-Milliseconds": "10000"}, Action.RETRY, Reason.RATE_LIMITED, {"interval_s": 10.0, "retry_after_s": None}),
        (429, MISLEADING_429, {}, Action.RETRY, Reason.RATE_LIMITED, {}),
        (429, SECONDLY_SEARCH, {}, Action.RETRY, Reason.RATE_LIMITED, {"policy_name": None}),
        (429, None, {}, Action.RETRY, Reason.RATE_LIMITED, {}),
        (429, DAILY, {}, Action.FAIL, Reason.DAILY_LIMIT, {"policy_name": "DAILY", "correlation_id": CID}),
        (429, {**DAILY, "policyName": "daily"}, {}, Action.FAIL, Reason.DAILY_LIMIT, {}),
        (423, {"status": "error", "message": "locked"}, {}, Action.RETRY, Reason.LOCKED, {}),
        (502, GATEWAY_HTML, {}, Action.RETRY, Reason.SERVER_ERROR, {"message": None}),
        (503, None, {"Retry-After": "7"}, Action.RETRY, Reason.SERVER_ERROR, {"retry_after_s": 7.0}),
        (504, None, {}, Action.RETRY, Reason.SERVER_ERROR, {}),
        (521, None, {}, Action.RETRY, Reason.SERVER_ERROR, {}),
        (523, None, {}, Action.RETRY, Reason.SERVER_ERROR, {}),
        (524, None, {}, Action.RETRY, Reason.SERVER_ERROR, {}),
        (500, None, {}, Action.FAIL, Reason.SERVER_FAILURE, {}),
        (522, None, {}, Action.FAIL, Reason.SERVER_FAILURE, {}),
        (525, None, {}, Action.FAIL, Reason.SERVER_FAILURE, {}),
        (401, UNAUTHENTICATED, {}, Action.FAIL, Reason.UNAUTHORIZED, {"category": "INVALID_AUTHENTICATION"}),
        (401, EXPIRED, {}, Action.FAIL, Reason.UNAUTHORIZED, {"category": "EXPIRED_AUTHENTICATION"}),
        (401, None, {}, Action.FAIL, Reason.UNAUTHORIZED, {}),
        (403, MISSING_SCOPES, {}, Action.FAIL, Reason.MISSING_SCOPES, {"missing_scopes": ("crm.objects.courses.write",)}),
        (403, MISSING_SCOPES_OLD, {}, Action.FAIL, Reason.MISSING_SCOPES, {"missing_scopes": ("a.read", "b.write")}),
        (403, FORBIDDEN_OTHER, {}, Action.FAIL, Reason.REJECTED, {}),
        (400, DUPLICATE_IDS, {}, Action.FAIL, Reason.REJECTED, {"category": "VALIDATION_ERROR", "correlation_id": CID}),
        (400, MISLEADING_400, {}, Action.FAIL, Reason.REJECTED, {}),
        (404, {"status": "error", "category": "OBJECT_NOT_FOUND", "message": "x"}, {}, Action.FAIL, Reason.REJECTED, {}),
        (409, {"status": "error", "category": "CONFLICT", "message": "x"}, {}, Action.FAIL, Reason.REJECTED, {}),
        (400, {"status": "error", "category": "OBJECT_NOT_ACTIVATED", "message": "x"}, {}, Action.FAIL, Reason.NOT_ACTIVATED, {}),
        (403, {"status": "error", "category": "OBJECT_NOT_ENABLED", "message": "x"}, {}, Action.FAIL, Reason.NOT_ACTIVATED, {}),
        # redirects are never followed; only the Location's host is kept, not path or query
        (307, None, {"Location": "http://10.0.0.9:8080/crm/v3/x?code=secret"}, Action.FAIL, Reason.REDIRECTED, {"redirect_host": "10.0.0.9:8080"}),
        (301, None, {"location": "https://someone:pw@Other.Example/"}, Action.FAIL, Reason.REDIRECTED, {"redirect_host": "other.example"}),
        (302, None, {"Location": "/login?next=/crm"}, Action.FAIL, Reason.REDIRECTED, {"redirect_host": "(the same host)"}),
        (304, None, {}, Action.FAIL, Reason.REDIRECTED, {"redirect_host": None}),
        # the correlation id falls back to the response header
        (400, {"category": "VALIDATION_ERROR"}, {"X-HubSpot-Correlation-Id": "hdr-cid"}, Action.FAIL, Reason.REJECTED, {"correlation_id": "hdr-cid"}),
    ],
)
def test_classify(status: int, body: Any, headers: dict[str, str], action: Action, reason: Reason, extra: dict[str, Any]) -> None:
    verdict = classify(status, body, headers)
    assert (verdict.action, verdict.reason, verdict.status) == (action, reason, status)
    for name, value in extra.items():
        assert getattr(verdict, name) == value, name


@pytest.mark.parametrize(
    "headers, expected",
    [
        (None, RateLimitHeaders()),
        ({}, RateLimitHeaders()),
        (
            {"X-HubSpot-RateLimit-Max": "190", "X-HubSpot-RateLimit-Remaining": "7", "X-HubSpot-RateLimit-Interval-Milliseconds": "10000"},
            RateLimitHeaders(limit=190, remaining=7, interval_s=10.0),
        ),
        ({"x-hubspot-ratelimit-max": " 100 ", "X-HUBSPOT-RATELIMIT-REMAINING": "-3"}, RateLimitHeaders(limit=100, remaining=-3)),
        ({"X-HubSpot-RateLimit-Max": "0", "X-HubSpot-RateLimit-Interval-Milliseconds": "0"}, RateLimitHeaders()),
        ({"X-HubSpot-RateLimit-Max": "lots", "X-HubSpot-RateLimit-Remaining": ""}, RateLimitHeaders()),
        ({"X-HubSpot-RateLimit-Interval-Milliseconds": "2500.5"}, RateLimitHeaders(interval_s=2.5005)),
        ({"X-HubSpot-RateLimit-Interval-Milliseconds": "inf"}, RateLimitHeaders()),
        ({"X-HubSpot-RateLimit-Interval-Milliseconds": "nan"}, RateLimitHeaders()),
        ({"X-HubSpot-RateLimit-Interval-Milliseconds": "-10"}, RateLimitHeaders()),
    ],
)
def test_rate_limit_headers(headers: dict[str, str] | None, expected: RateLimitHeaders) -> None:
    assert rate_limit_headers(headers) == expected


def test_classifier_takes_rate_limit_headers_read_once() -> None:
    headers = {"X-HubSpot-RateLimit-Interval-Milliseconds": "4000"}
    assert classify(429, TEN_SECONDLY, headers).interval_s == 4.0
    # the send loop passes what it read for the limiter; the classifier does not read again
    assert classify(429, TEN_SECONDLY, headers, rate_limits=RateLimitHeaders(interval_s=1.0)).interval_s == 1.0


@pytest.mark.parametrize(
    "exc, action, reason",
    [
        (requests.exceptions.ConnectTimeout("x"), Action.RETRY, Reason.CONNECT_ERROR),
        (requests.exceptions.ReadTimeout("x"), Action.RETRY, Reason.READ_TIMEOUT),
        (requests.exceptions.ConnectionError("Connection aborted."), Action.RETRY, Reason.CONNECTION_LOST),
        (requests.exceptions.ChunkedEncodingError("x"), Action.RETRY, Reason.CONNECTION_LOST),
        (requests.exceptions.SSLError("x"), Action.FAIL, Reason.TLS_ERROR),
    ],
)
def test_classify_exception(exc: Exception, action: Action, reason: Reason) -> None:
    verdict = classify_exception(exc)
    assert verdict is not None and (verdict.action, verdict.reason) == (action, reason)


def test_refused_connection_is_a_connect_error() -> None:
    # a real refused connection (nothing listens on port 9 of localhost)
    with pytest.raises(requests.exceptions.ConnectionError) as info:
        requests.get("http://127.0.0.1:9/", timeout=2)
    verdict = classify_exception(info.value)
    assert verdict is not None and verdict.reason is Reason.CONNECT_ERROR


def test_non_transport_exception_is_not_classified() -> None:
    assert classify_exception(requests.exceptions.InvalidURL("x")) is None


@pytest.mark.parametrize(
    "value, expected",
    [
        (None, None),
        ("", None),
        ("3", 3.0),
        (" 1.5 ", 1.5),
        ("-4", 0.0),
        ("soon", None),
        ("nan", None),
        ("Wed, 21 Oct 2015 07:28:10 GMT", 10.0),  # now = 07:28:00
        ("Wed, 21 Oct 2015 07:27:00 GMT", 0.0),  # in the past
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    now = 1445412480.0  # 2015-10-21T07:28:00Z
    assert parse_retry_after(value, now) == expected


# -- verdict -> exception ----------------------------------------------------------------------


def _err(status: int, body: Any, **kw: Any) -> Exception:
    return error_for(classify(status, body), method="POST", path="/crm/v3/objects/0-410/batch/upsert", **kw)


def test_authentication_error_says_what_to_fix() -> None:
    err = _err(401, UNAUTHENTICATED, row_keys=["c-1"])
    assert isinstance(err, AuthenticationError) and isinstance(err, DestinationTerminalException)
    text = str(err)
    assert "DESTINATION__HUBSPOT_COURSES__ACCESS_TOKEN" in text and "secrets.toml" in text
    assert "status=401" in text and "INVALID_AUTHENTICATION" in text and CID in text


def test_missing_scopes_error_names_the_scopes() -> None:
    err = _err(403, MISSING_SCOPES)
    assert isinstance(err, MissingScopesError)
    assert err.missing_scopes == ("crm.objects.courses.write",)
    assert "crm.objects.courses.write" in str(err) and "private app" in str(err)


def test_daily_limit_error_says_when_it_resets() -> None:
    err = _err(429, DAILY)
    assert isinstance(err, DailyLimitExceededError) and isinstance(err, DestinationTerminalException)
    assert "daily" in str(err) and "midnight" in str(err) and "time zone" in str(err)
    assert err.category == "DAILY" and err.correlation_id == CID


def test_whole_request_400_is_rejected_with_metadata() -> None:
    err = _err(400, DUPLICATE_IDS, row_keys=["c-1", "c-2"])
    assert isinstance(err, RequestRejectedError)
    assert (err.status, err.category, err.correlation_id, err.row_keys) == (400, "VALIDATION_ERROR", CID, ("c-1", "c-2"))


def test_retries_exhausted_is_transient() -> None:
    verdict = Verdict(Action.RETRY, Reason.SERVER_ERROR, status=503)
    err = error_for(verdict, method="POST", path="/p", attempts=4, waited_s=7.0)
    assert isinstance(err, HubSpotTransientError) and isinstance(err, DestinationTransientException)
    assert "4 attempts" in str(err)
    assert isinstance(_err(500, None), HubSpotTransientError)
    assert isinstance(error_for(classify_exception(requests.exceptions.SSLError("x")), method="GET", path="/"), HubSpotTerminalError)  # type: ignore[arg-type]


def test_long_hubspot_messages_are_shortened() -> None:
    body = {"category": "VALIDATION_ERROR", "message": "x" * 5000}
    assert len(str(_err(400, body))) < 600
