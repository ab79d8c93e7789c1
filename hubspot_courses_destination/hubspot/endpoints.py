"""Every HubSpot path the client calls, in one table keyed by API family.

HubSpot moved from ``/crm/v3/...`` to date-versioned paths (docs/hubspot-behaviour.md,
"API versions"); a family is one set of paths, so supporting another is one entry here (the
client looks every path up by name). Every family names the same endpoints; a family that has
no such endpoint would say so with ``None`` (ask :meth:`Endpoints.has` before calling it).
Pure: no I/O.
"""

from __future__ import annotations

from typing import Mapping
from urllib.parse import quote

from ..errors import ConfigurationError

__all__ = ["API_VERSIONS", "ENDPOINTS", "DEFAULT_API_VERSION", "Endpoints", "fill"]

DEFAULT_API_VERSION = "v3"
"""The client's family when none is given; the destination passes its ``api_version`` setting."""

ENDPOINTS: dict[str, dict[str, str | None]] = {
    "v3": {
        "batch_upsert": "/crm/v3/objects/{object_type}/batch/upsert",
        "batch_read": "/crm/v3/objects/{object_type}/batch/read",
        "batch_archive": "/crm/v3/objects/{object_type}/batch/archive",
        "list_objects": "/crm/v3/objects/{object_type}",
        # GET lists the definitions, POST creates one
        "properties": "/crm/v3/properties/{object_type}",
        "property": "/crm/v3/properties/{object_type}/{name}",
        "property_groups": "/crm/v3/properties/{object_type}/groups",
        "object_enablement": "/crm/v3/object-library/enablement/{object_type}",
        "account_details": "/account-info/v3/details",
        "property_validations": "/crm/v3/property-validations/{object_type}",
        "record_limits": "/crm/v3/limits/records",
        # associations are v4 in the legacy family (docs/hubspot-behaviour.md, "Associations v4")
        "association_batch_create": "/crm/v4/associations/{from_type}/{to_type}/batch/create",
        "association_batch_archive": "/crm/v4/associations/{from_type}/{to_type}/batch/archive",
        "association_labels": "/crm/v4/associations/{from_type}/{to_type}/labels",
    },
    # docs/hubspot-behaviour.md, "API versions": HubSpot's 2026-09 specs
    "2026-09": {
        "batch_upsert": "/crm/objects/2026-09/{object_type}/batch/upsert",
        "batch_read": "/crm/objects/2026-09/{object_type}/batch/read",
        "batch_archive": "/crm/objects/2026-09/{object_type}/batch/archive",
        "list_objects": "/crm/objects/2026-09/{object_type}",
        "properties": "/crm/properties/2026-09/{object_type}",
        "property": "/crm/properties/2026-09/{object_type}/{name}",
        "property_groups": "/crm/properties/2026-09/{object_type}/groups",
        # GUESS: no 2026-09 object-library spec was found; this follows the family's layout
        "object_enablement": "/crm/object-library/2026-09/enablement/{object_type}",
        "account_details": "/account-info/2026-09/details",
        "property_validations": "/crm/property-validations/2026-09/{object_type}",
        "record_limits": "/crm/limits/2026-09/records",
        "association_batch_create": "/crm/associations/2026-09/{from_type}/{to_type}/batch/create",
        "association_batch_archive": "/crm/associations/2026-09/{from_type}/{to_type}/batch/archive",
        # GUESS: the labels path follows the family's layout (the 2026-09 spec lists the batch paths)
        "association_labels": "/crm/associations/2026-09/{from_type}/{to_type}/labels",
    },
}
"""Path templates by API family, then by endpoint name; ``{...}`` are path segments."""

API_VERSIONS = tuple(ENDPOINTS)
"""The families the ``api_version`` setting accepts."""


def fill(template: str, segments: Mapping[str, str]) -> str:
    """A template with each ``{name}`` replaced by its value as one escaped path segment.

    Values are escaped completely (``/`` too), so an object type or property name can never
    reach another path.
    """
    return template.format_map({name: quote(str(value), safe="") for name, value in segments.items()})


class Endpoints:
    """The paths of one API family: ``Endpoints("v3").path("batch_upsert", object_type="0-410")``.

    Raises:
        ConfigurationError: for a family the table does not have.
    """

    __slots__ = ("api_version", "_templates")

    def __init__(self, api_version: str = DEFAULT_API_VERSION) -> None:
        templates = ENDPOINTS.get(api_version) if isinstance(api_version, str) else None
        if templates is None:
            raise ConfigurationError(
                f"api_version must be one of {', '.join(sorted(ENDPOINTS))}, got {api_version!r}"
            )
        self.api_version = api_version
        self._templates = templates

    def has(self, endpoint: str) -> bool:
        """Whether this family has ``endpoint`` (``None`` in the table: it has not)."""
        return self._templates.get(endpoint) is not None

    def path(self, endpoint: str, /, **segments: str) -> str:
        """The path of ``endpoint`` with its segments filled in (escaped); positional-only, so
        a segment may be called ``name``.

        Raises:
            ConfigurationError: the family has no such endpoint (see :meth:`has`).
        """
        template = self._templates[endpoint]
        if template is None:
            raise ConfigurationError(f"HubSpot API family {self.api_version!r} has no {endpoint} endpoint")
        return fill(template, segments)

    def __repr__(self) -> str:
        return f"Endpoints({self.api_version!r})"
