"""`SandboxApi`: HubSpot's Courses API as a function of requests, with no sockets in sight.

It decides *whether* and *how* a request is answered: latency, auth, rate limits, faults,
scopes, then routing to the business rules in objects.py and properties_api.py. server.py
carries requests here over HTTP; app.py (`Sandbox`) wires the two together.
"""

from __future__ import annotations

import json
import logging
import random
import re
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any, Callable

from .bodies import (
    ApiError,
    bad_json,
    daily_body,
    error_body,
    missing_scopes_body,
    object_type_unknown,
    ten_secondly_body,
    unauthenticated_body,
)
from .catalog import OBJECT_TYPE_ALIASES, OBJECT_TYPE_ID, PROPERTY_GROUPS
from .endpoints import Endpoints
from .exchange import ApiRequest, ApiResponse
from .faults import FaultInjector
from .objects import ObjectsApi
from .properties_api import PropertyRegistry
from .ratelimits import RateLimits
from .rules_api import RulesApi
from .search import search_secondly_body
from .tokens import TokenRegistry
from .versions import LEGACY, split_family

logger = logging.getLogger(__name__)

# Scopes (docs/hubspot-behaviour.md, "Scopes"): any one of a list is enough ("One or more of the
# following scopes are required", docs/hubspot-behaviour.md, "Authentication errors").
READ_OBJECTS = ["crm.objects.courses.read"]
WRITE_OBJECTS = ["crm.objects.courses.write"]
# docs/hubspot-behaviour.md, "Scopes": property reads accept object read/write or schema read.
READ_PROPERTIES = ["crm.objects.courses.read", "crm.schemas.courses.read", "crm.objects.courses.write"]
# docs/hubspot-behaviour.md, "Scopes": creating properties needs the schema write scope.
WRITE_PROPERTIES = ["crm.schemas.courses.write"]

_BATCH = re.compile(r"^/crm/v3/objects/([^/]+)/batch/(upsert|read|archive)$")
_OBJECT_ONE = re.compile(r"^/crm/v3/objects/([^/]+)/([^/]+)$")
_OBJECTS = re.compile(r"^/crm/v3/objects/([^/]+)$")
_PROPERTY_GROUPS = re.compile(r"^/crm/v3/properties/([^/]+)/groups$")
_PROPERTY_ONE = re.compile(r"^/crm/v3/properties/([^/]+)/([^/]+)$")
_PROPERTIES = re.compile(r"^/crm/v3/properties/([^/]+)$")
_ENABLEMENT_ONE = re.compile(r"^/crm/v3/object-library/enablement/([^/]+)$")
_ENABLEMENT = "/crm/v3/object-library/enablement"
_DAILY_USAGE = "/account-info/v3/api-usage/daily/private-apps"

# (status, body, fault kind): status None means drop the connection.
_Answer = tuple[int | None, dict[str, Any] | None, str | None]


@dataclass(frozen=True)
class RequestSeen:
    """One request after it was answered (or dropped), as `SandboxApi.on_request` gets it."""

    method: str
    path: str
    status: int | None
    n_inputs: int | None
    fault: str | None
    token: str | None
    correlation_id: str
    client_port: int
    duration_ms: float


RequestObserver = Callable[[RequestSeen], None]


