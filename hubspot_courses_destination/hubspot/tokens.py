"""The access token: where users set it, and what a usable one looks like. One place for
both, so the settings and the client check it the same way (and never echo it)."""

from __future__ import annotations

import re

__all__ = ["TOKEN_ENV", "TOKEN_KEY", "token_problem"]

TOKEN_KEY = "destination.hubspot_courses.access_token"
TOKEN_ENV = "DESTINATION__HUBSPOT_COURSES__ACCESS_TOKEN"
"""The token's config key and environment variable, spelled here only."""

_TOKEN_RE = re.compile(r"[\x21-\x7e]+")
"""What a token may contain: it becomes a header value, and a line break would end the header."""


def token_problem(token: object) -> str | None:
    """What is wrong with this token, in words that never include it; None when usable."""
    if not isinstance(token, str) or not token.strip():
        return (
            f"access_token is empty: set it in .dlt/secrets.toml as access_token under "
            f"[{TOKEN_KEY.rsplit('.', 1)[0]}] or in the environment as {TOKEN_ENV} (a Service Key or private-app "
            "token with the crm.objects.courses.read/write scopes)"
        )
    if not _TOKEN_RE.fullmatch(token):
        return ("access_token contains whitespace, line breaks or non-ASCII characters; copy the "
                "Service Key, or legacy private-app token (Settings > Integrations > Private apps), again "
                "without spaces or newlines")
    return None
