"""The HubSpot API layer: everything that knows HubSpot's HTTP API, and nothing else.

The rest of the package (sync, preflight, replay) talks to HubSpot only through
:class:`HubSpotClient` and the types exported here. Inside, by concern:

- ``endpoints``: the one table of paths, by API family;
- ``models``: rows, requests, per-row outcomes, counters (plain data);
- ``bodies``: request bodies built, response bodies decoded (orjson);
- ``classify``: the one response classifier, rate-limit headers, exceptions from verdicts;
- ``matching``: upsert answers matched to inputs, property errors parsed;
- ``retry`` / ``ratelimit``: how long to wait, and the shared per-portal budget;
- ``daily_budget``: the run's share of the portal's daily requests (``daily_budget_share``);
- ``urls``: where the token may be sent;
- ``client``: ``HubSpotClient``, the transport (session, auth, the send loop).
"""

from .bodies import BATCH_LIMIT
from .client import HubSpotClient
from .daily_budget import BudgetSnapshot, DailyBudget
from .endpoints import DEFAULT_API_VERSION, ENDPOINTS, Endpoints
from .matching import MISSING_FROM_RESPONSE
from .models import ClientStats, PropertyError, RowOutcome, UpsertResult, UpsertRow
from .ratelimit import Rate, RateLimiter
from .retry import RetryPolicy
from .urls import DEFAULT_API_BASE_URL, api_base_url_problem

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
    "DailyBudget",
    "BudgetSnapshot",
    "ENDPOINTS",
    "Endpoints",
    "DEFAULT_API_VERSION",
    "BATCH_LIMIT",
    "DEFAULT_API_BASE_URL",
    "api_base_url_problem",
]
