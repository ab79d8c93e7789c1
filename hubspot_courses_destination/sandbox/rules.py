"""The portal's own rules on property values: validation rules, conditional-required rules,
create-form required properties and the record limit.

docs/hubspot-behaviour.md, "Property validation rules" (enforced on API writes in every path
family since 2023) and "Write validation from 2026-09" (conditional-required and create-form
rules, enforced only from the 2026-09 version on). Pure checks, no I/O: objects.py applies them.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Iterable, Mapping

from .catalog import PropertyDef
from .validation import PropertyError

# docs/hubspot-behaviour.md, "Property validation rules": the ruleType values HubSpot lists.
RULE_TYPES = frozenset({
    "AFTER_DATETIME_DURATION", "AFTER_DURATION", "ALPHANUMERIC", "BEFORE_DATETIME_DURATION",
    "BEFORE_DURATION", "DAYS_OF_WEEK", "DECIMAL", "DOMAIN", "EMAIL", "EMAIL_ALLOWED_DOMAINS",
    "EMAIL_BLOCKED_DOMAINS", "END_DATE", "END_DATETIME", "FORMAT", "MAX_LENGTH", "MAX_NUMBER",
    "MIN_LENGTH", "MIN_NUMBER", "PHONE_NUMBER_WITH_EXPLICIT_COUNTRY_CODE", "REGEX",
    "SPECIAL_CHARACTERS", "START_DATE", "START_DATETIME", "URL", "URL_ALLOWED_DOMAINS",
    "URL_BLOCKED_DOMAINS", "WHITESPACE",
})
# The rule types the sandbox enforces; the others are stored and served but not checked.
ENFORCED_RULE_TYPES = frozenset({
    "MAX_LENGTH", "MIN_LENGTH", "MAX_NUMBER", "MIN_NUMBER", "REGEX", "ALPHANUMERIC", "EMAIL", "URL",
})
# docs/hubspot-behaviour.md, "Property validation rules": ALPHANUMERIC takes one of these.
_ALPHANUMERIC_ARGS = {
    "ALPHANUMERIC": (re.compile(r"^[A-Za-z0-9]*$"), "INVALID_ALPHANUMERIC", "Enter only letters and numbers"),
    # [DOC] changelog example: INVALID_ALPHA "Enter only letters".
    "ALPHA_ONLY": (re.compile(r"^[A-Za-z]*$"), "INVALID_ALPHA", "Enter only letters"),
    "NUMERIC_ONLY": (re.compile(r"^[0-9]*$"), "INVALID_NUMERIC", "Enter only numbers"),
}
# GUESS: HubSpot's exact email and URL checks are not published; these are plain forms.
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s.]+(\.[^@\s.]+)*\.[A-Za-z]{2,}$")
_URL_RE = re.compile(r"^https?://[^\s/?#.]+(\.[^\s/?#.]+)+([/?#]\S*)?$", re.IGNORECASE)


# docs/hubspot-behaviour.md, "Property validation rules": the (type, fieldType) pairs each rule
# type supports. GUESS: phone_number-typed properties count as string/phonenumber.
_TEXT, _TEXTAREA, _PHONE = ("string", "text"), ("string", "textarea"), ("string", "phonenumber")
_APPLIES_TO: dict[str, frozenset[tuple[str, str]]] = {
    **{t: frozenset({_TEXT, _TEXTAREA}) for t in ("ALPHANUMERIC", "FORMAT", "REGEX", "SPECIAL_CHARACTERS")},
    **{t: frozenset({_TEXT}) for t in ("DOMAIN", "EMAIL", "EMAIL_ALLOWED_DOMAINS", "EMAIL_BLOCKED_DOMAINS",
                                        "URL", "URL_ALLOWED_DOMAINS", "URL_BLOCKED_DOMAINS", "WHITESPACE")},
    **{t: frozenset({_TEXT, _TEXTAREA, _PHONE}) for t in ("MAX_LENGTH", "MIN_LENGTH")},
    "PHONE_NUMBER_WITH_EXPLICIT_COUNTRY_CODE": frozenset({_PHONE}),
    **{t: frozenset({("number", "number")}) for t in ("DECIMAL", "MAX_NUMBER", "MIN_NUMBER")},
    **{t: frozenset({("date", "date")}) for t in ("AFTER_DURATION", "BEFORE_DURATION", "END_DATE", "START_DATE")},
    **{t: frozenset({("datetime", "date")}) for t in ("AFTER_DATETIME_DURATION", "BEFORE_DATETIME_DURATION",
                                                     "END_DATETIME", "START_DATETIME")},
    "DAYS_OF_WEEK": frozenset({("date", "date"), ("datetime", "date")}),
}


def check_applicable(rule_type: str, prop: PropertyDef | None, name: str, *, must_exist: bool = True) -> None:
    """ValueError unless the property's type and fieldType support the rule type, or (with
    `must_exist`) the property does not exist. GUESS: HubSpot refuses such a rule (its answer is
    undocumented)."""
    if prop is None:
        if must_exist:
            raise ValueError(f"Property {name} does not exist")
        return
    kind = ("string" if prop.type == "phone_number" else prop.type, prop.field_type)
    if kind not in _APPLIES_TO.get(rule_type, frozenset()):
        raise ValueError(f"{rule_type} rules do not apply to property {name} (type {prop.type},"
                         f" fieldType {prop.field_type})")


@dataclass(frozen=True)
class ValidationRule:
    """One rule as `GET /crm/property-validations/{ver}/{objectTypeId}/{propertyName}` lists it."""

    rule_type: str
    rule_arguments: tuple[str, ...] = ()
    should_apply_normalization: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "ruleType": self.rule_type,
            "ruleArguments": list(self.rule_arguments),
            "shouldApplyNormalization": self.should_apply_normalization,
        }


@dataclass(frozen=True)
class ConditionalRequired:
    """`property_name` is required when `when_property` has the value `when_value`."""

    property_name: str
    when_property: str
    when_value: str


def parse_rule(rule_type: str, rule_arguments: Any, should_apply_normalization: Any = False) -> ValidationRule:
    """A rule from its parts; ValueError with the reason if HubSpot would refuse it."""
    if rule_type not in RULE_TYPES:
        raise ValueError(f"Unknown ruleType {rule_type}; one of {', '.join(sorted(RULE_TYPES))}")
    if not isinstance(rule_arguments, (list, tuple)) or not all(isinstance(a, str) for a in rule_arguments):
        raise ValueError("ruleArguments must be an array of strings")
    if not isinstance(should_apply_normalization, bool):
        raise ValueError("shouldApplyNormalization must be a boolean")
    args = tuple(rule_arguments)
    # GUESS: HubSpot checks the arguments when a rule is set; these are the documented forms.
    if rule_type in ("MAX_LENGTH", "MIN_LENGTH") and (len(args) != 1 or not args[0].isdigit()):
        raise ValueError(f"{rule_type} takes one integer argument")
    if rule_type in ("MAX_NUMBER", "MIN_NUMBER") and (len(args) != 1 or _decimal(args[0]) is None):
        raise ValueError(f"{rule_type} takes one numeric argument")
    if rule_type == "ALPHANUMERIC" and (len(args) != 1 or args[0] not in _ALPHANUMERIC_ARGS):
        raise ValueError(f"ALPHANUMERIC takes one of {', '.join(_ALPHANUMERIC_ARGS)}")
    if rule_type == "REGEX":
        if len(args) not in (1, 2):
            raise ValueError("REGEX takes a pattern and an optional error message")
        try:
            re.compile(args[0])
        except re.error as e:
            raise ValueError(f"REGEX pattern does not compile: {e}") from e
    return ValidationRule(rule_type, args, should_apply_normalization)


def _decimal(v: str) -> Decimal | None:
    try:
        d = Decimal(v)
    except InvalidOperation:
        return None
    return d if d.is_finite() else None


def check_rule(name: str, rule: ValidationRule, value: str) -> PropertyError | None:
    """Why `value` breaks `rule`, or None. Codes other than INVALID_ALPHA and every message
    other than "Enter only letters" are GUESSes
    (docs/hubspot-behaviour.md, "Property validation rules")."""
    t, args = rule.rule_type, rule.rule_arguments
    if t == "MAX_LENGTH" and len(value) > int(args[0]):
        return PropertyError(name, "INVALID_MAX_LENGTH", f"Enter {args[0]} characters or fewer")
    if t == "MIN_LENGTH" and len(value) < int(args[0]):
        return PropertyError(name, "INVALID_MIN_LENGTH", f"Enter at least {args[0]} characters")
    if t in ("MAX_NUMBER", "MIN_NUMBER"):
        v, bound = _decimal(value), Decimal(args[0])
        if v is None:
            return None  # the type check reports a non-number
        if t == "MAX_NUMBER" and v > bound:
            return PropertyError(name, "INVALID_MAX_NUMBER", f"Enter a number less than or equal to {args[0]}")
        if t == "MIN_NUMBER" and v < bound:
            return PropertyError(name, "INVALID_MIN_NUMBER", f"Enter a number greater than or equal to {args[0]}")
    if t == "ALPHANUMERIC":
        pattern, code, message = _ALPHANUMERIC_ARGS[args[0]]
        if not pattern.match(value):
            return PropertyError(name, code, message)
    if t == "REGEX" and not re.search(args[0], value):
        # [DOC] the second argument is the rule's error message.
        return PropertyError(name, "INVALID_REGEX", args[1] if len(args) > 1 else "Enter a valid value")
    if t == "EMAIL" and not _EMAIL_RE.match(value):
        return PropertyError(name, "INVALID_EMAIL", f"Email address {value} is invalid")
    if t == "URL" and not _URL_RE.match(value):
        return PropertyError(name, "INVALID_URL", f"{value} is not a valid URL")
    return None


def conditional_required_missing(rule: ConditionalRequired) -> PropertyError:
    # GUESS: code and message; HubSpot documents only "400 VALIDATION_ERROR" for it.
    return PropertyError(
        rule.property_name, "CONDITIONALLY_REQUIRED_PROPERTY_MISSING",
        f"{rule.property_name} is required when {rule.when_property} is {rule.when_value}",
    )


def form_required_missing(name: str) -> PropertyError:
    # GUESS: code and message; HubSpot documents only "400 VALIDATION_ERROR" for it.
    return PropertyError(name, "REQUIRED_BY_CREATE_FORM", f"{name} is required by the create record form")


@dataclass
class PortalRules:
    """The rules a portal admin set for Courses. Thread-safe; changed while requests run."""

    validation: dict[str, dict[str, ValidationRule]] = field(default_factory=dict)
    conditional: list[ConditionalRequired] = field(default_factory=list)
    form_required: tuple[str, ...] = ()
    record_limit: int | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    # -- set-up -------------------------------------------------------------------------------
    def set_rule(self, property_name: str, rule: ValidationRule) -> None:
        """[DOC] a rule replaces the property's rule of the same ruleType, no other."""
        with self._lock:
            self.validation.setdefault(property_name, {})[rule.rule_type] = rule

    def clear(self, property_name: str | None = None) -> None:
        with self._lock:
            if property_name is None:
                self.validation.clear()
            else:
                self.validation.pop(property_name, None)

    def add_conditional(self, rule: ConditionalRequired) -> None:
        with self._lock:
            self.conditional.append(rule)

    def set_form_required(self, names: Iterable[str]) -> None:
        with self._lock:
            self.form_required = tuple(names)

    # -- reading ------------------------------------------------------------------------------
    def rules_of(self, property_name: str) -> list[ValidationRule]:
        with self._lock:
            return list(self.validation.get(property_name, {}).values())

    def all_json(self) -> dict[str, Any]:
        """[DOC] `{"results": [{"propertyName", "propertyValidationRules": [...]}]}`."""
        with self._lock:
            return {"results": [
                {"propertyName": n, "propertyValidationRules": [r.to_json() for r in rules.values()]}
                for n, rules in self.validation.items() if rules
            ]}

    # -- checks -------------------------------------------------------------------------------
    def check_values(self, written: Mapping[str, str]) -> list[PropertyError]:
        """Validation-rule errors for the values an input writes ("" clears and is not checked:
        GUESS)."""
        errors: list[PropertyError] = []
        for name, value in written.items():
            if value == "":
                continue
            for rule in self.rules_of(name):
                if rule.rule_type in ENFORCED_RULE_TYPES:
                    err = check_rule(name, rule, value)
                    if err is not None:
                        errors.append(err)
                        break  # GUESS: one error per property, the first rule broken
        return errors

    def check_required(self, final: Mapping[str, str], creating: bool) -> list[PropertyError]:
        """Conditional-required and (on create) create-form errors for a record's final values."""
        with self._lock:
            conditional, form = list(self.conditional), self.form_required
        errors: list[PropertyError] = []
        for c in conditional:
            if final.get(c.when_property) == c.when_value and not final.get(c.property_name):
                if not any(e.name == c.property_name for e in errors):
                    errors.append(conditional_required_missing(c))
        if creating:
            errors += [form_required_missing(n) for n in form
                       if not final.get(n) and not any(e.name == n for e in errors)]
        return errors
