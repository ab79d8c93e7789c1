"""Preflight: make sure the portal can take the rows before the first write.

Checks, in order, with one request each: the object is activated, the property
definitions (the ``properties`` endpoint), the portal's property validation rules (the
``property_validations`` endpoint; a portal or token without them is logged once and the
load goes on), the id property exists with unique values, and every target property exists
and is writable. With
``create_missing_properties`` the missing ones are created (the id property as a unique
string); otherwise one error lists everything that is missing. No row is sent before this
passes, so a misconfigured portal costs a handful of requests, not a run of rejections.
"""

from __future__ import annotations

import logging
import threading
import difflib
import json
import re
from typing import Any, Callable, Mapping, Protocol

from .settings import DestinationSettings
from .errors import ObjectNotActivatedError, PreflightError
from .mapping import PropertySpec, hubspot_type_for_dlt_column
from .validation_rules import PropertyRules, compile_rules, parse_rules

__all__ = ["PropertyCatalog", "target_columns", "key_columns", "property_create_body"]

log = logging.getLogger(__name__)


class _PropertyClient(Protocol):
    def is_object_enabled(self, object_type: str) -> bool: ...
    def list_properties(self, object_type: str) -> list[dict[str, Any]]: ...
    def create_property(self, object_type: str, body: Mapping[str, Any]) -> dict[str, Any]: ...
    def list_property_groups(self, object_type: str) -> list[dict[str, Any]]: ...
    def property_validations(self, object_type: str) -> dict[str, list[dict[str, Any]]] | None: ...


def target_columns(
    columns: Mapping[str, Mapping[str, Any]], settings: DestinationSettings
) -> tuple[dict[str, str], list[str]]:
    """Split a dlt table's columns into (column -> property to send, delete-flag columns).

    Columns with dlt's ``hard_delete`` hint mark rows to archive and are never sent;
    ``exclude_columns`` are dropped; the rest map through ``property_map`` or keep their name.
    """
    send: dict[str, str] = {}
    delete_columns: list[str] = []
    excluded = set(settings.exclude_columns)
    for name, column in columns.items():
        base = _variant_base(name, column)
        if column.get("hard_delete"):
            delete_columns.append(name)
        elif base not in excluded:
            send[name] = settings.property_map.get(base, base)
    id_column = settings.id_column
    send.setdefault(id_column, settings.id_property)
    return send, delete_columns


def key_columns(columns: Mapping[str, Mapping[str, Any]], settings: DestinationSettings) -> tuple[str, ...]:
    """The id column, then its variant columns: once dlt has typed the key as a number, a
    later text key arrives in ``<id column>▶v_text`` and the id column itself is empty."""
    id_column = settings.id_column
    variants = (n for n, c in columns.items() if n != id_column and _variant_base(n, c) == id_column)
    return (id_column, *variants)


def _variant_base(name: str, column: Mapping[str, Any]) -> str:
    """dlt stores a value whose type differs from the column's in a variant column
    ``<name>▶v_<type>`` (e.g. a list in one row, text in another); it feeds the same property."""
    if column.get("variant") and "▶v_" in name:
        return name.rsplit("▶v_", 1)[0]
    return name


def _label(name: str) -> str:
    return name.replace("_", " ").strip().capitalize() or name


def property_create_body(
    name: str, dlt_type: str | None, group: str, *, unique: bool = False
) -> dict[str, Any]:
    """A ``POST /crm/v3/properties`` body for a property fed from a dlt column."""
    prop_type, field_type = ("string", "text") if unique else hubspot_type_for_dlt_column(dlt_type)
    body: dict[str, Any] = {
        "name": name,
        "label": _label(name),
        "type": prop_type,
        "fieldType": field_type,
        "groupName": group,
        "description": "Created by the hubspot_courses dlt destination.",
    }
    if unique:
        body["hasUniqueValue"] = True
    if prop_type == "bool":
        body["options"] = [
            {"label": "Yes", "value": "true", "displayOrder": 0, "hidden": False},
            {"label": "No", "value": "false", "displayOrder": 1, "hidden": False},
        ]
    return body


