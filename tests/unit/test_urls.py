"""api_base_url: the token goes only where every URL parser agrees it goes, and in clear text
only to this machine. Settings and client refuse the same URLs, before any request."""

from __future__ import annotations

import pytest

from hubspot_courses_destination.hubspot import HubSpotClient
from hubspot_courses_destination.settings import DestinationSettings
from hubspot_courses_destination.errors import ConfigurationError

TOKEN = "pat-na1-11111111-2222-3333-4444-555555555555"
IN_URL_SECRET = "s3cr3t-in-url"

BAD_URLS = [
    ("http://10.255.255.1\\@127.0.0.1:9/", "'@'"),  # urlsplit: 127.0.0.1; urllib3 connects to 10.255.255.1
    ("http://127.0.0.1:9@10.0.0.1/", "'@'"),
    (f"https://someone:{IN_URL_SECRET}@api.hubapi.com", "'@'"),
    ("http://10.255.255.1\\127.0.0.1/", "backslash"),
    ("http://%31%32%37.0.0.1:9/", "ambiguous"),  # urllib3 decodes the host, urlsplit does not
    (f"https://api.hubapi.com/?hapikey={IN_URL_SECRET}", "query or fragment"),
    ("https://api.hubapi.com/#top", "query or fragment"),
    (" https://api.hubapi.com", "spaces, control"),
    ("https://api.hubapi.com\n", "spaces, control"),
    ("https://api.hubapi.com/\tx", "spaces, control"),
    ("https://api.hub\u00e4pi.com", "non-ASCII"),
    ("http://example.com", "plain http"),
    ("http://10.255.255.1:9/", "plain http"),
    ("http://127.1:9/", "plain http"),  # loopback only when written out
    ("http://0x7f000001:9/", "plain http"),
    ("http://[::ffff:127.0.0.1]:9/", "plain http"),
    ("http://localhost.example.com/", "plain http"),
    ("ftp://api.hubapi.com", "http(s)"),
    ("file:///etc/passwd", "http(s)"),
    ("api.hubapi.com", "http(s)"),
    ("https://", "http(s)"),
    ("http:127.0.0.1", "http(s)"),
    ("http://127.0.0.1:99999/", "not a valid URL"),
    ("", "empty"),
]

GOOD_URLS = [
    "https://api.hubapi.com",
    "https://api.hubapi.com/",
    "HTTPS://API.HUBAPI.COM",
    "https://proxy.example.com:8443/hubspot/",
    "http://127.0.0.1:8123",
    "http://127.8.9.10:9/",
    "http://localhost:9",
    "http://[::1]:80",
]


@pytest.mark.parametrize("url, why", BAD_URLS)
def test_settings_refuse_urls_the_token_must_not_go_to(url: str, why: str) -> None:
    with pytest.raises(ConfigurationError, match="api_base_url") as info:
        DestinationSettings.from_values(access_token=TOKEN, id_property="k", api_base_url=url)
    text = str(info.value)
    assert why in text and "https://api.hubapi.com" in text  # what is wrong, and what to set
    assert TOKEN not in text and IN_URL_SECRET not in text


@pytest.mark.parametrize("url, why", BAD_URLS)
def test_client_refuses_the_same_urls(url: str, why: str) -> None:
    with pytest.raises(ConfigurationError, match="api_base_url") as info:
        HubSpotClient(TOKEN, url)
    text = str(info.value)
    assert why in text
    assert TOKEN not in text and IN_URL_SECRET not in text


@pytest.mark.parametrize("url", GOOD_URLS)
def test_https_and_loopback_http_urls_are_accepted(url: str) -> None:
    assert DestinationSettings.from_values(access_token=TOKEN, id_property="k", api_base_url=url)
    HubSpotClient(TOKEN, url).close()
