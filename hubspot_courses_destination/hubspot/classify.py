"""Reading HubSpot responses: the one classifier, error bodies, and exceptions from verdicts.

Everything here is pure (no I/O) so it can be tested as tables. The classifier decides
from the HTTP status and HubSpot's structured fields (``category``, ``errorType``,
``policyName``, ``errors[].context``), never from message text (the one exception,
property errors inside ``message``, is read in :mod:`.matching`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from enum import Enum
from typing import Any, Mapping, Sequence
from urllib.parse import urlsplit

from .tokens import TOKEN_ENV
from ..errors import (
    AuthenticationError,
    DailyLimitExceededError,
    HubSpotError,
    HubSpotTerminalError,
    HubSpotTransientError,
    MissingScopesError,
    ObjectNotActivatedError,
    RequestRejectedError,
)

__all__ = [
    "Action",
    "Reason",
    "Verdict",
    "ErrorBody",
    "classify",
    "classify_exception",
    "parse_error_body",
    "parse_retry_after",
    "RateLimitHeaders",
    "rate_limit_headers",
    "error_for",
    "RETRYABLE_STATUSES",
    "AMBIGUOUS_REASONS",
    "shorten_message",
    "str_or_none",
]


RETRYABLE_STATUSES = frozenset({423, 429, 502, 503, 504, 521, 523, 524})
"""Statuses HubSpot documents as "pause, then retry" (429 only for the burst policies)."""

# HubSpot's answer for a non-activated object is UNCONFIRMED
# (docs/hubspot-behaviour.md, "Activation"); these are the categories the connector recognises
# (the sandbox sends OBJECT_NOT_ENABLED with a 403).
_NOT_ACTIVATED_CATEGORIES = frozenset({"OBJECT_NOT_ENABLED", "OBJECT_NOT_ACTIVATED"})
_MAX_MESSAGE_CHARS = 300


class Action(str, Enum):
    """What the caller should do with a response."""

    OK = "ok"
    RETRY = "retry"
    FAIL = "fail"


class Reason(str, Enum):
    """Why a response or exception was classified the way it was."""

    SUCCESS = "success"
    RATE_LIMITED = "rate_limited"  # 429 burst (TEN_SECONDLY_ROLLING, SECONDLY, unknown policy)
    DAILY_LIMIT = "daily_limit"  # 429 DAILY
    LOCKED = "locked"  # 423
    SERVER_ERROR = "server_error"  # 502/503/504/521/523/524
    SERVER_FAILURE = "server_failure"  # other 5xx: transient, not retried in-process
    CONNECT_ERROR = "connect_error"  # the request provably never reached the server
    CONNECTION_LOST = "connection_lost"  # reset / dropped after sending: outcome unknown
    READ_TIMEOUT = "read_timeout"  # sent, no answer in time: outcome unknown
    UNAUTHORIZED = "unauthorized"  # 401
    MISSING_SCOPES = "missing_scopes"  # 403 MISSING_SCOPES
    NOT_ACTIVATED = "not_activated"  # object not activated in the object library
    TLS_ERROR = "tls_error"  # certificate verification failed: retrying will not help
    REDIRECTED = "redirected"  # 3xx: HubSpot's API does not redirect; never followed
    REJECTED = "rejected"  # any other 4xx


# Outcomes where the server may have applied the request although we got no answer.
AMBIGUOUS_REASONS = frozenset({Reason.CONNECTION_LOST, Reason.READ_TIMEOUT, Reason.SERVER_ERROR})


@dataclass(frozen=True)
class ErrorBody:
    """The fields of a HubSpot error body the connector uses; every field optional."""

    message: str | None = None
    category: str | None = None
    sub_category: str | None = None
    correlation_id: str | None = None
    error_type: str | None = None
    policy_name: str | None = None
    context: Mapping[str, Any] = field(default_factory=dict)
    errors: tuple[Mapping[str, Any], ...] = ()


@dataclass(frozen=True)
class Verdict:
    """The classifier's decision about one response (or one transport exception)."""

    action: Action
    reason: Reason
    status: int | None = None
    category: str | None = None
    sub_category: str | None = None
    policy_name: str | None = None
    correlation_id: str | None = None
    message: str | None = None
    retry_after_s: float | None = None
    interval_s: float | None = None
    missing_scopes: tuple[str, ...] = ()
    redirect_host: str | None = None  # host[:port] of a 3xx's Location, never its path or query

    @property
    def retryable(self) -> bool:
        return self.action is Action.RETRY


# -- headers ------------------------------------------------------------------------------

