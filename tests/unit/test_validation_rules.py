"""The portal's property validation rules, checked locally: one table of (rule, type, value, verdict)."""

from __future__ import annotations

from typing import Any

import pytest

from hubspot_courses_destination.mapping import PropertySpec, plan_batch
from hubspot_courses_destination.validation_rules import Rule, compile_rules, parse_rules, rule_code


def rule(rule_type: str, *args: str, normalize: bool = False) -> Rule:
    return Rule(rule_type, tuple(args), normalize)


# (rule, property type, value sent, broken?)
CASES: list[tuple[Rule, str, str, bool]] = [
    (rule("MAX_LENGTH", "5"), "string", "abcde", False),
    (rule("MAX_LENGTH", "5"), "string", "abcdef", True),
    (rule("MIN_LENGTH", "3"), "string", "ab", True),
    (rule("MIN_LENGTH", "3"), "string", "abc", False),
    (rule("MAX_NUMBER", "100"), "number", "100", False),
    (rule("MAX_NUMBER", "100"), "number", "100.5", True),
    (rule("MIN_NUMBER", "1"), "number", "0", True),
    (rule("MIN_NUMBER", "-2.5"), "number", "-2.5", False),
    (rule("DECIMAL", "2"), "number", "1.25", False),
    (rule("DECIMAL", "2"), "number", "1.255", True),
    (rule("DECIMAL", "0"), "number", "7", False),
    (rule("REGEX", r"^[A-Z]{3}-\d+$"), "string", "ABC-12", False),
    (rule("REGEX", r"^[A-Z]{3}-\d+$"), "string", "abc-12", True),
    (rule("REGEX", r"\d"), "string", "a1b", False),  # found anywhere: lenient, HubSpot may be stricter
    (rule("ALPHANUMERIC", "NUMERIC_ONLY"), "string", "12345", False),
    (rule("ALPHANUMERIC", "NUMERIC_ONLY"), "string", "12a45", True),
    (rule("ALPHANUMERIC", "ALPHA_ONLY"), "string", "Intro Course", False),  # whitespace is not judged
    (rule("ALPHANUMERIC", "ALPHA_ONLY"), "string", "Intro 101", True),
    (rule("ALPHANUMERIC", "ALPHANUMERIC"), "string", "Intro101", False),
    (rule("ALPHANUMERIC", "ALPHANUMERIC"), "string", "Intro-101", True),
    (rule("EMAIL"), "string", "teacher@example.edu", False),
    (rule("EMAIL"), "string", "teacher(at)example.edu", True),
    (rule("EMAIL"), "string", "teacher@localhost", True),
    (rule("URL"), "string", "https://ocw.mit.edu/courses/x", False),
    (rule("URL"), "string", "ocw.mit.edu/courses", False),
    (rule("URL"), "string", "not a url", True),
    (rule("URL"), "string", "ftp://files.example.com/x", True),
    (rule("START_DATE", "2024-01-01"), "date", "2023-12-31", True),
    (rule("START_DATE", "2024-01-01"), "date", "2024-01-01", False),
    (rule("END_DATE", "1735689600000"), "date", "2025-01-02", True),  # epoch ms of 2025-01-01
    (rule("END_DATE", "1735689600000"), "date", "2025-01-01", False),
    (rule("START_DATETIME", "2024-06-01T12:00:00Z"), "datetime", "2024-06-01T11:59:59.000Z", True),
    (rule("END_DATETIME", "2024-06-01T12:00:00Z"), "datetime", "2024-06-01T12:00:00.000Z", False),
    (rule("MAX_LENGTH", "3", normalize=True), "string", "ab  ", False),  # trimmed, it fits
    (rule("MAX_LENGTH", "3", normalize=False), "string", "ab  ", True),
]


@pytest.mark.parametrize("r, prop_type, value, broken", CASES, ids=[f"{c[0].rule_type}-{c[2]}" for c in CASES])
def test_decidable_rules(r: Rule, prop_type: str, value: str, broken: bool) -> None:
    compiled = compile_rules("p", [r], prop_type)
    assert compiled.left_to_hubspot == () and len(compiled.checks) == 1
    violations = compiled.violations(value)
    assert bool(violations) is broken
    if broken:
        reason = compiled.reason(*violations[0])
        assert r.rule_type in reason and reason.startswith("p: ")


