"""A dlt destination that upserts course rows into HubSpot's Courses object (0-410).

    import dlt
    from hubspot_courses_destination import hubspot_courses

    pipeline = dlt.pipeline("lms_to_hubspot", destination=hubspot_courses(id_property="lms_course_key"))

Nothing is imported lazily and nothing happens at import time; the sandbox lives in
``hubspot_courses_destination.sandbox`` and is only imported when used.
"""

from .destination import BATCH_SIZE, hubspot_courses
from .mirror import MirrorResult, archive_missing
from .replay import ReplayResult, replay_rejections
from .session import check_portal, close_sessions, daily_budget_of
from .settings import SECTION, TOKEN_ENV, TOKEN_KEY, HubSpotCoursesConfiguration, resolve_settings, token_configured
from .staging import Staging
from .errors import (
    AuthenticationError,
    ConfigurationError,
    DailyBudgetReachedError,
    DailyLimitExceededError,
    HubSpotError,
    HubSpotTerminalError,
    HubSpotTransientError,
    MissingScopesError,
    ObjectNotActivatedError,
    PreflightError,
    RecordLimitExceededError,
    RequestRejectedError,
)

__all__ = [
    "hubspot_courses",
    "BATCH_SIZE",
    "HubSpotCoursesConfiguration",
    "resolve_settings",
    "token_configured",
    "SECTION",
    "TOKEN_ENV",
    "TOKEN_KEY",
    "check_portal",
    "close_sessions",
    "daily_budget_of",
    "archive_missing",
    "MirrorResult",
    "replay_rejections",
    "ReplayResult",
    "Staging",
    "HubSpotError",
    "HubSpotTerminalError",
    "HubSpotTransientError",
    "AuthenticationError",
    "MissingScopesError",
    "DailyLimitExceededError",
    "DailyBudgetReachedError",
    "ObjectNotActivatedError",
    "ConfigurationError",
    "PreflightError",
    "RequestRejectedError",
    "RecordLimitExceededError",
]

__version__ = "0.1.0"
