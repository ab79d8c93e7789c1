"""Pure functions that turn a dlt row into a HubSpot upsert input. No I/O here.

Coercion follows the *target property's* HubSpot type (fetched once by the preflight), not
the Python type of the value: the same ``"2024-05-01"`` is a date for a ``date`` property
and plain text for a ``string`` one. A value that cannot be coerced rejects its row locally
with a reason, so no request is spent on something HubSpot would refuse
(docs/hubspot-behaviour.md, "Value formats" has the formats).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timezone
from decimal import Decimal, InvalidOperation
from typing import Any, Callable, Iterable, Mapping, Sequence

import orjson

from .outcomes import Rejection
from .validation_rules import VALIDATION_CATEGORY, PropertyRules, rule_code

__all__ = [
    "MAX_STRING_LENGTH",
    "PropertySpec",
    "CoercionError",
    "MappedRow",
    "Rejection",
    "BatchPlan",
    "to_hubspot_value",
    "value_coercer",
    "RowMapper",
    "map_row",
    "plan_batch",
    "content_hash",
    "CONTENT_HASH_FORMAT",
    "hubspot_type_for_dlt_column",
]

MAX_STRING_LENGTH = 65_536
"""HubSpot: "A plain text string, limited to 65,536 characters"
(docs/hubspot-behaviour.md, "Properties")."""

_EPOCH_MS_THRESHOLD = 100_000_000_000
"""Integers at or above this are epoch milliseconds, below it epoch seconds.