class SandboxApi:
    """Answers `ApiRequest`s as HubSpot would, from the portal state it is given.

    The state objects are shared with their owner (`Sandbox`), which sets the portal up;
    `object_enabled` and `latency_ms` may be changed while requests run.
    """

    def __init__(
        self,
        *,
        tokens: TokenRegistry,
        limits: RateLimits,
        faults: FaultInjector,
        registry: PropertyRegistry,
        objects: ObjectsApi,
        portal_id: int,
        rules_api: RulesApi | None = None,
        legacy_paths: bool = True,
        object_enabled: bool = True,
        latency_ms: float = 0,
        seed: int = 0,
        on_request: RequestObserver | None = None,
        endpoints: Endpoints | None = None,
    ) -> None:
        self.tokens = tokens
        self.limits = limits
        self.faults = faults
        self.registry = registry
        self.objects = objects
        self.portal_id = portal_id
        self.rules_api = rules_api if rules_api is not None else RulesApi(objects.rules, objects.store, registry)
        self.legacy_paths = legacy_paths  # False: the legacy family answers 404 (its retirement)
        self.object_enabled = object_enabled
        self.latency_ms = latency_ms
        self.on_request: RequestObserver = on_request or _ignore
        self._latency_rng = random.Random(seed)
        self._latency_lock = threading.Lock()
        # Search, contacts, associations v4 and the Secondly headers (endpoints.py).
        self.endpoints = endpoints or Endpoints(
            objects, registry, portal_id, per_10s=lambda: limits.per_10s, seed=seed)

    def handle(self, request: ApiRequest) -> ApiResponse:
        """The answer to one request; `on_request` hears of it before it is returned, so a
        client that has its answer always finds the request logged."""
        correlation_id = str(uuid.uuid4())
        body, body_error = parse_json(request.body)
        n_inputs = len(body["inputs"]) if isinstance(body, dict) and isinstance(body.get("inputs"), list) else None
        # docs/hubspot-behaviour.md, "Response headers": correlation id on every response
        # ([OBS] x-request-id alongside).
        headers = {"x-hubspot-correlation-id": correlation_id, "x-request-id": correlation_id}
        token = bearer(request.authorization)
        status, out, fault_kind = self._answer(request, token, body, body_error, headers)
        self.on_request(RequestSeen(
            request.method, request.path, status, n_inputs, fault_kind, token, correlation_id,
            request.client_port, (time.monotonic() - request.received_at) * 1000,
        ))
        if out is not None and out.get("status") == "error":
            out = with_correlation_id(out, correlation_id)
        return ApiResponse(status, out, headers)

    # -- the pipeline of one request ----------------------------------------------------------
    def _answer(
        self, request: ApiRequest, token: str | None, body: Any, body_error: ApiError | None,
        headers: dict[str, str],
    ) -> _Answer:
        """Order: latency, auth, rate limits, faults, then the endpoint itself."""
        self._sleep_latency()
        if token is None or not self.tokens.known(token):
            # GUESS: a 401 is attributed to no app, so it counts against no limit.
            headers.update(self.limits.peek(token))
            return 401, unauthenticated_body(), None
        # Search has its own per-second limit and sends no rate-limit headers (endpoints.py).
        search = self.endpoints.is_search(request.method, request.path)
        decision = self.endpoints.search_limits.check(token) if search else self.limits.check(token)
        headers.update(decision.headers)
        if self.tokens.is_oauth(token):
            # docs/hubspot-behaviour.md, "Response headers": no daily headers for OAuth. GUESS:
            # its requests still count against the portal's daily limit here.
            headers.pop("X-HubSpot-RateLimit-Daily", None)
            headers.pop("X-HubSpot-RateLimit-Daily-Remaining", None)
        if not search:
            headers.update(self.endpoints.secondly.headers(token))
        if not decision.allowed:
            out = daily_body(str(uuid.uuid4())) if decision.policy == "DAILY" \
                else search_secondly_body() if search \
                else ten_secondly_body(self.tokens.app_id(token), self.portal_id)
            return 429, out, None
        fault = self.faults.take(request.method, request.path)
        if fault is not None:
            if fault.kind == "reset":
                return None, None, fault.kind  # nothing processed
            if fault.kind == "slow":
                time.sleep(fault.delay_ms / 1000)
            elif fault.kind != "write_then_drop":
                return int(fault.kind), fault_body(fault.kind, self.portal_id), fault.kind
        try:
            status, out = self._route(request, token, body, body_error)
        except ApiError as e:
            status, out = e.status, e.body
        except Exception:  # a sandbox bug must still answer, like HubSpot's 500s do
            logger.exception("sandbox error on %s %s", request.method, request.path)
            status, out = 500, error_body("INTERNAL_ERROR", "Internal error in the sandbox")
        if fault is not None and fault.kind == "write_then_drop":
            return None, None, fault.kind  # the write above is applied; the answer is lost
        return status, out, fault.kind if fault is not None else None

    def _route(
        self, request: ApiRequest, token: str, body: Any, body_error: ApiError | None,
    ) -> tuple[int, dict[str, Any] | None]:
        method, query = request.method, request.query
        # versions.py: both path families, one table in legacy spelling.
        family, path = split_family(request.path)
        if family is None or (family == LEGACY and not self.legacy_paths):
            raise no_route(method, request.path)

        def need(scopes: list[str]) -> None:
            if not self.tokens.scopes(token) & set(scopes):
                raise ApiError(403, missing_scopes_body(scopes))

        def json_body() -> Any:
            if body_error is not None:
                raise body_error
            return body

        def object_type(name: str, *, objects: bool) -> None:
            if name not in OBJECT_TYPE_ALIASES:
                raise object_type_unknown(name)
            if objects and not self.object_enabled:
                raise not_enabled(self.portal_id)

        # Search, contacts and associations v4 first (endpoints.py); None: not one of theirs.
        extra = self.endpoints.route(
            method, path, query, request.base_url, self.tokens.scopes(token), json_body, self.portal_id,
            None if self.object_enabled else not_enabled(self.portal_id),
        )
        if extra is not None:
            return extra
        archived = query.get("archived", ["false"])[0].lower() == "true"
        if m := _BATCH.match(path):
            allow(method, "POST")
            op = m[2]
            need(READ_OBJECTS if op == "read" else WRITE_OBJECTS)
            object_type(m[1], objects=True)
            if op == "upsert":
                return self.objects.batch_upsert(json_body(), family)
            if op == "read":
                return self.objects.batch_read(json_body(), archived=archived)
            return self.objects.batch_archive(json_body()), None
        if path == "/account-info/v3/details":
            allow(method, "GET")
            # Field set as documented (docs/hubspot-behaviour.md, "Account details").
            # GUESS: no scope beyond a valid token is required here.
            return 200, {
                "portalId": self.portal_id, "accountType": "STANDARD", "timeZone": "US/Eastern",
                "companyCurrency": "USD", "additionalCurrencies": [], "utcOffset": "-05:00",
                "utcOffsetMilliseconds": -18000000, "uiDomain": "app.hubspot.com",
                "dataHostingLocation": "na1",
            }
        if path == _DAILY_USAGE:
            allow(method, "GET")
            # docs/hubspot-behaviour.md, "Daily usage". GUESS: no scope beyond a valid private-app
            # token; an OAuth token is refused with 403 (the usage is that of private apps).
            if self.tokens.is_oauth(token):
                raise ApiError(403, error_body("FORBIDDEN", "This endpoint reports private-app usage only"))
            return 200, {"results": [self.limits.daily_usage(with_resets_at=family != LEGACY)]}
        if path == _ENABLEMENT:
            allow(method, "GET")
            # docs/hubspot-behaviour.md, "Activation": {"enablementByObjectTypeId": {"0-410":
            # false, ...}}.
            # GUESS: no scope beyond a valid token; only courses are listed.
            return 200, {"enablementByObjectTypeId": {OBJECT_TYPE_ID: self.object_enabled}}
        if m := _ENABLEMENT_ONE.match(path):
            allow(method, "GET")
            if m[1] not in OBJECT_TYPE_ALIASES:
                raise object_type_unknown(m[1])
            return 200, {"enablement": self.object_enabled}
        if m := _PROPERTY_GROUPS.match(path):
            allow(method, "GET")
            object_type(m[1], objects=False)
            need(READ_PROPERTIES)
            return 200, {"results": [dict(g) for g in PROPERTY_GROUPS]}
        if m := _PROPERTY_ONE.match(path):
            allow(method, "GET", "PATCH")
            object_type(m[1], objects=False)
            if method == "GET":
                need(READ_PROPERTIES)
                return 200, self.registry.get_json(m[2])
            need(WRITE_PROPERTIES)
            return 200, self.registry.update(m[2], json_body()).to_json()
        if m := _PROPERTIES.match(path):
            allow(method, "GET", "POST")
            object_type(m[1], objects=False)
            if method == "GET":
                need(READ_PROPERTIES)
                return 200, self.registry.list_json(archived=archived)
            need(WRITE_PROPERTIES)
            return 201, self.registry.create(json_body()).to_json()
        if m := _OBJECT_ONE.match(path):
            allow(method, "GET")
            need(READ_OBJECTS)
            object_type(m[1], objects=True)
            return 200, self.objects.get_one(m[2], query)
        if m := _OBJECTS.match(path):
            allow(method, "GET")
            need(READ_OBJECTS)
            object_type(m[1], objects=True)
            return 200, self.objects.list(query, request.base_url, request.path)
        answer = self.rules_api.route(method, path, json_body, lambda: need(READ_PROPERTIES),
                                      lambda: need(WRITE_PROPERTIES), allow)
        if answer is not None:
            return answer
        raise no_route(method, request.path)

    def _sleep_latency(self) -> None:
        """latency_ms with a seeded ±20% jitter, so benchmarks see realistic round trips."""
        if self.latency_ms <= 0:
            return
        with self._latency_lock:
            factor = self._latency_rng.uniform(0.8, 1.2)
        time.sleep(self.latency_ms * factor / 1000)


