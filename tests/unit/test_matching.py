"""Matching batch-upsert answers to the rows sent, and parsing HubSpot's property errors."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from hubspot_courses_destination.hubspot.matching import (
    MISSING_FROM_RESPONSE,
    match_upsert_results,
    missing_outcome,
    parse_property_errors,
)
from hubspot_courses_destination.hubspot.models import PropertyError, UpsertRow


# -- property errors -------------------------------------------------------------------------

DOC_207_MESSAGE = (
    'Property values were not valid: [{"isValid":false,"message":"Property \\"missing\\" does not exist",'
    '"error":"PROPERTY_DOESNT_EXIST","name":"missing","localizedErrorMessage":"Property \\"missing\\" does not exist",'
    '"portalId":891936587}]'
)


def test_parse_property_errors_documented_example() -> None:
    assert parse_property_errors(DOC_207_MESSAGE) == (
        PropertyError(name="missing", code="PROPERTY_DOESNT_EXIST", message='Property "missing" does not exist'),
    )


def test_parse_property_errors_several() -> None:
    items = [
        {"isValid": False, "message": "abc was not a valid number", "error": "INVALID_INTEGER", "name": "hs_enrollment_capacity"},
        {"isValid": False, "message": "x was not one of the allowed options", "error": "INVALID_OPTION", "name": "lms_status"},
    ]
    parsed = parse_property_errors("Property values were not valid: " + json.dumps(items))
    assert [(p.name, p.code) for p in parsed] == [("hs_enrollment_capacity", "INVALID_INTEGER"), ("lms_status", "INVALID_OPTION")]


@pytest.mark.parametrize(
    "message",
    [None, "", "Duplicate IDs found in batch input: [1]", 'Property values were not valid: [{"isValid":false,"message":"Enter a numb', "Property values were not valid: {}"],
)
def test_parse_property_errors_other_forms(message: str | None) -> None:
    assert parse_property_errors(message) == ()


# -- matching upsert results -------------------------------------------------------------------

ROWS = [UpsertRow(key=f"c-{i}", properties={"hs_course_name": f"n{i}"}, trace_id=f"t{i}") for i in range(5)]


def _result(i: int, new: bool, trace: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {"id": str(1000 + i), "new": new, "properties": {"lms_course_key": f"c-{i}"}, "archived": False}
    if trace:
        out["objectWriteTraceId"] = f"t{i}"
    return out


def test_match_by_trace_id_in_any_order() -> None:
    body = {
        "status": "COMPLETE",
        "results": [_result(3, True), _result(0, False), _result(4, True)],
        "numErrors": 2,
        "errors": [
            {"status": "error", "category": "VALIDATION_ERROR", "message": DOC_207_MESSAGE, "context": {"objectWriteTraceId": ["t2"]}},
            {"status": "error", "category": "VALIDATION_ERROR", "message": "Something else", "context": {"objectWriteTraceId": ["t1"]}},
        ],
    }
    rnd = random.Random(3)
    body["results"] = rnd.sample(body["results"], 3)
    found, missing = match_upsert_results(body, ROWS, "lms_course_key")
    assert missing == []
    by_key = {o.key: o for o in found}
    assert [o.key for o in found] == ["c-0", "c-1", "c-2", "c-3", "c-4"]  # input order
    assert (by_key["c-0"].status, by_key["c-0"].hubspot_id, by_key["c-0"].trace_id) == ("updated", "1000", "t0")
    assert (by_key["c-3"].status, by_key["c-3"].hubspot_id) == ("created", "1003")
    assert by_key["c-2"].status == "rejected" and by_key["c-2"].category == "VALIDATION_ERROR"
    assert by_key["c-2"].code == "PROPERTY_DOESNT_EXIST"
    assert by_key["c-2"].property_errors == (PropertyError("missing", "PROPERTY_DOESNT_EXIST", 'Property "missing" does not exist'),)
    assert by_key["c-1"].status == "rejected" and by_key["c-1"].code is None and by_key["c-1"].property_errors == ()


def test_result_without_trace_id_matches_by_key_never_by_position() -> None:
    body = {"results": [_result(1, True, trace=False), {"id": "9", "new": True, "properties": {"lms_course_key": "someone-else"}}]}
    found, missing = match_upsert_results(body, ROWS[:2], "lms_course_key")
    assert [(o.key, o.hubspot_id) for o in found] == [("c-1", "1001")]
    assert missing == [ROWS[0]]


def test_rows_left_out_are_reported_missing_not_invented() -> None:
    body = {"results": [_result(0, True)], "errors": [{"category": "X", "context": {"objectWriteTraceId": ["not-ours"]}}]}
    found, missing = match_upsert_results(body, ROWS[:3], "lms_course_key")
    assert [o.key for o in found] == ["c-0"]
    assert [r.key for r in missing] == ["c-1", "c-2"]
    outcome = missing_outcome(missing[0])
    assert outcome.status == "rejected" and outcome.category == MISSING_FROM_RESPONSE


@pytest.mark.parametrize("body", [None, "", [], {"results": "x", "errors": None}])
def test_garbage_body_leaves_every_row_missing(body: Any) -> None:
    found, missing = match_upsert_results(body, ROWS[:2], "lms_course_key")
    assert found == [] and missing == ROWS[:2]


# -- both answer shapes: 207 (v3) and 200 with errors/numErrors (2026-09) ----------------------
# docs/hubspot-behaviour.md, "API versions": outcomes come from the body on any 2xx


def _mixed_body(**top: Any) -> dict[str, Any]:
    return {
        **top,
        "results": [_result(0, True), _result(2, False)],
        "numErrors": 1,
        "errors": [{
            "status": "error", "category": "VALIDATION_ERROR", "message": DOC_207_MESSAGE,
            "context": {"objectWriteTraceId": ["t1"]},
        }],
    }


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(_mixed_body(status="COMPLETE"), id="v3-207"),
        pytest.param(_mixed_body(status="COMPLETE", startedAt="2026-10-01T00:00:00Z",
                                 completedAt="2026-10-01T00:00:01Z"), id="2026-09-200-with-errors"),
        pytest.param(_mixed_body(), id="no-status"),
    ],
)
def test_both_upsert_answer_shapes_give_the_same_outcomes(body: dict[str, Any]) -> None:
    found, missing = match_upsert_results(body, ROWS[:3], "lms_course_key")
    assert missing == []
    assert [(o.key, o.status) for o in found] == [("c-0", "created"), ("c-1", "rejected"), ("c-2", "updated")]
    assert found[1].property_errors[0].name == "missing"


def test_conditional_required_rejection_names_the_properties_hubspot_gave() -> None:
    # 2026-09 enforces conditional-required and create-form rules (docs/hubspot-behaviour.md,
    # "Write validation from 2026-09"); the per-input error's exact text is not documented, so
    # both of HubSpot's ways of naming properties are read: the message's JSON list ...
    in_message = "Property values were not valid: " + json.dumps([
        {"isValid": False, "message": "hs_course_level is required", "error": "REQUIRED_PROPERTY", "name": "hs_course_level"},
    ])
    # ... and structured errors[] with context.propertyName
    structured = {
        "status": "error", "category": "VALIDATION_ERROR", "message": "Required properties are missing",
        "context": {"objectWriteTraceId": ["t1"]},
        "errors": [{"code": "REQUIRED_PROPERTY", "message": "required by the create form",
                    "context": {"propertyName": ["hs_course_level", "hs_duration"]}}],
    }
    body = {"results": [], "numErrors": 2, "errors": [
        {"status": "error", "category": "VALIDATION_ERROR", "message": in_message, "context": {"objectWriteTraceId": ["t0"]}},
        structured,
    ]}
    found, missing = match_upsert_results(body, ROWS[:2], "lms_course_key")
    assert missing == []
    assert [(o.category, [e.name for e in o.property_errors]) for o in found] == [
        ("VALIDATION_ERROR", ["hs_course_level"]),
        ("VALIDATION_ERROR", ["hs_course_level", "hs_duration"]),
    ]
    assert found[1].code == "REQUIRED_PROPERTY"


def test_an_error_naming_its_properties_only_in_its_context_is_read() -> None:
    # GUESS of a 2026-09 conditional-required answer: the property named in the error's own context
    body = {"results": [_result(0, True)], "numErrors": 1, "errors": [{
        "status": "error", "category": "VALIDATION_ERROR", "subCategory": "CONDITIONAL_PROPERTY_REQUIRED",
        "message": "hs_course_level is required when hs_course_type is ONLINE",
        "context": {"objectWriteTraceId": ["t1"], "propertyName": ["hs_course_level"]},
    }]}
    found, missing = match_upsert_results(body, ROWS[:2], "lms_course_key")
    assert missing == []
    rejected = found[1]
    assert (rejected.status, rejected.category, rejected.code) == ("rejected", "VALIDATION_ERROR", "CONDITIONAL_PROPERTY_REQUIRED")
    assert [e.name for e in rejected.property_errors] == ["hs_course_level"]
