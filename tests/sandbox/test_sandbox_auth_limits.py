"""Authentication, scopes and rate limits (docs/hubspot-behaviour.md, "Rate limits",
"429 bodies", "Response headers" and "Authentication errors")."""

from __future__ import annotations

from typing import Iterator

import pytest

from hubspot_courses_destination.sandbox import DEFAULT_TOKEN, Sandbox

from sandbox_helpers import Api, course

PROPS = "/crm/v3/properties/0-410"
RATE_HEADERS = ("X-HubSpot-RateLimit-Daily", "X-HubSpot-RateLimit-Daily-Remaining",
                "X-HubSpot-RateLimit-Interval-Milliseconds", "X-HubSpot-RateLimit-Max",
                "X-HubSpot-RateLimit-Remaining")


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def limited(clock: FakeClock) -> Iterator[Sandbox]:
    with Sandbox(rate_limit_per_10s=3, clock=clock) as sb:
        yield sb


def test_missing_and_unknown_token_get_401(sb: Sandbox) -> None:
    for token in (None, "pat-na1-wrong"):
        r = Api(sb.url, token).get(PROPS)
        assert r.status_code == 401
        body = r.json()
        assert body["category"] == "INVALID_AUTHENTICATION" and body["status"] == "error"
        assert body["message"].startswith("Authentication credentials not found.")
        assert body["correlationId"] == r.headers["x-hubspot-correlation-id"]
        assert all(h in r.headers for h in RATE_HEADERS)
    assert sb.count_requests("GET", PROPS, status=401) == 2


def test_non_bearer_scheme_is_401(sb: Sandbox) -> None:
    r = Api(sb.url, None).get(PROPS, headers={"Authorization": f"Basic {DEFAULT_TOKEN}"})
    assert r.status_code == 401


def test_added_and_removed_tokens(sb: Sandbox) -> None:
    sb.add_token("pat-na1-second")
    assert Api(sb.url, "pat-na1-second").get(PROPS).status_code == 200
    sb.remove_token("pat-na1-second")
    assert Api(sb.url, "pat-na1-second").get(PROPS).status_code == 401


def test_missing_scope_is_403_with_required_scopes(sb: Sandbox) -> None:
    sb.create_property("lms_course_key", has_unique_value=True)
    sb.add_token("pat-read-only", scopes={"crm.objects.courses.read"})
    reader = Api(sb.url, "pat-read-only")
    r = reader.upsert([course("c-1")])
    assert r.status_code == 403
    body = r.json()
    assert body["category"] == "MISSING_SCOPES" and body["correlationId"]
    assert body["errors"][0]["message"] == "One or more of the following scopes are required."
    assert body["errors"][0]["context"]["requiredGranularScopes"] == ["crm.objects.courses.write"]
    assert body["links"] == {"scopes": "https://developers.hubspot.com/scopes"}
    assert sb.records() == []
    assert reader.get("/crm/v3/objects/0-410").status_code == 200
    writer_only = Api(sb.url, "pat-write-only")
    sb.add_token("pat-write-only", scopes={"crm.objects.courses.write"})
    read = writer_only.post("/crm/v3/objects/0-410/batch/read", {"inputs": [], "properties": []})
    assert read.status_code == 403
    assert read.json()["errors"][0]["context"]["requiredGranularScopes"] == ["crm.objects.courses.read"]


def test_every_response_carries_rate_limit_and_correlation_headers(sb: Sandbox, api: Api) -> None:
    for r in (api.get(PROPS), api.get(f"{PROPS}/nope"), api.upsert([course("x")])):
        assert all(h in r.headers for h in RATE_HEADERS), r.status_code
        assert r.headers["X-HubSpot-RateLimit-Interval-Milliseconds"] == "10000"
        assert r.headers["X-HubSpot-RateLimit-Max"] == "100"
        assert r.headers["X-HubSpot-RateLimit-Daily"] == "250000"
        assert r.headers["x-hubspot-correlation-id"]
    assert r.json()["correlationId"] == r.headers["x-hubspot-correlation-id"]


def test_ten_secondly_limit_gives_429_with_hubspot_body(limited: Sandbox) -> None:
    api = Api(limited.url)
    remaining = [api.get(PROPS).headers["X-HubSpot-RateLimit-Remaining"] for _ in range(3)]
    assert remaining == ["2", "1", "0"]
    r = api.get(PROPS)
    assert r.status_code == 429
    body = r.json()
    assert body["policyName"] == "TEN_SECONDLY_ROLLING" and body["errorType"] == "RATE_LIMIT"
    assert body["message"] == "You have reached your ten_secondly_rolling limit."
    assert "category" not in body and body["correlationId"]
    assert body["groupName"].startswith("publicapi:private_app-api-calls-ten-secondly:")
    assert r.headers["X-HubSpot-RateLimit-Remaining"] == "0"
    assert limited.count_requests("GET", PROPS, status=429) == 1