class PropertyCatalog:
    """The portal's property definitions for one object type, checked once per load.

    Shared by the load threads of a run: ``ensure`` is serialised so two tables never
    create the same property twice.
    """

    def __init__(
        self,
        client: _PropertyClient,
        settings: DestinationSettings,
        on_create: Callable[[PropertySpec], None] | None = None,
    ) -> None:
        self._client = client
        self._settings = settings
        self._on_create = on_create  # e.g. staging notes it, so the run summary lists it
        self._lock = threading.Lock()
        self._specs: dict[str, PropertySpec] | None = None
        self._rules: dict[str, PropertyRules] = {}
        self._checked: set[tuple[str, ...]] = set()
        self._group_checked = False

    def _load(self) -> dict[str, PropertySpec]:
        object_type = self._settings.object_type
        if not self._client.is_object_enabled(object_type):
            raise ObjectNotActivatedError(
                f"The Courses object ({object_type}) is not activated in this HubSpot portal. "
                "A Super Admin must turn it on in HubSpot (Settings > Data Management > Objects > "
                "Courses); it cannot be activated through the API. Then run the pipeline again."
            )
        specs = {p["name"]: PropertySpec.from_hubspot(p) for p in self._client.list_properties(object_type)}
        self._rules = self._load_rules(specs)
        return specs

    def _load_rules(self, specs: Mapping[str, PropertySpec]) -> dict[str, PropertyRules]:
        """The portal's validation rules, one request per object and load, compiled for the
        mapper (docs/hubspot-behaviour.md, "Property validation rules"). Without the endpoint
        or the scope (403/404) preflight says so once and goes on: HubSpot still applies the
        rules, and its per-row answers are recorded."""
        object_type = self._settings.object_type
        raw = self._client.property_validations(object_type)
        if raw is None:
            log.warning(
                "HubSpot did not give the property validation rules of %s (the portal has no "
                "such endpoint or the token lacks its scope): rows are checked against them by "
                "HubSpot only, so a dry run cannot predict those rejections", object_type,
            )
            return {}
        rules = {
            name: compile_rules(name, parse_rules(raw_rules), specs[name].type)
            for name, raw_rules in raw.items() if name in specs
        }
        for name, compiled in rules.items():
            if compiled.left_to_hubspot:
                log.debug(
                    "property %s: validation rules %s are left to HubSpot", name,
                    ", ".join(r.rule_type for r in compiled.left_to_hubspot),
                )
        return rules

    def validation_rules(self) -> dict[str, PropertyRules]:
        """The portal's validation rules by property (after :meth:`ensure`); empty when the
        portal did not give them."""
        with self._lock:
            return dict(self._rules)

    def ensure(self, columns: Mapping[str, Mapping[str, Any]]) -> dict[str, PropertySpec]:
        """Return the property specs, after checking (and maybe creating) what these columns need."""
        send, _ = target_columns(columns, self._settings)
        signature = tuple(sorted(send.items()))
        with self._lock:
            if self._specs is None:
                self._specs = self._load()
            if signature not in self._checked:
                self._check(send, columns)
                self._checked.add(signature)
            return self._specs

    def _check(self, send: Mapping[str, str], columns: Mapping[str, Mapping[str, Any]]) -> None:
        assert self._specs is not None
        s = self._settings
        specs = self._specs
        problems: list[str] = []
        invalid = {c: p for c, p in send.items() if p not in specs and not _HUBSPOT_NAME.match(p)}
        # a load that stops anyway creates nothing ("nothing was sent"); the rerun creates them
        can_create = s.create_missing_properties and not invalid
        id_spec = specs.get(s.id_property)
        if id_spec is None and can_create:
            id_spec = self._create(s.id_property, None, unique=True)
        if id_spec is None:
            if not s.create_missing_properties:  # else it is created by the rerun with fixed names
                problems.append(
                    f"id property {s.id_property!r} does not exist on {s.object_type}. Create it in "
                    "HubSpot as a single-line text property with 'Require unique values' on, or set "
                    "create_missing_properties = true to let the destination create it"
                )
        elif not id_spec.unique:
            problems.append(
                f"id property {s.id_property!r} exists but does not have unique values "
                "(hasUniqueValue=false); HubSpot upserts only by a unique-value property and "
                "uniqueness cannot be switched on later. Create a new unique property and set "
                "id_property to it"
            )
        if invalid:
            problems.append(_invalid_names_problem(invalid, s.object_type))
        missing = sorted({p for p in send.values() if p not in specs and p != s.id_property} - set(invalid.values()))
        by_property: dict[str, str] = {}
        for column_name, prop in send.items():  # the first column wins: variants come later
            by_property.setdefault(prop, column_name)
        if missing and s.create_missing_properties and invalid:
            missing = []  # created by the run after the names are fixed
        if missing and can_create:
            for name in missing:
                column = columns.get(by_property[name], {})
                self._create(name, column.get("data_type"))
            missing = []
        if missing:
            problems.append(
                f"these properties do not exist on {s.object_type}: {_with_suggestions(missing, specs)}. Create "
                "them in HubSpot, map the columns to existing properties with property_map, "
                f"drop them with exclude_columns = {_toml_list(by_property[m] for m in missing)}, or set "
                "create_missing_properties = true (all under [destination.hubspot_courses] in "
                ".dlt/config.toml)"
            )
        read_only = sorted(p for p in send.values() if p in specs and specs[p].read_only)
        if read_only:
            problems.append(
                f"these properties are read-only in HubSpot and cannot be written: "
                f"{', '.join(read_only)}; map the columns elsewhere or list them in exclude_columns"
            )
        if problems:
            raise PreflightError("HubSpot preflight failed, nothing was sent:\n  - " + "\n  - ".join(problems))

    def _check_group(self) -> None:
        """Fail before creating anything if ``property_group`` is not a group of the object
        (HubSpot refuses such a property; the default group's name is a documented guess)."""
        if self._group_checked:
            return
        group = self._settings.property_group
        names = sorted(g.get("name", "") for g in self._client.list_property_groups(self._settings.object_type))
        if group not in names:
            raise PreflightError(
                f"HubSpot preflight failed, nothing was sent: property_group {group!r} does not exist "
                f"on {self._settings.object_type}, so missing properties cannot be created there. "
                f"Set property_group to one of: {', '.join(names) or '(none listed)'}"
            )
        self._group_checked = True

    def _create(self, name: str, dlt_type: str | None, *, unique: bool = False) -> PropertySpec:
        assert self._specs is not None
        self._check_group()
        body = property_create_body(name, dlt_type, self._settings.property_group, unique=unique)
        if self._settings.dry_run:
            # a dry run writes nothing to HubSpot, not even a property: coerce as if created
            spec = PropertySpec.from_hubspot({**body, "hasUniqueValue": unique})
            log.info("dry run: would create HubSpot property %s (%s/%s)", spec.name, spec.type, spec.field_type)
        else:
            spec = PropertySpec.from_hubspot(self._client.create_property(self._settings.object_type, body))
            log.info("created HubSpot property %s (%s/%s)", spec.name, spec.type, spec.field_type)
        self._specs[spec.name] = spec
        if self._on_create is not None:
            self._on_create(spec)
        return spec