_HEADER_MAX = "x-hubspot-ratelimit-max"
_HEADER_REMAINING = "x-hubspot-ratelimit-remaining"
_HEADER_INTERVAL_MS = "x-hubspot-ratelimit-interval-milliseconds"
_HEADER_DAILY = "x-hubspot-ratelimit-daily"
_HEADER_DAILY_REMAINING = "x-hubspot-ratelimit-daily-remaining"


@dataclass(frozen=True)
class RateLimitHeaders:
    """HubSpot's ``X-HubSpot-RateLimit-*`` headers of one response, read once.

    The send loop reads them once per response and hands the result to both the classifier
    (the window for a 429's wait) and the rate limiter (the budget it follows). A field is
    ``None`` when the header is absent or unusable.

    Attributes:
        limit: ``Max``, requests per window (only if > 0).
        remaining: ``Remaining`` in the current window, as sent (may be negative).
        interval_s: ``Interval-Milliseconds`` in seconds (only if finite and > 0).
        daily_limit: ``Daily``, requests per day for the account (only if > 0; OAuth: absent).
        daily_remaining: ``Daily-Remaining`` today (never below 0; OAuth: absent); the daily
            budget (:mod:`.daily_budget`) follows it.
    """

    limit: int | None = None
    remaining: int | None = None
    interval_s: float | None = None
    daily_limit: int | None = None
    daily_remaining: int | None = None


_NO_RATE_LIMIT_HEADERS = RateLimitHeaders()


def _lower_keys(headers: Mapping[str, str] | None) -> dict[str, str]:
    """Headers with lower-case names, for case-insensitive lookups in a plain dict."""
    return {str(k).lower(): v for k, v in (headers or {}).items()}


def rate_limit_headers(headers: Mapping[str, str] | None) -> RateLimitHeaders:
    """Read the rate-limit headers of a response (any case of the header names)."""
    return _rate_limits_of(_lower_keys(headers)) if headers else _NO_RATE_LIMIT_HEADERS


def _rate_limits_of(lowered: Mapping[str, str]) -> RateLimitHeaders:
    maximum = _int_or_none(lowered.get(_HEADER_MAX))
    interval_ms = _float_or_none(lowered.get(_HEADER_INTERVAL_MS))
    daily = _int_or_none(lowered.get(_HEADER_DAILY))
    daily_remaining = _int_or_none(lowered.get(_HEADER_DAILY_REMAINING))
    return RateLimitHeaders(
        limit=maximum if maximum is not None and maximum > 0 else None,
        remaining=_int_or_none(lowered.get(_HEADER_REMAINING)),
        interval_s=interval_ms / 1000.0 if interval_ms is not None and 0 < interval_ms < math.inf else None,
        daily_limit=daily if daily is not None and daily > 0 else None,
        daily_remaining=max(daily_remaining, 0) if daily_remaining is not None else None,
    )


# -- body parsing -------------------------------------------------------------------------


def parse_error_body(body: Any) -> ErrorBody:
    """Pick the known fields out of a HubSpot error body; tolerate anything else."""
    if not isinstance(body, Mapping):
        return ErrorBody()
    context = body.get("context")
    errors = body.get("errors")
    return ErrorBody(
        message=str_or_none(body.get("message")),
        category=str_or_none(body.get("category")),
        sub_category=str_or_none(body.get("subCategory")),
        correlation_id=str_or_none(body.get("correlationId")),
        error_type=str_or_none(body.get("errorType")),
        policy_name=str_or_none(body.get("policyName")),
        context=context if isinstance(context, Mapping) else {},
        errors=tuple(e for e in errors if isinstance(e, Mapping)) if isinstance(errors, list) else (),
    )


