"""Every HubSpot path the client calls, in one table keyed by API family.

HubSpot is moving from ``/crm/v3/...`` to date-versioned paths; a family is one set of
paths, so supporting another is one entry here (the client looks every path up by name).
Pure: no I/O.
"""

from __future__ import annotations

from typing import Mapping
from urllib.parse import quote

from ..errors import ConfigurationError

__all__ = ["ENDPOINTS", "DEFAULT_API_VERSION", "Endpoints", "fill"]

DEFAULT_API_VERSION = "v3"

ENDPOINTS: dict[str, dict[str, str]] = {
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
    },
}
"""Path templates by API family, then by endpoint name; ``{...}`` are path segments."""


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

    def path(self, endpoint: str, /, **segments: str) -> str:
        """The path of ``endpoint`` with its segments filled in (escaped); positional-only, so
        a segment may be called ``name``."""
        return fill(self._templates[endpoint], segments)

    def __repr__(self) -> str:
        return f"Endpoints({self.api_version!r})"
