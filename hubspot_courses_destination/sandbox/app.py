"""`Sandbox`: the public, in-process handle on a HubSpot-compatible Courses server.

Tests, demos and users' own CI start one with `with Sandbox() as sb:` and point a client at
`sb.url`; the methods below set the portal up (tokens, properties, activation) and let tests
look inside (request log, stored records) without going through HTTP.

`Sandbox` owns the portal's state, hands it to a `SandboxApi` (api.py) that answers requests,
and starts or stops an HTTP server (server.py) around that API.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Iterable

from .api import RequestSeen, SandboxApi
from .bodies import ApiError
from .faults import FaultInjector
from .objects import ObjectsApi
from .properties_api import PropertyRegistry
from .ratelimits import RateLimits
from .rules import ConditionalRequired, PortalRules, check_applicable, parse_rule
from .catalog import OBJECT_TYPE_ALIASES
from .requestlog import RequestLog, RequestLogEntry, token_hash
from .server import BackgroundServer
from .store import Store
from .tokens import ALL_SCOPES, TokenRegistry

# The private-app token the sandbox accepts unless told otherwise. It is not a secret: it only
# opens this local sandbox. Shaped like HubSpot's private-app tokens (`pat-na1-…`,
# docs/hubspot-behaviour.md, "Authentication errors").
DEFAULT_TOKEN = "pat-na1-sandbox-0000-0000-000000000000"
DEFAULT_PORTAL_ID = 12345678

__all__ = ["ALL_SCOPES", "DEFAULT_PORTAL_ID", "DEFAULT_TOKEN", "RequestLogEntry", "Sandbox"]


class Sandbox:
    """A HubSpot Courses (0-410) look-alike on 127.0.0.1, backed by DuckDB."""

    def __init__(
        self,
        port: int = 0,
        *,
        host: str = "127.0.0.1",
        db_path: str | None = None,
        token: str = DEFAULT_TOKEN,
        rate_limit_per_10s: int = 100,
        daily_limit: int = 250_000,
        latency_ms: float = 0,
        portal_id: int = DEFAULT_PORTAL_ID,
        seed: int = 0,
        object_enabled: bool = True,
        count_rejected_requests: bool = False,
        clock: Callable[[], float] = time.monotonic,
        legacy_paths: bool = True,
        record_limit: int | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.faults = FaultInjector()
        self._tokens = TokenRegistry()
        self._tokens.add(token)
        self._limits = RateLimits(rate_limit_per_10s, daily_limit, clock, count_rejected_requests)
        self._store = Store(db_path)
        self._registry = PropertyRegistry(self._store)
        self._request_log = RequestLog()
        self._rules = PortalRules(record_limit=record_limit)
        self._api = SandboxApi(
            tokens=self._tokens, limits=self._limits, faults=self.faults, registry=self._registry,
            objects=ObjectsApi(self._store, self._registry, portal_id, seed, self._rules),
            portal_id=portal_id, legacy_paths=legacy_paths,
            object_enabled=object_enabled, latency_ms=latency_ms, seed=seed, on_request=self._seen,
        )
        self._api.endpoints.use_clock(clock)  # search limit and Secondly headers (endpoints.py)
        self._server: BackgroundServer | None = None

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self) -> str:
        """Start serving in a daemon thread; returns the base URL (a free port when port=0)."""
        if self._server is not None:
            return self.url
        self._server = BackgroundServer(self._api, self.host, self.port)
        self.port = self._server.port
        return self.url

    def wait(self) -> None:
        """Block until the server stops, e.g. for Ctrl-C in the CLI; returns at once if not running."""
        if self._server is not None:
            self._server.wait()

    def stop(self) -> None:
        """Stop serving and close the database; safe to call twice."""
        if self._server is not None:
            self._server.stop()
            self._server = None
        self._store.close()

    def __enter__(self) -> "Sandbox":
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """Base URL to use in place of https://api.hubapi.com."""
        if self._server is None:
            raise RuntimeError("the sandbox is not running; call start() first")
        return f"http://{self.host}:{self.port}"

    # -- portal settings (read by the API on every request) -----------------------------------
    @property
    def portal_id(self) -> int:
        """The portal (account) id HubSpot would show in messages."""
        return self._api.portal_id

    @portal_id.setter
    def portal_id(self, value: int) -> None:
        self._api.portal_id = value

    @property
    def object_enabled(self) -> bool:
        """Whether Courses is activated in the object library."""
        return self._api.object_enabled

    @object_enabled.setter
    def object_enabled(self, value: bool) -> None:
        self._api.object_enabled = value

    @property
    def latency_ms(self) -> float:
        """Latency added to every request (±20% seeded jitter)."""
        return self._api.latency_ms

    @latency_ms.setter
    def latency_ms(self, value: float) -> None:
        self._api.latency_ms = value

    @property
    def legacy_paths(self) -> bool:
        """Whether the legacy family (/crm/v3, /crm/v4, /account-info/v3) is served; False
        answers it 404, as after HubSpot retires it (docs/hubspot-behaviour.md, "API paths")."""
        return self._api.legacy_paths

    @legacy_paths.setter
    def legacy_paths(self, value: bool) -> None:
        self._api.legacy_paths = value

    def serve_portal_rules_endpoints(self, *, validations: bool = True, limits: bool = True) -> None:
        """Switch the property-validations and record-limits endpoints off (404), as for a portal
        whose app cannot read them; validation rules and limits still apply to writes."""
        self._api.rules_api.validations_served = validations
        self._api.rules_api.limits_served = limits

    # -- portal rules (docs/hubspot-behaviour.md, "Property validation rules", "Write validation
    # from 2026-09", "Record limits") --------------------------------------------------------
    def set_validation_rule(
        self, object_type: str, property_name: str, rule_type: str,
        rule_arguments: Iterable[str] = (), should_apply_normalization: bool = False,
    ) -> dict[str, Any]:
        """Set a property's rule of `rule_type` (replacing that type's rule only), as
        `PUT /crm/v3/property-validations/{objectTypeId}/{property}/rule-type/{ruleType}` does.
        Enforced on writes in both families. Returns the rule's JSON; ValueError if the rule is
        invalid or the property's type does not take it. Unlike HubSpot's PUT, a property that
        does not exist yet may get rules (so a CLI or fixture can set them before a load
        creates the property); they are type-checked against nothing and apply once it exists."""
        _check_object_type(object_type)
        rule = parse_rule(rule_type, list(rule_arguments), should_apply_normalization)
        check_applicable(rule_type, self._registry.get(property_name), property_name, must_exist=False)
        self._rules.set_rule(property_name, rule)
        return rule.to_json()

    def clear_validation_rules(self, object_type: str, property_name: str | None = None) -> None:
        """Remove one property's rules, or all of them."""
        _check_object_type(object_type)
        self._rules.clear(property_name)

    def add_conditional_required(
        self, object_type: str, property_name: str, when_property: str, when_value: str,
    ) -> None:
        """`property_name` becomes required when `when_property` equals `when_value`; enforced
        on writes in the 2026-09 family only."""
        _check_object_type(object_type)
        self._rules.add_conditional(ConditionalRequired(property_name, when_property, when_value))

    def set_create_form_required(self, object_type: str, property_names: Iterable[str]) -> None:
        """The create-record form's required properties (replacing the previous list);
        enforced on creates in the 2026-09 family only."""
        _check_object_type(object_type)
        self._rules.set_form_required(property_names)

    def set_record_limit(self, object_type: str, limit: int | None) -> None:
        """The portal's record limit for the object, served by `GET /crm/limits/{ver}/records`
        (None: the sandbox default, 1,000,000, not enforced). An upsert whose creates would
        exceed a set limit fails with 400 (GUESS)."""
        _check_object_type(object_type)
        self._rules.record_limit = limit

    # -- portal set-up ------------------------------------------------------------------------
    def add_token(self, token: str, scopes: Iterable[str] | None = None, *, oauth: bool = False) -> None:
        """Accept another private-app token, with only `scopes` (all course scopes if None);
        `oauth=True`: an OAuth access token, whose answers carry no daily rate-limit headers and
        which cannot read the private apps' daily usage (docs/hubspot-behaviour.md, "Daily usage")."""
        self._tokens.add(token, scopes, oauth=oauth)

    def remove_token(self, token: str) -> None:
        """Revoke a token: later requests with it get 401."""
        self._tokens.remove(token)

    def set_object_enabled(self, enabled: bool) -> None:
        """Activate or deactivate Courses in the object library
        (docs/hubspot-behaviour.md, "Activation")."""
        self.object_enabled = enabled

    def create_property(
        self,
        name: str,
        *,
        type: str = "string",  # noqa: A002 - HubSpot's field name
        field_type: str = "text",
        label: str | None = None,
        group_name: str = "course_information",
        has_unique_value: bool = False,
        options: list[dict[str, Any]] | None = None,
        description: str = "",
    ) -> dict[str, Any]:
        """Create a property as `POST /crm/v3/properties/0-410` would; returns its JSON.
        Raises ValueError with HubSpot's message if HubSpot would refuse it."""
        body = {
            "name": name, "label": label or name, "type": type, "fieldType": field_type,
            "groupName": group_name, "hasUniqueValue": has_unique_value, "description": description,
        }
        if options is not None:
            body["options"] = [{"hidden": False, **o} for o in options]
        try:
            return self._registry.create(body).to_json()
        except ApiError as e:
            raise ValueError(e.body["message"]) from e

    def add_option(self, property_name: str, *, label: str, value: str) -> dict[str, Any]:
        """Add an option to an enumeration property, as a PATCH in HubSpot would (e.g. the fix
        for an INVALID_OPTION rejection). Returns the updated property JSON."""
        prop = self._registry.get(property_name)
        if prop is None:
            raise ValueError(f"no property {property_name}")
        options = [*prop.options, {"label": label, "value": value, "displayOrder": len(prop.options),
                                   "hidden": False}]
        try:
            return self._registry.update(property_name, {"options": options}).to_json()
        except ApiError as e:
            raise ValueError(e.body["message"]) from e

    def properties(self) -> list[dict[str, Any]]:
        """All live property definitions, as the Properties API returns them."""
        return self._registry.list_json()["results"]

    def spend_daily(self, requests: int) -> None:
        """Count `requests` against today's daily limit as if other apps of the portal had sent
        them (HubSpot's daily limit is shared by every private app of the account)."""
        self._limits.spend_daily(requests)

    @property
    def daily_limit(self) -> int:
        """Requests per day for the portal (all apps together)."""
        return self._limits.daily

    @daily_limit.setter
    def daily_limit(self, value: int) -> None:
        self._limits.daily = value

    def reset_rate_limits(self) -> None:
        """Forget the 10-second windows and the daily count."""
        self._limits.reset()
        self._api.endpoints.search_limits.reset()  # the search API's own limit (endpoints.py)

    # -- looking inside -----------------------------------------------------------------------
    def records(self, include_archived: bool = False) -> list[dict[str, Any]]:
        """Stored records, in creation order: [{"id", "properties", "createdAt", "updatedAt",
        "archived"}]."""
        return [r.to_json() for r in self._store.all_records(include_archived)]

    def record_by(self, property_name: str, value: str) -> dict[str, Any] | None:
        """The live record whose property equals value (the newest one if several)."""
        found = self._store.find_by(property_name, value)
        return found[-1].to_json() if found else None

    @property
    def request_log(self) -> list[RequestLogEntry]:
        """A copy of the requests seen so far, oldest first."""
        return self._request_log.entries()

    def reset_log(self) -> None:
        self._request_log.clear()

    def count_requests(self, method: str, path_suffix: str, status: int | None = None) -> int:
        """Requests with this method whose path ends with `path_suffix` (any status if None)."""
        return self._request_log.count(method, path_suffix, status)

    # -- hearing of requests ------------------------------------------------------------------
    def _seen(self, seen: RequestSeen) -> None:
        self.log_request(seen.method, seen.path, seen.status, seen.n_inputs, seen.fault, seen.token,
                         seen.correlation_id, seen.client_port, seen.duration_ms)

    def log_request(self, method: str, path: str, status: int | None, n_inputs: int | None,
                    fault: str | None, token: str | None, correlation_id: str, client_port: int,
                    duration_ms: float) -> None:
        """Record one request: the public hook a subclass may extend (benchmarks/bench_support.py
        times arrivals by overriding it)."""
        self._request_log.add(RequestLogEntry(
            method, path, status, n_inputs, fault, token_hash(token), correlation_id, client_port, duration_ms,
        ))

    # -- contacts and associations (endpoints.py) ----------------------------------------------
    def contacts(self, include_archived: bool = False) -> list[dict[str, Any]]:
        """Stored contacts, in creation order, in the same shape as `records()`."""
        return [r.to_json() for r in self._api.endpoints.contacts.all_records(include_archived)]

    def contact_by_email(self, email: str) -> dict[str, Any] | None:
        """The live contact with this email (matched case-insensitively, as HubSpot does)."""
        rec = self._api.endpoints.contacts.by_email(email)
        return rec.to_json() if rec is not None and not rec.archived else None

    def create_association_label(self, label: str, inverse_label: str | None = None) -> dict[str, Any]:
        """A USER_DEFINED course <-> contact label, as HubSpot's UI or labels API would make;
        returns {"courseToContact": {category, typeId, label}, "contactToCourse": {...}, "name"}.
        Raises ValueError for an empty or existing label."""
        return self._api.endpoints.associations.create_label(label, inverse_label=inverse_label)

    def associations(self) -> list[dict[str, Any]]:
        """Stored course <-> contact associations: [{"courseId", "contactId", "typeIds"}]."""
        return self._api.endpoints.associations.pairs()

    @property
    def search_per_second(self) -> int:
        """The search API's own limit per token and second (5, docs/hubspot-behaviour.md,
        "Search"); tests that search in a loop may raise it."""
        return self._api.endpoints.search_limits.per_second

    @search_per_second.setter
    def search_per_second(self, value: int) -> None:
        self._api.endpoints.search_limits.per_second = value


def _check_object_type(object_type: str) -> None:
    if object_type not in OBJECT_TYPE_ALIASES:
        raise ValueError(f"the sandbox serves only courses ({', '.join(sorted(OBJECT_TYPE_ALIASES))}),"
                         f" not {object_type}")
