"""A HubSpot-compatible Courses (0-410) server on 127.0.0.1, backed by DuckDB.

For tests, demos and users' CI, where no HubSpot portal is reachable. See docs/internals.md
("Sandbox") for the contract and hubspot-api.md for the behaviour each rule copies.
"""

from .app import ALL_SCOPES, DEFAULT_PORTAL_ID, DEFAULT_TOKEN, RequestLogEntry, Sandbox
from .faults import FAULT_KINDS, FaultInjector

__all__ = [
    "ALL_SCOPES",
    "DEFAULT_PORTAL_ID",
    "DEFAULT_TOKEN",
    "FAULT_KINDS",
    "FaultInjector",
    "RequestLogEntry",
    "Sandbox",
]
