"""The portal's property validation rules, checked locally where the answer is certain. Pure.

HubSpot applies per-property validation rules (set by portal admins) to API writes, and
serves them as ``{ruleType, ruleArguments, shouldApplyNormalization}`` per property
(docs/hubspot-behaviour.md, "Property validation rules"). A row that breaks a rule is refused
by HubSpot anyway; checking it here rejects it before any request, and a dry run can list it.

Only what is decidable from the rule and the value is checked here: lengths, number bounds,
decimal places, regular expressions, letters/digits, e-mail and URL forms, date and datetime
bounds. Everything else (domains, durations relative to "now", phone numbers, special
characters, whitespace, unknown arguments, a regex Python cannot compile) is left to HubSpot,
whose per-row answer is recorded as before.

The check is deliberately lenient: HubSpot's exact semantics are not documented for every
rule, so a value is rejected here only when every reading we can think of rejects it too
(e.g. a regex must not match anywhere in the value, not merely fail a full match; with
``shouldApplyNormalization`` both the value and its trimmed form must break the rule). A
false local rejection would keep a row HubSpot would have taken out of the portal; a missed
one only costs HubSpot's answer.

The values checked are the strings the mapper sends (after coercion): ``YYYY-MM-DD`` for
dates, ISO 8601 UTC for datetimes, plain decimals for numbers. ``""`` (clearing a property)
is never checked here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import Any, Callable, Iterable, Mapping, Sequence
from urllib.parse import urlsplit

__all__ = ["Rule", "PropertyRules", "parse_rules", "compile_rules", "rule_code", "VALIDATION_CATEGORY"]

VALIDATION_CATEGORY = "VALIDATION_ERROR"
"""HubSpot's category for a rule violation; local rejections use it too."""

Check = Callable[[str], "str | None"]
"""A value in, the violation's description out (None: the rule holds)."""


@dataclass(frozen=True)
class Rule:
    """One validation rule of one property, as HubSpot serves it."""

    rule_type: str
    arguments: tuple[str, ...] = ()
    normalize: bool = False

    @classmethod
    def from_hubspot(cls, raw: Mapping[str, Any]) -> "Rule | None":
        rule_type = raw.get("ruleType")
        if not isinstance(rule_type, str) or not rule_type:
            return None
        args = raw.get("ruleArguments")
        arguments = tuple(str(a) for a in args if a is not None) if isinstance(args, list) else ()
        return cls(rule_type.upper(), arguments, bool(raw.get("shouldApplyNormalization")))


def rule_code(rule_type: str) -> str:
    """The code a local rejection carries: ``RULE_MAX_LENGTH``."""
    return f"RULE_{rule_type}"


def parse_rules(raw_rules: Iterable[Any]) -> tuple[Rule, ...]:
    """The well-formed rules of a ``propertyValidationRules`` list; the rest are skipped."""
    rules = (Rule.from_hubspot(r) for r in raw_rules if isinstance(r, Mapping))
    return tuple(r for r in rules if r is not None)


@dataclass(frozen=True)
class PropertyRules:
    """The rules of one property, split into those checked here and those left to HubSpot."""

    name: str
    checks: tuple[tuple[Rule, Check], ...]
    left_to_hubspot: tuple[Rule, ...]

    def violations(self, value: str) -> list[tuple[Rule, str]]:
        """Every rule ``value`` breaks, with what is wrong; ``""`` (a clear) breaks none."""
        if value == "":
            return []
        out: list[tuple[Rule, str]] = []
        for rule, check in self.checks:
            problem = check(value)
            if problem is not None and rule.normalize and value.strip() != value:
                # GUESS: HubSpot's normalization is undocumented; trimming is the one we assume
                if check(value.strip()) is None:
                    continue
            if problem is not None:
                out.append((rule, problem))
        return out

    def reason(self, rule: Rule, problem: str) -> str:
        args = f" {list(rule.arguments)}" if rule.arguments else ""
        return f"{self.name}: breaks the portal's {rule.rule_type}{args} validation rule ({problem})"


def compile_rules(name: str, rules: Sequence[Rule], property_type: str) -> PropertyRules:
    """Decide, once per load, which rules of ``name`` (a property of ``property_type``) are
    checked here; the others are left to HubSpot."""
    checks: list[tuple[Rule, Check]] = []
    left: list[Rule] = []
    for rule in rules:
        check = _check_for(rule, property_type)
        if check is None:
            left.append(rule)
        else:
            checks.append((rule, check))
    return PropertyRules(name, tuple(checks), tuple(left))


# --------------------------------------------------------------------------- the checks


def _first_int(rule: Rule) -> int | None:
    if not rule.arguments:
        return None
    text = rule.arguments[0].strip()
    return int(text) if text.isdigit() else None


def _first_decimal(rule: Rule) -> Decimal | None:
    if not rule.arguments:
        return None
    try:
        number = Decimal(rule.arguments[0].strip())
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _as_decimal(value: str) -> Decimal | None:
    try:
        number = Decimal(value)
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
"""Lenient: something, one @, a host with a dot. HubSpot's own check is stricter, if anything."""


def _looks_like_url(value: str) -> bool:
    """A host with a dot and no spaces, with or without ``http(s)://`` (lenient)."""
    text = value.strip()
    if not text or any(c.isspace() for c in text):
        return False
    parts = urlsplit(text if "://" in text else f"http://{text}")
    host = parts.hostname or ""
    return parts.scheme.lower() in ("http", "https") and "." in host.strip(".")


