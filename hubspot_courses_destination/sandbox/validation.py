"""Pure validation of property values, by the target property's type.

Each check mirrors a documented HubSpot rule (docs/hubspot-behaviour.md, "Properties" and
"Value formats") and returns either the value to store or a `PropertyError` rendered in
HubSpot's `Property values were not valid` element shape ("Error bodies" there). No I/O
here, so the rules are unit-tested directly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any, Mapping

from .bodies import iso_from_datetime
from .catalog import PropertyDef

# docs/hubspot-behaviour.md, "Properties": "A plain text string, limited to 65,536 characters."
MAX_STRING_LENGTH = 65_536
# docs/hubspot-behaviour.md, "Properties": number is "numeric digits and at most one decimal";
# optional leading minus. GUESS: digits are required on both sides of the point ("5." and
# ".5" are refused: nothing documents them, so the stricter reading).
_NUMBER_RE = re.compile(r"^-?\d+(\.\d+)?$")
_DATE_RE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_EPOCH_RE = re.compile(r"^-?\d+$")
_MS_PER_DAY = 86_400_000


@dataclass(frozen=True)
class PropertyError:
    """One element of HubSpot's `Property values were not valid: [...]` array."""

    name: str
    code: str
    message: str

    def to_json(self, portal_id: int) -> dict[str, Any]:
        # Key order as in the documented example (docs/hubspot-behaviour.md, "Error bodies").
        return {
            "isValid": False,
            "message": self.message,
            "error": self.code,
            "name": self.name,
            "localizedErrorMessage": self.message,
            "portalId": portal_id,
        }

    def to_detail(self) -> dict[str, Any]:
        """The `ErrorDetail` form used in a top-level 400 body's errors[]
        (docs/hubspot-behaviour.md, "Error bodies")."""
        return {"message": self.message, "code": self.code, "context": {"propertyName": [self.name]}}


def unknown_property(name: str) -> PropertyError:
    # docs/hubspot-behaviour.md, "Error bodies" [DOC]: PROPERTY_DOESNT_EXIST, `Property
    # "missing" does not exist`.
    msg = f'Property "{name}" does not exist'
    return PropertyError(name, "PROPERTY_DOESNT_EXIST", msg)


def read_only(name: str) -> PropertyError:
    # docs/hubspot-behaviour.md, "Created, updated, cleared": read-only properties error, exact
    # error UNCONFIRMED.
    # GUESS: code READ_ONLY_VALUE and this message.
    return PropertyError(name, "READ_ONLY_VALUE", f"{name} is a read only property; its value cannot be set.")


def required_missing(name: str) -> PropertyError:
    # docs/hubspot-behaviour.md, "The Courses object": hs_course_name is required to create a
    # course.
    # GUESS: code REQUIRED_PROPERTY and message; the real error for a missing one is undocumented.
    return PropertyError(name, "REQUIRED_PROPERTY", f"{name} is required when creating a course")


def duplicate_unique_value(name: str, value: str, owner_id: str) -> PropertyError:
    # GUESS: HubSpot's error when a second record would take a unique property's value.
    return PropertyError(
        name, "DUPLICATE_UNIQUE_VALUE",
        f"{value} is already the value of unique property {name} on record {owner_id}",
    )


def _number(prop: PropertyDef, v: str) -> str | PropertyError:
    if _NUMBER_RE.match(v):
        return v  # GUESS: numbers are stored as sent (HubSpot may normalise, e.g. "50.0").
    # docs/hubspot-behaviour.md, "Error bodies": INVALID_INTEGER "discount was not a valid
    # number" [DOC]; newer upsert 207s read "Enter a numb…" [OBS]. GUESS: the exact message
    # text.
    return PropertyError(prop.name, "INVALID_INTEGER", f"{v} was not a valid number")


def _bool(prop: PropertyDef, v: str) -> str | PropertyError:
    # docs/hubspot-behaviour.md, "Value formats": send the strings "true"/"false".
    if v in ("true", "false"):
        return v
    # GUESS: code INVALID_BOOLEAN and message (docs/hubspot-behaviour.md, "Error bodies": bool
    # error code UNCONFIRMED); case-sensitive.
    return PropertyError(prop.name, "INVALID_BOOLEAN", f"{v} was not a valid boolean (true or false)")


def _parse_iso_date(v: str) -> date | None:
    m = _DATE_RE.match(v)
    if not m:
        return None
    try:
        return date(int(m[1]), int(m[2]), int(m[3]))
    except ValueError:
        return None


def _parse_iso_datetime(v: str) -> datetime | None:
    """ISO 8601 with a `Z` or an explicit offset; naive times are ambiguous and refused."""
    if "T" not in v:
        return None
    try:
        dt = datetime.fromisoformat(v[:-1] + "+00:00" if v.endswith(("Z", "z")) else v)
    except ValueError:
        return None
    return dt if dt.tzinfo is not None else None


