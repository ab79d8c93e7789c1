"""Private-app tokens the sandbox accepts, each with its scopes."""

from __future__ import annotations

import threading
from typing import Iterable

# docs/hubspot-behaviour.md, "Scopes": what a fully set-up private app for courses holds.
ALL_SCOPES = frozenset({
    "crm.objects.courses.read",
    "crm.objects.courses.write",
    "crm.schemas.courses.read",
    "crm.schemas.courses.write",
    # Contacts and associations (endpoints.py).
    "crm.objects.contacts.read",
    "crm.objects.contacts.write",
})


class TokenRegistry:
    """Thread-safe token → scopes map; tests add and revoke tokens while requests run."""

    def __init__(self) -> None:
        self._tokens: dict[str, frozenset[str]] = {}
        self._oauth: set[str] = set()
        self._lock = threading.Lock()

    def add(self, token: str, scopes: Iterable[str] | None = None, *, oauth: bool = False) -> None:
        """Accept `token` with `scopes` (all course scopes if None); `oauth`: an OAuth access
        token rather than a private app's."""
        with self._lock:
            self._tokens[token] = ALL_SCOPES if scopes is None else frozenset(scopes)
            (self._oauth.add if oauth else self._oauth.discard)(token)

    def is_oauth(self, token: str | None) -> bool:
        with self._lock:
            return token in self._oauth

    def remove(self, token: str) -> None:
        with self._lock:
            self._tokens.pop(token, None)

    def known(self, token: str) -> bool:
        with self._lock:
            return token in self._tokens

    def scopes(self, token: str) -> frozenset[str]:
        """The token's scopes; none for an unknown token."""
        with self._lock:
            return self._tokens.get(token, frozenset())

    def app_id(self, token: str) -> int:
        """A stable private-app id per token (in order of adding), shown in 429 messages; 0 if unknown."""
        with self._lock:
            return 1_000_000 + list(self._tokens).index(token) if token in self._tokens else 0
