"""`POST .../objects/{objectType}/search`: filters, sorts, paging, and the search limit.

Pure functions over a list of stored records (docs/hubspot-behaviour.md, "Search"): no I/O,
no HTTP. `SearchLimiter` is the search API's own per-second limit, counted apart from the
10-second burst limit.
"""

from __future__ import annotations

import fnmatch
import json
import re
import threading
import time
from collections import deque
from datetime import date, datetime, timezone
from typing import Any, Callable, Iterable, Mapping

from .bodies import ApiError, error_body
from .catalog import PropertyDef
from .ratelimits import Decision
from .store import Record

# docs/hubspot-behaviour.md, "Search": limits from HubSpot's search guide.
DEFAULT_LIMIT, MAX_LIMIT = 10, 200
MAX_FILTER_GROUPS, MAX_FILTERS_PER_GROUP, MAX_FILTERS = 5, 6, 18
MAX_BODY_CHARS = 3_000
MAX_RESULTS = 10_000
SEARCH_PER_SECOND = 5

OPERATORS = frozenset({
    "EQ", "NEQ", "LT", "LTE", "GT", "GTE", "BETWEEN", "IN", "NOT_IN",
    "HAS_PROPERTY", "NOT_HAS_PROPERTY", "CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN",
})
_NO_VALUE = frozenset({"HAS_PROPERTY", "NOT_HAS_PROPERTY"})
_LIST_VALUE = frozenset({"IN", "NOT_IN"})
_TOKEN_RE = re.compile(r"[\w]+", re.UNICODE)


def _bad(message: str) -> ApiError:
    # GUESS: every search refusal text below is ours; HubSpot documents 400 VALIDATION_ERROR
    # for over-limit filters and a 400 for too long bodies / paging beyond 10,000.
    return ApiError(400, error_body("VALIDATION_ERROR", message))


def search_secondly_body() -> dict[str, Any]:
    """429 of the search API (docs/hubspot-behaviour.md, "Search"): "You have reached your
    secondly limit.", errorType RATE_LIMIT, no policyName [OBS]."""
    return {"status": "error", "message": "You have reached your secondly limit.", "errorType": "RATE_LIMIT"}


class SearchLimiter:
    """Five search requests per second per token (docs/hubspot-behaviour.md, "Search").

    Refused requests do not count (the same choice as ratelimits.py). Decisions carry no
    headers: search responses include none of the rate-limit headers.
    """

    def __init__(self, per_second: int = SEARCH_PER_SECOND, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_second = per_second
        self._clock = clock
        self._lock = threading.Lock()
        self._windows: dict[str, deque[float]] = {}

    def check(self, token: str) -> Decision:
        with self._lock:
            now = self._clock()
            window = self._windows.setdefault(token, deque())
            while window and now - window[0] >= 1.0:
                window.popleft()
            if len(window) >= self.per_second:
                return Decision(False, "SEARCH_SECONDLY", {})
            window.append(now)
            return Decision(True, None, {})

    def reset(self) -> None:
        with self._lock:
            self._windows.clear()


# -- comparing values -------------------------------------------------------------------------
def _epoch_ms(v: str) -> float | None:
    if re.fullmatch(r"-?\d+", v):
        return float(v)
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", v):
            d = date.fromisoformat(v)
            return datetime(d.year, d.month, d.day, tzinfo=timezone.utc).timestamp() * 1000
        dt = datetime.fromisoformat(v.replace("Z", "+00:00"))
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=timezone.utc)
        return dt.timestamp() * 1000
    except ValueError:
        return None


def _ordered(prop: PropertyDef | None, v: str) -> Any:
    """A sortable key for one value: numbers as numbers, dates as epoch ms, text folded."""
    if prop is not None and prop.type == "number":
        try:
            return float(v)
        except ValueError:
            return None
    if prop is not None and prop.type in ("date", "datetime") or (prop is not None and prop.name.endswith("date")):
        return _epoch_ms(v)
    return v.casefold()


def _equal(prop: PropertyDef | None, stored: str, wanted: str) -> bool:
    # docs/hubspot-behaviour.md, "Search": enumeration filters are case-sensitive, the others
    # are not.
    if prop is not None and prop.type == "enumeration":
        return stored == wanted
    a, b = _ordered(prop, stored), _ordered(prop, wanted)
    return a is not None and a == b


