"""Reading HubSpot responses: the one classifier, error bodies, and per-row batch outcomes.

Everything here is pure (no I/O) so it can be tested as tables. The classifier decides
from the HTTP status and HubSpot's structured fields (``category``, ``errorType``,
``policyName``, ``errors[].context``), never from message text. The one place text is
parsed is ``Property values were not valid: [...]``, where HubSpot serialises the
property-level details as JSON inside ``message`` and offers no other field for them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from enum import Enum
from typing import Any, Literal, Mapping, Sequence
from urllib.parse import urlsplit

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
    "PropertyError",
    "RowOutcome",
    "UpsertRow",
    "classify",
    "classify_exception",
    "parse_error_body",
    "parse_property_errors",
    "parse_retry_after",
    "match_upsert_results",
    "error_for",
    "RETRYABLE_STATUSES",
    "AMBIGUOUS_REASONS",
    "MISSING_FROM_RESPONSE",
    "missing_outcome",
    "property_errors_of",
    "TOKEN_ENV_VAR",
]

TOKEN_ENV_VAR = "DESTINATION__HUBSPOT_COURSES__ACCESS_TOKEN"

RETRYABLE_STATUSES = frozenset({423, 429, 502, 503, 504, 521, 523, 524})
"""Statuses HubSpot documents as "pause, then retry" (429 only for the burst policies)."""

# HubSpot's answer for a non-activated object is UNCONFIRMED (hubspot-api.md §8); these are
# the categories the connector recognises (the sandbox sends OBJECT_NOT_ENABLED with a 403).
_NOT_ACTIVATED_CATEGORIES = frozenset({"OBJECT_NOT_ENABLED", "OBJECT_NOT_ACTIVATED"})
_PROPERTY_ERRORS_PREFIX = "Property values were not valid: "
_MAX_MESSAGE_CHARS = 300
MISSING_FROM_RESPONSE = "MISSING_FROM_RESPONSE"
"""Category given to a row HubSpot's response neither created, updated nor rejected."""


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


@dataclass(frozen=True)
class PropertyError:
    """One property-level failure from ``Property values were not valid: [...]``."""

    name: str | None
    code: str | None
    message: str | None


# one per row: slots and no frozen __init__ (object.__setattr__ per field made it 5x slower)
@dataclass(slots=True)
class UpsertRow:
    """One record to upsert: its unique key (the ``idProperty`` value) and its properties."""

    key: str
    properties: Mapping[str, str]
    trace_id: str | None = None

    def __repr__(self) -> str:
        # property values may be personal data: show only their names
        return f"UpsertRow(key={self.key!r}, properties=<{len(self.properties)} values>, trace_id={self.trace_id!r})"


# one per row: slots and no frozen __init__ (object.__setattr__ per field made it 5x slower)
@dataclass(slots=True)
class RowOutcome:
    """What happened to one input row of a batch upsert."""

    key: str
    trace_id: str | None
    status: Literal["created", "updated", "rejected"]
    hubspot_id: str | None = None
    category: str | None = None
    code: str | None = None
    message: str | None = None
    property_errors: tuple[PropertyError, ...] = ()

    @property
    def ok(self) -> bool:
        return self.status != "rejected"


# -- body parsing -------------------------------------------------------------------------


def parse_error_body(body: Any) -> ErrorBody:
    """Pick the known fields out of a HubSpot error body; tolerate anything else."""
    if not isinstance(body, Mapping):
        return ErrorBody()
    context = body.get("context")
    errors = body.get("errors")
    return ErrorBody(
        message=_str_or_none(body.get("message")),
        category=_str_or_none(body.get("category")),
        sub_category=_str_or_none(body.get("subCategory")),
        correlation_id=_str_or_none(body.get("correlationId")),
        error_type=_str_or_none(body.get("errorType")),
        policy_name=_str_or_none(body.get("policyName")),
        context=context if isinstance(context, Mapping) else {},
        errors=tuple(e for e in errors if isinstance(e, Mapping)) if isinstance(errors, list) else (),
    )


