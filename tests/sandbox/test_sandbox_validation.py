"""Value validation by property type
(docs/hubspot-behaviour.md, "Properties" and "Value formats"), tested on the pure functions."""

from __future__ import annotations

import pytest

from hubspot_courses_destination.sandbox.catalog import PropertyDef
from hubspot_courses_destination.sandbox.validation import (
    MAX_STRING_LENGTH,
    PropertyError,
    validate_properties,
    validate_value,
)


def prop(type_: str, field_type: str, **kw: object) -> PropertyDef:
    return PropertyDef(name="p", label="p", type=type_, field_type=field_type, **kw)  # type: ignore[arg-type]


NUMBER = prop("number", "number")
BOOL = prop("bool", "booleancheckbox")
DATE = prop("date", "date")
DATETIME = prop("datetime", "date")
STRING = prop("string", "text")
OPTS = [{"label": x.upper(), "value": x, "hidden": False} for x in ("a", "b", "c")]
SELECT = prop("enumeration", "select", options=OPTS)
CHECKBOX = prop("enumeration", "checkbox", options=OPTS)


def code(result: object) -> str | None:
    return result.code if isinstance(result, PropertyError) else None


@pytest.mark.parametrize("value", ["0", "17", "-3", "2.5", "-0.25"])
def test_numbers_accepted(value: str) -> None:
    assert validate_value(NUMBER, value) == value


# "5." and ".5": undocumented forms, refused (the stricter reading, issue 13 item 8).
@pytest.mark.parametrize("value", ["abc", "1.2.3", "1e5", "--1", "1,000", " 1", "+1", "-", "5.", ".5", "10."])
def test_numbers_refused(value: str) -> None:
    assert code(validate_value(NUMBER, value)) == "INVALID_INTEGER"


def test_bool_only_true_or_false() -> None:
    assert validate_value(BOOL, "true") == "true" and validate_value(BOOL, "false") == "false"
    for v in ("yes", "1", "True", "FALSE"):
        assert code(validate_value(BOOL, v)) == "INVALID_BOOLEAN"
    # A JSON boolean is not a string: refused, not coerced (HubSpot's schema types values as strings).
    assert code(validate_value(BOOL, True)) == "INVALID_PROPERTY_VALUE"
    assert code(validate_value(NUMBER, 5)) == "INVALID_PROPERTY_VALUE"
    assert code(validate_value(STRING, None)) == "INVALID_PROPERTY_VALUE"


def test_date_iso_and_midnight_epoch() -> None:
    assert validate_value(DATE, "2015-05-01") == "2015-05-01"
    # the example in docs/hubspot-behaviour.md, "Value formats"
    assert validate_value(DATE, "1430438400000") == "2015-05-01"
    assert validate_value(DATE, "2015-05-01T00:00:00Z") == "2015-05-01"


def test_date_not_midnight_message_matches_hubspot() -> None:
    # Both observed messages (docs/hubspot-behaviour.md, "Error bodies"), unpadded as HubSpot
    # prints them.
    r = validate_value(DATE, "1521225089103")
    assert isinstance(r, PropertyError) and r.code == "INVALID_DATE"
    assert r.message == "1521225089103 is at 18:31:29.103 UTC, not midnight!"
    r = validate_value(DATE, "1786334400000")
    assert isinstance(r, PropertyError) and r.message == "1786334400000 is at 4:0:0.0 UTC, not midnight!"


@pytest.mark.parametrize("value", ["2015-13-01", "2015-02-30", "05/01/2015", "May 1", "2015-05-01T04:00:00Z"])
def test_date_refused(value: str) -> None:
    assert code(validate_value(DATE, value)) == "INVALID_DATE"


def test_datetime_accepts_iso_with_zone_and_epoch_ms() -> None:
    assert validate_value(DATETIME, "2024-03-01T10:20:30.123Z") == "2024-03-01T10:20:30.123Z"
    assert validate_value(DATETIME, "2024-03-01T12:20:30+02:00") == "2024-03-01T10:20:30.000Z"
    assert validate_value(DATETIME, "1709288430123") == "2024-03-01T10:20:30.123Z"


@pytest.mark.parametrize("value", ["2024-03-01T10:20:30", "2024-03-01", "yesterday", "2024-13-01T00:00:00Z"])
def test_datetime_refused(value: str) -> None:
    assert code(validate_value(DATETIME, value)) == "INVALID_DATETIME"


def test_select_takes_option_values_not_labels() -> None:
    assert validate_value(SELECT, "a") == "a"
    r = validate_value(SELECT, "A")
    assert isinstance(r, PropertyError) and r.code == "INVALID_OPTION"
    assert r.message.startswith("A was not one of the allowed options: ")
    assert code(validate_value(SELECT, "a;b")) == "INVALID_OPTION"


def test_checkbox_replace_append_and_invalid_member() -> None:
    assert validate_value(CHECKBOX, "b;a", existing="c") == "b;a"  # no leading ';' replaces
    assert validate_value(CHECKBOX, ";b;a", existing="c;a") == "c;a;b"  # leading ';' appends
    assert validate_value(CHECKBOX, ";b", existing=None) == "b"
    assert code(validate_value(CHECKBOX, ";a;z", existing="a")) == "INVALID_OPTION"


def test_string_length_limit() -> None:
    assert validate_value(STRING, "x" * MAX_STRING_LENGTH) == "x" * MAX_STRING_LENGTH
    assert code(validate_value(STRING, "x" * (MAX_STRING_LENGTH + 1))) == "INVALID_STRING_LENGTH"


def test_empty_string_clears_any_writable_type() -> None:
    for p in (NUMBER, BOOL, DATE, DATETIME, STRING, SELECT, CHECKBOX):
        assert validate_value(p, "") == ""


def test_read_only_and_calculated_refused() -> None:
    assert code(validate_value(prop("number", "number", read_only_value=True), "1")) == "READ_ONLY_VALUE"
    assert code(validate_value(prop("number", "calculation_equation", calculated=True), "1")) == "READ_ONLY_VALUE"


def test_validate_properties_collects_every_error_in_input_order() -> None:
    catalog = {"n": PropertyDef("n", "n", "number", "number"), "s": PropertyDef("s", "s", "string", "text")}
    values, errors = validate_properties({"zz": "1", "n": "x", "s": "ok"}, catalog)
    assert values == {"s": "ok"}
    assert [(e.name, e.code) for e in errors] == [("zz", "PROPERTY_DOESNT_EXIST"), ("n", "INVALID_INTEGER")]
    assert errors[0].to_json(7) == {
        "isValid": False, "message": 'Property "zz" does not exist', "error": "PROPERTY_DOESNT_EXIST",
        "name": "zz", "localizedErrorMessage": 'Property "zz" does not exist', "portalId": 7,
    }