def _ignore(seen: RequestSeen) -> None:
    """The default observer: nobody is listening."""


def allow(method: str, *allowed: str) -> None:
    """Refuse a known path called with a method it does not support."""
    if method not in allowed:
        # GUESS: status and body for a known path with an unsupported method.
        raise ApiError(405, error_body("VALIDATION_ERROR", f"Method {method} is not supported here"))


def bearer(header: str | None) -> str | None:
    """The token of an `Authorization: Bearer …` header; None for a missing or other scheme."""
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    return value.strip() or None if scheme.lower() == "bearer" else None


def parse_json(raw: bytes) -> tuple[Any, ApiError | None]:
    """The request body, or the 400 HubSpot gives for it (raised only if an endpoint reads it)."""
    if not raw:
        return None, bad_json("No content to map due to end-of-input")
    try:
        return json.loads(raw), None
    except (ValueError, UnicodeDecodeError) as e:
        return None, bad_json(str(e))


def with_correlation_id(body: dict[str, Any], correlation_id: str) -> dict[str, Any]:
    """HubSpot puts correlationId right after message
    (docs/hubspot-behaviour.md, "Error bodies" and "Authentication errors")."""
    out: dict[str, Any] = {}
    for k, v in body.items():
        out[k] = v
        if k == "message":
            out["correlationId"] = correlation_id
    out.setdefault("correlationId", correlation_id)
    return out