def _contains_token(stored: str, wanted: str) -> bool:
    # GUESS: HubSpot's tokeniser is undocumented; words are runs of letters/digits/_ and a
    # `*` wildcard may match the whole value or one token (docs/hubspot-behaviour.md, "Search").
    pattern = wanted.casefold()
    value = stored.casefold()
    tokens = _TOKEN_RE.findall(value)
    if "*" in pattern:
        return fnmatch.fnmatchcase(value, pattern) or any(fnmatch.fnmatchcase(t, pattern) for t in tokens)
    wanted_tokens = _TOKEN_RE.findall(pattern)
    return bool(wanted_tokens) and all(t in tokens for t in wanted_tokens)


def _matches(f: Mapping[str, Any], rec: Record, catalog: Mapping[str, PropertyDef]) -> bool:
    name, op = f["propertyName"], f["operator"]
    prop = catalog.get(name)
    stored = rec.properties.get(name) if name != "hs_object_id" else str(rec.id)
    if op == "HAS_PROPERTY":
        return bool(stored)
    if op == "NOT_HAS_PROPERTY":
        return not stored
    if op in _LIST_VALUE:
        # docs/hubspot-behaviour.md, "Search": string IN/NOT_IN values must be lower-case, so
        # the stored value is folded and compared with the values as sent.
        values = [str(v) for v in f["values"]]
        if prop is None or prop.type in ("string", "phone_number"):
            hit = stored is not None and stored.casefold() in values
        else:
            hit = stored is not None and any(_equal(prop, stored, v) for v in values)
        return hit if op == "IN" else not hit
    wanted = str(f.get("value", ""))
    if op == "NEQ":
        return not (stored is not None and _equal(prop, stored, wanted))
    if op == "NOT_CONTAINS_TOKEN":
        return not (stored is not None and _contains_token(stored, wanted))
    if stored is None:
        return False
    if op == "EQ":
        return _equal(prop, stored, wanted)
    if op == "CONTAINS_TOKEN":
        return _contains_token(stored, wanted)
    a, b = _ordered(prop, stored), _ordered(prop, wanted)
    if op == "BETWEEN":
        hi = _ordered(prop, str(f.get("highValue", "")))
        return None not in (a, b, hi) and b <= a <= hi
    if a is None or b is None:
        return False
    return {"LT": a < b, "LTE": a <= b, "GT": a > b, "GTE": a >= b}[op]


# -- the request ------------------------------------------------------------------------------
def _parse_filters(body: Mapping[str, Any], catalog: Mapping[str, PropertyDef]) -> list[list[dict[str, Any]]]:
    groups = body.get("filterGroups") or []
    if not isinstance(groups, list):
        raise _bad("filterGroups must be a list")
    if len(groups) > MAX_FILTER_GROUPS:
        raise _bad(f"Too many filter groups: {len(groups)}. The maximum is {MAX_FILTER_GROUPS}.")
    total = 0
    out: list[list[dict[str, Any]]] = []
    for g in groups:
        filters = g.get("filters") if isinstance(g, dict) else None
        if not isinstance(filters, list):
            raise _bad("Each filter group needs a filters list")
        if len(filters) > MAX_FILTERS_PER_GROUP:
            raise _bad(f"Too many filters in a group: {len(filters)}. The maximum is {MAX_FILTERS_PER_GROUP}.")
        total += len(filters)
        parsed = []
        for f in filters:
            if not isinstance(f, dict) or not isinstance(f.get("propertyName"), str):
                raise _bad("Each filter needs a propertyName")
            op = f.get("operator", "EQ")
            if op not in OPERATORS:
                raise _bad(f"Unknown filter operator {op!r}; must be one of {sorted(OPERATORS)}")
            if f["propertyName"] not in catalog and f["propertyName"] != "hs_object_id":
                # GUESS: a filter on a property the object does not have is refused.
                raise _bad(f"Property {f['propertyName']!r} does not exist")
            if op in _LIST_VALUE and not isinstance(f.get("values"), list):
                raise _bad(f"Operator {op} needs a values list")
            if op not in _NO_VALUE and op not in _LIST_VALUE and "value" not in f:
                raise _bad(f"Operator {op} needs a value")
            if op == "BETWEEN" and "highValue" not in f:
                raise _bad("Operator BETWEEN needs a value and a highValue")
            parsed.append({**f, "operator": op})
        out.append(parsed)
    if total > MAX_FILTERS:
        raise _bad(f"Too many filters: {total}. The maximum is {MAX_FILTERS} in total.")
    return out


