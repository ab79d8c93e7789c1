"""The one exception hierarchy of the connector, split by what dlt should do next.

dlt treats ``DestinationTransientException`` as "retry the job" and
``DestinationTerminalException`` as "stop"; deriving from them lets the destination raise
these unchanged. Every error carries HubSpot's ``status``, ``category`` and
``correlation_id`` and the affected row keys, never the token and never whole row bodies
(HubSpot bodies echo names and e-mails).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Sequence

from dlt.common.destination.exceptions import (
    DestinationException,
    DestinationTerminalException,
    DestinationTransientException,
)

__all__ = [
    "HubSpotError",
    "HubSpotTransientError",
    "HubSpotTerminalError",
    "AuthenticationError",
    "MissingScopesError",
    "DailyLimitExceededError",
    "DailyBudgetReachedError",
    "ObjectNotActivatedError",
    "ConfigurationError",
    "PreflightError",
    "RequestRejectedError",
    "RecordLimitExceededError",
]


class HubSpotError(DestinationException):
    """Base of every error this package raises about HubSpot or its configuration."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        category: str | None = None,
        sub_category: str | None = None,
        correlation_id: str | None = None,
        row_keys: Sequence[str] = (),
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.category = category
        self.sub_category = sub_category
        self.correlation_id = correlation_id
        self.row_keys = tuple(row_keys)
        self.hubspot_message: str | None = None
        """HubSpot's own message (shortened), when the error came from a response."""

    def __str__(self) -> str:
        parts = [self.message]
        meta = []
        if self.status is not None:
            meta.append(f"status={self.status}")
        if self.category:
            meta.append(f"category={self.category}")
        if self.correlation_id:
            meta.append(f"correlationId={self.correlation_id}")
        if self.row_keys:
            shown = ", ".join(self.row_keys[:5])
            more = f" (+{len(self.row_keys) - 5} more)" if len(self.row_keys) > 5 else ""
            meta.append(f"rows=[{shown}]{more}")
        if meta:
            parts.append(f"({'; '.join(meta)})")
        return " ".join(parts)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"


class HubSpotTransientError(HubSpotError, DestinationTransientException):
    """Worth retrying later: rate limits, 5xx, 423, connection problems after our own retries."""


class HubSpotTerminalError(HubSpotError, DestinationTerminalException):
    """Retrying will not help until a person changes something."""


class AuthenticationError(HubSpotTerminalError):
    """401: the token is missing, wrong, revoked or expired."""


class MissingScopesError(HubSpotTerminalError):
    """403 MISSING_SCOPES: the private app lacks scopes; ``missing_scopes`` names them."""

    def __init__(self, message: str, *, missing_scopes: Sequence[str] = (), **kw: object) -> None:
        super().__init__(message, **kw)  # type: ignore[arg-type]
        self.missing_scopes = tuple(missing_scopes)


class DailyLimitExceededError(HubSpotTerminalError):
    """429 with policy DAILY: nothing more can be sent until the portal's midnight.

    Terminal for dlt, so the load package stays pending and the next run finishes it. What the
    run knew of the day is attached (``None`` when unknown): ``daily_remaining`` requests left
    for the account, ``resets_at`` (timezone-aware, from HubSpot's ``resetsAt``), and, for the
    run's own budget, ``daily_cap`` and ``daily_used``.
    """

    def __init__(self, message: str, **kw: object) -> None:
        super().__init__(message, **kw)  # type: ignore[arg-type]
        self.daily_remaining: int | None = None
        self.resets_at: datetime | None = None
        self.daily_cap: int | None = None
        self.daily_used: int | None = None

    @property
    def resets_when(self) -> str:
        """When the daily count resets, for a message: HubSpot's ``resetsAt`` if it was read."""
        return daily_reset_text(self.resets_at)


def daily_reset_text(resets_at: datetime | None) -> str:
    """When the portal's daily count resets, for a message."""
    if resets_at is None:
        return "at midnight in the HubSpot portal's time zone"
    return f"at {resets_at.astimezone(timezone.utc).strftime('%Y-%m-%d %H:%M')} UTC"


class DailyBudgetReachedError(DailyLimitExceededError):
    """This run spent its share of the day's remaining requests (``daily_budget_share``); raised
    before the request that would pass the cap is sent."""


class ObjectNotActivatedError(HubSpotTerminalError):
    """The Courses object (0-410) is not activated in the portal's object library."""


class ConfigurationError(HubSpotTerminalError):
    """Our own settings are invalid; raised before any request is made."""


class PreflightError(HubSpotTerminalError):
    """The portal is not ready for the sync (id property missing or not unique, properties missing)."""


class RequestRejectedError(HubSpotTerminalError):
    """A whole request was refused with a 4xx that no retry can fix (e.g. 400, 404, 409)."""


class RecordLimitExceededError(HubSpotTerminalError):
    """The creates of a load would pass the portal's record limit for the object; raised
    before the batch that would cross it is sent."""