def parse_property_errors(message: str | None) -> tuple[PropertyError, ...]:
    """Parse the JSON list inside ``Property values were not valid: [...]``.

    Returns ``()`` when the message has another form or the JSON is cut short.
    """
    if not message or not message.startswith(_PROPERTY_ERRORS_PREFIX):
        return ()
    try:
        items = json.loads(message[len(_PROPERTY_ERRORS_PREFIX) :])
    except ValueError:
        return ()
    if not isinstance(items, list):
        return ()
    return tuple(
        PropertyError(
            name=_str_or_none(item.get("name")),
            code=_str_or_none(item.get("error")),
            message=_str_or_none(item.get("message")),
        )
        for item in items
        if isinstance(item, Mapping)
    )


def _property_errors_from_details(errors: Sequence[Mapping[str, Any]]) -> tuple[PropertyError, ...]:
    """Structured ``errors[]`` of a top-level error body (``code`` + ``context.propertyName``)."""
    out = []
    for detail in errors:
        context = detail.get("context")
        names = context.get("propertyName") if isinstance(context, Mapping) else None
        if not detail.get("code") or not names:
            continue
        for name in names if isinstance(names, list) else [names]:
            out.append(PropertyError(_str_or_none(name), _str_or_none(detail.get("code")), _str_or_none(detail.get("message"))))
    return tuple(out)


def property_errors_of(body: ErrorBody) -> tuple[PropertyError, ...]:
    """Property-level errors of an error body: from ``message`` JSON, else from ``errors[]``."""
    return parse_property_errors(body.message) or _property_errors_from_details(body.errors)


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
) -> Verdict:
    """Decide what to do with one HTTP response.

    Args:
        status: the HTTP status.
        body: the decoded JSON body (anything else is treated as "no fields").
        headers: response headers, looked up case-insensitively.
        now_epoch_s: wall-clock now, only to turn an HTTP-date ``Retry-After`` into seconds.

    Returns:
        A :class:`Verdict`: ``OK`` for 2xx (a 207's row errors are not a request failure),
        ``RETRY`` for the transient statuses HubSpot tells clients to retry, ``FAIL``
        otherwise, 3xx included (redirects are never followed).
    """
    lowered = {str(k).lower(): v for k, v in (headers or {}).items()}
    if 200 <= status < 300:
        return Verdict(Action.OK, Reason.SUCCESS, status=status)
    err = parse_error_body(body)
    correlation_id = err.correlation_id or lowered.get("x-hubspot-correlation-id")
    retry_after_s = parse_retry_after(lowered.get("retry-after"), now_epoch_s)
    interval_ms = _float_or_none(lowered.get("x-hubspot-ratelimit-interval-milliseconds"))
    common: dict[str, Any] = dict(
        status=status,
        category=err.category,
        sub_category=err.sub_category,
        policy_name=err.policy_name,
        correlation_id=correlation_id,
        message=_shorten(err.message),
        retry_after_s=retry_after_s,
        interval_s=interval_ms / 1000.0 if interval_ms and interval_ms > 0 else None,
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
    return _shorten(f"{host}:{port}" if port else host)


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
            f"Check the private-app access token in the env var {TOKEN_ENV_VAR} or as access_token "
            "under [destination.hubspot_courses] in .dlt/secrets.toml, and copy it again from "
            "HubSpot (Settings > Integrations > Private apps) if it was rotated.",
            **kw,
        )
    if verdict.reason is Reason.MISSING_SCOPES:
        scopes = ", ".join(verdict.missing_scopes) or "(HubSpot did not name them)"
        return MissingScopesError(
            f"The private app lacks the scopes {where} needs; HubSpot requires one or more of: {scopes}. "
            "Add them to the private app in HubSpot (Settings > Integrations > Private apps > Scopes), "
            "commit the change, and use the access token HubSpot then shows.",
            missing_scopes=verdict.missing_scopes,
            **kw,
        )
    if verdict.reason is Reason.DAILY_LIMIT:
        return DailyLimitExceededError(
            f"The portal's daily API request limit is spent ({where} got 429 DAILY). It resets at "
            "midnight in the HubSpot portal's time zone; run the load again after that. "
            "Nothing more was sent.",
            **kw,
        )
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