def _parse_bound(text: str, *, as_date: bool) -> datetime | date | None:
    """A date bound: ``YYYY-MM-DD``, ISO 8601, or epoch milliseconds; None if unclear.

    GUESS: the argument format of START_DATE and friends is not documented; only these
    unambiguous forms are taken, anything else is left to HubSpot.
    """
    text = text.strip()
    try:
        if text.isdigit() and len(text) >= 12:  # epoch milliseconds
            moment = datetime.fromtimestamp(int(text) / 1000, tz=timezone.utc)
        elif len(text) == 10:
            day = date.fromisoformat(text)
            return day if as_date else datetime.combine(day, datetime.min.time(), tzinfo=timezone.utc)
        else:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
            if moment.tzinfo is None:
                return None  # whose midnight? leave it to HubSpot
    except (ValueError, OverflowError, OSError):
        return None
    return moment.astimezone(timezone.utc).date() if as_date else moment.astimezone(timezone.utc)


def _parse_value(value: str, *, as_date: bool) -> datetime | date | None:
    try:
        if as_date:
            return date.fromisoformat(value[:10]) if len(value) >= 10 else None
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment.astimezone(timezone.utc) if moment.tzinfo else None


def _date_bound(rule: Rule, *, as_date: bool, start: bool) -> Check | None:
    if len(rule.arguments) != 1:
        return None
    bound = _parse_bound(rule.arguments[0], as_date=as_date)
    if bound is None:
        return None

    def check(value: str) -> str | None:
        parsed = _parse_value(value, as_date=as_date)
        if parsed is None:
            return None  # not ours to judge
        if start and parsed < bound:  # type: ignore[operator]
            return f"{value} is before {bound.isoformat()}"
        if not start and parsed > bound:  # type: ignore[operator]
            return f"{value} is after {bound.isoformat()}"
        return None

    return check


_TEXT_TYPES = frozenset({"string", "phone_number"})


def _check_for(rule: Rule, property_type: str) -> Check | None:
    """The local check of ``rule`` for a property of this type, or None: left to HubSpot."""
    kind = rule.rule_type
    text = property_type in _TEXT_TYPES
    if kind in ("MAX_LENGTH", "MIN_LENGTH") and text:
        n = _first_int(rule)
        if n is None:
            return None
        if kind == "MAX_LENGTH":
            return lambda v: f"{len(v)} characters, at most {n} allowed" if len(v) > n else None
        return lambda v: f"{len(v)} characters, at least {n} required" if len(v) < n else None
    if kind in ("MAX_NUMBER", "MIN_NUMBER") and property_type == "number":
        bound = _first_decimal(rule)
        if bound is None:
            return None
        above = kind == "MAX_NUMBER"

        def number_check(v: str) -> str | None:
            number = _as_decimal(v)
            if number is None:
                return None
            if above and number > bound:
                return f"{v} is more than {bound}"
            if not above and number < bound:
                return f"{v} is less than {bound}"
            return None

        return number_check
    if kind == "DECIMAL" and property_type == "number":
        places = _first_int(rule)  # GUESS: the argument is the most decimal places allowed
        if places is None:
            return None

        def decimal_check(v: str) -> str | None:
            digits = len(v.split(".", 1)[1]) if "." in v else 0
            return f"{v} has {digits} decimal places, at most {places} allowed" if digits > places else None

        return decimal_check
    if kind == "REGEX" and text:
        if not rule.arguments:
            return None
        try:
            pattern = re.compile(rule.arguments[0])
        except (re.error, RecursionError, OverflowError):
            return None  # a Java pattern Python cannot read: HubSpot decides
        return lambda v: f"{v!r} does not match {pattern.pattern}" if pattern.search(v) is None else None
    if kind == "ALPHANUMERIC" and text:
        mode = rule.arguments[0].strip().upper() if len(rule.arguments) == 1 else ""
        # NUMERIC_ONLY is HubSpot's documented example; ALPHA_ONLY and ALPHANUMERIC are GUESSES.
        # Whitespace is never judged here (whether HubSpot allows it is undocumented).
        allowed: Callable[[str], bool] | None = {
            "NUMERIC_ONLY": lambda c: c.isdigit(),
            "ALPHA_ONLY": lambda c: c.isalpha(),
            "ALPHANUMERIC": lambda c: c.isalnum(),
        }.get(mode)
        if allowed is None:
            return None
        what = {"NUMERIC_ONLY": "digits", "ALPHA_ONLY": "letters", "ALPHANUMERIC": "letters and digits"}[mode]

        def characters_check(v: str) -> str | None:
            bad = sorted({c for c in v if not c.isspace() and not allowed(c)})
            return f"only {what} allowed, got {''.join(bad)[:20]!r}" if bad else None

        return characters_check
    if kind == "EMAIL" and text:
        return lambda v: f"{v!r} is not an e-mail address" if not _EMAIL.match(v.strip()) else None
    if kind == "URL" and text:
        return lambda v: f"{v!r} is not a URL" if not _looks_like_url(v) else None
    if kind in ("START_DATE", "END_DATE") and property_type == "date":
        return _date_bound(rule, as_date=True, start=kind == "START_DATE")
    if kind in ("START_DATETIME", "END_DATETIME") and property_type == "datetime":
        return _date_bound(rule, as_date=False, start=kind == "START_DATETIME")
    return None
