"""``HubSpotClient``: the one place that talks HTTP to HubSpot.

One ``requests.Session`` per client (pool sized for ``max_concurrency``, explicit connect and
read timeouts, TLS verification on, redirects never followed, ``Authorization: Bearer`` added
by the session's auth), one
send loop (:meth:`HubSpotClient._send`) that puts every request behind the shared
:class:`~hubspot_courses_destination.hubspot.ratelimit.RateLimiter`, classifies the answer with
:func:`~hubspot_courses_destination.hubspot.classify.classify` and retries by
:class:`~hubspot_courses_destination.hubspot.retry.RetryPolicy`.

Retry safety (docs/hubspot-behaviour.md, "Retrying"): batch upsert, batch read and batch
archive can be repeated without harm (upsert is keyed by the unique ``idProperty``), so they
are retried after read timeouts and dropped connections too. Creating a property is not: it is
retried only when the request provably never reached HubSpot; after an ambiguous failure the
client looks the property up first.

The token is kept only in the session's auth object. It never appears in ``repr``, logs or
exception messages; logs show method, path and status, never headers or bodies.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from requests.auth import AuthBase

from ..errors import (
    ConfigurationError,
    DailyLimitExceededError,
    HubSpotError,
    HubSpotTerminalError,
    RequestRejectedError,
)
from . import bodies
from .classify import (
    AMBIGUOUS_REASONS,
    Action,
    RateLimitHeaders,
    Reason,
    Verdict,
    classify,
    classify_exception,
    error_for,
    rate_limit_headers,
)
from .daily_budget import DailyBudget, DailyUsage, parse_daily_usage
from .endpoints import DEFAULT_API_VERSION, Endpoints
from .matching import match_upsert_results, missing_outcome, refused_outcome
from .models import ClientStats, Counters, OutgoingRequest, RowOutcome, Tally, UpsertResult, UpsertRow
from .tokens import token_problem
from .ratelimit import BURST_INTERVAL_S, Rate, RateLimiter
from .retry import RetryPolicy, next_wait_s, should_retry
from .urls import DEFAULT_API_BASE_URL, api_base_url_problem

CONNECT_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 60.0
REQUEST_BOUND_S = CONNECT_TIMEOUT_S + READ_TIMEOUT_S
"""The longest one attempt can be in flight with the default timeouts (the shared ledger's bound)."""

__all__ = ["HubSpotClient"]

logger = logging.getLogger(__name__)

ASSOCIATION_BATCH_LIMIT = 2000
"""Inputs per association batch create/archive request (docs/hubspot-behaviour.md,
"Associations v4": create takes at most 2,000; archive's cap is a GUESS, the same)."""

OMITTED_ROW_RESENDS = 1
"""How often rows a 200/207 answer left out are sent again before being reported."""


class _BearerAuth(AuthBase):
    """``Authorization: Bearer <token>`` on every request.

    Set as the session's auth rather than a default header: with no auth, requests looks
    for a ``~/.netrc`` entry on every request (two file-system checks each time) and, if
    the file names the API host, replaces the header with Basic credentials. requests does
    not check header values that auth adds, so the client checks the token first.
    """

    __slots__ = ("_header",)

    def __init__(self, token: str) -> None:
        self._header = f"Bearer {token}"

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = self._header
        return request

    def __repr__(self) -> str:
        return "_BearerAuth(***)"


class _PoolKeyCachingAdapter(HTTPAdapter):
    """An ``HTTPAdapter`` that works out each host's connection-pool settings once.

    With a CA bundle path configured (``REQUESTS_CA_BUNDLE``, common behind TLS-inspecting
    proxies) requests calls ``os.path.isdir`` on it for every request: 8 % of the load
    step's CPU at zero latency. The settings depend only on scheme, host, port, ``verify``
    and ``cert``, so they are kept per combination (copies are handed out).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._pool_keys: dict[tuple[Any, ...], tuple[dict[str, Any], dict[str, Any]]] = {}

    def __setstate__(self, state: dict[str, Any]) -> None:  # unpickling skips __init__
        super().__setstate__(state)
        self._pool_keys = {}

    def build_connection_pool_key_attributes(
        self, request: requests.PreparedRequest, verify: Any, cert: Any = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        parsed = urlsplit(request.url or "")
        key = (parsed.scheme.lower(), parsed.hostname, parsed.port, verify, cert)
        try:
            cached = self._pool_keys.get(key)
        except TypeError:  # an unhashable cert setting: no caching
            return super().build_connection_pool_key_attributes(request, verify, cert)
        if cached is None:
            cached = super().build_connection_pool_key_attributes(request, verify, cert)
            self._pool_keys[key] = cached
        return dict(cached[0]), dict(cached[1])


class _AmbiguousWrite(Exception):
    """A non-idempotent request failed in a way that leaves its effect unknown."""

    def __init__(self, verdict: Verdict, attempts: int) -> None:
        super().__init__(verdict.reason.value)
        self.verdict = verdict
        self.attempts = attempts


_UNREADABLE = object()
"""What :meth:`HubSpotClient._get_unless_forbidden` gives for a 403/404."""


class HubSpotClient:
    """Thread-safe HubSpot CRM client (the paths of ``api_version``) for batch upsert and the calls around it.

    Args:
        access_token: the private-app access token (``pat-...``). Kept only in the session's
            auth (an ``Authorization: Bearer`` header on every request).
        api_base_url: HubSpot's API root; point it at the sandbox in tests.
        api_version: which family of paths to call (a key of
            :data:`~hubspot_courses_destination.hubspot.endpoints.ENDPOINTS`).
        requests_per_10s: the portal's burst tier (100 Free/Starter, 190 Pro/Enterprise),
            used for the default shared rate limiter; server headers override it.
        max_concurrency: requests in flight at once from this client (thread pool and
            connection pool size). At 190/10 s and 250 ms latency about 5 are needed.
        connect_timeout_s: TCP/TLS connect timeout per attempt.
        read_timeout_s: time to wait for a response per attempt.
        retry_policy: how transient failures are retried.
        rate_limiter: budget to share with other clients of the same portal and token; default
            a new one at ``requests_per_10s`` (the destination's sessions share one per token).
        session: a ``requests.Session`` to use (transport seam); the client sets its
            ``auth`` and mounts nothing on it. Requests go through its ``prepare_request``
            and ``send`` (an override of ``Session.request`` is not called); proxy and CA
            settings from the environment and the session are read once, here.
        sleep: blocks for retry backoff; injectable for tests.
        rng: jitter source; injectable for tests.
        daily_budget: the run's share of the portal's daily requests
            (:class:`~hubspot_courses_destination.hubspot.daily_budget.DailyBudget`), fed from every
            answer; a request past its cap is not sent. ``None``: no daily cap.

    Raises:
        ConfigurationError: for an empty token, invalid numbers, an unknown ``api_version``, or
            a URL the token must not be sent to (ambiguous, or plain http to a host other than
            this machine).
    """

    def __init__(
        self,
        access_token: str,
        api_base_url: str = DEFAULT_API_BASE_URL,
        *,
        requests_per_10s: int = 100,
        max_concurrency: int = 8,
        connect_timeout_s: float = CONNECT_TIMEOUT_S,
        read_timeout_s: float = READ_TIMEOUT_S,
        retry_policy: RetryPolicy = RetryPolicy(),
        rate_limiter: RateLimiter | None = None,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        api_version: str = DEFAULT_API_VERSION,
        daily_budget: DailyBudget | None = None,
    ) -> None:
        problem = token_problem(access_token.strip() if isinstance(access_token, str) else access_token)
        if problem:
            raise ConfigurationError(problem)
        url_problem = api_base_url_problem(api_base_url)
        if url_problem:
            raise ConfigurationError(url_problem)
        if max_concurrency < 1:
            raise ConfigurationError(f"max_concurrency must be >= 1, got {max_concurrency}")
        if requests_per_10s < 1:
            raise ConfigurationError(f"requests_per_10s must be >= 1, got {requests_per_10s}")
        if connect_timeout_s <= 0 or read_timeout_s <= 0:
            raise ConfigurationError("connect_timeout_s and read_timeout_s must be > 0")
        self._endpoints = Endpoints(api_version)
        self.api_version = api_version
        self.api_base_url = api_base_url.rstrip("/")
        self.max_concurrency = max_concurrency
        self.timeouts_s = (connect_timeout_s, read_timeout_s)
        self.retry_policy = retry_policy
        self.rate_limiter = rate_limiter or RateLimiter(Rate(requests_per_10s, BURST_INTERVAL_S))
        self.daily_budget = daily_budget
        self._owns_session = session is None
        self._session = session if session is not None else self._new_session(max_concurrency)
        self._session.auth = _BearerAuth(access_token.strip())
        # proxy and CA-bundle settings from the environment, read once: requests would
        # re-read os.environ for every request (a third of a small request's CPU time)
        self._transport = self._session.merge_environment_settings(self.api_base_url, {}, None, None, None)
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._rng_lock = threading.Lock()
        self._counters = Counters()
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()
        self._in_flight = threading.BoundedSemaphore(max_concurrency)

    @staticmethod
    def _new_session(max_concurrency: int) -> requests.Session:
        session = requests.Session()
        # max_retries=0: the retry policy below owns every retry decision.
        adapter = _PoolKeyCachingAdapter(pool_connections=4, pool_maxsize=max_concurrency, max_retries=0)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        session.verify = True
        session.headers.update({"Accept": "application/json", "User-Agent": "hubspot-courses-destination"})
        return session

    def __repr__(self) -> str:
        return (
            f"HubSpotClient(api_base_url={self.api_base_url!r}, max_concurrency={self.max_concurrency}, "
            f"rate_limiter={self.rate_limiter!r})"
        )

    # -- lifecycle ------------------------------------------------------------------------

    def close(self) -> None:
        """Stop the worker threads and close the session if the client created it."""
        with self._pool_lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
        if self._owns_session:
            self._session.close()

    def __enter__(self) -> HubSpotClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def stats(self) -> ClientStats:
        """Counters so far: requests, responses by status, 429s, retries, waits."""
        return self._counters.snapshot()

    # -- batch upsert ---------------------------------------------------------------------

    def batch_upsert(self, object_type: str, id_property: str, rows: Iterable[UpsertRow]) -> UpsertResult:
        """Create or update records by their unique ``id_property`` value.

        Rows are sent in chunks of at most 100, concurrently (up to ``max_concurrency``),
        each input with a unique ``objectWriteTraceId``. For chunks with invalid rows HubSpot
        answers 207 (v3) or 200 with ``errors``/``numErrors`` (2026-09): each row's outcome is
        read from the body on any 2xx, never from the status; invalid rows come back ``rejected`` with HubSpot's category, code,
        message and property errors, and the valid rows in the same chunk are written.

        Args:
            object_type: ``"0-410"`` for courses.
            id_property: a property with ``hasUniqueValue``; each row's ``key`` is its value.
            rows: the rows; keys must be unique (de-duplicate first).

        Returns:
            One :class:`RowOutcome` per input row, in input order, matched by trace id, as an
            :class:`UpsertResult` that also counts this call's requests, 429s and retries.

        Raises:
            ValueError: for duplicate or empty keys or duplicate caller-given trace ids.
            HubSpotTerminalError: a whole request was refused (401, 403, 400, daily limit).
            HubSpotTransientError: retries ran out (429s, 5xx, timeouts, resets).
        """
        prepared = bodies.prepare_rows(rows)
        if not prepared:
            return UpsertResult()
        chunks = bodies.chunks(prepared)
        path = self._endpoints.path("batch_upsert", object_type=object_type)
        call = Counters()
        results = self._run_chunks(lambda chunk: self._upsert_chunk(path, id_property, chunk, call), chunks)
        by_key = {outcome.key: outcome for chunk_outcomes in results for outcome in chunk_outcomes}
        return UpsertResult((by_key[row.key] for row in prepared), call.snapshot())

    def _upsert_chunk(
        self, path: str, id_property: str, chunk: Sequence[UpsertRow], call: Counters | None = None
    ) -> list[RowOutcome]:
        outcomes: list[RowOutcome] = []
        pending: Sequence[UpsertRow] = chunk
        for resend in range(OMITTED_ROW_RESENDS + 1):
            payload = bodies.upsert_body(pending, id_property)
            try:
                _, body = self._send("POST", path, json_body=payload, row_keys=[r.key for r in pending], call=call)
            except RequestRejectedError as exc:
                if not _refused_for_its_rows(exc):
                    raise
                return outcomes + self._isolate_refused_rows(path, id_property, pending, call, exc)
            found, missing = match_upsert_results(body, pending, id_property)
            outcomes.extend(found)
            if not missing:
                return outcomes
            logger.warning(
                "POST %s: HubSpot's answer left out %d of %d rows%s",
                path,
                len(missing),
                len(pending),
                "; sending them again" if resend < OMITTED_ROW_RESENDS else "; reporting them as rejected",
            )
            if resend < OMITTED_ROW_RESENDS:
                self._counters.add("rows_resent_after_omission", len(missing))
            pending = missing
        outcomes.extend(missing_outcome(row) for row in pending)
        return outcomes

    def _isolate_refused_rows(
        self,
        path: str,
        id_property: str,
        rows: Sequence[UpsertRow],
        call: Counters | None,
        error: RequestRejectedError,
    ) -> list[RowOutcome]:
        """HubSpot refused a whole chunk with a 400: halve it until the rows at fault are found.

        With a unique trace id per input HubSpot answers bad values with a 207, so this is
        the fallback for whole-batch 400s we do not foresee. Raising instead would leave the
        dlt package pending and block every later run on one row (the poison-row trap).
        When both halves are refused exactly like the whole, the refusal is not about a row
        (e.g. a portal-wide setting) and is raised as it is.
        """
        if len(rows) == 1:
            row = rows[0]
            logger.warning("POST %s: HubSpot refused row %s on its own (%s)", path, row.key, error.category)
            return [refused_outcome(row, error.category, error.hubspot_message)]
        mid = len(rows) // 2
        outcomes: list[RowOutcome] = []
        refused: list[tuple[Sequence[UpsertRow], RequestRejectedError]] = []
        for half in (rows[:mid], rows[mid:]):
            try:
                outcomes += self._upsert_chunk_once(path, id_property, half, call)
            except RequestRejectedError as exc:
                if not _refused_for_its_rows(exc):
                    raise
                refused.append((half, exc))
        if len(refused) == 2 and all(e.hubspot_message == error.hubspot_message for _, e in refused):
            raise error
        for half, exc in refused:
            outcomes += self._isolate_refused_rows(path, id_property, half, call, exc)
        return outcomes

    def _upsert_chunk_once(
        self, path: str, id_property: str, rows: Sequence[UpsertRow], call: Counters | None
    ) -> list[RowOutcome]:
        """One upsert request, no isolation: a 400 propagates to the caller."""
        payload = bodies.upsert_body(rows, id_property)
        _, body = self._send("POST", path, json_body=payload, row_keys=[r.key for r in rows], call=call)
        found, missing = match_upsert_results(body, rows, id_property)
        return found + [missing_outcome(row) for row in missing]

    # -- other object calls -----------------------------------------------------------------

    def batch_read(
        self,
        object_type: str,
        ids: Iterable[str],
        *,
        id_property: str | None = None,
        properties: Sequence[str] = (),
    ) -> list[dict[str, Any]]:
        """Read records by record id, or by ``id_property`` value; unknown ids are left out.

        Returns:
            The records HubSpot found (``{"id", "properties", ...}``), in no particular order.
        """
        id_list = list(dict.fromkeys(ids))
        if not id_list:
            return []
        path = self._endpoints.path("batch_read", object_type=object_type)

        def read_chunk(chunk: Sequence[str]) -> list[dict[str, Any]]:
            _, body = self._send("POST", path, json_body=bodies.read_body(chunk, id_property, properties), row_keys=chunk)
            results = body.get("results") if isinstance(body, Mapping) else None
            return [r for r in results if isinstance(r, dict)] if isinstance(results, list) else []

        return [record for chunk in self._run_chunks(read_chunk, bodies.chunks(id_list)) for record in chunk]

    def batch_archive(self, object_type: str, record_ids: Iterable[str]) -> None:
        """Archive records by HubSpot record id (archiving twice is harmless)."""
        id_list = list(dict.fromkeys(record_ids))
        path = self._endpoints.path("batch_archive", object_type=object_type)

        def archive_chunk(chunk: Sequence[str]) -> None:
            self._send("POST", path, json_body=bodies.archive_body(chunk), row_keys=chunk)

        self._run_chunks(archive_chunk, bodies.chunks(id_list))

    # -- associations (v4 / 2026-09) ---------------------------------------------------------

    def association_batch_create(
        self, from_type: str, to_type: str, inputs: Sequence[Mapping[str, Any]], *, limit: int = ASSOCIATION_BATCH_LIMIT,
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], int]:
        """Create associations, at most ``limit`` inputs per request, concurrently.

        ``inputs`` are ``{"from": {"id"}, "to": {"id"}, "types": [{"associationCategory",
        "associationTypeId"}]}``. HubSpot answers 201, or 207 with ``errors[]`` for inputs it
        refused (docs/hubspot-behaviour.md, "Associations v4"); creating an existing
        association again is harmless, so the request is retried like upserts.

        Returns:
            ``(results, errors, requests)``: the created pairs, HubSpot's error objects, and
            the requests this call sent (retries included).
        """
        items = list(inputs)
        if not items:
            return [], [], 0
        path = self._endpoints.path("association_batch_create", from_type=from_type, to_type=to_type)
        call = Counters()

        def create_chunk(chunk: Sequence[Mapping[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
            _, body = self._send("POST", path, json_body={"inputs": list(chunk)}, call=call,
                                 row_keys=[f"{i['from']['id']}>{i['to']['id']}" for i in chunk])
            body = body if isinstance(body, Mapping) else {}
            results, errors = body.get("results"), body.get("errors")
            return ([r for r in results if isinstance(r, dict)] if isinstance(results, list) else [],
                    [e for e in errors if isinstance(e, dict)] if isinstance(errors, list) else [])

        parts = self._run_chunks(create_chunk, [items[i:i + limit] for i in range(0, len(items), limit)])
        return ([r for res, _ in parts for r in res], [e for _, errs in parts for e in errs],
                call.snapshot().requests_sent)

    def association_batch_archive(
        self, from_type: str, to_type: str, pairs: Sequence[tuple[str, str]], *, limit: int = ASSOCIATION_BATCH_LIMIT,
    ) -> int:
        """Remove every association between each (from id, to id) pair, one input per pair,
        at most ``limit`` per request (archiving a pair twice is harmless). Returns the
        requests sent."""
        unique = list(dict.fromkeys(pairs))
        if not unique:
            return 0
        path = self._endpoints.path("association_batch_archive", from_type=from_type, to_type=to_type)
        call = Counters()

        def archive_chunk(chunk: Sequence[tuple[str, str]]) -> None:
            body = {"inputs": [{"from": {"id": f}, "to": [{"id": t}]} for f, t in chunk]}
            self._send("POST", path, json_body=body, call=call, row_keys=[f"{f}>{t}" for f, t in chunk])

        self._run_chunks(archive_chunk, [unique[i:i + limit] for i in range(0, len(unique), limit)])
        return call.snapshot().requests_sent

    def association_labels(self, from_type: str, to_type: str) -> list[dict[str, Any]]:
        """The association types from one object to another: ``[{"category", "typeId",
        "label"}]`` (``label`` None for HubSpot's unlabeled type)."""
        _, body = self._send("GET", self._endpoints.path("association_labels", from_type=from_type, to_type=to_type))
        results = body.get("results") if isinstance(body, Mapping) else None
        return [r for r in results if isinstance(r, dict)] if isinstance(results, list) else []

    def iter_records(
        self,
        object_type: str,
        properties: Sequence[str] | None = None,
        *,
        page_size: int = 100,
        archived: bool = False,
    ) -> Iterator[dict[str, Any]]:
        """Yield every record of the object, following ``paging.next.after``."""
        if not 1 <= page_size <= 100:
            raise ValueError(f"page_size must be 1..100, got {page_size}")
        path = self._endpoints.path("list_objects", object_type=object_type)
        after: str | None = None
        while True:
            params: dict[str, Any] = {"limit": page_size, "archived": "true" if archived else "false"}
            if properties:
                params["properties"] = ",".join(properties)
            if after:
                params["after"] = after
            _, body = self._send("GET", path, params=params)
            body = body if isinstance(body, Mapping) else {}
            for record in body.get("results") or []:
                yield record
            paging = body.get("paging") or {}
            after = ((paging.get("next") or {}) if isinstance(paging, Mapping) else {}).get("after")
            if not after:
                return

    def list_properties(self, object_type: str) -> list[dict[str, Any]]:
        """All (non-archived) property definitions of the object."""
        _, body = self._send("GET", self._endpoints.path("properties", object_type=object_type))
        results = body.get("results") if isinstance(body, Mapping) else None
        return list(results) if isinstance(results, list) else []

    def list_property_groups(self, object_type: str) -> list[dict[str, Any]]:
        """The object's property groups (a created property must name one)."""
        _, body = self._send("GET", self._endpoints.path("property_groups", object_type=object_type))
        results = body.get("results") if isinstance(body, Mapping) else None
        return list(results) if isinstance(results, list) else []

    def get_property(self, object_type: str, name: str) -> dict[str, Any] | None:
        """One property definition, or ``None`` if the object has no such property."""
        try:
            _, body = self._send("GET", self._endpoints.path("property", object_type=object_type, name=name))
        except HubSpotTerminalError as exc:
            if exc.status == 404:
                return None
            raise
        return body if isinstance(body, dict) else None

    def create_property(self, object_type: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """Create a property (needs ``crm.schemas.courses.write``); returns its definition.

        Creating is not idempotent, so a failure that leaves the outcome unknown (read
        timeout, dropped connection, 5xx) is followed by a lookup of the property by name
        before anything is sent again. If HubSpot answers 409 to a repeat, the existing
        property is returned.
        """
        name = str(body.get("name") or "")
        path = self._endpoints.path("properties", object_type=object_type)
        ambiguous = False
        last_error: HubSpotError | None = None
        for _ in range(self.retry_policy.max_attempts):
            try:
                _, created = self._send("POST", path, json_body=dict(body), safe_to_repeat=False, row_keys=[name])
                return created if isinstance(created, dict) else {}
            except _AmbiguousWrite as exc:
                logger.info("POST %s: %s; checking whether property %r exists", path, exc.verdict.reason.value, name)
                ambiguous = True
                existing = self.get_property(object_type, name) if name else None
                if existing is not None:
                    return existing
                last_error = error_for(exc.verdict, method="POST", path=path, row_keys=[name], attempts=exc.attempts)
            except HubSpotTerminalError as exc:
                if ambiguous and exc.status == 409 and name:
                    existing = self.get_property(object_type, name)
                    if existing is not None:
                        return existing
                raise
        assert last_error is not None  # the loop only repeats after an ambiguous failure
        raise last_error

    def _get_unless_forbidden(self, path: str) -> Any:
        """GET an optional read: its body, or ``_UNREADABLE`` when the portal or token may not
        read it (403/404), which callers of such reads go on without."""
        try:
            return self._send("GET", path)[1]
        except HubSpotTerminalError as exc:
            if exc.status in (403, 404):
                return _UNREADABLE
            raise

    def portal_id(self) -> int | None:
        """The portal (hub) id, from ``GET /account-info/v3/details``; None if not readable.

        Used to tell portals apart in local state. Which scope this needs for a private app is
        undocumented (a GUESS: none beyond a valid token;
        docs/hubspot-behaviour.md, "Account details"), so a 403/404 is not fatal.
        """
        body = self._get_unless_forbidden(self._endpoints.path("account_details"))
        if body is _UNREADABLE:
            return None
        value = body.get("portalId") if isinstance(body, Mapping) else None
        return int(value) if isinstance(value, (int, str)) and str(value).isdigit() else None

    def daily_usage(self) -> DailyUsage | None:
        """The account's daily request usage (``GET .../api-usage/daily/private-apps``:
        ``usageLimit``, ``currentUsage``, ``resetsAt``; docs/hubspot-behaviour.md, "Daily usage").

        ``None`` when the token cannot read it (403/404; OAuth tokens are not private apps).
        """
        body = self._get_unless_forbidden(self._endpoints.path("daily_usage"))
        if body is _UNREADABLE:
            return None
        return parse_daily_usage(body)

    def property_validations(self, object_type: str) -> dict[str, list[dict[str, Any]]] | None:
        """The portal's validation rules of the object, by property name (one request).

        ``GET .../property-validations/{objectTypeId}`` answers
        ``{"results": [{"propertyName", "propertyValidationRules": [{ruleType, ruleArguments,
        shouldApplyNormalization}]}]}`` (docs/hubspot-behaviour.md, "Property validation rules").
        Returns ``None`` when the portal or token cannot read them (403 or 404): the caller
        goes on without local rule checks.
        """
        body = self._get_unless_forbidden(self._endpoints.path("property_validations", object_type=object_type))
        if body is _UNREADABLE:
            return None
        out: dict[str, list[dict[str, Any]]] = {}
        results = body.get("results") if isinstance(body, Mapping) else None
        for item in results if isinstance(results, list) else []:
            if not isinstance(item, Mapping) or not isinstance(item.get("propertyName"), str):
                continue
            rules = item.get("propertyValidationRules")
            out.setdefault(item["propertyName"], []).extend(
                dict(r) for r in (rules if isinstance(rules, list) else []) if isinstance(r, Mapping)
            )
        return out

    @property
    def has_record_limits(self) -> bool:
        """Whether this API family has the record-limits endpoint."""
        return self._endpoints.has("record_limits")

    def record_limit(self, object_type: str) -> tuple[int, int] | None:
        """``(limit, usage)`` of the object's records in the portal, or ``None`` if unknown.

        ``GET .../limits/records`` answers ``{"hubspotDefinedObjectTypes": [{"objectTypeId",
        "limit", "usage", "percentage", ...}], "customObjectTypes": {"byObjectType": [...],
        "overallLimit", "overallUsage", ...}}`` (docs/hubspot-behaviour.md, "Record limits"):
        HubSpot's objects (courses, 0-410) have a limit each, custom objects share one overall
        limit. A family without the endpoint, a 403/404 and an answer without the object all
        give ``None``.
        """
        if not self.has_record_limits:
            return None
        body = self._get_unless_forbidden(self._endpoints.path("record_limits"))
        if body is _UNREADABLE:
            return None
        if not isinstance(body, Mapping):
            return None
        defined = body.get("hubspotDefinedObjectTypes")
        for item in defined if isinstance(defined, list) else []:
            if isinstance(item, Mapping) and str(item.get("objectTypeId")) == object_type:
                return _limit_and_usage(item.get("limit"), item.get("usage"))
        custom = body.get("customObjectTypes")
        if isinstance(custom, Mapping):
            by_type = custom.get("byObjectType")
            if any(isinstance(i, Mapping) and str(i.get("objectTypeId")) == object_type
                   for i in (by_type if isinstance(by_type, list) else [])):
                return _limit_and_usage(custom.get("overallLimit"), custom.get("overallUsage"))
        return None

    def is_object_enabled(self, object_type: str) -> bool:
        """Whether the object (e.g. courses, 0-410) is activated in the portal's object library."""
        _, body = self._send("GET", self._endpoints.path("object_enablement", object_type=object_type))
        return bool(body.get("enablement")) if isinstance(body, Mapping) else False

    # -- the send loop -----------------------------------------------------------------------

    def _send(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        params: Mapping[str, Any] | None = None,
        safe_to_repeat: bool = True,
        row_keys: Sequence[str] = (),
        call: Counters | None = None,
    ) -> tuple[int, Any]:
        """Send one request with rate limiting, classification and retries.

        Returns:
            ``(status, decoded JSON body or None)`` for a 2xx answer.

        Raises:
            HubSpotTerminalError / HubSpotTransientError: by the classifier's verdict.
            _AmbiguousWrite: ``safe_to_repeat=False`` and the outcome is unknown.
        """
        request = bodies.outgoing(
            self.api_base_url, method, path, json_body, params, safe_to_repeat=safe_to_repeat, row_keys=row_keys
        )
        tally = Tally(self._counters, call)
        attempt = 0
        waited_s = 0.0
        while True:
            attempt += 1
            verdict, body, status_text = self._attempt(request, tally, attempt)
            if verdict.action is Action.OK:
                return verdict.status or 0, body
            wait_s = self._wait_before_retry(request, verdict, status_text, attempt, waited_s)
            tally.retried(wait_s)
            waited_s += wait_s
            if verdict.reason is Reason.RATE_LIMITED:
                # The window is full for everyone on this portal: hold all threads, not just this one
                # (the limiter's control law says for how long).
                self.rate_limiter.rate_limited(wait_s, retry_after=verdict.retry_after_s is not None)
            else:
                self._sleep(wait_s)

    def _attempt(self, request: OutgoingRequest, tally: Tally, attempt: int) -> tuple[Verdict, Any, str]:
        """One attempt: take budget, send, classify the answer (or the transport failure).

        Returns ``(verdict, decoded body or None, status text for logs)``; raises only for
        failures that are not HubSpot's answer (a bad URL, an unexpected exception).
        """
        # at most max_concurrency requests in flight, whichever thread sends them
        with self._in_flight:
            if self.daily_budget is not None:
                self.daily_budget.spend()  # raises, before anything is sent, past the run's cap
            permit = self.rate_limiter.acquire()
            tally.waited_for_budget(permit.waited_s)
            limits: RateLimitHeaders | None = None
            started = time.monotonic()
            try:
                tally.sent()
                # never follow a redirect: HubSpot's API does not send them, and requests
                # would re-send the request, rows included, to whatever host Location names
                response = self._session.send(
                    self._prepare(request), timeout=self.timeouts_s, allow_redirects=False, **self._transport
                )
            except BaseException as exc:
                if not isinstance(exc, requests.RequestException):
                    self.rate_limiter.release(permit)  # never leak budget on an unexpected error
                    raise
                verdict = classify_exception(exc)
                if verdict is None:
                    self.rate_limiter.release(permit)
                    raise HubSpotTerminalError(
                        f"{request.method} {request.path} could not be sent ({type(exc).__name__}); check api_base_url",
                        row_keys=request.row_keys,
                    ) from None
                tally.transport_error()
                status_text = type(exc).__name__
                body = None
            else:
                limits = rate_limit_headers(response.headers)  # once, for classifier and limiter
                body = bodies.decode_json(response.content)
                verdict = classify(
                    response.status_code, body, response.headers, now_epoch_s=time.time(), rate_limits=limits
                )
                tally.answered(response.status_code)
                status_text = str(response.status_code)
        self.rate_limiter.release(permit, limits, rate_limited=verdict.reason is Reason.RATE_LIMITED)
        if self.daily_budget is not None:
            self.daily_budget.observe(limits)
        elapsed_ms = (time.monotonic() - started) * 1000
        logger.debug("%s %s -> %s (%.0f ms, attempt %d)", request.method, request.path, status_text, elapsed_ms, attempt)
        return verdict, body, status_text

    def _wait_before_retry(
        self, request: OutgoingRequest, verdict: Verdict, status_text: str, attempt: int, waited_s: float
    ) -> float:
        """Seconds to wait before the next attempt; raises when the verdict ends the request."""
        method, path = request.method, request.path
        if verdict.action is Action.FAIL:
            error = _error_for(request, verdict, attempt, waited_s)
            if isinstance(error, DailyLimitExceededError) and self.daily_budget is not None:
                self.daily_budget.annotate(error)
            raise error
        if not request.safe_to_repeat and verdict.reason in AMBIGUOUS_REASONS:
            raise _AmbiguousWrite(verdict, attempt)
        with self._rng_lock:
            wait_s = next_wait_s(self.retry_policy, attempt, verdict, self._rng)
        if not should_retry(self.retry_policy, attempt, waited_s, wait_s):
            logger.warning("%s %s: giving up after %d attempts (%s)", method, path, attempt, verdict.reason.value)
            raise _error_for(request, verdict, attempt, waited_s)
        logger.info(
            "%s %s -> %s (%s); retry %d/%d in %.2f s",
            method,
            path,
            status_text,
            verdict.reason.value,
            attempt,
            self.retry_policy.max_attempts - 1,
            wait_s,
        )
        return wait_s

    def _prepare(self, request: OutgoingRequest) -> requests.PreparedRequest:
        """What ``Session.request`` would send (session headers, auth, cookies), with the body
        already encoded: orjson is ~15x faster than the json module on upsert payloads."""
        headers = {"Content-Type": "application/json"} if request.data is not None else None
        return self._session.prepare_request(
            requests.Request(request.method, request.url, data=request.data, params=request.params, headers=headers)
        )

    # -- concurrency ----------------------------------------------------------------------------

    def _executor(self) -> ThreadPoolExecutor:
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=self.max_concurrency, thread_name_prefix="hubspot-client")
            return self._pool

    def _run_chunks(self, work: Callable[[Any], Any], chunks: Sequence[Any]) -> list[Any]:
        """Run ``work`` over chunks, concurrently when there are several; results in order.

        On the first failure the chunks not yet started are cancelled, the running ones are
        awaited, and the failure is raised (a terminal error wins over a transient one).
        """
        if len(chunks) <= 1:
            return [work(chunk) for chunk in chunks]
        pool = self._executor()
        futures: list[Future[Any]] = [pool.submit(work, chunk) for chunk in chunks]
        done, not_done = wait(futures, return_when=FIRST_EXCEPTION)
        if any(f.exception() is not None for f in done):
            for f in not_done:
                f.cancel()
            wait(futures)
            errors = [f.exception() for f in futures if not f.cancelled() and f.exception() is not None]
            terminal = [e for e in errors if isinstance(e, HubSpotTerminalError)]
            raise (terminal or errors)[0]  # type: ignore[misc]
        return [f.result() for f in futures]


def _error_for(request: OutgoingRequest, verdict: Verdict, attempts: int, waited_s: float) -> HubSpotError:
    """The exception that ends ``request`` with ``verdict``."""
    return error_for(
        verdict, method=request.method, path=request.path, row_keys=request.row_keys, attempts=attempts, waited_s=waited_s
    )


def _limit_and_usage(limit: Any, usage: Any) -> tuple[int, int] | None:
    """Two non-negative whole numbers, or None (a limit we cannot read is no limit to enforce)."""
    if isinstance(limit, bool) or isinstance(usage, bool):
        return None
    if isinstance(limit, (int, float)) and isinstance(usage, (int, float)) and limit >= 0 and usage >= 0:
        return int(limit), int(usage)
    return None


def _refused_for_its_rows(exc: RequestRejectedError) -> bool:
    """A 400 VALIDATION_ERROR on upsert may be about one input; other refusals never are."""
    return exc.status == 400 and exc.category == "VALIDATION_ERROR"
