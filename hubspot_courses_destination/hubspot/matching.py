"""Per-row outcomes of a batch upsert: answers matched to inputs, property errors parsed.

Pure (no I/O). Answers are matched by ``objectWriteTraceId``, never by position. The one
place message text is parsed is ``Property values were not valid: [...]``, where HubSpot
serialises the property-level details as JSON inside ``message`` and offers no other field
for them.
"""

from __future__ import annotations

import json
from typing import Any, Mapping, Sequence

from .classify import ErrorBody, parse_error_body, shorten_message, str_or_none
from .models import PropertyError, RowOutcome, UpsertRow

__all__ = [
    "MISSING_FROM_RESPONSE",
    "match_upsert_results",
    "missing_outcome",
    "refused_outcome",
    "parse_property_errors",
    "property_errors_of",
]

_PROPERTY_ERRORS_PREFIX = "Property values were not valid: "
MISSING_FROM_RESPONSE = "MISSING_FROM_RESPONSE"
"""Category given to a row HubSpot's response neither created, updated nor rejected."""


# -- property errors ------------------------------------------------------------------------


def parse_property_errors(message: str | None) -> tuple[PropertyError, ...]:
    """Parse the JSON list inside ``Property values were not valid: [...]``.

    Returns ``()`` when the message has another form or the JSON is cut short.
    """
    if not message or not message.startswith(_PROPERTY_ERRORS_PREFIX):
        return ()
    try:
        items = json.loads(message[len(_PROPERTY_ERRORS_PREFIX) :])
    except ValueError:
        return ()
    if not isinstance(items, list):
        return ()
    return tuple(
        PropertyError(
            name=str_or_none(item.get("name")),
            code=str_or_none(item.get("error")),
            message=str_or_none(item.get("message")),
        )
        for item in items
        if isinstance(item, Mapping)
    )


def _property_errors_from_details(errors: Sequence[Mapping[str, Any]]) -> tuple[PropertyError, ...]:
    """Structured ``errors[]`` of a top-level error body (``code`` + ``context.propertyName``)."""
    out = []
    for detail in errors:
        context = detail.get("context")
        names = context.get("propertyName") if isinstance(context, Mapping) else None
        if not detail.get("code") or not names:
            continue
        for name in names if isinstance(names, list) else [names]:
            out.append(PropertyError(str_or_none(name), str_or_none(detail.get("code")), str_or_none(detail.get("message"))))
    return tuple(out)


def _property_errors_from_context(body: ErrorBody) -> tuple[PropertyError, ...]:
    """An error that names its properties only in its own ``context.propertyName``.

    GUESS: the per-input answer to a conditional-required or create-form rule (enforced from
    2026-09, docs/hubspot-behaviour.md, "Write validation from 2026-09") is not documented;
    HubSpot's error bodies name properties in ``context.propertyName`` elsewhere, so that is
    read too, with the error's own code (``subCategory``, else its category).
    """
    names = body.context.get("propertyName")
    if not names:
        return ()
    code = body.sub_category or body.category
    return tuple(
        PropertyError(str_or_none(name), code, body.message)
        for name in (names if isinstance(names, list) else [names])
        if str_or_none(name)
    )


def property_errors_of(body: ErrorBody) -> tuple[PropertyError, ...]:
    """Property-level errors of an error body: from ``message`` JSON, else from ``errors[]``,
    else from the error's own ``context.propertyName``."""
    return (
        parse_property_errors(body.message)
        or _property_errors_from_details(body.errors)
        or _property_errors_from_context(body)
    )


# -- batch upsert results -------------------------------------------------------------------


def match_upsert_results(
    body: Any,
    sent: Sequence[UpsertRow],
    id_property: str,
) -> tuple[list[RowOutcome], list[UpsertRow]]:
    """Match a 200/207 upsert body to the rows sent, by ``objectWriteTraceId``.

    A result without a trace id is matched by its ``id_property`` value (the row key),
    never by position. Returns the outcomes found and the rows the body did not mention
    (neither in ``results`` nor in ``errors``); the caller decides what to do with those.
    """
    by_trace = {row.trace_id: row for row in sent}
    by_key: dict[str, UpsertRow] | None = None  # built only if a result lacks its trace id
    outcomes: dict[str, RowOutcome] = {}
    results = body.get("results") if isinstance(body, Mapping) else None
    # decoded JSON: plain dicts and lists, so the checks below use dict, not typing.Mapping
    # (an ABC instance check per result costs more than the rest of the loop)
    for result in results if isinstance(results, list) else []:
        if not isinstance(result, dict):
            continue
        row = by_trace.get(str_or_none(result.get("objectWriteTraceId")))
        if row is None:
            props = result.get("properties")
            if isinstance(props, dict):
                if by_key is None:
                    by_key = {r.key: r for r in sent}
                row = by_key.get(str_or_none(props.get(id_property)))  # type: ignore[arg-type]
        if row is None or row.key in outcomes:
            continue
        outcomes[row.key] = RowOutcome(
            row.key,
            row.trace_id,
            "created" if result.get("new") is True else "updated",
            str_or_none(result.get("id")),
        )
    errors = body.get("errors") if isinstance(body, Mapping) else None
    for raw in errors if isinstance(errors, list) else []:
        err = parse_error_body(raw)
        trace_ids = err.context.get("objectWriteTraceId") or []
        if isinstance(trace_ids, str):
            trace_ids = [trace_ids]
        prop_errors = property_errors_of(err)
        for trace_id in trace_ids:
            row = by_trace.get(str(trace_id))
            if row is None or row.key in outcomes:
                continue
            outcomes[row.key] = RowOutcome(
                key=row.key,
                trace_id=row.trace_id,
                status="rejected",
                category=err.category,
                code=prop_errors[0].code if prop_errors else None,
                message=shorten_message(err.message),
                property_errors=prop_errors,
            )
    if len(outcomes) == len(sent):
        return [outcomes[row.key] for row in sent], []
    missing = [row for row in sent if row.key not in outcomes]
    return [outcomes[row.key] for row in sent if row.key in outcomes], missing


def missing_outcome(row: UpsertRow) -> RowOutcome:
    """The outcome for a row HubSpot kept leaving out of its answers."""
    return RowOutcome(
        key=row.key,
        trace_id=row.trace_id,
        status="rejected",
        category=MISSING_FROM_RESPONSE,
        message=(
            "HubSpot's response listed this row neither as a result nor as an error, also after "
            "re-sending it; whether it was written is unknown. Re-run the load to send it again."
        ),
    )


def refused_outcome(row: UpsertRow, category: str | None, hubspot_message: str | None) -> RowOutcome:
    """The outcome for a row HubSpot refused with a whole-request 400 when sent on its own."""
    return RowOutcome(
        key=row.key, trace_id=row.trace_id, status="rejected", category=category,
        code=None, message=hubspot_message,
        property_errors=parse_property_errors(hubspot_message),
    )
