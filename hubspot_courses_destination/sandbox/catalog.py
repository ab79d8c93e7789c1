"""Property definitions of the Courses object: the seed, creation rules and HubSpot's JSON shape.

The sandbox validates every written value against these definitions, so their types decide what
an upsert accepts (docs/hubspot-behaviour.md, "Properties" and "The Courses object"). The seed
is deliberately small: only the properties HubSpot's docs confirm
(docs/hubspot-behaviour.md, "The Courses object"), plus the system properties every object has.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Mapping

from .bodies import ApiError, error_body

OBJECT_TYPE_ID = "0-410"
# docs/hubspot-behaviour.md, "API paths" ("the courses guide also uses `courses` as a name on
# object paths").
OBJECT_TYPE_ALIASES = frozenset({"0-410", "courses"})

# docs/hubspot-behaviour.md, "Properties": valid fieldType values for each type.
VALID_FIELD_TYPES: dict[str, frozenset[str]] = {
    "string": frozenset({"text", "textarea", "html", "phonenumber", "file", "calculation_equation"}),
    "number": frozenset({"number", "calculation_equation"}),
    "date": frozenset({"date"}),
    "datetime": frozenset({"date"}),
    "bool": frozenset({"booleancheckbox", "calculation_equation"}),
    "enumeration": frozenset({"booleancheckbox", "checkbox", "radio", "select", "calculation_equation"}),
    # GUESS: the table in docs/hubspot-behaviour.md, "Properties" lists no pairs for
    # phone_number; HubSpot's own phone fields use phonenumber.
    "phone_number": frozenset({"phonenumber"}),
}

# GUESS: HubSpot documents no internal-name rule (docs/hubspot-behaviour.md, "Properties").
PROPERTY_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")
# docs/hubspot-behaviour.md, "Properties": "You can have up to ten unique ID properties per object."
MAX_UNIQUE_PROPERTIES = 10
# GUESS: the group name of the default course properties is not documented.
DEFAULT_GROUP = "course_information"
# GUESS: the property groups a portal's Courses object starts with (GET .../groups,
# docs/hubspot-behaviour.md, "Properties").
PROPERTY_GROUPS: tuple[dict[str, Any], ...] = (
    {"name": DEFAULT_GROUP, "label": "Course information", "displayOrder": -1, "archived": False},
)


@dataclass
class PropertyDef:
    """One property of the Courses object, as the Properties API describes it."""

    name: str
    label: str
    type: str
    field_type: str
    group_name: str = DEFAULT_GROUP
    description: str = ""
    options: list[dict[str, Any]] = field(default_factory=list)
    has_unique_value: bool = False
    hubspot_defined: bool = False
    read_only_value: bool = False
    read_only_definition: bool = False
    calculated: bool = False
    display_order: int = -1
    hidden: bool = False
    form_field: bool = True
    created_at: str = ""
    updated_at: str = ""
    archived: bool = False

    @property
    def is_multi_select(self) -> bool:
        """Multi-select checkboxes take `;`-joined values
        (docs/hubspot-behaviour.md, "Value formats")."""
        return self.type == "enumeration" and self.field_type == "checkbox"

    @property
    def writable(self) -> bool:
        return not (self.read_only_value or self.calculated)

    def option_values(self) -> list[str]:
        return [str(o["value"]) for o in self.options]

    def to_json(self) -> dict[str, Any]:
        """HubSpot's `Property` shape (docs/hubspot-behaviour.md, "Properties", [SPEC]
        Properties v3)."""
        body: dict[str, Any] = {
            "updatedAt": self.updated_at,
            "createdAt": self.created_at,
            "name": self.name,
            "label": self.label,
            "type": self.type,
            "fieldType": self.field_type,
            "description": self.description,
            "groupName": self.group_name,
            "options": [dict(o) for o in self.options],
            "displayOrder": self.display_order,
            "calculated": self.calculated,
            "externalOptions": False,
            "hasUniqueValue": self.has_unique_value,
            "hidden": self.hidden,
            "hubspotDefined": self.hubspot_defined,
            "modificationMetadata": {
                "archivable": not self.hubspot_defined,
                "readOnlyDefinition": self.read_only_definition,
                "readOnlyValue": self.read_only_value,
            },
            "formField": self.form_field,
            "archived": self.archived,
        }
        if self.type == "date":
            body["dateDisplayHint"] = "absolute"
        return body

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "PropertyDef":
        """Inverse of `to_json`, used to reload definitions persisted in DuckDB."""
        meta = data.get("modificationMetadata") or {}
        return cls(
            name=data["name"],
            label=data.get("label", data["name"]),
            type=data["type"],
            field_type=data["fieldType"],
            group_name=data.get("groupName", DEFAULT_GROUP),
            description=data.get("description", ""),
            options=list(data.get("options") or []),
            has_unique_value=bool(data.get("hasUniqueValue", False)),
            hubspot_defined=bool(data.get("hubspotDefined", False)),
            read_only_value=bool(meta.get("readOnlyValue", False)),
            read_only_definition=bool(meta.get("readOnlyDefinition", False)),
            calculated=bool(data.get("calculated", False)),
            display_order=int(data.get("displayOrder", -1)),
            hidden=bool(data.get("hidden", False)),
            form_field=bool(data.get("formField", True)),
            created_at=data.get("createdAt", ""),
            updated_at=data.get("updatedAt", ""),
            archived=bool(data.get("archived", False)),
        )


def _option(label: str, value: str, order: int) -> dict[str, Any]:
    return {"label": label, "value": value, "displayOrder": order, "hidden": False}


def seed_properties(now: str) -> dict[str, PropertyDef]:
    """The default course properties (docs/hubspot-behaviour.md, "The Courses object").

    hs_course_id is seeded as a plain string: whether it has hasUniqueValue is UNCONFIRMED
    (docs/hubspot-behaviour.md, "The Courses object"), so it must not be usable as an
    idProperty here.
    """
    def hs(name: str, label: str, type_: str, field_type: str, **kw: Any) -> PropertyDef:
        return PropertyDef(
            name=name, label=label, type=type_, field_type=field_type, hubspot_defined=True,
            read_only_definition=True, created_at=now, updated_at=now, **kw,
        )

    props = [
        # docs/hubspot-behaviour.md, "The Courses object": types from one real portal's course
        # schema [OBS].
        hs("hs_course_name", "Course Name", "string", "text", display_order=1),
        hs("hs_course_id", "Course ID", "string", "text", display_order=2),
        hs("hs_course_description", "Course Description", "string", "textarea", display_order=3),
        hs("hs_enrollment_capacity", "Enrollment Capacity", "number", "number", display_order=4),
        # docs/hubspot-behaviour.md, "The Courses object": hs_pipeline / hs_pipeline_stage are
        # enumeration/select.
        # GUESS: the option values are portal-specific and not documented; these are invented.
        hs("hs_pipeline", "Pipeline", "enumeration", "select",
           options=[_option("Courses Pipeline", "default", 0)]),
        hs("hs_pipeline_stage", "Pipeline Stage", "enumeration", "select",
           options=[_option("Planned", "planned", 0), _option("Open for enrollment", "open", 1),
                    _option("In progress", "in_progress", 2), _option("Completed", "completed", 3),
                    _option("Cancelled", "cancelled", 4)]),
        # docs/hubspot-behaviour.md, "The Courses object": system properties "assumed as on
        # every object"; read-only (docs/hubspot-behaviour.md, "Created, updated, cleared").
        hs("hs_object_id", "Record ID", "number", "number", read_only_value=True, form_field=False),
        hs("hs_createdate", "Create Date", "datetime", "date", read_only_value=True, form_field=False),
        hs("hs_lastmodifieddate", "Last Modified Date", "datetime", "date", read_only_value=True,
           form_field=False),
    ]
    return {p.name: p for p in props}


def _bad_request(message: str) -> ApiError:
    return ApiError(400, error_body("VALIDATION_ERROR", message))


def _parse_options(name: str, options_in: Any) -> list[dict[str, Any]]:
    """`OptionInput` list -> stored options; label and value are required strings
    (docs/hubspot-behaviour.md, "Properties")."""
    if not isinstance(options_in, list):
        raise _bad_request(f"Options of property {name} must be a list")
    options = []
    for i, opt in enumerate(options_in):
        if not isinstance(opt, dict) or not isinstance(opt.get("label"), str) \
                or not isinstance(opt.get("value"), str):
            raise _bad_request(f"Option {i} of property {name} needs a string label and value")
        options.append({
            "label": opt["label"], "value": opt["value"],
            "displayOrder": int(opt.get("displayOrder", i)), "hidden": bool(opt.get("hidden", False)),
            **({"description": opt["description"]} if "description" in opt else {}),
        })
    return options


def apply_property_update(prop: PropertyDef, body: Any, now: str) -> PropertyDef:
    """Apply a `PropertyUpdate` (PATCH, docs/hubspot-behaviour.md, "Properties") to a copy of
    `prop`.

    GUESS: HubSpot-defined definitions refuse changes except options; hasUniqueValue "can't be
    changed" (docs/hubspot-behaviour.md, "Properties") so it is refused; the messages are invented.
    """
    if not isinstance(body, dict):
        raise _bad_request("Invalid input JSON: expected an object")
    if "hasUniqueValue" in body and bool(body["hasUniqueValue"]) != prop.has_unique_value:
        raise _bad_request(f"hasUniqueValue of property {prop.name} cannot be changed once set")
    allowed = {"options"} if prop.read_only_definition else {
        "label", "description", "groupName", "options", "displayOrder", "hidden", "formField", "type", "fieldType",
    }
    refused = sorted(set(body) - allowed - {"hasUniqueValue"})
    if refused:
        raise _bad_request(f"Cannot update {refused} of property {prop.name}")
    new = PropertyDef(**{**prop.__dict__, "options": list(prop.options)})
    new.label = str(body.get("label", new.label))
    new.description = str(body.get("description", new.description))
    new.group_name = str(body.get("groupName", new.group_name))
    new.display_order = int(body.get("displayOrder", new.display_order))
    new.hidden = bool(body.get("hidden", new.hidden))
    new.form_field = bool(body.get("formField", new.form_field))
    new.type = str(body.get("type", new.type))
    new.field_type = str(body.get("fieldType", new.field_type))
    if new.type not in VALID_FIELD_TYPES or new.field_type not in VALID_FIELD_TYPES[new.type]:
        raise _bad_request(f"fieldType {new.field_type!r} is not valid for type {new.type!r}")
    if "options" in body:
        new.options = _parse_options(prop.name, body["options"])  # the list is replaced
    if new.type == "enumeration" and not new.options:
        raise _bad_request(f"Options are required for enumeration property {prop.name}")
    new.updated_at = now
    return new


def parse_property_create(
    body: Any, existing: Mapping[str, PropertyDef], now: str
) -> PropertyDef:
    """Validate a `PropertyCreate` body (docs/hubspot-behaviour.md, "Properties") and build the
    new definition.

    Raises ApiError with HubSpot-like bodies; every message text here is a GUESS.
    """
    if not isinstance(body, dict):
        raise _bad_request("Invalid input JSON: expected an object")
    # docs/hubspot-behaviour.md, "Properties": required name, label, type, fieldType, groupName.
    missing = [k for k in ("name", "label", "type", "fieldType", "groupName")
               if not isinstance(body.get(k), str) or not body.get(k)]
    if missing:
        # GUESS: wording modelled on HubSpot's Immutables-style input errors.
        raise _bad_request(
            "Invalid input JSON on line 1, column 1: Cannot build PropertyCreate, some of required"
            f" attributes are not set {missing}".replace("'", "")
        )
    name, type_, field_type = body["name"], body["type"], body["fieldType"]
    if body["groupName"] not in {g["name"] for g in PROPERTY_GROUPS}:
        # GUESS: HubSpot refuses an unknown groupName; the wording is ours
        # (docs/hubspot-behaviour.md, "Properties").
        raise _bad_request(f"Property group {body['groupName']!r} does not exist for object type 0-410")
    if not PROPERTY_NAME_RE.match(name):
        # GUESS: name rule and message (docs/hubspot-behaviour.md, "Properties").
        raise _bad_request(
            f"Property name {name!r} is invalid: use lower-case letters, digits and underscores,"
            " starting with a letter"
        )
    if type_ not in VALID_FIELD_TYPES:
        raise _bad_request(
            f"Invalid type {type_!r}; must be one of {sorted(VALID_FIELD_TYPES)}"  # GUESS: message
        )
    if field_type not in VALID_FIELD_TYPES[type_]:
        # Valid pairs: docs/hubspot-behaviour.md, "Properties". GUESS: message.
        raise _bad_request(
            f"fieldType {field_type!r} is not valid for type {type_!r};"
            f" valid field types are {sorted(VALID_FIELD_TYPES[type_])}"
        )
    options_in = body.get("options") or []
    if type_ == "enumeration" and not options_in:
        # docs/hubspot-behaviour.md, "Properties": options "required for enumerated
        # properties". GUESS: message.
        raise _bad_request(f"Options are required for enumeration property {name}")
    options = _parse_options(name, options_in)
    if name in existing:
        # GUESS: 409 for a duplicate name (docs/hubspot-behaviour.md, "Properties");
        # category CONFLICT as in docs/hubspot-behaviour.md, "Error bodies".
        raise ApiError(409, error_body(
            "CONFLICT", f"A property named '{name}' already exists for object type {OBJECT_TYPE_ID}."
        ))
    unique = bool(body.get("hasUniqueValue", False))
    if unique and sum(1 for p in existing.values() if p.has_unique_value) >= MAX_UNIQUE_PROPERTIES:
        # docs/hubspot-behaviour.md, "Properties": at most ten unique properties per object.
        # GUESS: status and message.
        raise _bad_request(
            f"Cannot create property {name}: the object type {OBJECT_TYPE_ID} already has the maximum"
            f" of {MAX_UNIQUE_PROPERTIES} unique value properties"
        )
    calculated = field_type == "calculation_equation"
    return PropertyDef(
        name=name, label=body["label"], type=type_, field_type=field_type,
        group_name=body["groupName"], description=str(body.get("description") or ""),
        options=options, has_unique_value=unique, hubspot_defined=False, calculated=calculated,
        read_only_value=calculated, display_order=int(body.get("displayOrder", -1)),
        hidden=bool(body.get("hidden", False)), form_field=bool(body.get("formField", False)),
        created_at=now, updated_at=now,
    )
