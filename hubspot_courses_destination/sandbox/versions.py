"""HubSpot's two path families, served over one portal.

docs/hubspot-behaviour.md, "API paths": the legacy family (`/crm/v3/...`, `/crm/v4/...`,
`/account-info/v3/...`) and the date-versioned one (`/crm/objects/2026-09/...`,
`/account-info/2026-09/...`), whose request and response schemas are the same. `split_family`
names a request's family and spells its path the legacy way, so the router has one table.
"""

from __future__ import annotations

import re

LEGACY = "v3"
DATED = "2026-09"
FAMILIES = (LEGACY, DATED)

_LEGACY_RE = re.compile(r"^/(crm/v[34]|account-info/v3)(/|$)")
# /crm/{area}/2026-09/rest -> /crm/v3/{area}/rest; /account-info/2026-09/rest -> /account-info/v3/rest.
# GUESS: object-library enablement sits at /crm/object-library/2026-09/enablement/{objectType}
# (no source gives its 2026-09 path; this follows the family's /crm/{area}/{version} layout).
_DATED_CRM_RE = re.compile(r"^/crm/([a-z-]+)/2026-09(/.*)?$")
_DATED_ACCOUNT_RE = re.compile(r"^/account-info/2026-09(/.*)?$")
# The legacy version of each area, where it is not v3: associations were v4
# (docs/hubspot-behaviour.md, "API paths": /crm/associations/2026-09/... replaces /crm/v4/associations/...).
_LEGACY_VERSION = {"associations": "v4"}


def split_family(path: str) -> tuple[str | None, str]:
    """(family or None if the path is in neither, the path in legacy spelling)."""
    if _LEGACY_RE.match(path):
        return LEGACY, path
    if m := _DATED_CRM_RE.match(path):
        return DATED, f"/crm/{_LEGACY_VERSION.get(m[1], 'v3')}/{m[1]}{m[2] or ''}"
    if m := _DATED_ACCOUNT_RE.match(path):
        return DATED, f"/account-info/v3{m[1] or ''}"
    return None, path
