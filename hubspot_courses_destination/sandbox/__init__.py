"""A HubSpot-compatible Courses (0-410) server on 127.0.0.1, backed by DuckDB.

For tests, demos and users' CI, where no HubSpot portal is reachable. See docs/internals.md
("Sandbox") for the contract and docs/hubspot-behaviour.md for the behaviour each rule copies.

Layers, each importing only those below it: `Sandbox` (app.py) owns the portal's state and
starts/stops `server.py`'s HTTP transport around `SandboxApi` (api.py), which answers requests
from the business rules (objects.py, properties_api.py, validation.py, store.py). server.py
and api.py meet only in exchange.py's request/response types. Nothing here imports the
connector.
"""

from .app import DEFAULT_PORTAL_ID, DEFAULT_TOKEN, Sandbox
from .faults import FAULT_KINDS, FaultInjector
from .requestlog import RequestLogEntry
from .tokens import ALL_SCOPES

__all__ = [
    "ALL_SCOPES",
    "DEFAULT_PORTAL_ID",
    "DEFAULT_TOKEN",
    "FAULT_KINDS",
    "FaultInjector",
    "RequestLogEntry",
    "Sandbox",
]