def _date(prop: PropertyDef, v: str) -> str | PropertyError:
    # docs/hubspot-behaviour.md, "Value formats": ISO 8601 date or epoch milliseconds at
    # midnight UTC.
    d = _parse_iso_date(v)
    if d is not None:
        # GUESS: dates are returned as YYYY-MM-DD (docs/hubspot-behaviour.md, "Value formats").
        return d.isoformat()
    if _EPOCH_RE.match(v):
        ms = int(v)
        rem = ms % _MS_PER_DAY
        if rem:
            # docs/hubspot-behaviour.md, "Error bodies" [OBS]: "1786334400000 is at 4:0:0.0
            # UTC, not midnight!" (unpadded).
            h, rem = divmod(rem, 3_600_000)
            mi, rem = divmod(rem, 60_000)
            s, milli = divmod(rem, 1000)
            return PropertyError(prop.name, "INVALID_DATE", f"{v} is at {h}:{mi}:{s}.{milli} UTC, not midnight!")
        return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).date().isoformat()
    dt = _parse_iso_datetime(v)
    if dt is not None:
        utc = dt.astimezone(timezone.utc)
        if (utc.hour, utc.minute, utc.second, utc.microsecond) == (0, 0, 0, 0):
            return utc.date().isoformat()
        return PropertyError(
            prop.name, "INVALID_DATE",
            f"{v} is at {utc.hour}:{utc.minute}:{utc.second}.{utc.microsecond // 1000} UTC, not midnight!",
        )
    # GUESS: message for a date that is neither ISO nor epoch.
    return PropertyError(prop.name, "INVALID_DATE", f"{v} is not a valid date. Use YYYY-MM-DD or epoch milliseconds")


def _datetime(prop: PropertyDef, v: str) -> str | PropertyError:
    # docs/hubspot-behaviour.md, "Value formats": `YYYY-MM-DDThh:mm:ss.sssZ` or epoch milliseconds.
    if _EPOCH_RE.match(v):
        try:
            return iso_from_datetime(datetime.fromtimestamp(int(v) / 1000, tz=timezone.utc))
        except (OverflowError, OSError, ValueError):
            pass
    else:
        dt = _parse_iso_datetime(v)
        if dt is not None:
            return iso_from_datetime(dt)
    # GUESS: code INVALID_DATETIME and message (docs/hubspot-behaviour.md, "Error bodies": bad
    # datetime code UNCONFIRMED).
    return PropertyError(
        prop.name, "INVALID_DATETIME",
        f"{v} is not a valid datetime. Use ISO 8601 with a time zone or epoch milliseconds",
    )


def _invalid_option(prop: PropertyDef, v: str) -> PropertyError:
    # docs/hubspot-behaviour.md, "Error bodies" [OBS]: INVALID_OPTION "... was not one of the
    # allowed options: ...".
    # GUESS: how the list of allowed options is printed.
    allowed = ", ".join(prop.option_values())
    return PropertyError(prop.name, "INVALID_OPTION", f"{v} was not one of the allowed options: [{allowed}]")


def _enumeration(prop: PropertyDef, v: str, existing: str | None) -> str | PropertyError:
    allowed = prop.option_values()
    if not prop.is_multi_select:
        return v if v in allowed else _invalid_option(prop, v)
    # docs/hubspot-behaviour.md, "Value formats": multi-select values are `;`-joined; a leading
    # `;` appends to the existing value set, anything else replaces it.
    append = v.startswith(";")
    # GUESS: empty segments ("a;;b") are ignored rather than rejected.
    values = [s for s in v.split(";") if s]
    for s in values:
        if s not in allowed:
            return _invalid_option(prop, s)
    if append and existing:
        merged = [s for s in existing.split(";") if s]
        merged += [s for s in values if s not in merged]
        values = merged
    deduped: list[str] = []
    for s in values:
        if s not in deduped:
            deduped.append(s)
    return ";".join(deduped)


def validate_value(prop: PropertyDef, raw: Any, existing: str | None = None) -> str | PropertyError:
    """The value to store for `prop` (normalised), or why HubSpot would refuse it.

    `""` clears a property (docs/hubspot-behaviour.md, "Created, updated, cleared") and is
    always accepted on writable properties. `existing` is the stored value, needed for the
    multi-select append rule.
    """
    if not prop.writable:
        return read_only(prop.name)
    if not isinstance(raw, str):
        # docs/hubspot-behaviour.md, "Strings only": values are strings in HubSpot's schema;
        # numbers, booleans and null are refused (objects.py refuses them for the whole
        # request first). GUESS: code and message.
        return PropertyError(prop.name, "INVALID_PROPERTY_VALUE", f"{prop.name} must be a string value")
    value = raw
    if value == "":
        return ""
    if prop.type in ("string", "phone_number"):
        if len(value) > MAX_STRING_LENGTH:
            # docs/hubspot-behaviour.md, "Properties": over-length error UNCONFIRMED.
            # GUESS: code INVALID_STRING_LENGTH and message.
            return PropertyError(
                prop.name, "INVALID_STRING_LENGTH",
                f"{prop.name} has {len(value)} characters, over the limit of {MAX_STRING_LENGTH}",
            )
        return value
    if prop.type == "number":
        return _number(prop, value)
    if prop.type == "bool":
        return _bool(prop, value)
    if prop.type == "date":
        return _date(prop, value)
    if prop.type == "datetime":
        return _datetime(prop, value)
    if prop.type == "enumeration":
        return _enumeration(prop, value, existing)
    return value


def validate_properties(
    values: Mapping[str, Any],
    catalog: Mapping[str, PropertyDef],
    existing: Mapping[str, str] | None = None,
) -> tuple[dict[str, str], list[PropertyError]]:
    """Validate one input's `properties`: (normalised values, errors in input order)."""
    out: dict[str, str] = {}
    errors: list[PropertyError] = []
    existing = existing or {}
    for name, raw in values.items():
        prop = catalog.get(name)
        if prop is None or prop.archived:
            errors.append(unknown_property(name))
            continue
        result = validate_value(prop, raw, existing.get(name))
        if isinstance(result, PropertyError):
            errors.append(result)
        else:
            out[name] = result
    return out, errors