def _parse_sort(body: Mapping[str, Any]) -> tuple[str, bool] | None:
    sorts = body.get("sorts") or []
    if not isinstance(sorts, list):
        raise _bad("sorts must be a list")
    if len(sorts) > 1:
        # docs/hubspot-behaviour.md, "Search": "Only one sorting rule can be applied".
        # GUESS: more than one is refused rather than cut.
        raise _bad("Only one sorting rule can be applied")
    if not sorts:
        return None
    s = sorts[0]
    if isinstance(s, str):
        # The spec types sorts as strings; GUESS: a string names a property, ascending.
        return s, False
    if not isinstance(s, dict) or not isinstance(s.get("propertyName"), str):
        raise _bad("A sort needs a propertyName")
    direction = s.get("direction", "ASCENDING")
    if direction not in ("ASCENDING", "DESCENDING"):
        raise _bad(f"Sort direction must be ASCENDING or DESCENDING, got {direction!r}")
    return s["propertyName"], direction == "DESCENDING"


def _int_field(body: Mapping[str, Any], name: str, default: int) -> int:
    raw = body.get(name)
    if raw is None or raw == "":
        return default
    if isinstance(raw, bool) or not (isinstance(raw, int) or (isinstance(raw, str) and raw.isdigit())):
        # docs/hubspot-behaviour.md, "Search": `after` "must be formatted as an integer".
        raise _bad(f"{name} must be formatted as an integer, got {raw!r}")
    return int(raw)


def search(
    body: Any,
    records: Iterable[Record],
    catalog: Mapping[str, PropertyDef],
    default_properties: Iterable[str],
) -> dict[str, Any]:
    """`CollectionResponseWithTotalSimplePublicObject` for one `PublicObjectSearchRequest`.

    `records` are the live (non-archived) records of the object: "Archived CRM objects won't
    appear in any search results" (docs/hubspot-behaviour.md, "Search").
    """
    if not isinstance(body, dict):
        raise _bad("Invalid input JSON: expected an object")
    if len(json.dumps(body, separators=(",", ":"))) > MAX_BODY_CHARS:
        # GUESS: the 3,000 characters are counted on the compact JSON body.
        raise _bad(f"The request body exceeds the maximum of {MAX_BODY_CHARS} characters")
    if body.get("query"):
        # Left out: HubSpot's free-text `query` over default searchable properties is not
        # modelled; refusing it beats answering with wrong results.
        raise _bad("The sandbox does not support the free-text query field; use filterGroups")
    groups = _parse_filters(body, catalog)
    sort = _parse_sort(body)
    limit = _int_field(body, "limit", DEFAULT_LIMIT)
    if limit > MAX_LIMIT or limit < 1:
        # docs/hubspot-behaviour.md, "Search": at most 200 per page. GUESS: above is a 400.
        raise _bad(f"limit must be between 1 and {MAX_LIMIT}, got {limit}")
    after = _int_field(body, "after", 0)
    if after + limit > MAX_RESULTS:
        # docs/hubspot-behaviour.md, "Search": no paging beyond 10,000 results.
        raise _bad(f"Paging beyond {MAX_RESULTS} results is not supported")
    props = body.get("properties") or list(default_properties)
    if not isinstance(props, list):
        raise _bad("properties must be a list")

    live = [r for r in records if not r.archived]
    # Filter groups are OR'd, the filters of a group AND'd (docs/hubspot-behaviour.md, "Search").
    hits = [r for r in live if not groups or any(all(_matches(f, r, catalog) for f in g) for g in groups)]
    hits.sort(key=lambda r: r.id)  # default: creation order, oldest first
    if sort is not None:
        name, desc = sort
        prop = catalog.get(name)

        def key(r: Record) -> tuple[int, Any]:
            v = str(r.id) if name == "hs_object_id" else r.properties.get(name)
            k = _ordered(prop, v) if v is not None else None
            return (0, k) if k is not None else (1, 0)  # GUESS: records without a value sort last

        present = [r for r in hits if key(r)[0] == 0]
        absent = [r for r in hits if key(r)[0] == 1]
        present.sort(key=key, reverse=desc)
        hits = present + absent
    page = hits[after:after + limit]
    out: dict[str, Any] = {"total": len(hits), "results": [r.to_json(props) for r in page]}
    if after + limit < len(hits):
        # GUESS: search paging carries `after` only, no link.
        out["paging"] = {"next": {"after": str(after + limit)}}
    return out