# rules the mapper cannot decide: left to HubSpot, never a local rejection
UNDECIDED: list[tuple[Rule, str]] = [
    (rule("REGEX", r"(?<name>x)"), "string"),  # Java named group: Python cannot compile it
    (rule("REGEX", "[unclosed"), "string"),
    (rule("MAX_LENGTH", "ten"), "string"),
    (rule("MAX_LENGTH"), "string"),
    (rule("MAX_NUMBER", "5"), "string"),  # a number rule on a text property: not ours to judge
    (rule("ALPHANUMERIC", "SOMETHING_NEW"), "string"),
    (rule("START_DATE", "next tuesday"), "date"),
    (rule("START_DATETIME", "2024-06-01T12:00:00"), "datetime"),  # no time zone
    (rule("BEFORE_DURATION", "P30D"), "date"),
    (rule("EMAIL_BLOCKED_DOMAINS", "example.com"), "string"),
    (rule("PHONE_NUMBER_WITH_EXPLICIT_COUNTRY_CODE"), "phone_number"),
    (rule("SPECIAL_CHARACTERS"), "string"),
    (rule("DAYS_OF_WEEK", "MONDAY"), "date"),
]


@pytest.mark.parametrize("r, prop_type", UNDECIDED, ids=[f"{u[0].rule_type}-{u[0].arguments}" for u in UNDECIDED])
def test_undecidable_rules_are_left_to_hubspot(r: Rule, prop_type: str) -> None:
    compiled = compile_rules("p", [r], prop_type)
    assert compiled.checks == () and compiled.left_to_hubspot == (r,)
    assert compiled.violations("anything at all") == []


def test_clearing_a_property_is_never_checked() -> None:
    assert compile_rules("p", [rule("MIN_LENGTH", "3")], "string").violations("") == []


def test_parse_rules_as_hubspot_serves_them() -> None:
    raw: list[Any] = [
        {"ruleType": "ALPHANUMERIC", "ruleArguments": ["NUMERIC_ONLY"], "shouldApplyNormalization": True},
        {"ruleType": "min_number", "ruleArguments": [1]},
        {"ruleArguments": ["x"]},
        "garbage",
    ]
    assert parse_rules(raw) == (Rule("ALPHANUMERIC", ("NUMERIC_ONLY",), True), Rule("MIN_NUMBER", ("1",), False))
    assert rule_code("MAX_LENGTH") == "RULE_MAX_LENGTH"


SPECS = {
    "lms_course_key": PropertySpec("lms_course_key", "string", unique=True),
    "hs_course_name": PropertySpec("hs_course_name", "string"),
    "seats": PropertySpec("seats", "number", "number"),
}


def test_a_rule_breaking_row_is_a_rejection_in_the_plan() -> None:
    rules = {
        "hs_course_name": compile_rules("hs_course_name", [rule("MAX_LENGTH", "10")], "string"),
        "seats": compile_rules("seats", [rule("MIN_NUMBER", "1"), rule("MAX_NUMBER", "500")], "number"),
        "not_sent": compile_rules("not_sent", [rule("MIN_LENGTH", "99")], "string"),
    }
    rows = [
        {"k": "ok", "name": "Statistics", "seats": 30},
        {"k": "long", "name": "Statistics for engineers", "seats": 30},
        {"k": "both", "name": "Statistics for engineers", "seats": 0},
    ]
    plan = plan_batch(
        rows, object_type="0-410", id_column="k", id_property="lms_course_key",
        column_to_property={"k": "lms_course_key", "name": "hs_course_name", "seats": "seats"},
        properties=SPECS, rules=rules,
    )
    assert [r.key for r in plan.upserts] == ["ok"]
    by_key = {r.key: r for r in plan.rejections}
    long = by_key["long"]
    assert (long.category, long.code) == ("VALIDATION_ERROR", "RULE_MAX_LENGTH")
    assert "hs_course_name" in (long.message or "") and "MAX_LENGTH" in (long.message or "")
    assert [(e["name"], e["code"]) for e in long.property_errors] == [("hs_course_name", "RULE_MAX_LENGTH")]
    assert [(e["name"], e["code"]) for e in by_key["both"].property_errors] == [
        ("hs_course_name", "RULE_MAX_LENGTH"), ("seats", "RULE_MIN_NUMBER"),
    ]


def test_without_rules_the_plan_is_unchanged() -> None:
    kw: dict[str, Any] = dict(
        object_type="0-410", id_column="k", id_property="lms_course_key",
        column_to_property={"k": "lms_course_key", "name": "hs_course_name"}, properties=SPECS,
    )
    rows = [{"k": "a", "name": "x" * 50}]
    assert plan_batch(rows, **kw).upserts == plan_batch(rows, rules={}, **kw).upserts
    assert len(plan_batch(rows, **kw).upserts) == 1
