"""Every setting of the destination, its default and its check, in one dlt ``@configspec``.

dlt resolves the spec the way it resolves any destination's: explicit arguments to
``hubspot_courses(...)``, environment variables ``DESTINATION__HUBSPOT_COURSES__<NAME>``,
``.dlt/secrets.toml``, ``.dlt/config.toml`` (section ``[destination.hubspot_courses]``),
then the defaults below. ``on_resolved`` checks the values once, so everything past this
module (the session, the HubSpot client) receives settings that are already valid.
Tools that run outside a pipeline (the job, ``python -m hubspot_courses_destination``) call
:func:`resolve_settings`, which goes through the same resolution.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import os
import re
from typing import Any, Dict, List, Mapping, Optional

from dlt.common.configuration import configspec, resolve_configuration
from dlt.common.typing import TSecretStrValue
from dlt.destinations.impl.destination.configuration import CustomDestinationClientConfiguration

from .errors import ConfigurationError
from .hubspot.daily_budget import DEFAULT_DAILY_BUDGET_SHARE
from .hubspot.endpoints import API_VERSIONS
from .hubspot.tokens import TOKEN_ENV, TOKEN_KEY, token_problem
from .hubspot.urls import DEFAULT_API_BASE_URL, api_base_url_problem

__all__ = [
    "COURSES_OBJECT_TYPE",
    "DEFAULT_API_BASE_URL",
    "DEFAULT_API_VERSION",
    "DEFAULT_PROPERTY_GROUP",
    "DEFAULT_STAGING_PATH",
    "DESTINATION_NAME",
    "DestinationSettings",
    "HubSpotCoursesConfiguration",
    "SECTION",
    "TOKEN_ENV",
    "TOKEN_KEY",
    "resolve_settings",
    "token_configured",
]

DESTINATION_NAME = "hubspot_courses"
SECTION = f"destination.{DESTINATION_NAME}"
"""The config section: ``[destination.hubspot_courses]`` in ``.dlt/*.toml``."""
ENV_PREFIX = "DESTINATION__HUBSPOT_COURSES__"

COURSES_OBJECT_TYPE = "0-410"
DEFAULT_STAGING_PATH = "hubspot_courses_staging.duckdb"
DEFAULT_PROPERTY_GROUP = "course_information"
"""Group for properties we create. GUESS: the default course group's internal name is not
documented (docs/hubspot-behaviour.md); set ``property_group`` to a group your portal has."""

DEFAULT_API_VERSION = "2026-09"
"""The HubSpot API family a pipeline calls unless ``api_version`` says otherwise. HubSpot tells
new integrations to use the latest date version (docs/hubspot-behaviour.md, "API versions");
the sandbox serves both families."""

_PROPERTY_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_OBJECT_TYPE = re.compile(r"^(\d+-\d+|[a-z_]+)$")


@configspec
class HubSpotCoursesConfiguration(CustomDestinationClientConfiguration):
    """The destination's settings; ``access_token`` never shows in ``repr`` or logs."""

    access_token: Optional[TSecretStrValue] = dataclasses.field(default=None, repr=False)
    id_property: Optional[str] = None
    api_base_url: str = DEFAULT_API_BASE_URL
    api_version: str = DEFAULT_API_VERSION
    object_type: str = COURSES_OBJECT_TYPE
    staging_path: str = DEFAULT_STAGING_PATH
    property_map: Optional[Dict[str, str]] = None
    exclude_columns: Optional[List[str]] = None
    requests_per_10s: int = 100
    max_concurrency: int = 8
    rate_limit_control: str = "congestion"
    shared_budget_dir: str = ""
    """Folder of the machine-wide burst ledger ("": the system temp dir; "off": none)."""
    create_missing_properties: bool = False
    property_group: str = DEFAULT_PROPERTY_GROUP
    full_resync: bool = False
    dry_run: bool = False
    rebuild_state: bool = True
    clear_nulls: bool = False
    daily_budget_share: Any = DEFAULT_DAILY_BUDGET_SHARE  # float or "50%": dlt takes no Union hint
    """The most of the portal's remaining daily requests one run may spend (0 < x <= 1), a
    fraction (``0.5``) or a percent (``"50%"``, as ``--mirror-max-share`` takes); a float after
    resolving."""
    # issue 15: rows of this table are enrollments (README "Enrollments")
    enrollments_table: str = "enrollments"
    enrollments_wait_s: float = 120.0

    def on_resolved(self) -> None:
        """Normalise, then check every value at once; one error lists everything to change."""
        self.property_map = dict(self.property_map or {})
        self.exclude_columns = list(self.exclude_columns or [])
        self.daily_budget_share = share_value(self.daily_budget_share)
        problems = validation_problems(self)
        if problems:
            raise ConfigurationError("hubspot_courses destination is misconfigured:\n  - " + "\n  - ".join(problems))

    @classmethod
    def from_values(cls, **values: Any) -> "HubSpotCoursesConfiguration":
        """Settings from explicit values only (no dlt providers), checked like a resolve."""
        names = {f.name for f in dataclasses.fields(cls) if f.init}
        settings = cls()
        for name, value in values.items():
            if name in names and value is not None:
                setattr(settings, name, value)
        settings.on_resolved()
        return settings

    def replace(self, **changes: Any) -> "HubSpotCoursesConfiguration":
        """A copy with some values changed (e.g. a replay forces ``full_resync``)."""
        clone = copy.copy(self)
        for name, value in changes.items():
            setattr(clone, name, value)
        clone.on_resolved()
        return clone

    @property
    def id_column(self) -> str:
        """The row column holding the key: mapped onto ``id_property``, else same name."""
        for column, prop in (self.property_map or {}).items():
            if prop == self.id_property:
                return column
        return str(self.id_property)

    def session_key(self) -> tuple[Any, ...]:
        """What one session stands for: a portal (API and token), an object type and a staging
        file, with the settings that change how rows are mapped and sent."""
        return tuple(
            tuple(sorted(v.items())) if isinstance(v, Mapping) else tuple(v) if isinstance(v, list) else v
            for v in (getattr(self, name) for name in _SETTING_NAMES)
        )

    @property
    def token_fingerprint(self) -> str:
        """A short hash to tell tokens apart without revealing them."""
        return hashlib.sha256(str(self.access_token).encode("utf-8")).hexdigest()[:12]

    @property
    def portal_fingerprint(self) -> str:
        """Which portal and token a staging file's ``sync_state`` describes."""
        text = f"{self.api_base_url.rstrip('/')}\n{self.access_token}"
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]

    def __repr__(self) -> str:
        shown = ", ".join(f"{n}={getattr(self, n)!r}" for n in _SETTING_NAMES if n != "access_token")
        return f"HubSpotCoursesConfiguration(access_token={'***' if self.access_token else None}, {shown})"


_SETTING_NAMES = tuple(
    f.name for f in dataclasses.fields(HubSpotCoursesConfiguration)
    if f.name not in {f2.name for f2 in dataclasses.fields(CustomDestinationClientConfiguration)}
)
"""The destination's own settings (not dlt's loader_file_format, batch_size, ...)."""

DestinationSettings = HubSpotCoursesConfiguration
"""The name of the 0.1 release, kept for code that imports it."""


def share_value(value: Any) -> Any:
    """A share as a float: ``0.5``, ``"0.5"`` or ``"50%"``; anything else is left for the check."""
    if isinstance(value, str):
        text = value.strip()
        try:
            return float(text[:-1]) / 100 if text.endswith("%") else float(text)
        except ValueError:
            return value
    return value


def validation_problems(s: HubSpotCoursesConfiguration) -> list[str]:
    """Every problem of these settings, each with what to change (never the token itself)."""
    problems: list[str] = []
    token_issue = token_problem(s.access_token)
    if token_issue:
        problems.append(token_issue)
    id_property = s.id_property
    if not id_property:
        problems.append(
            "id_property is not set: name the HubSpot property with unique values that keys "
            f"each course (config id_property, env {ENV_PREFIX}ID_PROPERTY)"
        )
    elif not _PROPERTY_NAME.match(str(id_property)):
        problems.append(f"id_property {id_property!r} is not a HubSpot property name (lowercase, digits, _)")
    elif id_property == "hs_object_id":
        problems.append(
            "id_property cannot be hs_object_id: HubSpot upserts only by a property created with "
            "unique values (docs/hubspot-behaviour.md); use your LMS key property"
        )
    url_problem = api_base_url_problem(s.api_base_url)
    if url_problem:
        problems.append(url_problem)
    if s.api_version not in API_VERSIONS:
        problems.append(
            f"api_version {s.api_version!r} is not a HubSpot API family this destination knows: set "
            f"api_version to \"2026-09\" (HubSpot's date version, recommended) or \"v3\" (HubSpot's legacy "
            f"paths, unsupported by HubSpot from September 2027) (config api_version, env {ENV_PREFIX}API_VERSION)"
        )
    if not _OBJECT_TYPE.match(str(s.object_type)):
        problems.append(f"object_type {s.object_type!r} is not an object type id like 0-410")
    for column, prop in dict(s.property_map or {}).items():
        if not isinstance(prop, str) or not _PROPERTY_NAME.match(prop):
            problems.append(f"property_map[{column!r}] = {prop!r} is not a HubSpot property name")
    rate = s.requests_per_10s
    if not isinstance(rate, int) or isinstance(rate, bool) or not 1 <= rate <= 1000:
        problems.append(f"requests_per_10s must be an integer from 1 to 1000 (HubSpot tiers: 100, 190, 250), got {rate!r}")
    workers = s.max_concurrency
    if not isinstance(workers, int) or isinstance(workers, bool) or not 1 <= workers <= 64:
        problems.append(f"max_concurrency must be an integer from 1 to 64, got {workers!r}")
    if s.rate_limit_control not in ("congestion", "solo"):
        problems.append(
            f"rate_limit_control must be \"congestion\" (share the burst limit with other processes on the "
            f"token, the default) or \"solo\" (this process is the token's only user), got {s.rate_limit_control!r}"
        )
    ledger_dir = s.shared_budget_dir
    if not isinstance(ledger_dir, str) or (ledger_dir.strip().lower() != "off" and os.path.isfile(ledger_dir)):
        problems.append(f"shared_budget_dir must be a folder (\"\": the system temp dir) or \"off\", got "
                        f"{ledger_dir!r} (config shared_budget_dir, env {ENV_PREFIX}SHARED_BUDGET_DIR)")
    share = s.daily_budget_share
    if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 < share <= 1:
        problems.append(
            f"daily_budget_share must be a fraction 0 < x <= 1 such as 0.5, or a percent such as \"50%\" "
            f"(the part of the portal's remaining daily HubSpot requests one run may spend), got {share!r} (config daily_budget_share, "
            f"env {ENV_PREFIX}DAILY_BUDGET_SHARE)"
        )
    if not isinstance(s.enrollments_table, str) or not s.enrollments_table.strip():
        problems.append("enrollments_table is empty: name the dlt table whose rows are enrollments (default \"enrollments\")")
    wait = s.enrollments_wait_s
    if isinstance(wait, bool) or not isinstance(wait, (int, float)) or not 0 <= wait <= 3600:
        problems.append(f"enrollments_wait_s must be a number of seconds from 0 to 3600, got {wait!r}")
    if not str(s.staging_path or "").strip():
        problems.append("staging_path is empty: give a file path for the staging DuckDB database")
    return problems


def token_configured() -> bool:
    """Whether any dlt provider (environment, secrets.toml, a vault) holds the token.

    A ``[destination.hubspot_courses]`` section without ``access_token`` is a typo, not "no
    token": it raises, so a tool that falls back to the sandbox without a token does not do
    so by mistake. A secrets file that does not parse raises dlt's ConfigProviderException.
    """
    import dlt

    if dlt.secrets.get(TOKEN_KEY):
        return True
    section = dlt.secrets.get(SECTION)
    if section:
        raise ConfigurationError(
            f"the secrets have a [{SECTION}] section ({', '.join(sorted(section))}) but no "
            "access_token: check the key's spelling, or remove the section to use the sandbox"
        )
    return False


def resolve_settings(**explicit: Any) -> HubSpotCoursesConfiguration:
    """Resolve the settings as the destination does, for tools run outside a pipeline:
    ``explicit`` values, then dlt's providers (environment, secrets.toml, config.toml), then
    the defaults. ``None`` values count as not given."""
    given = {k: v for k, v in explicit.items() if v is not None}
    return resolve_configuration(
        HubSpotCoursesConfiguration(), sections=("destination", DESTINATION_NAME), explicit_value=given
    )
