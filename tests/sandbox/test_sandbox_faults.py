"""Injected faults and latency (docs/internals.md "Sandbox";
docs/hubspot-behaviour.md, "Retrying")."""

from __future__ import annotations

import time

import pytest
import requests

from hubspot_courses_destination.sandbox import Sandbox

from sandbox_helpers import KEY, UPSERT, Api, course

PROPS = "/crm/v3/properties/0-410"


def test_scheduled_503_then_normal(keyed: Sandbox, api: Api) -> None:
    keyed.faults.add("503", times=2, path_contains="/batch/upsert")
    assert api.get(PROPS).status_code == 200  # other paths are not affected
    statuses = [api.upsert([course("c-1")]).status_code for _ in range(3)]
    assert statuses == [503, 503, 200]
    assert keyed.faults.pending() == 0
    assert [e.fault for e in keyed.request_log if e.path == UPSERT] == ["503", "503", None]
    assert keyed.count_requests("POST", "/batch/upsert", status=503) == 2
    assert len(keyed.records()) == 1  # the failed attempts wrote nothing


@pytest.mark.parametrize("kind", ["502", "503", "504", "423"])
def test_error_faults_have_hubspot_like_bodies(keyed: Sandbox, api: Api, kind: str) -> None:
    keyed.faults.add(kind)
    r = api.upsert([course("c-1")])
    assert r.status_code == int(kind)
    body = r.json()
    assert body["status"] == "error" and body["message"] and body["correlationId"] and body["category"]
    assert "X-HubSpot-RateLimit-Remaining" in r.headers
    assert keyed.records() == []


def test_429_fault_is_ten_secondly_body(keyed: Sandbox, api: Api) -> None:
    keyed.faults.add("429")
    r = api.get(PROPS)
    assert r.status_code == 429 and r.json()["policyName"] == "TEN_SECONDLY_ROLLING"


def test_reset_drops_connection_before_processing(keyed: Sandbox, api: Api) -> None:
    keyed.faults.add("reset", path_contains="/batch/upsert")
    with pytest.raises(requests.ConnectionError):
        api.upsert([course("c-1")])
    assert keyed.records() == []
    (entry,) = [e for e in keyed.request_log if e.path == UPSERT]
    assert entry.status is None and entry.fault == "reset" and entry.n_inputs == 1
    assert api.upsert([course("c-1")]).status_code == 200  # the session recovers with a new connection


def test_write_then_drop_applies_the_write(keyed: Sandbox, api: Api) -> None:
    keyed.faults.add("write_then_drop")
    with pytest.raises(requests.ConnectionError):
        api.upsert([course("c-1", hs_enrollment_capacity="7")])
    assert keyed.record_by(KEY, "c-1")["properties"]["hs_enrollment_capacity"] == "7"
    retry = api.upsert([course("c-1", hs_enrollment_capacity="7")])
    assert retry.status_code == 200 and retry.json()["results"][0]["new"] is False  # a retry is an update


def test_slow_fault_delays_answer(keyed: Sandbox, api: Api) -> None:
    keyed.faults.add("slow", delay_ms=300)
    t0 = time.monotonic()
    assert api.get(PROPS).status_code == 200
    assert time.monotonic() - t0 >= 0.3
    t0 = time.monotonic()
    api.get(PROPS)
    assert time.monotonic() - t0 < 0.3


def test_seeded_rates_are_reproducible_and_path_scoped() -> None:
    def run(seed: int) -> list[int]:
        with Sandbox() as sb:
            sb.faults.set_rates({"503": 0.3, "502": 0.2}, seed=seed, path_contains="/properties/0-410/")
            api = Api(sb.url)
            assert api.get("/crm/v3/objects/0-410").status_code == 200  # path not matched
            return [api.get(f"{PROPS}/hs_course_name").status_code for _ in range(30)]

    a, b, c = run(7), run(7), run(8)
    assert a == b and a != c
    assert {502, 503, 200} == set(a)


def test_clear_removes_faults(keyed: Sandbox, api: Api) -> None:
    keyed.faults.add("503", times=5)
    keyed.faults.set_rates({"502": 1.0})
    keyed.faults.clear()
    assert api.get(PROPS).status_code == 200


def test_unknown_fault_kind_is_refused(sb: Sandbox) -> None:
    with pytest.raises(ValueError):
        sb.faults.add("500")
    with pytest.raises(ValueError):
        sb.faults.set_rates({"503": 0.8, "502": 0.8})


def test_latency_with_jitter() -> None:
    with Sandbox(latency_ms=100, seed=3) as sb:
        api = Api(sb.url)
        durations = []
        for _ in range(3):
            t0 = time.monotonic()
            api.get(PROPS)
            durations.append(time.monotonic() - t0)
        assert all(0.079 <= d < 0.5 for d in durations), durations
        assert len({round(d, 3) for d in durations}) > 1