def no_route(method: str, path: str) -> ApiError:
    # GUESS: body of HubSpot's answer for an unknown (or retired) path.
    return ApiError(404, error_body("OBJECT_NOT_FOUND", f"No route for {method} {path}"))


def not_enabled(portal_id: int) -> ApiError:
    """The answer to object calls while Courses is not activated in the portal."""
    # GUESS: HubSpot's answer when the Courses object is not activated is UNCONFIRMED
    # (docs/hubspot-behaviour.md, "Activation"). Chosen: 403 with a category of its own that
    # names the fix.
    return ApiError(403, error_body(
        "OBJECT_NOT_ENABLED",
        f"The object type {OBJECT_TYPE_ID} (courses) is not activated in portal ID {portal_id}."
        " A Super Admin must activate it in the object library before records can be managed.",
        context={"objectTypeId": [OBJECT_TYPE_ID]},
    ))


def fault_body(kind: str, portal_id: int) -> dict[str, Any]:
    """Bodies of injected errors (docs/hubspot-behaviour.md, "Retrying" for the meaning of each
    status)."""
    if kind == "429":
        return ten_secondly_body(0, portal_id)
    # GUESS: the JSON bodies of 423/502/503/504; real 5xx may come from a proxy as HTML.
    messages: dict[str, tuple[str, str]] = {
        "423": ("LOCKED", "The resource is locked while a large volume of data is synced. Retry"
                " after at least 2 seconds."),
        "502": ("BAD_GATEWAY", "HubSpot's processing limits have been met. Pause your requests for"
                " a few seconds, then retry."),
        "503": ("SERVICE_UNAVAILABLE", "The service is temporarily unavailable. Pause for a few"
                " seconds, then retry."),
        "504": ("GATEWAY_TIMEOUT", "The request timed out. Pause your requests for a few seconds,"
                " then retry."),
    }
    category, message = messages[kind]
    return error_body(category, message)
