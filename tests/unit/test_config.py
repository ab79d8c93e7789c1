"""Settings validation: bad configuration fails before any request, with what to do."""

from __future__ import annotations

import pytest

from hubspot_courses_destination.settings import DestinationSettings
from hubspot_courses_destination.errors import ConfigurationError

TOKEN = "pat-na1-11111111-2222-3333-4444-555555555555"


def test_defaults_and_id_column():
    s = DestinationSettings.from_values(access_token=TOKEN, id_property="lms_key")
    assert s.api_base_url == "https://api.hubapi.com" and s.object_type == "0-410"
    assert s.id_column == "lms_key"
    mapped = DestinationSettings.from_values(
        access_token=TOKEN, id_property="lms_key", property_map={"course_id": "lms_key"}
    )
    assert mapped.id_column == "course_id"


def test_token_never_in_repr_or_key_fingerprint():
    s = DestinationSettings.from_values(access_token=TOKEN, id_property="lms_key")
    assert TOKEN not in repr(s)
    assert TOKEN not in s.token_fingerprint and len(s.token_fingerprint) == 12
    hash(s.session_key())  # usable as a registry key even with a property_map


@pytest.mark.parametrize(
    "values, match",
    [
        ({"access_token": "", "id_property": "k"}, "DESTINATION__HUBSPOT_COURSES__ACCESS_TOKEN"),
        ({"access_token": "pat x", "id_property": "k"}, "whitespace"),
        ({"access_token": TOKEN}, "id_property is not set"),
        ({"access_token": TOKEN, "id_property": "Course Key"}, "not a HubSpot property name"),
        ({"access_token": TOKEN, "id_property": "hs_object_id"}, "unique values"),
        ({"access_token": TOKEN, "id_property": "k", "api_base_url": "http://example.com"}, "https"),
        ({"access_token": TOKEN, "id_property": "k", "api_base_url": "ftp://x"}, "http"),
        ({"access_token": TOKEN, "id_property": "k", "requests_per_10s": 0}, "requests_per_10s"),
        ({"access_token": TOKEN, "id_property": "k", "max_concurrency": 500}, "max_concurrency"),
        ({"access_token": TOKEN, "id_property": "k", "rate_limit_control": "greedy"}, "rate_limit_control"),
        ({"access_token": TOKEN, "id_property": "k", "shared_budget_dir": __file__}, "shared_budget_dir"),
        ({"access_token": TOKEN, "id_property": "k", "property_map": {"a": "Bad Name"}}, "property_map"),
    ],
)
def test_invalid_settings_fail_with_guidance(values, match):
    with pytest.raises(ConfigurationError, match=match) as info:
        DestinationSettings.from_values(**values)
    assert TOKEN not in str(info.value)


def test_all_problems_reported_at_once():
    with pytest.raises(ConfigurationError) as info:
        DestinationSettings.from_values(access_token="", id_property=None, requests_per_10s=-1)
    text = str(info.value)
    assert "access_token" in text and "id_property" in text and "requests_per_10s" in text


def test_loopback_http_allowed_for_the_sandbox():
    for url in ("http://127.0.0.1:8123", "http://localhost:9", "http://[::1]:80"):
        assert DestinationSettings.from_values(access_token=TOKEN, id_property="k", api_base_url=url)


def test_api_version_is_validated_with_what_to_do():
    from hubspot_courses_destination.settings import DEFAULT_API_VERSION

    assert DestinationSettings.from_values(access_token=TOKEN, id_property="k").api_version == DEFAULT_API_VERSION
    for version in ("2026-09", "v3"):
        assert DestinationSettings.from_values(access_token=TOKEN, id_property="k", api_version=version).api_version == version
    for bad in ("v4", "2026-03", "latest", ""):
        with pytest.raises(ConfigurationError, match=r'api_version .* set api_version to "2026-09"') as err:
            DestinationSettings.from_values(access_token=TOKEN, id_property="k", api_version=bad or " ")
        assert "DESTINATION__HUBSPOT_COURSES__API_VERSION" in str(err.value)


def test_api_version_from_the_environment(monkeypatch):
    from hubspot_courses_destination.settings import resolve_settings

    monkeypatch.setenv("DESTINATION__HUBSPOT_COURSES__ACCESS_TOKEN", TOKEN)
    monkeypatch.setenv("DESTINATION__HUBSPOT_COURSES__ID_PROPERTY", "k")
    monkeypatch.setenv("DESTINATION__HUBSPOT_COURSES__API_VERSION", "2026-09")
    assert resolve_settings().api_version == "2026-09"
