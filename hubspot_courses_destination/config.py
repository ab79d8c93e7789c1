"""Settings of the destination: defaults, validation, redaction.

dlt resolves each setting from explicit arguments, environment variables
(``DESTINATION__HUBSPOT_COURSES__<NAME>``), ``.dlt/secrets.toml`` and ``.dlt/config.toml``
(section ``[destination.hubspot_courses]``). ``DestinationSettings.from_values`` checks them
once, before any request, and fails with a message that says what to change.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field, fields
from typing import Any, Mapping, Sequence

from .hubspot import DEFAULT_API_BASE_URL
from .errors import ConfigurationError
from .hubspot.urls import api_base_url_problem

__all__ = [
    "COURSES_OBJECT_TYPE",
    "DEFAULT_API_BASE_URL",
    "DEFAULT_STAGING_PATH",
    "DEFAULT_PROPERTY_GROUP",
    "DestinationSettings",
]

COURSES_OBJECT_TYPE = "0-410"
DEFAULT_STAGING_PATH = "hubspot_courses_staging.duckdb"
DEFAULT_PROPERTY_GROUP = "course_information"
"""Group for properties we create. GUESS: the default course group's internal name is not
documented (hubspot-api.md §4); set ``property_group`` to a group your portal has."""

_PROPERTY_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_OBJECT_TYPE = re.compile(r"^(\d+-\d+|[a-z_]+)$")
_ENV_PREFIX = "DESTINATION__HUBSPOT_COURSES__"


@dataclass(frozen=True)
class DestinationSettings:
    """Everything one sync needs to know; ``access_token`` never shows in ``repr``."""

    access_token: str = field(repr=False)
    id_property: str
    api_base_url: str = DEFAULT_API_BASE_URL
    object_type: str = COURSES_OBJECT_TYPE
    staging_path: str = DEFAULT_STAGING_PATH
    property_map: Mapping[str, str] = field(default_factory=dict)
    exclude_columns: Sequence[str] = ()
    requests_per_10s: int = 100
    max_concurrency: int = 8
    create_missing_properties: bool = False
    property_group: str = DEFAULT_PROPERTY_GROUP
    full_resync: bool = False
    dry_run: bool = False
    rebuild_state: bool = True
    clear_nulls: bool = False

    @classmethod
    def from_values(cls, **values: Any) -> "DestinationSettings":
        """Build and validate; every problem is reported at once."""
        known = {f.name for f in fields(cls)}
        clean = {k: v for k, v in values.items() if k in known and v is not None}
        clean["property_map"] = dict(clean.get("property_map") or {})
        clean["exclude_columns"] = tuple(clean.get("exclude_columns") or ())
        problems = _validate(clean)
        if problems:
            raise ConfigurationError(
                "hubspot_courses destination is misconfigured:\n  - " + "\n  - ".join(problems)
            )
        return cls(**clean)

    @property
    def id_column(self) -> str:
        """The row column holding the key: mapped onto ``id_property``, else same name."""
        for column, prop in self.property_map.items():
            if prop == self.id_property:
                return column
        return self.id_property

    def cache_key(self) -> tuple[Any, ...]:
        """Hashable identity of these settings (``property_map`` is a dict)."""
        return tuple(
            tuple(sorted(v.items())) if isinstance(v, Mapping) else v
            for v in (getattr(self, f.name) for f in fields(self))
        )

    @property
    def token_fingerprint(self) -> str:
        """A short hash to tell tokens apart without revealing them."""
        return hashlib.sha256(self.access_token.encode("utf-8")).hexdigest()[:12]

    @property
    def portal_fingerprint(self) -> str:
        """Which portal and token a staging file's ``sync_state`` describes."""
        return hashlib.sha256(f"{self.api_base_url.rstrip('/')}\n{self.access_token}".encode("utf-8")).hexdigest()[:16]


def _validate(v: Mapping[str, Any]) -> list[str]:
    problems: list[str] = []
    token = v.get("access_token")
    if not token or not isinstance(token, str) or not token.strip():
        problems.append(
            "access_token is empty: set it in .dlt/secrets.toml under "
            f"[destination.hubspot_courses] or in the environment as {_ENV_PREFIX}ACCESS_TOKEN "
            "(a private app token with the crm.objects.courses.read/write scopes)"
        )
    elif token != token.strip() or any(c.isspace() for c in token):
        problems.append("access_token contains whitespace; copy the token again without spaces or newlines")
    id_property = v.get("id_property")
    if not id_property:
        problems.append(
            "id_property is not set: name the HubSpot property with unique values that keys "
            f"each course (config id_property, env {_ENV_PREFIX}ID_PROPERTY)"
        )
    elif not _PROPERTY_NAME.match(str(id_property)):
        problems.append(f"id_property {id_property!r} is not a HubSpot property name (lowercase, digits, _)")
    elif id_property == "hs_object_id":
        problems.append(
            "id_property cannot be hs_object_id: HubSpot upserts only by a property created with "
            "unique values (hubspot-api notes §1.6); use your LMS key property"
        )
    url_problem = api_base_url_problem(v.get("api_base_url", DEFAULT_API_BASE_URL))
    if url_problem:
        problems.append(url_problem)
    object_type = str(v.get("object_type", COURSES_OBJECT_TYPE))
    if not _OBJECT_TYPE.match(object_type):
        problems.append(f"object_type {object_type!r} is not an object type id like 0-410")
    for column, prop in dict(v.get("property_map") or {}).items():
        if not isinstance(prop, str) or not _PROPERTY_NAME.match(prop):
            problems.append(f"property_map[{column!r}] = {prop!r} is not a HubSpot property name")
    rate = v.get("requests_per_10s", 100)
    if not isinstance(rate, int) or isinstance(rate, bool) or not 1 <= rate <= 1000:
        problems.append(f"requests_per_10s must be an integer from 1 to 1000 (HubSpot tiers: 100, 190, 250), got {rate!r}")
    workers = v.get("max_concurrency", 8)
    if not isinstance(workers, int) or isinstance(workers, bool) or not 1 <= workers <= 64:
        problems.append(f"max_concurrency must be an integer from 1 to 64, got {workers!r}")
    if not str(v.get("staging_path", DEFAULT_STAGING_PATH)).strip():
        problems.append("staging_path is empty: give a file path for the staging DuckDB database")
    return problems


def settings_from_dlt_config(**overrides: Any) -> DestinationSettings:
    """Resolve settings the way the destination does, for tools run outside a pipeline
    (``python -m hubspot_courses_destination ...``): explicit overrides, then dlt's
    providers (environment, ``.dlt/secrets.toml``, ``.dlt/config.toml``), then defaults."""
    import dlt  # local: config stays importable without dlt's provider machinery

    values: dict[str, Any] = {}
    for f in fields(DestinationSettings):
        if overrides.get(f.name) is not None:
            values[f.name] = overrides[f.name]
            continue
        accessor = dlt.secrets if f.name == "access_token" else dlt.config
        found = accessor.get(f"destination.hubspot_courses.{f.name}")
        if found is not None:
            values[f.name] = found
    return DestinationSettings.from_values(**values)
