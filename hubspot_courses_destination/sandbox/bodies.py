"""HubSpot's response bodies: errors, rate-limit refusals, timestamps.

Kept in one place so that every endpoint answers with the same shapes a real portal sends
(docs/hubspot-behaviour.md, "Error bodies", "429 bodies" and "Authentication errors").
`correlationId` is filled in by the server per request.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any, Iterable, Mapping


class ApiError(Exception):
    """An HTTP error answer: the status and HubSpot's JSON body (without correlationId yet)."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(body.get("message", ""))
        self.status = status
        self.body = body


def now_iso() -> str:
    """HubSpot's timestamp format: ISO 8601, UTC, milliseconds, `Z`
    (docs/hubspot-behaviour.md, "Upsert results")."""
    return iso_from_datetime(datetime.now(timezone.utc))


def batch_answer(results: list[Any], errors: list[Any], started: str) -> dict[str, Any]:
    """The envelope of a batch answer: ``status``, ``results``, ``numErrors``/``errors`` when
    some inputs failed, and the start and end times."""
    out: dict[str, Any] = {"status": "COMPLETE", "results": results}
    if errors:
        out["numErrors"] = len(errors)
        out["errors"] = errors
    out["startedAt"] = started
    out["completedAt"] = now_iso()
    return out


def batch_read_answer(results: list[Any], missing: list[str], object_label: str, started: str) -> tuple[int, dict[str, Any]]:
    """A batch read: 200, or 207 with one OBJECT_NOT_FOUND error listing the unknown ids
    (docs/hubspot-behaviour.md, "Reading and archiving": the body observed for contacts;
    GUESS: the same wording, with its label, for other objects)."""
    errors = [{
        "status": "error", "category": "OBJECT_NOT_FOUND",
        "message": f"Could not get some {object_label} objects, they may be deleted or not exist."
                   " Check that ids are valid.",
        "context": {"ids": missing},
    }] if missing else []
    return (207 if missing else 200), batch_answer(results, errors, started)


def iso_from_datetime(dt: datetime) -> str:
    dt = dt.astimezone(timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def error_body(
    category: str,
    message: str,
    *,
    errors: Iterable[Mapping[str, Any]] | None = None,
    context: Mapping[str, list[str]] | None = None,
    links: Mapping[str, str] | None = None,
    sub_category: str | None = None,
) -> dict[str, Any]:
    """Top-level `Error` (docs/hubspot-behaviour.md, "Error bodies"): status, message,
    [errors], category, [context]."""
    body: dict[str, Any] = {"status": "error", "message": message}
    if errors is not None:
        body["errors"] = [dict(e) for e in errors]
    if context is not None:
        body["context"] = {k: list(v) for k, v in context.items()}
    if links is not None:
        body["links"] = dict(links)
    body["category"] = category
    if sub_category is not None:
        body["subCategory"] = sub_category
    return body


def property_errors_message(items: list[dict[str, Any]]) -> str:
    """`Property values were not valid: [...]`, the JSON array compact as HubSpot prints it
    (docs/hubspot-behaviour.md, "Error bodies")."""
    return "Property values were not valid: " + json.dumps(
        items, separators=(",", ":"), ensure_ascii=False
    )


def unauthenticated_body() -> dict[str, Any]:
    """401 for a missing or unknown token, verbatim text from
    docs/hubspot-behaviour.md, "Authentication errors"."""
    return {
        "status": "error",
        "message": "Authentication credentials not found. This API supports OAuth 2.0"
        " authentication and you can find more details at"
        " https://developers.hubspot.com/docs/methods/auth/oauth-overview",
        "category": "INVALID_AUTHENTICATION",
    }


def missing_scopes_body(required_any_of: list[str]) -> dict[str, Any]:
    """403 MISSING_SCOPES with errors[0].context.requiredGranularScopes
    (docs/hubspot-behaviour.md, "Authentication errors")."""
    return error_body(
        "MISSING_SCOPES",
        "This app hasn't been granted all required scopes to make this call. Read more about"
        " required scopes here: https://developers.hubspot.com/scopes.",
        errors=[{
            "message": "One or more of the following scopes are required.",
            "context": {"requiredGranularScopes": list(required_any_of)},
        }],
        links={"scopes": "https://developers.hubspot.com/scopes"},
    )


def ten_secondly_body(app_id: int, portal_id: int) -> dict[str, Any]:
    """429 burst body (docs/hubspot-behaviour.md, "429 bodies" [OBS]): no category; errorType
    and policyName instead."""
    return {
        "status": "error",
        "message": "You have reached your ten_secondly_rolling limit.",
        "errorType": "RATE_LIMIT",
        "policyName": "TEN_SECONDLY_ROLLING",
        "groupName": f"publicapi:private_app-api-calls-ten-secondly:{app_id}:{portal_id}",
    }


def daily_body(request_id: str) -> dict[str, Any]:
    """429 daily body, the documented example of docs/hubspot-behaviour.md, "429 bodies"."""
    return {
        "status": "error",
        "message": "You have reached your daily limit.",
        "errorType": "RATE_LIMIT",
        "policyName": "DAILY",
        "requestId": request_id,
    }


def object_type_unknown(object_type: str) -> ApiError:
    # GUESS: HubSpot's answer for an object type it cannot resolve; wording undocumented.
    return ApiError(400, error_body(
        "VALIDATION_ERROR", f"Unable to infer object type from: {object_type}"
    ))


def bad_json(detail: str) -> ApiError:
    # GUESS: wording modelled on HubSpot's "Invalid input JSON on line ..." messages.
    return ApiError(400, error_body("VALIDATION_ERROR", f"Invalid input JSON on line 1, column 1: {detail}"))