# -- batch upsert results -------------------------------------------------------------------


def match_upsert_results(
    body: Any,
    sent: Sequence[UpsertRow],
    id_property: str,
) -> tuple[list[RowOutcome], list[UpsertRow]]:
    """Match a 200/207 upsert body to the rows sent, by ``objectWriteTraceId``.

    A result without a trace id is matched by its ``id_property`` value (the row key),
    never by position. Returns the outcomes found and the rows the body did not mention
    (neither in ``results`` nor in ``errors``); the caller decides what to do with those.
    """
    by_trace = {row.trace_id: row for row in sent}
    by_key: dict[str, UpsertRow] | None = None  # built only if a result lacks its trace id
    outcomes: dict[str, RowOutcome] = {}
    results = body.get("results") if isinstance(body, Mapping) else None
    # decoded JSON: plain dicts and lists, so the checks below use dict, not typing.Mapping
    # (an ABC instance check per result costs more than the rest of the loop)
    for result in results if isinstance(results, list) else []:
        if not isinstance(result, dict):
            continue
        row = by_trace.get(_str_or_none(result.get("objectWriteTraceId")))
        if row is None:
            props = result.get("properties")
            if isinstance(props, dict):
                if by_key is None:
                    by_key = {r.key: r for r in sent}
                row = by_key.get(_str_or_none(props.get(id_property)))  # type: ignore[arg-type]
        if row is None or row.key in outcomes:
            continue
        outcomes[row.key] = RowOutcome(
            row.key,
            row.trace_id,
            "created" if result.get("new") is True else "updated",
            _str_or_none(result.get("id")),
        )
    errors = body.get("errors") if isinstance(body, Mapping) else None
    for raw in errors if isinstance(errors, list) else []:
        err = parse_error_body(raw)
        trace_ids = err.context.get("objectWriteTraceId") or []
        if isinstance(trace_ids, str):
            trace_ids = [trace_ids]
        prop_errors = property_errors_of(err)
        for trace_id in trace_ids:
            row = by_trace.get(str(trace_id))
            if row is None or row.key in outcomes:
                continue
            outcomes[row.key] = RowOutcome(
                key=row.key,
                trace_id=row.trace_id,
                status="rejected",
                category=err.category,
                code=prop_errors[0].code if prop_errors else None,
                message=_shorten(err.message),
                property_errors=prop_errors,
            )
    if len(outcomes) == len(sent):
        return [outcomes[row.key] for row in sent], []
    missing = [row for row in sent if row.key not in outcomes]
    return [outcomes[row.key] for row in sent if row.key in outcomes], missing


def missing_outcome(row: UpsertRow) -> RowOutcome:
    """The outcome for a row HubSpot kept leaving out of its answers."""
    return RowOutcome(
        key=row.key,
        trace_id=row.trace_id,
        status="rejected",
        category=MISSING_FROM_RESPONSE,
        message=(
            "HubSpot's response listed this row neither as a result nor as an error, also after "
            "re-sending it; whether it was written is unknown. Re-run the load to send it again."
        ),
    )


def _str_or_none(value: Any) -> str | None:
    if value is None:
        return None
    return str(value)


def _float_or_none(value: Any) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _shorten(message: str | None) -> str | None:
    if message is None or len(message) <= _MAX_MESSAGE_CHARS:
        return message
    return message[: _MAX_MESSAGE_CHARS - 1] + "…"

