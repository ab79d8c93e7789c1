"""The property-validations and record-limits endpoints, over the portal's `PortalRules`.

docs/hubspot-behaviour.md, "Property validation rules" (GET per object, per property, per rule
type; PUT per rule type) and "Record limits" (`GET /crm/limits/{ver}/records`). Paths arrive in
legacy spelling (versions.py).
"""

from __future__ import annotations

import re
from typing import Any, Callable

from .bodies import ApiError, error_body, object_type_unknown
from .catalog import OBJECT_TYPE_ALIASES, OBJECT_TYPE_ID
from .properties_api import PropertyRegistry
from .rules import PortalRules, check_applicable, parse_rule
from .store import Store

_VALIDATIONS = re.compile(r"^/crm/v3/property-validations/([^/]+)(?:/([^/]+)(?:/rule-type/([^/]+))?)?$")
LIMITS_PATH = "/crm/v3/limits/records"
# GUESS: a portal's record limit for Courses is not documented; the sandbox default.
DEFAULT_RECORD_LIMIT = 1_000_000


class RulesApi:
    """Answers the two endpoint families; `None` from `route` means "not mine".

    GUESS: reads take the property read scopes and PUT the schema write scope (HubSpot's
    scopes for these endpoints were not checked)."""

    def __init__(self, rules: PortalRules, store: Store, registry: PropertyRegistry) -> None:
        self.rules = rules
        self.store = store
        self.registry = registry
        # False: a portal whose plan or app lacks these endpoints; they answer 404 (the rules
        # still apply to writes, as HubSpot's do whether or not an app can read them)
        self.validations_served = True
        self.limits_served = True

    def route(
        self, method: str, path: str, json_body: Callable[[], Any], need_read: Callable[[], None],
        need_write: Callable[[], None], allow: Callable[..., None],
    ) -> tuple[int, dict[str, Any] | None] | None:
        if path == LIMITS_PATH:
            if not self.limits_served:
                return None
            allow(method, "GET")
            need_read()
            return 200, self.limits_json()
        m = _VALIDATIONS.match(path)
        if m is None or not self.validations_served:
            return None
        if m[1] not in OBJECT_TYPE_ALIASES:
            raise object_type_unknown(m[1])
        prop, rule_type = m[2], m[3]
        if prop is None:
            allow(method, "GET")
            need_read()
            return 200, self.rules.all_json()
        if rule_type is None:
            allow(method, "GET")
            need_read()
            # [DOC] {"results": [{ruleType, ruleArguments}, ...]}
            return 200, {"results": [r.to_json() for r in self.rules.rules_of(prop)]}
        allow(method, "GET", "PUT")
        if method == "GET":
            need_read()
            found = [r for r in self.rules.rules_of(prop) if r.rule_type == rule_type]
            if not found:
                # GUESS: status and body for a property without a rule of that type.
                raise ApiError(404, error_body(
                    "OBJECT_NOT_FOUND", f"No {rule_type} rule for property {prop} of {OBJECT_TYPE_ID}",
                ))
            return 200, found[0].to_json()
        need_write()
        body = json_body()
        if not isinstance(body, dict):
            raise ApiError(400, error_body("VALIDATION_ERROR", "Invalid input JSON: expected an object"))
        try:
            rule = parse_rule(rule_type, body.get("ruleArguments"), body.get("shouldApplyNormalization", False))
            check_applicable(rule_type, self.registry.get(prop), prop)
        except ValueError as e:
            # GUESS: wording; HubSpot's answer to a bad rule is undocumented.
            raise ApiError(400, error_body("VALIDATION_ERROR", str(e))) from e
        self.rules.set_rule(prop, rule)
        # GUESS: 204 with no body, as the PHP SDK's `BaseResponse<mixed>` suggests no model.
        return 204, None

    def limits_json(self) -> dict[str, Any]:
        """GUESS: the body's layout. [OBS] a client reads `hubspotDefinedObjectTypes[]` with
        `objectTypeId` and `usage`; `limit` and `percentage` per object type per the 2026-09
        spec (docs/hubspot-behaviour.md, "Record limits")."""
        limit = self.rules.record_limit if self.rules.record_limit is not None else DEFAULT_RECORD_LIMIT
        usage = self.store.count_live()
        return {
            "hubspotDefinedObjectTypes": [{
                "objectTypeId": OBJECT_TYPE_ID,
                "pluralLabel": "Courses",
                "limit": limit,
                "usage": usage,
                "percentage": round(100.0 * usage / limit, 2) if limit else 100.0,
            }],
            "customObjectTypes": [],
        }
