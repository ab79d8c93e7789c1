"""The client's API family: every request goes through the endpoint table of its version.

Tests marked ``needs_2026_09`` run once the sandbox serves the 2026-09 paths (they are skipped
until then, by asking a sandbox whether it answers ``/crm/objects/2026-09/0-410``).
"""

from __future__ import annotations

import functools
from typing import Callable

import pytest
import requests

from hubspot_courses_destination.hubspot import HubSpotClient, UpsertRow
from hubspot_courses_destination.sandbox import DEFAULT_TOKEN, Sandbox

from .conftest import COURSES, ID_PROPERTY, rows, settle


@functools.lru_cache(maxsize=1)
def sandbox_serves_2026_09() -> bool:
    """Whether the sandbox answers the 2026-09 object path with anything but a 404."""
    with Sandbox() as sb:
        answer = requests.get(
            f"{sb.url}/crm/objects/2026-09/{COURSES}", headers={"Authorization": f"Bearer {DEFAULT_TOKEN}"}, timeout=5
        )
        return answer.status_code != 404


needs_2026_09 = pytest.mark.skipif(
    not sandbox_serves_2026_09(), reason="the sandbox does not serve the 2026-09 paths yet"
)


def test_v3_client_calls_only_v3_paths(sandbox: Sandbox, make_client: Callable[..., HubSpotClient]) -> None:
    client = make_client(sandbox, api_version="v3")
    client.batch_upsert(COURSES, ID_PROPERTY, rows(2))
    client.batch_read(COURSES, ["c-00000"], id_property=ID_PROPERTY)
    client.list_properties(COURSES)
    client.is_object_enabled(COURSES)
    client.portal_id()
    paths = [e.path for e in settle(sandbox).request_log]
    assert paths and all(p.startswith(("/crm/v3/", "/account-info/v3/")) for p in paths), paths


def test_v3_has_no_record_limits_and_sends_nothing(sandbox: Sandbox, make_client: Callable[..., HubSpotClient]) -> None:
    client = make_client(sandbox, api_version="v3")
    assert client.has_record_limits is False
    assert client.record_limit(COURSES) is None
    assert settle(sandbox).request_log == []


def test_property_validations_unavailable_is_none(sandbox: Sandbox, make_client: Callable[..., HubSpotClient]) -> None:
    # the sandbox in this branch has no property-validations endpoint: a 404, as for a portal without it
    client = make_client(sandbox, api_version="v3")
    if sandbox_serves_2026_09():
        pytest.skip("the sandbox serves property validations now; see the needs_2026_09 tests")
    assert client.property_validations(COURSES) is None
    assert [e.path for e in settle(sandbox).request_log] == [f"/crm/v3/property-validations/{COURSES}"]


@needs_2026_09
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


@needs_2026_09
def test_2026_09_upsert_200_with_errors_is_read_per_row(sandbox: Sandbox, make_client: Callable[..., HubSpotClient]) -> None:
    client = make_client(sandbox, api_version="2026-09")
    outcomes = client.batch_upsert(
        COURSES, ID_PROPERTY, [UpsertRow("c-ok", {"hs_course_name": "A"}), UpsertRow("c-bad", {"no_such_property": "x"})]
    )
    assert [(o.key, o.status) for o in outcomes] == [("c-ok", "created"), ("c-bad", "rejected")]
    assert outcomes[1].property_errors and outcomes[1].property_errors[0].name == "no_such_property"
    statuses = [e.status for e in settle(sandbox).request_log if e.path.endswith("/batch/upsert")]
    assert statuses == [200]  # 2026-09 declares only 200; v3 answers 207