def test_burst_limit_is_per_token(limited: Sandbox) -> None:
    api = Api(limited.url)
    for _ in range(3):
        api.get(PROPS)
    assert api.get(PROPS).status_code == 429
    limited.add_token("pat-other")
    assert Api(limited.url, "pat-other").get(PROPS).status_code == 200


def test_window_rolls_and_refused_requests_do_not_count(limited: Sandbox, clock: FakeClock) -> None:
    api = Api(limited.url)
    for t in (0.0, 1.0, 2.0):
        clock.now = 1000 + t
        assert api.get(PROPS).status_code == 200
    clock.now = 1005.0
    assert api.get(PROPS).status_code == 429
    clock.now = 1009.9
    assert api.get(PROPS).status_code == 429  # first request still inside the 10 s window
    clock.now = 1010.0
    r = api.get(PROPS)  # the t=0 request left the window; the refused ones never counted
    assert r.status_code == 200 and r.headers["X-HubSpot-RateLimit-Remaining"] == "0"
    assert api.get(PROPS).status_code == 429


def test_refused_requests_count_when_asked(clock: FakeClock) -> None:
    with Sandbox(rate_limit_per_10s=3, clock=clock, count_rejected_requests=True) as sb:
        api = Api(sb.url)
        for _ in range(3):
            api.get(PROPS)
        clock.now += 5
        assert api.get(PROPS).status_code == 429
        clock.now += 5.5  # the first three left the window; the refused one (t+5) has not
        assert api.get(PROPS).status_code == 200
        assert api.get(PROPS).status_code == 200
        assert api.get(PROPS).status_code == 429


def test_daily_limit_is_shared_by_tokens_and_gives_daily_429() -> None:
    with Sandbox(daily_limit=3) as sb:
        sb.add_token("pat-second")
        a, b = Api(sb.url), Api(sb.url, "pat-second")
        assert a.get(PROPS).headers["X-HubSpot-RateLimit-Daily-Remaining"] == "2"
        assert b.get(PROPS).headers["X-HubSpot-RateLimit-Daily-Remaining"] == "1"
        assert a.get(PROPS).headers["X-HubSpot-RateLimit-Daily-Remaining"] == "0"
        r = b.get(PROPS)
        assert r.status_code == 429
        body = r.json()
        assert body["policyName"] == "DAILY" and body["message"] == "You have reached your daily limit."
        assert body["errorType"] == "RATE_LIMIT" and body["requestId"] and body["correlationId"]
        sb.reset_rate_limits()
        assert a.get(PROPS).status_code == 200


USAGE = "/account-info/{}/api-usage/daily/private-apps"


def test_daily_usage_counts_every_app_and_only_2026_09_says_when_it_resets() -> None:
    from datetime import datetime, timedelta, timezone

    with Sandbox(daily_limit=100) as sb:
        sb.spend_daily(40)  # other apps of the portal
        legacy = Api(sb.url).get(USAGE.format("v3"))
        assert legacy.status_code == 200
        (row,) = legacy.json()["results"]
        assert (row["usageLimit"], row["currentUsage"], row["fetchStatus"]) == (100, 41, "SUCCESS")
        assert "resetsAt" not in row and row["collectedAt"].endswith("Z")
        assert legacy.headers["X-HubSpot-RateLimit-Daily-Remaining"] == "59"
        (dated,) = Api(sb.url).get(USAGE.format("2026-09")).json()["results"]
        midnight = datetime.combine(datetime.now(timezone.utc).date() + timedelta(days=1), datetime.min.time(), timezone.utc)
        assert datetime.fromisoformat(dated["resetsAt"].replace("Z", "+00:00")) == midnight
        assert dated["currentUsage"] == 42


def test_an_oauth_token_gets_no_daily_headers_and_no_private_app_usage() -> None:
    with Sandbox() as sb:
        sb.add_token("oauth-token", oauth=True)
        oauth = Api(sb.url, "oauth-token")
        r = oauth.get(PROPS)
        assert r.status_code == 200
        assert "X-HubSpot-RateLimit-Daily" not in r.headers and "X-HubSpot-RateLimit-Daily-Remaining" not in r.headers
        assert r.headers["X-HubSpot-RateLimit-Max"]
        assert oauth.get(USAGE.format("2026-09")).status_code == 403
        assert "X-HubSpot-RateLimit-Daily" in Api(sb.url).get(PROPS).headers
