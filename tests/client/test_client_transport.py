"""The client's transport: environment settings read once, pool settings worked out once per host."""

from __future__ import annotations

from typing import Callable

import pytest
import requests
from requests.adapters import HTTPAdapter

from hubspot_courses_destination.hubspot.client import HubSpotClient, _PoolKeyCachingAdapter
from hubspot_courses_destination.sandbox import Sandbox

from .conftest import COURSES, ID_PROPERTY, rows, settle


def _prepared(url: str) -> requests.PreparedRequest:
    return requests.Request("POST", url, data=b"{}").prepare()


@pytest.mark.parametrize("verify", [True, False, "CA_FILE", "CA_DIR"])
def test_pool_settings_are_the_base_adapters_and_handed_out_as_copies(verify, tmp_path) -> None:
    if verify == "CA_FILE":
        verify = str(tmp_path / "ca.pem")
        (tmp_path / "ca.pem").write_text("")
    elif verify == "CA_DIR":
        verify = str(tmp_path)
    caching, plain = _PoolKeyCachingAdapter(), HTTPAdapter()
    url = "https://api.hubapi.example/crm/v3/objects/0-410/batch/upsert"
    expected = plain.build_connection_pool_key_attributes(_prepared(url), verify, None)
    first = caching.build_connection_pool_key_attributes(_prepared(url), verify, None)
    first[1]["changed_by_caller"] = True
    second = caching.build_connection_pool_key_attributes(_prepared(url + "?x=1"), verify, None)
    assert first[0] == second[0] == expected[0]
    assert second[1] == expected[1]
    other_host = caching.build_connection_pool_key_attributes(_prepared("http://127.0.0.1:9/x"), verify, None)
    assert other_host == plain.build_connection_pool_key_attributes(_prepared("http://127.0.0.1:9/x"), verify, None)
    assert len(caching._pool_keys) == 2


def test_environment_settings_are_read_when_the_client_is_created(
    sandbox: Sandbox, make_client: Callable[..., HubSpotClient], tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A CA bundle from REQUESTS_CA_BUNDLE applies (requests' own rule), read once, not per request."""
    bundle = tmp_path / "corporate-ca.pem"
    bundle.write_text("")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(bundle))
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    client = make_client(sandbox)
    assert client._transport["verify"] == str(bundle)
    outcomes = client.batch_upsert(COURSES, ID_PROPERTY, rows(150))
    assert {o.status for o in outcomes} == {"created"}
    assert settle(sandbox).count_requests("POST", "/batch/upsert", status=200) == 2


def test_the_adapter_survives_pickling() -> None:
    import pickle

    adapter = pickle.loads(pickle.dumps(_PoolKeyCachingAdapter()))
    url = "https://api.hubapi.example/x"
    assert adapter.build_connection_pool_key_attributes(_prepared(url), True, None) == \
        HTTPAdapter().build_connection_pool_key_attributes(_prepared(url), True, None)
