"""The mapper as tables: value coercion by HubSpot type, row mapping, batch dedupe."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from hubspot_courses_destination.mapping import (
    MAX_STRING_LENGTH,
    CoercionError,
    MappedRow,
    PropertySpec,
    Rejection,
    content_hash,
    hubspot_type_for_dlt_column,
    map_row,
    plan_batch,
    to_hubspot_value,
    value_coercer,
)

STRING = PropertySpec("s", "string")
NUMBER = PropertySpec("n", "number", "number")
BOOL = PropertySpec("b", "bool", "booleancheckbox")
DATE = PropertySpec("d", "date", "date")
DATETIME = PropertySpec("dt", "datetime", "date")
LEVEL = PropertySpec("level", "enumeration", "select", options=(("beginner", "Beginner"), ("adv", "Advanced")))
TAGS = PropertySpec(
    "tags", "enumeration", "checkbox", options=(("a", "Alpha"), ("b", "Beta"), ("c", "Gamma"))
)
CEST = timezone(timedelta(hours=2))


VALUE_CASES = [
        (None, STRING, None),
        ("", NUMBER, ""),  # empty string clears any property
        ("Intro", STRING, "Intro"),
        (True, STRING, "true"),
        ({"b": 1, "a": [1, 2]}, STRING, '{"a": [1, 2], "b": 1}'),
        ([1, "x"], STRING, '[1, "x"]'),
        (date(2024, 5, 1), STRING, "2024-05-01"),
        (42, NUMBER, "42"),
        (-3, NUMBER, "-3"),
        (1.5, NUMBER, "1.5"),
        (1e20, NUMBER, "100000000000000000000"),
        (Decimal("12.500"), NUMBER, "12.5"),
        (Decimal("1E+3"), NUMBER, "1000"),
        (" 7.25 ", NUMBER, "7.25"),
        ("1e3", NUMBER, "1000"),
        (True, BOOL, "true"),
        (0, BOOL, "false"),
        ("Yes", BOOL, "true"),
        ("FALSE", BOOL, "false"),
        (date(2024, 5, 1), DATE, "2024-05-01"),
        (datetime(2024, 5, 1, 23, 30, tzinfo=timezone.utc), DATE, "2024-05-01"),
        (datetime(2024, 5, 2, 1, 0, tzinfo=CEST), DATE, "2024-05-01"),  # UTC day, not local
        ("2024-05-01", DATE, "2024-05-01"),
        ("2024-09-04T15:00:00Z", DATE, "2024-09-04"),
        (1714521600, DATE, "2024-05-01"),  # epoch seconds (Moodle)
        (1714521600000, DATE, "2024-05-01"),  # epoch milliseconds
        ("1714521600000", DATE, "2024-05-01"),
        ("20240501", DATE, "2024-05-01"),  # compact SIS date, not an epoch in 1970
        (20240501, DATETIME, "2024-05-01T00:00:00.000Z"),
        (datetime(2024, 5, 1, 12, 0, tzinfo=CEST), DATETIME, "2024-05-01T10:00:00.000Z"),
        (datetime(2024, 5, 1, 12, 0), DATETIME, "2024-05-01T12:00:00.000Z"),  # naive = UTC
        (date(2024, 5, 1), DATETIME, "2024-05-01T00:00:00.000Z"),
        ("2020-02-10T14:56:33.000Z", DATETIME, "2020-02-10T14:56:33.000Z"),
        (1714521600, DATETIME, "2024-05-01T00:00:00.000Z"),
        ("beginner", LEVEL, "beginner"),
        ("Advanced", LEVEL, "adv"),  # a label maps to its value
        ("ADVANCED", LEVEL, "adv"),
        (["a", "Beta"], TAGS, "a;b"),
        (("c", "a", "c"), TAGS, "c;a"),
        ("a;b", TAGS, "a;b"),
        (";c", TAGS, ";c"),  # HubSpot's append syntax is kept as written
        ("café".encode(), STRING, "café"),  # bytes are UTF-8 text, never their repr
        (bytearray(b"Intro"), STRING, "Intro"),
        (b"", STRING, ""),
        ({"raw": b"caf\xc3\xa9"}, STRING, '{"raw": "café"}'),
        (b" 42 ", NUMBER, "42"),
        (b"yes", BOOL, "true"),
        (b"2024-05-01", DATE, "2024-05-01"),
        (b"Advanced", LEVEL, "adv"),
        ([b"a", "Beta"], TAGS, "a;b"),
]


@pytest.mark.parametrize("value, prop, expected", VALUE_CASES)
def test_to_hubspot_value(value, prop, expected):
    assert to_hubspot_value(value, prop) == expected


REJECT_CASES = [
        ("12abc", NUMBER, "not a number"),
        (float("nan"), NUMBER, "finite"),
        (float("inf"), NUMBER, "finite"),
        (Decimal("NaN"), NUMBER, "finite"),
        (True, NUMBER, "boolean"),
        ("maybe", BOOL, "not a boolean"),
        (2, BOOL, "not a boolean"),
        ("May 1st", DATE, "ISO 8601"),
        ("2024-13-01", DATE, "ISO 8601"),
        (10**20, DATETIME, "epoch"),
        ("2024", DATE, "neither an epoch"),
        (12345, DATETIME, "neither an epoch"),
        ("-5", DATE, "ISO 8601"),
        ("expert", LEVEL, "not one of the options"),
        (["a", "z"], TAGS, "not one of the options"),
        (["a"], LEVEL, "single option"),
        ("x" * (MAX_STRING_LENGTH + 1), STRING, "65,536"),
        (b"\xff\xfe", STRING, "bytes that are not valid UTF-8 text"),
        (bytearray(b"caf\xe9"), STRING, "bytes that are not valid UTF-8 text"),  # Latin-1, not UTF-8
        ({"raw": b"\xff"}, STRING, "bytes that are not valid UTF-8 text"),
        (b"\xff", NUMBER, "bytes that are not valid UTF-8 text"),
        ([b"\xff"], TAGS, "bytes that are not valid UTF-8 text"),
]


@pytest.mark.parametrize("value, prop, match", REJECT_CASES)
def test_to_hubspot_value_rejects(value, prop, match):
    with pytest.raises(CoercionError, match=match):
        to_hubspot_value(value, prop)


class _Text(str):
    pass


# values the per-property fast paths see first: exact types, subclasses, near misses
FAST_PATH_EDGES = [
    ("x" * MAX_STRING_LENGTH, STRING), ("x" * (MAX_STRING_LENGTH + 1), STRING), (_Text("sub"), STRING),
    ("", STRING), (7, STRING), (True, NUMBER), (False, NUMBER), (10**30, NUMBER), (_Text("5"), NUMBER),
    (datetime(2024, 5, 1, 23, 0, tzinfo=timezone.utc), DATE), (datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=timezone.utc), DATETIME),
    (datetime(2024, 5, 1, 12, 0, tzinfo=timezone(timedelta(0))), DATETIME), (datetime(2024, 5, 1, 12, 0, tzinfo=CEST), DATETIME),
    (datetime(2024, 5, 1, 12, 0), DATETIME), ("2024-05-01", DATETIME),
    (" beginner ", LEVEL), ("adv", LEVEL), ("", LEVEL), ("Advanced", LEVEL), ("nope", LEVEL), (True, LEVEL),
    ("a;b", TAGS), ("yes", BOOL), (1, BOOL),
    (b"adv", LEVEL), (b"7", NUMBER), (b"x" * (MAX_STRING_LENGTH + 1), STRING),
]


def _outcome(fn, value, prop):
    try:
        return "ok", fn(value)
    except CoercionError as exc:
        return "error", str(exc)


@pytest.mark.parametrize(
    "value, prop",
    [(v, p) for v, p, _ in VALUE_CASES] + [(v, p) for v, p, _ in REJECT_CASES] + FAST_PATH_EDGES,
)
def test_value_coercer_agrees_with_to_hubspot_value(value, prop):
    """The per-column coercers batches use are a shortcut, never a different answer."""
    assert _outcome(value_coercer(prop), value, prop) == _outcome(lambda v: to_hubspot_value(v, prop), value, prop)


def test_content_hash_is_pinned():
    """sync_state keeps these hashes across runs and machines: a change of format re-sends
    every course once, so it must be deliberate (update this value and say so). The value is
    sha256 of the compact JSON ["0-410","k-1",{"a":"é","b":"2","c":""}], first 32 hex digits."""
    assert content_hash("0-410", "k-1", {"b": "2", "a": "é", "c": ""}) == "036b536e081cdcfb7643709d0b419dbd"


def test_string_at_the_limit_passes():
    assert len(to_hubspot_value("x" * MAX_STRING_LENGTH, STRING)) == MAX_STRING_LENGTH


SPECS = {
    "lms_key": PropertySpec("lms_key", "string", unique=True),
    "hs_course_name": PropertySpec("hs_course_name", "string"),
    "capacity": PropertySpec("capacity", "number", "number"),
    "level": LEVEL,
}
MAP_KW = dict(
    object_type="0-410",
    id_column="lms_key",
    id_property="lms_key",
    column_to_property={"lms_key": "lms_key", "name": "hs_course_name", "capacity": "capacity", "level": "level"},
    properties=SPECS,
    delete_columns=("deleted",),
)


def test_map_row_builds_input_with_key_and_renamed_columns():
    mapped = map_row({"lms_key": 101, "name": "Intro", "capacity": 30, "level": None, "extra": "x"}, **MAP_KW)
    assert isinstance(mapped, MappedRow)
    assert mapped.key == "101"
    assert mapped.properties == {"lms_key": "101", "hs_course_name": "Intro", "capacity": "30"}
    assert mapped.content_hash == content_hash("0-410", "101", mapped.properties)


@pytest.mark.parametrize("key", [None, "", "   ", float("nan"), True])
def test_map_row_rejects_missing_key(key):
    mapped = map_row({"lms_key": key, "name": "Intro"}, **MAP_KW)
    assert isinstance(mapped, Rejection)
    assert mapped.category == "MISSING_KEY"
    assert "lms_key" in mapped.message


def test_map_row_collects_every_coercion_problem():
    mapped = map_row({"lms_key": "k", "name": "ok", "capacity": "lots", "level": "expert"}, **MAP_KW)
    assert isinstance(mapped, Rejection)
    assert mapped.key == "k" and mapped.category == "COERCION_ERROR"
    assert "capacity:" in mapped.message and "level:" in mapped.message


def test_map_row_delete_flag_marks_archive():
    mapped = map_row({"lms_key": "k", "name": "x", "deleted": True}, **MAP_KW)
    assert isinstance(mapped, MappedRow) and mapped.archive


def test_content_hash_is_order_independent_and_value_sensitive():
    a = content_hash("0-410", "k", {"x": "1", "y": "2"})
    assert a == content_hash("0-410", "k", {"y": "2", "x": "1"})
    assert a != content_hash("0-410", "k", {"x": "1", "y": "3"})
    assert a != content_hash("0-410", "k2", {"x": "1", "y": "2"})


def test_plan_batch_last_row_of_a_key_wins_and_loser_is_recorded():
    rows = [
        {"lms_key": "a", "name": "first"},
        {"lms_key": "b", "name": "only"},
        {"lms_key": "a", "name": "second"},
        {"lms_key": None, "name": "nokey"},
        {"lms_key": "c", "name": "gone", "deleted": True},
    ]
    plan = plan_batch(rows, **MAP_KW)
    assert {r.key: r.properties["hs_course_name"] for r in plan.upserts} == {"a": "second", "b": "only"}
    assert [r.key for r in plan.archives] == ["c"]
    cats = sorted((r.category, r.key) for r in plan.rejections)
    assert cats == [("MISSING_KEY", None), ("SUPERSEDED", "a")]
    superseded = next(r for r in plan.rejections if r.category == "SUPERSEDED")
    assert superseded.source["name"] == "first"
    # every row is accounted for exactly once
    assert len(plan.upserts) + len(plan.archives) + len(plan.rejections) == len(rows)


def test_property_spec_from_hubspot_reads_read_only_and_options():
    spec = PropertySpec.from_hubspot({
        "name": "hs_object_id", "type": "number", "fieldType": "number",
        "modificationMetadata": {"readOnlyValue": True}, "options": [],
    })
    assert spec.read_only and spec.type == "number"
    enum = PropertySpec.from_hubspot({
        "name": "tags", "type": "enumeration", "fieldType": "checkbox", "hasUniqueValue": False,
        "options": [{"label": "Alpha", "value": "a", "hidden": False}],
    })
    assert enum.multi_select and enum.options == (("a", "Alpha"),)


@pytest.mark.parametrize(
    "dlt_type, expected",
    [("text", ("string", "text")), ("bigint", ("number", "number")), ("bool", ("bool", "booleancheckbox")),
     ("date", ("date", "date")), ("timestamp", ("datetime", "date")), ("json", ("string", "textarea")),
     (None, ("string", "text")), ("binary", ("string", "text"))],
)
def test_hubspot_type_for_dlt_column(dlt_type, expected):
    assert hubspot_type_for_dlt_column(dlt_type) == expected


def test_clear_nulls_sends_empty_string_for_none_but_not_for_variants_with_values():
    kw = {**MAP_KW, "column_to_property": {**MAP_KW["column_to_property"], "level▶v_text": "level"}}
    row = {"lms_key": "k", "name": None, "capacity": 3, "level▶v_text": "beginner"}
    kept = map_row(row, **kw)
    assert kept.properties == {"lms_key": "k", "capacity": "3", "level": "beginner"}
    cleared = map_row(row, clear_nulls=True, **kw)
    assert cleared.properties == {"lms_key": "k", "hs_course_name": "", "capacity": "3", "level": "beginner"}


def test_key_is_read_from_a_variant_column_when_the_id_column_is_empty():
    kw = {**MAP_KW, "column_to_property": {**MAP_KW["column_to_property"], "lms_key▶v_text": "lms_key"},
          "key_columns": ("lms_key", "lms_key▶v_text")}
    mapped = map_row({"lms_key▶v_text": "c-7", "name": "Intro"}, **kw)
    assert isinstance(mapped, MappedRow) and mapped.key == "c-7"
    assert mapped.properties == {"hs_course_name": "Intro", "lms_key": "c-7"}
    assert map_row({"lms_key": 7, "name": "Intro"}, **kw).key == "7"
    assert map_row({"name": "Intro"}, **kw).category == "MISSING_KEY"


def test_bytes_key_is_its_utf8_text_and_other_bytes_reject_the_row():
    mapped = map_row({"lms_key": b"k-\xc3\xa9", "name": b"Intro"}, **MAP_KW)
    assert isinstance(mapped, MappedRow) and mapped.key == "k-é"
    assert mapped.properties == {"hs_course_name": "Intro", "lms_key": "k-é"}
    bad = map_row({"lms_key": b"\xff\xfe", "name": "Intro"}, **MAP_KW)
    assert isinstance(bad, Rejection) and bad.category == "COERCION_ERROR"
    assert "lms_key" in bad.message and "bytes that are not valid UTF-8 text" in bad.message
    assert map_row({"lms_key": b"k", "name": "x", "deleted": b"false"}, **MAP_KW).archive is False