def parse_retry_after(value: str | None, now_epoch_s: float) -> float | None:
    """``Retry-After`` as seconds from now: delta-seconds or an HTTP date; ``None`` if absent/bad."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when is None:
            return None
        seconds = when.timestamp() - now_epoch_s
    if seconds != seconds:  # NaN
        return None
    return max(seconds, 0.0)


# -- the classifier -------------------------------------------------------------------------


def classify(
    status: int,
    body: Any,
    headers: Mapping[str, str] | None = None,
    *,
    now_epoch_s: float = 0.0,
    rate_limits: RateLimitHeaders | None = None,
) -> Verdict:
    """Decide what to do with one HTTP response.

    Args:
        status: the HTTP status.
        body: the decoded JSON body (anything else is treated as "no fields").
        headers: response headers, looked up case-insensitively.
        now_epoch_s: wall-clock now, only to turn an HTTP-date ``Retry-After`` into seconds.
        rate_limits: the response's rate-limit headers if already read (the send loop reads
            them once for the limiter too); read from ``headers`` otherwise.

    Returns:
        A :class:`Verdict`: ``OK`` for 2xx (a 207's row errors are not a request failure),
        ``RETRY`` for the transient statuses HubSpot tells clients to retry, ``FAIL``
        otherwise, 3xx included (redirects are never followed).
    """
    if 200 <= status < 300:
        return Verdict(Action.OK, Reason.SUCCESS, status=status)
    lowered = _lower_keys(headers)
    if rate_limits is None:
        rate_limits = _rate_limits_of(lowered)
    err = parse_error_body(body)
    correlation_id = err.correlation_id or lowered.get("x-hubspot-correlation-id")
    retry_after_s = parse_retry_after(lowered.get("retry-after"), now_epoch_s)
    common: dict[str, Any] = dict(
        status=status,
        category=err.category,
        sub_category=err.sub_category,
        policy_name=err.policy_name,
        correlation_id=correlation_id,
        message=shorten_message(err.message),
        retry_after_s=retry_after_s,
        interval_s=rate_limits.interval_s,
    )
    if 300 <= status < 400:
        return Verdict(Action.FAIL, Reason.REDIRECTED, redirect_host=_location_host(lowered.get("location")), **common)
    if status == 429:
        if (err.policy_name or "").upper() == "DAILY":
            return Verdict(Action.FAIL, Reason.DAILY_LIMIT, **common)
        # TEN_SECONDLY_ROLLING, the search API's secondly limit, or an unnamed policy
        return Verdict(Action.RETRY, Reason.RATE_LIMITED, **common)
    if status == 423:
        return Verdict(Action.RETRY, Reason.LOCKED, **common)
    if status in RETRYABLE_STATUSES:
        return Verdict(Action.RETRY, Reason.SERVER_ERROR, **common)
    if status >= 500:
        return Verdict(Action.FAIL, Reason.SERVER_FAILURE, **common)
    if status == 401:
        return Verdict(Action.FAIL, Reason.UNAUTHORIZED, **common)
    if status == 403 and err.category == "MISSING_SCOPES":
        return Verdict(Action.FAIL, Reason.MISSING_SCOPES, missing_scopes=_missing_scopes(err), **common)
    if err.category in _NOT_ACTIVATED_CATEGORIES or err.sub_category in _NOT_ACTIVATED_CATEGORIES:
        return Verdict(Action.FAIL, Reason.NOT_ACTIVATED, **common)
    return Verdict(Action.FAIL, Reason.REJECTED, **common)


def _location_host(location: str | None) -> str | None:
    """Where a redirect points, as ``host[:port]``: enough to tell a proxy or wrong URL apart,
    without the path or query (a login redirect may carry a code)."""
    if not location:
        return None
    try:
        parts = urlsplit(location.strip())
        host, port = parts.hostname, parts.port
    except ValueError:
        return "(an unreadable Location)"
    if not host:
        return "(the same host)"
    return shorten_message(f"{host}:{port}" if port else host)


def classify_exception(exc: BaseException) -> Verdict | None:
    """Classify a ``requests`` transport exception; ``None`` if it is not a transport failure."""
    import requests  # local: keep this module importable without I/O libraries in mind

    if isinstance(exc, requests.exceptions.SSLError):
        return Verdict(Action.FAIL, Reason.TLS_ERROR, message="TLS certificate verification failed")
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return Verdict(Action.RETRY, Reason.CONNECT_ERROR, message="connect timeout")
    if isinstance(exc, requests.exceptions.ReadTimeout):
        return Verdict(Action.RETRY, Reason.READ_TIMEOUT, message="read timeout")
    if isinstance(exc, requests.exceptions.ConnectionError):
        if _is_connect_failure(exc):
            return Verdict(Action.RETRY, Reason.CONNECT_ERROR, message="could not connect")
        return Verdict(Action.RETRY, Reason.CONNECTION_LOST, message="connection lost before a response")
    if isinstance(exc, requests.exceptions.ChunkedEncodingError):
        return Verdict(Action.RETRY, Reason.CONNECTION_LOST, message="response cut short")
    return None


def _is_connect_failure(exc: BaseException) -> bool:
    """True when the TCP/TLS connection was never established, so nothing was sent."""
    from urllib3.exceptions import NewConnectionError

    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        current = todo.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, NewConnectionError):
            return True
        todo.extend([current.__cause__, current.__context__, getattr(current, "reason", None)])
        todo.extend(a for a in current.args if isinstance(a, BaseException))
    return False


def _missing_scopes(err: ErrorBody) -> tuple[str, ...]:
    found: list[str] = []
    contexts = [err.context] + [d.get("context") for d in err.errors]
    for context in contexts:
        if not isinstance(context, Mapping):
            continue
        for field_name in ("requiredGranularScopes", "missingScopes", "requiredScopes"):
            values = context.get(field_name)
            if isinstance(values, list):
                found.extend(str(v) for v in values if str(v) not in found)
    return tuple(found)


# -- verdict -> exception -------------------------------------------------------------------


def error_for(
    verdict: Verdict,
    *,
    method: str,
    path: str,
    row_keys: Sequence[str] = (),
    attempts: int = 1,
    waited_s: float = 0.0,
) -> HubSpotError:
    """Build the exception for a failed verdict (or a retryable one that ran out of retries).

    Messages say what to do next. They never contain the token or request bodies; HubSpot's
    own message is included, shortened.
    """
    kw: dict[str, Any] = dict(
        status=verdict.status,
        category=verdict.category or verdict.policy_name,
        sub_category=verdict.sub_category,
        correlation_id=verdict.correlation_id,
        row_keys=row_keys,
    )
    where = f"{method} {path}"
    if verdict.reason is Reason.UNAUTHORIZED:
        return AuthenticationError(
            f"HubSpot rejected the access token on {where}: it is missing, wrong, revoked or expired. "
            f"Check the token (a Service Key, or a legacy private-app access token) in the env var "
            f"{TOKEN_ENV} or as access_token under [destination.hubspot_courses] in .dlt/secrets.toml, "
            "and copy it again from HubSpot (the Service Key, or Settings > Integrations > Private apps) "
            "if it was rotated.",
            **kw,
        )
    if verdict.reason is Reason.MISSING_SCOPES:
        scopes = ", ".join(verdict.missing_scopes) or "(HubSpot did not name them)"
        return MissingScopesError(
            f"The token (Service Key or private app) lacks the scopes {where} needs; HubSpot requires "
            f"one or more of: {scopes}. Add them to the Service Key, or to the legacy private app "
            "(Settings > Integrations > Private apps > Scopes, then commit the change), and use the "
            "token HubSpot then shows.",
            missing_scopes=verdict.missing_scopes,
            **kw,
        )
    if verdict.reason is Reason.DAILY_LIMIT:
        daily = DailyLimitExceededError(
            f"The portal's daily API request limit is spent ({where} got 429 DAILY). It resets at "
            "midnight in the HubSpot portal's time zone; run the load again after that. "
            "Nothing more was sent.",
            **kw,
        )
        daily.daily_remaining = 0
        return daily
    if verdict.reason is Reason.NOT_ACTIVATED:
        return ObjectNotActivatedError(
            f"HubSpot refused {where} because the object is not activated in the portal: a Super "
            "Admin must turn on Courses in Settings > Data Management > Objects.",
            **kw,
        )
    if verdict.reason is Reason.TLS_ERROR:
        return HubSpotTerminalError(
            f"TLS verification failed for {where}: check api_base_url and the system CA bundle "
            "(or REQUESTS_CA_BUNDLE behind a TLS-inspecting proxy); verification stays on.",
            **kw,
        )
    if verdict.reason is Reason.REDIRECTED:
        return HubSpotTerminalError(
            f"{where} was answered with a redirect (status {verdict.status}) to "
            f"{verdict.redirect_host or '(no Location given)'}. HubSpot's API does not redirect, so it "
            "was not followed and nothing was sent there; check api_base_url (a proxy or a wrong "
            "host answers like this) and point it at the API itself.",
            **kw,
        )
    hubspot_says = f": {verdict.message}" if verdict.message else ""
    if verdict.action is Action.RETRY or verdict.reason is Reason.SERVER_FAILURE:
        tried = f" after {attempts} attempt{'s' if attempts != 1 else ''} and {waited_s:.1f} s of waiting" if attempts > 1 else ""
        return HubSpotTransientError(
            f"HubSpot did not complete {where} ({verdict.reason.value}){tried}{hubspot_says}. "
            "This is usually temporary; the load can be retried later.",
            **kw,
        )
    rejected = RequestRejectedError(f"HubSpot refused {where} with status {verdict.status}{hubspot_says}", **kw)
    rejected.hubspot_message = verdict.message
    return rejected


def str_or_none(value: Any) -> str | None:
    """``str(value)``, keeping ``None`` as ``None``: for optional fields of decoded JSON."""
    if value is None:
        return None
    return str(value)


def _int_or_none(value: object) -> int | None:
    if value is None:
        return None
    try:
        return int(str(value).strip())
    except ValueError:
        return None


def _float_or_none(value: Any) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def shorten_message(message: str | None) -> str | None:
    """HubSpot's message cut to a length that fits an exception or a rejected-row record."""
    if message is None or len(message) <= _MAX_MESSAGE_CHARS:
        return message
    return message[: _MAX_MESSAGE_CHARS - 1] + "…"