_HUBSPOT_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
"""HubSpot's internal property names: lowercase letters, digits and underscores, from a letter."""


def _with_suggestions(missing: list[str], specs: Mapping[str, PropertySpec]) -> str:
    """``hs_course_nmae (did you mean hs_course_name?)``: a misspelt column is the usual cause,
    and ``create_missing_properties`` would turn it into a new portal property."""
    out = []
    for name in missing:
        close = difflib.get_close_matches(name, list(specs), n=1, cutoff=0.8)
        out.append(f"{name} (did you mean {close[0]}?)" if close else name)
    return ", ".join(out)


def _toml_list(names: Any) -> str:
    return "[" + ", ".join(json.dumps(n, ensure_ascii=False) for n in names) + "]"


def _invalid_names_problem(invalid: Mapping[str, str], object_type: str) -> str:
    """What a column like ``Instructor Name`` needs: a mapping or an exclusion, spelled out."""
    first_column = next(iter(invalid))
    suggestion = re.sub(r"[^a-z0-9]+", "_", first_column.lower()).strip("_") or "my_property"
    if not suggestion[0].isalpha():
        suggestion = f"p_{suggestion}"
    return (
        f"these columns are not HubSpot property names (lowercase letters, digits and _, starting "
        f"with a letter), so they cannot be sent to {object_type} or created there: "
        f"{', '.join(repr(c) for c in invalid)}. Under [destination.hubspot_courses] in "
        f".dlt/config.toml, map them to properties, e.g. property_map = "
        f"{{ {json.dumps(first_column, ensure_ascii=False)} = \"{suggestion}\" }}, or skip them with "
        f"exclude_columns = {_toml_list(invalid)} (environment: "
        f"DESTINATION__HUBSPOT_COURSES__EXCLUDE_COLUMNS='{_toml_list(invalid)}')"
    )

