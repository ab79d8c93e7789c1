"""The Properties API for courses: the registry of definitions and its three endpoints.

docs/hubspot-behaviour.md, "Properties": list, read one, create (201). Definitions are
persisted in DuckDB next to the records, so a unique key property created once survives a
restart with `--db`.
"""

from __future__ import annotations

import threading
from typing import Any

from .bodies import ApiError, error_body, now_iso
from .catalog import (
    OBJECT_TYPE_ID,
    PropertyDef,
    apply_property_update,
    parse_property_create,
    seed_properties,
)
from .store import Store


class PropertyRegistry:
    """Thread-safe map of property name -> definition, seeded on first use of a database."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._lock = threading.Lock()
        defs = store.load_properties()
        if not defs:
            defs = seed_properties(now_iso())
            store.save_properties(defs.values())
        self._defs = defs
        store.set_unique_properties(self.unique_names())

    def get(self, name: str) -> PropertyDef | None:
        with self._lock:
            p = self._defs.get(name)
        return None if p is None or p.archived else p

    def snapshot(self) -> dict[str, PropertyDef]:
        """A consistent copy for validating one batch."""
        with self._lock:
            return {n: p for n, p in self._defs.items() if not p.archived}

    def unique_names(self) -> list[str]:
        return [p.name for p in self._defs.values() if p.has_unique_value and not p.archived]

    def create(self, body: Any) -> PropertyDef:
        """Validate and add a property; raises ApiError (400/409) like HubSpot would."""
        with self._lock:
            prop = parse_property_create(body, self._defs, now_iso())
            self._defs[prop.name] = prop
            self._store.save_properties([prop])
            unique = self.unique_names()
        if prop.has_unique_value:
            self._store.set_unique_properties(unique)
        return prop

    def update(self, name: str, body: Any) -> PropertyDef:
        """PATCH a property (docs/hubspot-behaviour.md, "Properties": PATCH -> 200); 404 if it
        does not exist."""
        with self._lock:
            current = self._defs.get(name)
            if current is None or current.archived:
                raise _property_not_found(name)
            prop = apply_property_update(current, body, now_iso())
            self._defs[name] = prop
            self._store.save_properties([prop])
        return prop

    # -- endpoints ----------------------------------------------------------------------------
    def list_json(self, archived: bool = False) -> dict[str, Any]:
        """`CollectionResponsePropertyNoPaging` (docs/hubspot-behaviour.md, "Properties");
        archived=true lists archived ones only."""
        with self._lock:
            results = [p.to_json() for p in self._defs.values() if p.archived == archived]
        return {"results": results}

    def get_json(self, name: str) -> dict[str, Any]:
        p = self.get(name)
        if p is None:
            raise _property_not_found(name)
        return p.to_json()


def _property_not_found(name: str) -> ApiError:
    # GUESS: status 404 is documented nowhere for properties; body wording invented.
    return ApiError(404, error_body(
        "OBJECT_NOT_FOUND", f"Unable to find property {name} for object type {OBJECT_TYPE_ID}",
        context={"propertyName": [name]},
    ))
