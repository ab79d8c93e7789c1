"""401/403 fail at once with a message that says what to fix; the token never leaks."""

from __future__ import annotations

import logging
import pickle
from typing import Callable

import pytest

from hubspot_courses_destination.hubspot import HubSpotClient
from hubspot_courses_destination.errors import AuthenticationError, ConfigurationError, HubSpotError, MissingScopesError
from hubspot_courses_destination.sandbox import Sandbox

from .conftest import COURSES, ID_PROPERTY, rows, settle

SECRET = "pat-na1-11111111-2222-3333-4444-555555555555"


def test_401_raises_at_once_and_says_where_the_token_goes(sandbox: Sandbox, make_client: Callable[..., HubSpotClient]) -> None:
    client = make_client(sandbox, token=SECRET)  # unknown to the sandbox
    with pytest.raises(AuthenticationError) as info:
        client.batch_upsert(COURSES, ID_PROPERTY, rows(3))
    text = str(info.value)
    assert "DESTINATION__HUBSPOT_COURSES__ACCESS_TOKEN" in text and ".dlt/secrets.toml" in text
    assert info.value.status == 401 and info.value.category == "INVALID_AUTHENTICATION"
    assert "Service Key" in text and "private-app" in text  # README "Credentials": either token
    assert SECRET not in text and SECRET not in repr(info.value)
    assert settle(sandbox).count_requests("POST", "/batch/upsert") == 1
    assert client.stats.retries == 0


def test_403_missing_scopes_names_them(sandbox: Sandbox, make_client: Callable[..., HubSpotClient]) -> None:
    sandbox.add_token(SECRET, scopes={"crm.objects.courses.read"})
    client = make_client(sandbox, token=SECRET)
    with pytest.raises(MissingScopesError) as info:
        client.batch_upsert(COURSES, ID_PROPERTY, rows(2))
    assert info.value.missing_scopes == ("crm.objects.courses.write",)
    assert "crm.objects.courses.write" in str(info.value) and "private app" in str(info.value)
    assert "Service Key" in str(info.value)
    with pytest.raises(MissingScopesError, match="crm.schemas.courses.write"):
        client.create_property(COURSES, {"name": "x_new", "label": "x", "type": "string", "fieldType": "text", "groupName": "course_information"})
    assert settle(sandbox).count_requests("POST", "/batch/upsert") == 1
    assert sandbox.records() == []


def test_token_never_appears_in_repr_logs_errors_or_stats(
    sandbox: Sandbox, make_client: Callable[..., HubSpotClient], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    sandbox.add_token(SECRET)
    client = make_client(sandbox, token=SECRET)
    sandbox.faults.add("503", times=1, path_contains="/batch/upsert")
    client.batch_upsert(COURSES, ID_PROPERTY, rows(2))
    sandbox.remove_token(SECRET)
    with pytest.raises(HubSpotError) as info:
        client.list_properties(COURSES)
    seen = [repr(client), str(client.stats), repr(client.rate_limiter), str(info.value), repr(info.value), caplog.text]
    seen.append(str(pickle.dumps(info.value.__dict__)))
    assert caplog.records, "expected request logs at DEBUG"
    for text in seen:
        assert SECRET not in text
    assert "/crm/v3/objects/0-410/batch/upsert" in caplog.text  # logs name method and path


def test_config_errors_before_any_request(sandbox: Sandbox) -> None:
    with pytest.raises(ConfigurationError, match="ACCESS_TOKEN"):
        HubSpotClient("  ", sandbox.url)
    with pytest.raises(ConfigurationError):
        HubSpotClient(SECRET, "api.hubapi.com")
    with pytest.raises(ConfigurationError):
        HubSpotClient(SECRET, sandbox.url, max_concurrency=0)
    assert sandbox.request_log == []


def test_a_netrc_entry_for_the_api_host_does_not_replace_the_bearer_token(
    sandbox: Sandbox, make_client: Callable[..., HubSpotClient], tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """requests adds ~/.netrc credentials (Basic auth) when a session has no auth of its own."""
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login someone password something\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    client = make_client(sandbox)
    outcomes = client.batch_upsert(COURSES, ID_PROPERTY, rows(2))
    assert [o.status for o in outcomes] == ["created", "created"]
    assert settle(sandbox).count_requests("POST", "/batch/upsert", status=200) == 1


@pytest.mark.parametrize("bad", ["pat-na1-1111\nX-Injected: 1", "pat-na1-11 11", "pat-na1-ü111"])
def test_a_token_that_cannot_be_a_header_value_fails_fast_without_echoing_it(sandbox: Sandbox, bad: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        HubSpotClient(bad, sandbox.url)
    assert "1111" not in str(info.value) and "Private apps" in str(info.value)
