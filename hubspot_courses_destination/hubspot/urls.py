"""Which ``api_base_url`` the access token may be sent to; one check for settings and client.

The URL is parsed with urllib3's ``parse_url``, the parser requests uses to open the
connection, and refused when anything about it could be read two ways: the standard
library's ``urlsplit`` took ``http://10.255.255.1\\@127.0.0.1:9/`` for a loopback URL while
urllib3 connects to 10.255.255.1, so a check with one parser let the other send the Bearer
token in clear text off the machine. Plain http is allowed only for a sandbox on this
machine. Pure: no I/O, no request is made.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from urllib3.exceptions import LocationParseError
from urllib3.util import parse_url

__all__ = ["DEFAULT_API_BASE_URL", "api_base_url_problem"]

DEFAULT_API_BASE_URL = "https://api.hubapi.com"

_FIX = "set api_base_url to https://api.hubapi.com (the default) or, for a local sandbox, http://127.0.0.1:<port>"
_LOOPBACK_V4 = ipaddress.ip_network("127.0.0.0/8")
_LOOPBACK_V6 = ipaddress.ip_address("::1")


def api_base_url_problem(url: object) -> str | None:
    """Why the token must not be sent to ``url``, or None when it may.

    A URL that may hold credentials (userinfo, a query such as ``?hapikey=``) is not echoed.
    """
    if not isinstance(url, str) or not url:
        return f"api_base_url is empty or not text; {_FIX}"
    if "@" in url:
        return (
            "api_base_url contains '@' (a user name or password in the URL, which parsers read "
            "differently; the URL is not shown). The token belongs in access_token, not in the "
            f"URL: {_FIX}"
        )
    if "?" in url or "#" in url:
        return (
            "api_base_url has a query or fragment ('?' or '#'; the URL is not shown); give only "
            f"scheme, host, port and path: {_FIX}"
        )
    if any(not "\x21" <= c <= "\x7e" for c in url):
        return (
            f"api_base_url {url!r} contains spaces, control or non-ASCII characters; write it in "
            f"plain ASCII (punycode for international host names): {_FIX}"
        )
    if "\\" in url:
        return f"api_base_url {url!r} contains a backslash, which URL parsers read differently: {_FIX}"
    try:
        parsed = parse_url(url)
        split = urlsplit(url)
        split_port = split.port
    except (LocationParseError, ValueError):
        return f"api_base_url {url!r} is not a valid URL (host or port): {_FIX}"
    if parsed.scheme not in ("https", "http") or not parsed.host:
        return f"api_base_url {url!r} is not an http(s) URL with a host: {_FIX}"
    host = parsed.host[1:-1] if parsed.host.startswith("[") else parsed.host
    if (split.scheme.lower(), split.hostname, split_port) != (parsed.scheme, host, parsed.port):
        return (
            f"api_base_url {url!r} is ambiguous: URL parsers disagree on its host "
            f"({host!r} or {split.hostname!r}): {_FIX}"
        )
    if parsed.scheme == "http" and not _is_loopback(host):
        return (
            f"api_base_url {url!r} uses plain http, which would send the access token unencrypted; "
            "only a local sandbox (127.0.0.0/8, ::1, localhost) may, HubSpot itself needs https: "
            f"{_FIX}"
        )
    return None


def _is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 or localhost, written out: no other spelling (127.1, ::ffff:127.0.0.1)."""
    if host == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv4Address):
        return address in _LOOPBACK_V4
    return address == _LOOPBACK_V6
