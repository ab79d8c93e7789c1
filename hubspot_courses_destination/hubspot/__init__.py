"""The HubSpot API layer: everything that knows HubSpot's HTTP API, and nothing else.

The rest of the package (sync, preflight, replay) talks to HubSpot only through
:class:`HubSpotClient` and the row/outcome types exported here.
"""

from .client import BATCH_LIMIT, HubSpotClient
from .ratelimit import Rate, RateLimiter, limiter_for
from .endpoints import DEFAULT_API_VERSION, ENDPOINTS, Endpoints
from .matching import MISSING_FROM_RESPONSE
from .models import ClientStats, PropertyError, RowOutcome, UpsertResult, UpsertRow
from .retry import RetryPolicy
from .urls import api_base_url_problem
from .client import DEFAULT_API_BASE_URL

__all__ = [
    "HubSpotClient",
    "ClientStats",
    "UpsertResult",
    "UpsertRow",
    "RowOutcome",
    "PropertyError",
    "MISSING_FROM_RESPONSE",
    "RetryPolicy",
    "Rate",
    "RateLimiter",
    "limiter_for",
    "ENDPOINTS",
    "Endpoints",
    "DEFAULT_API_VERSION",
    "BATCH_LIMIT",
    "DEFAULT_API_BASE_URL",
    "api_base_url_problem",
]