1e11 s is the year 5138 and 1e11 ms is March 1973, so every realistic course date falls on
one side only. Moodle stores seconds; HubSpot and JavaScript exports store milliseconds.
"""

_EPOCH_MIN = 1_000_000_000
"""Smaller numbers are not taken as epochs (1e9 s is September 2001): ``2024`` or
``20240101`` from a SIS export would otherwise become a day in 1970 without a word."""

_NUMBER_RE = re.compile(r"^-?(\d+(\.\d*)?|\.\d+)$")
_TRUE_STRINGS = frozenset({"true", "yes", "y", "1", "on"})
_FALSE_STRINGS = frozenset({"false", "no", "n", "0", "off"})


@dataclass(frozen=True)
class PropertySpec:
    """What the mapper needs to know about one HubSpot property."""

    name: str
    type: str  # bool, date, datetime, enumeration, number, phone_number, string
    field_type: str = "text"
    options: tuple[tuple[str, str], ...] = ()  # (value, label)
    read_only: bool = False
    unique: bool = False

    @property
    def multi_select(self) -> bool:
        return self.type == "enumeration" and self.field_type == "checkbox"

    @classmethod
    def from_hubspot(cls, prop: Mapping[str, Any]) -> "PropertySpec":
        """Build from a ``GET /crm/v3/properties/{objectType}`` result."""
        meta = prop.get("modificationMetadata") or {}
        return cls(
            name=prop["name"],
            type=prop.get("type", "string"),
            field_type=prop.get("fieldType", "text"),
            options=tuple(
                (str(o.get("value")), str(o.get("label", o.get("value"))))
                for o in prop.get("options") or ()
            ),
            read_only=bool(meta.get("readOnlyValue")) or bool(prop.get("calculated")),
            unique=bool(prop.get("hasUniqueValue")),
        )


class CoercionError(ValueError):
    """A value cannot be written to its property; the message says why."""


# --------------------------------------------------------------------------- values


def to_hubspot_value(value: Any, prop: PropertySpec) -> str | None:
    """Coerce one Python value to the string HubSpot expects for ``prop``.

    Returns None when the property should be left out of the input (the value is None),
    ``""`` to clear it. Raises ``CoercionError`` when the value does not fit the type.

    ``bytes`` (dlt's ``binary`` columns) are taken as UTF-8 text and then coerced like any
    string; bytes that are not valid UTF-8 are rejected rather than sent as their Python
    repr (``"b'caf\\xc3\\xa9'"``). Binary data meant for HubSpot must be encoded as text
    (e.g. base64) in the source.
    """
    if value is None:
        return None
    if isinstance(value, (bytes, bytearray)):
        value = _bytes_text(value)
    if isinstance(value, str) and value == "":
        # HubSpot: an empty string clears the property
        # (docs/hubspot-behaviour.md, "Created, updated, cleared")
        return ""
    kind = prop.type
    if kind == "number":
        return _to_number(value)
    if kind == "bool":
        return _to_bool(value)
    if kind == "date":
        return _to_date(value)
    if kind == "datetime":
        return _to_datetime(value)
    if kind == "enumeration":
        if prop.multi_select:
            return _to_multi_select(value, prop)
        return _to_option(value, prop)
    return _to_string(value)


def _bytes_text(value: bytes | bytearray) -> str:
    try:
        return bytes(value).decode("utf-8")
    except UnicodeDecodeError:
        raise CoercionError(
            f"{_preview(value)} is bytes that are not valid UTF-8 text; encode binary data as "
            "text (e.g. base64) in the source"
        ) from None


def _json_default(value: Any) -> Any:
    """Nested values json cannot write: bytes as their UTF-8 text, anything else as ``str``."""
    return _bytes_text(value) if isinstance(value, (bytes, bytearray)) else str(value)


def _to_string(value: Any) -> str:
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, str):
        text = value
    elif isinstance(value, datetime):
        text = _iso_utc(value)
    elif isinstance(value, date):
        text = value.isoformat()
    elif isinstance(value, (dict, list, tuple)):
        text = json.dumps(value, ensure_ascii=False, sort_keys=True, default=_json_default)
    elif isinstance(value, float):
        text = _to_number(value)
    elif isinstance(value, Decimal):
        text = _to_number(value)
    else:
        text = str(value)
    if len(text) > MAX_STRING_LENGTH:
        raise CoercionError(
            f"text is {len(text):,} characters; HubSpot string properties hold at most "
            f"{MAX_STRING_LENGTH:,}"
        )
    return text


def _to_number(value: Any) -> str:
    if isinstance(value, bool):
        raise CoercionError(f"{value!r} is a boolean, not a number")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise CoercionError(f"{value!r} is not a finite number")
        return _plain_decimal(Decimal(repr(value)))
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise CoercionError(f"{value} is not a finite number")
        return _plain_decimal(value)
    if isinstance(value, str):
        text = value.strip()
        if _NUMBER_RE.match(text):
            return text
        try:
            dec = Decimal(text)
        except InvalidOperation:
            raise CoercionError(f"{_preview(value)} is not a number") from None
        if not dec.is_finite():
            raise CoercionError(f"{_preview(value)} is not a finite number")
        return _plain_decimal(dec)
    raise CoercionError(f"{type(value).__name__} value cannot be written to a number property")


def _plain_decimal(dec: Decimal) -> str:
    """Fixed-point text without exponent or trailing zeros: HubSpot wants digits and one dot."""
    text = format(dec, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _to_bool(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int) and value in (0, 1):
        return "true" if value else "false"
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE_STRINGS:
            return "true"
        if text in _FALSE_STRINGS:
            return "false"
    raise CoercionError(f"{_preview(value)} is not a boolean (use true/false)")


def _number_to_temporal(value: int | float | Decimal) -> date | datetime:
    """An 8-digit number is a compact ``YYYYMMDD`` date; a large one an epoch; else an error."""
    if isinstance(value, int) and 19000101 <= value <= 29991231:
        try:
            return datetime.strptime(str(value), "%Y%m%d").date()
        except ValueError:
            pass
    if value < _EPOCH_MIN:
        raise CoercionError(
            f"{value!r} is neither an epoch timestamp (seconds or milliseconds) nor a YYYYMMDD date"
        )
    return _epoch_to_datetime(float(value) if isinstance(value, Decimal) else value)


def _epoch_to_datetime(value: int | float) -> datetime:
    seconds = value / 1000 if abs(value) >= _EPOCH_MS_THRESHOLD else value
    try:
        return datetime.fromtimestamp(seconds, tz=timezone.utc)
    except (OverflowError, OSError, ValueError):
        raise CoercionError(f"{value!r} is not a valid epoch timestamp") from None


def _parse_temporal(value: Any) -> date | datetime:
    """Accept date/datetime objects, epoch numbers and ISO 8601 text."""
    if isinstance(value, (datetime, date)):
        return value
    if isinstance(value, bool):
        raise CoercionError(f"{value!r} is not a date")
    if isinstance(value, (int, float, Decimal)):
        return _number_to_temporal(value)
    if isinstance(value, str):
        text = value.strip()
        if text.isdigit():
            return _number_to_temporal(int(text))
        try:
            if len(text) == 10:
                return date.fromisoformat(text)
            return datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            raise CoercionError(f"{_preview(value)} is not an ISO 8601 date or datetime") from None
    raise CoercionError(f"{type(value).__name__} value is not a date")


def _as_utc(dt: datetime) -> datetime:
    """Naive datetimes are taken as UTC (dlt delivers timestamps tz-aware already)."""
    return dt.replace(tzinfo=timezone.utc) if dt.tzinfo is None else dt.astimezone(timezone.utc)


def _iso_utc(dt: datetime) -> str:
    return _as_utc(dt).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _to_date(value: Any) -> str:
    """Date properties store a calendar day as midnight UTC
    (docs/hubspot-behaviour.md, "Value formats"): send ``YYYY-MM-DD``.

    A datetime is reduced to its UTC calendar day; sending its epoch instead would be
    rejected with INVALID_DATE "... not midnight!".
    """
    parsed = _parse_temporal(value)
    if isinstance(parsed, datetime):
        parsed = _as_utc(parsed).date()
    return parsed.isoformat()


def _to_datetime(value: Any) -> str:
    parsed = _parse_temporal(value)
    if not isinstance(parsed, datetime):
        parsed = datetime.combine(parsed, time.min, tzinfo=timezone.utc)
    return _iso_utc(parsed)


def _match_option(raw: Any, prop: PropertySpec) -> str:
    """Option values are what HubSpot stores; a label that matches maps to its value."""
    if isinstance(raw, bool):
        text = _to_bool(raw)
    elif isinstance(raw, (bytes, bytearray)):  # an item of a multi-select list
        text = _bytes_text(raw).strip()
    else:
        text = str(raw).strip()
    values = {v for v, _ in prop.options}
    if text in values:
        return text
    folded = text.casefold()
    for opt_value, label in prop.options:
        if label.casefold() == folded or opt_value.casefold() == folded:
            return opt_value
    allowed = ", ".join(sorted(values)[:20]) + (" ..." if len(values) > 20 else "")
    raise CoercionError(f"{_preview(raw)} is not one of the options of {prop.name}: [{allowed}]")


def _to_option(value: Any, prop: PropertySpec) -> str:
    if isinstance(value, (list, tuple, set, dict)):
        raise CoercionError(f"{prop.name} takes a single option, got a {type(value).__name__}")
    return _match_option(value, prop)


def _to_multi_select(value: Any, prop: PropertySpec) -> str:
    """Lists replace the selection; a string keeps HubSpot's own `;` syntax.

    A string with a leading ``;`` *appends* in HubSpot
    (docs/hubspot-behaviour.md, "Value formats"); we keep that prefix as the caller wrote it,
    and never add one on our own.
    """
    prefix = ""
    if isinstance(value, str):
        prefix = ";" if value.startswith(";") else ""
        parts: Iterable[Any] = [p for p in value.split(";") if p.strip()]
    elif isinstance(value, (list, tuple, set)):
        parts = value
    else:
        parts = [value]
    mapped: list[str] = []
    for part in parts:
        opt = _match_option(part, prop)
        if opt not in mapped:
            mapped.append(opt)
    return prefix + ";".join(mapped)


def _preview(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


Coercer = Callable[[Any], "str | None"]


def value_coercer(prop: PropertySpec) -> Coercer:
    """``to_hubspot_value`` bound to one property, with its most common input answered first.

    A batch coerces the same column thousands of times; deciding the property's type once
    and handling the value a dlt column usually delivers (``str`` for text and options,
    ``int`` for numbers, ``date``/aware ``datetime`` for dates) without the general dispatch
    halves the mapper's cost. Every other value takes the general path, so the result is
    always what ``to_hubspot_value`` returns (tests compare the two).
    """
    kind = prop.type

    def general(value: Any) -> str | None:
        return to_hubspot_value(value, prop)

    if kind == "string":

        def coerce(value: Any) -> str | None:
            if type(value) is str and len(value) <= MAX_STRING_LENGTH:
                return value
            return general(value)

    elif kind == "number":

        def coerce(value: Any) -> str | None:
            return str(value) if type(value) is int else general(value)

    elif kind == "date":

        def coerce(value: Any) -> str | None:
            return value.isoformat() if type(value) is date else general(value)

    elif kind == "datetime":

        def coerce(value: Any) -> str | None:
            if type(value) is datetime and value.tzinfo is timezone.utc:
                return value.isoformat(timespec="milliseconds").replace("+00:00", "Z")
            return general(value)

    elif kind == "enumeration" and not prop.multi_select:
        values = frozenset(v for v, _ in prop.options)

        def coerce(value: Any) -> str | None:
            if type(value) is str:
                text = value.strip()
                if text in values:
                    return text
            return general(value)

    else:
        return general
    return coerce


# --------------------------------------------------------------------------- rows


# one per row: slots and no frozen __init__ (object.__setattr__ per field made it 5x slower)
@dataclass(slots=True)
class MappedRow:
    """One row ready to send: the unique key, the coerced properties and their hash."""

    key: str
    properties: dict[str, str]
    content_hash: str
    source: Mapping[str, Any]
    archive: bool = False


@dataclass
class BatchPlan:
    """What one dlt batch turns into, before any request."""

    upserts: list[MappedRow] = field(default_factory=list)
    archives: list[MappedRow] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)


CONTENT_HASH_FORMAT = "2"
"""Stored with ``sync_state``; when it changes, older hashes cannot be compared with new ones.

1: sha256 of ``json.dumps([object_type, key, sorted items])``. 2: the same list with the
properties as an object, serialised by orjson with sorted keys.
"""


def content_hash(object_type: str, key: str, properties: Mapping[str, str]) -> str:
    """Stable hash of what would be sent: same properties, same hash, on any machine.

    orjson's output is canonical for these inputs (strings only, keys sorted by orjson) and
    ~15x faster than ``json.dumps``, which cost more than the rest of a row's mapping.
    """
    props = properties if type(properties) is dict else dict(properties)
    payload = orjson.dumps([object_type, key, props], option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(payload).hexdigest()[:32]


def _key_text(value: Any) -> str | None:
    """The key as text; None if there is none. Raises ``CoercionError`` for bytes that are
    not UTF-8 (a key made of their repr would never match the source again)."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (bytes, bytearray)):
        value = _bytes_text(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        text = _plain_decimal(Decimal(repr(value)))
    elif isinstance(value, Decimal):
        text = _plain_decimal(value) if value.is_finite() else ""
    else:
        text = str(value).strip()
    return text or None


class RowMapper:
    """``map_row`` with its settings bound and each column's coercer chosen once per batch."""

    def __init__(
        self,
        *,
        object_type: str,
        id_column: str,
        id_property: str,
        column_to_property: Mapping[str, str],
        properties: Mapping[str, PropertySpec],
        delete_columns: Sequence[str] = (),
        clear_nulls: bool = False,
        key_columns: Sequence[str] = (),
        rules: Mapping[str, PropertyRules] | None = None,
    ) -> None:
        self.object_type = object_type
        self.id_column = id_column
        # the id column and its dlt variants (properties.key_columns); a row fills one of them
        self.key_columns = tuple(key_columns) or (id_column,)
        self.id_property = id_property
        self.delete_columns = tuple(delete_columns)
        self.clear_nulls = clear_nulls
        # (column, property, coercer); None: the property does not exist (preflight prevents it)
        self.columns: list[tuple[str, str, Coercer | None]] = [
            (column, name, value_coercer(properties[name]) if name in properties else None)
            for column, name in column_to_property.items()
        ]
        # the portal's validation rules this mapper can decide, for the properties it sends
        sent = set(column_to_property.values()) | {id_property}
        self.rule_checks: list[tuple[str, PropertyRules]] = [
            (name, r) for name, r in (rules or {}).items() if name in sent and r.checks
        ]

    def _key(self, row: Mapping[str, Any]) -> str | None:
        for column in self.key_columns:
            value = row.get(column)
            if value is not None:
                return _key_text(value)
        return None

    def __call__(self, row: Mapping[str, Any]) -> MappedRow | Rejection:
        try:
            key = self._key(row)
        except CoercionError as exc:
            return Rejection(
                None, "COERCION_ERROR", "INVALID_VALUE",
                f"column {self.id_column!r} (id property {self.id_property!r}): {exc}", row,
            )
        if key is None:
            return Rejection(
                None, "MISSING_KEY", "MISSING_KEY",
                f"column {self.id_column!r} (id property {self.id_property!r}) is empty", row,
            )
        if self.delete_columns and any(_truthy(row.get(c)) for c in self.delete_columns):
            return MappedRow(key, {}, "", row, archive=True)
        out: dict[str, str] = {}
        problems: list[tuple[str, str]] = []  # (property, what is wrong)
        clear_nulls = self.clear_nulls
        get = row.get
        for column, prop_name, coerce in self.columns:
            value = get(column)
            if value is None:
                if clear_nulls and prop_name not in out:
                    out[prop_name] = ""
                continue
            if coerce is None:
                problems.append((prop_name, "property does not exist in HubSpot"))
                continue
            try:
                coerced = coerce(value)
            except CoercionError as exc:
                problems.append((prop_name, str(exc)))
                continue
            if coerced is not None and (coerced != "" or prop_name not in out):
                out[prop_name] = coerced
        if problems:
            at_fault = [{"name": name, "code": "INVALID_VALUE", "message": text} for name, text in problems]
            message = "; ".join(f"{name}: {text}" for name, text in problems)
            return Rejection(key, "COERCION_ERROR", "INVALID_VALUE", message, row, at_fault)
        out.pop(self.id_property, None)
        out[self.id_property] = key
        if self.rule_checks:
            broken = self._broken_rules(out)
            if broken:
                return Rejection(
                    key, VALIDATION_CATEGORY, broken[0]["code"], "; ".join(b["message"] for b in broken), row, broken
                )
        return MappedRow(key, out, content_hash(self.object_type, key, out), row)

    def _broken_rules(self, values: Mapping[str, str]) -> list[dict[str, str]]:
        """The portal's validation rules these values break, as property errors
        (``RULE_<ruleType>``, the reason naming the rule and the property)."""
        broken: list[dict[str, str]] = []
        for name, prop_rules in self.rule_checks:
            value = values.get(name)
            if not value:
                continue
            for rule, problem in prop_rules.violations(value):
                broken.append({"name": name, "code": rule_code(rule.rule_type), "message": prop_rules.reason(rule, problem)})
        return broken


def map_row(row: Mapping[str, Any], **mapper_kwargs: Any) -> MappedRow | Rejection:
    """Turn one dlt row into an upsert input, or say why it cannot be sent.

    ``column_to_property`` lists the columns to send (the id column included, so the key is
    also written to the id property on create); other columns are not sent. The key is the
    first value found in ``key_columns`` (the id column and its dlt variant columns). A None leaves
    the property untouched in HubSpot, or clears it (``""``) with ``clear_nulls``. Coercion
    errors are collected for every property so one rejection names all of them. Keyword
    arguments are those of :class:`RowMapper`; batches build one mapper for all rows.
    """
    return RowMapper(**mapper_kwargs)(row)


def _truthy(value: Any) -> bool:
    if isinstance(value, (bytes, bytearray)):  # b"false" is a non-empty, so truthy, object
        value = bytes(value).decode("utf-8", "replace")
    if isinstance(value, str):
        return value.strip().lower() in _TRUE_STRINGS
    return bool(value)


def plan_batch(rows: Iterable[Mapping[str, Any]], **map_kwargs: Any) -> BatchPlan:
    """Map every row; within the batch the last row of a key wins, earlier ones are recorded.

    HubSpot fails a whole batch on duplicate ids (docs/hubspot-behaviour.md, "Duplicate ids"),
    so duplicates never reach it.
    """
    plan = BatchPlan()
    winners: dict[str, MappedRow] = {}
    mapper = RowMapper(**map_kwargs)
    for row in rows:
        mapped = mapper(row)
        if isinstance(mapped, Rejection):
            plan.rejections.append(mapped)
            continue
        previous = winners.pop(mapped.key, None)
        if previous is not None:
            plan.rejections.append(
                Rejection(
                    previous.key, "SUPERSEDED", "DUPLICATE_KEY",
                    "a later row in the same batch has the same key; the later row was sent",
                    previous.source, resolved=True,
                )
            )
        winners[mapped.key] = mapped  # re-inserted: dict order follows the last occurrence
    for mapped in winners.values():
        (plan.archives if mapped.archive else plan.upserts).append(mapped)
    return plan


# --------------------------------------------------------------------------- property creation

_DLT_TO_HUBSPOT: dict[str, tuple[str, str]] = {
    "text": ("string", "text"),
    "bigint": ("number", "number"),
    "double": ("number", "number"),
    "decimal": ("number", "number"),
    "wei": ("number", "number"),
    "bool": ("bool", "booleancheckbox"),
    "date": ("date", "date"),
    "timestamp": ("datetime", "date"),
    "json": ("string", "textarea"),
}


def hubspot_type_for_dlt_column(data_type: str | None) -> tuple[str, str]:
    """(type, fieldType) for a property created from a dlt column; text when unsure."""
    return _DLT_TO_HUBSPOT.get(data_type or "text", ("string", "text"))
