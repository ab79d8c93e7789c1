"""One session per portal, object type and staging file: the resources a load shares.

dlt calls the destination once per batch, from several load threads, with no "load started"
or "load finished" hook. What those calls must share lives here, in one registry:

- the HTTP client (its connection pool, worker threads and rate limiter: one limiter per
  portal and token, also across sessions of other object types);
- the staging connection (DuckDB allows one writing process per file);
- the property catalog of the current load package (preflight runs once per load);
- the once-per-load state checks (portal binding, lost-state rebuild, hash format).

``close()`` releases the client and the staging file. :func:`close_sessions` closes every
session (or those of one staging file); it runs at process exit, and the job calls it when
its run ends.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
from typing import Any, Mapping
from urllib.parse import urlsplit

from .errors import HubSpotTransientError, RecordLimitExceededError
from .hubspot import BudgetSnapshot, DailyBudget, HubSpotClient, Rate, RateLimiter, RetryPolicy
from .hubspot.client import REQUEST_BOUND_S
from .hubspot.shared_budget import open_shared_budget
from .mapping import CONTENT_HASH_FORMAT, CoercionError, PropertySpec, to_hubspot_value
from .properties import PropertyCatalog
from .settings import HubSpotCoursesConfiguration
from .staging import Staging

__all__ = [
    "Session", "session_for", "close_sessions", "check_portal", "rebuilt_state", "portal_identity",
    "daily_budget_of",
]

log = logging.getLogger("hubspot_courses_destination")


class Session:
    """The client, staging connection, property catalog and state checks of one portal,
    object type and staging file, shared by every batch of the process."""

    def __init__(
        self, settings: HubSpotCoursesConfiguration, *, client: HubSpotClient | None = None,
        rate_limiter: RateLimiter | None = None, staging: Staging | None = None,
        daily_budget: DailyBudget | None = None,
    ) -> None:
        self.settings = settings
        self.staging_key = os.path.abspath(settings.staging_path)  # fixed now: a later chdir must not move it
        # the staging first: if the file is locked by another process, no client is left open
        self.staging = staging or Staging(settings.staging_path)
        self.client = client or HubSpotClient(
            settings.access_token,
            settings.api_base_url,
            requests_per_10s=settings.requests_per_10s,
            max_concurrency=settings.max_concurrency,
            rate_limiter=rate_limiter or RateLimiter(
                Rate(settings.requests_per_10s), control=settings.rate_limit_control,
                shared=open_shared_budget(settings.shared_budget_dir, settings.api_base_url,
                                          str(settings.access_token), in_flight_bound_s=REQUEST_BOUND_S),
            ),
            api_version=settings.api_version,
            daily_budget=daily_budget or DailyBudget(settings.daily_budget_share),
        )
        self._catalogs: dict[str, PropertyCatalog] = {}
        self._state_checked: set[str] = set()
        # load id -> [records left when the load started (None: unknown), creates reserved, limit]
        self._headroom: dict[str, list[int | None]] = {}
        self._headroom_skip_said = False
        self._lock = threading.Lock()
        self.closed = False

    @property
    def usable(self) -> bool:
        return not self.closed and not self.staging.closed

    def close(self) -> None:
        """Stop the client's worker threads, close its HTTP session and the staging file.
        (:func:`close_sessions` does this for sessions that share a client or a file.)"""
        self.closed = True
        self.client.close()
        self.staging.close()

    # ------------------------------------------------------------------ once per load

    def start_daily_budget(self) -> None:
        """Before a run's first batch (and again after HubSpot's reset): read the account's daily
        usage, whose answer's ``Daily-Remaining`` header sets the run's cap and whose
        ``resetsAt`` says when the count resets (README "Daily budget"). One request per day
        and portal; a token that cannot read it (OAuth, 403) leaves the run without a cap
        unless the headers give one. A dry run sends nothing to budget."""
        budget = self.client.daily_budget
        if budget is None or self.settings.dry_run or not budget.needs_usage():
            return
        try:
            usage = self.client.daily_usage()
        except HubSpotTransientError as exc:  # the load goes on: the headers still give the cap
            log.info("daily budget: the daily usage could not be read (%s); going on without resetsAt", exc.status)
            return
        budget.note_usage(usage)

    def catalog(self, load_id: str) -> PropertyCatalog:
        """The property catalog of this load package (a new load re-reads the portal)."""
        with self._lock:
            catalog = self._catalogs.get(load_id)
            if catalog is None:
                catalog = PropertyCatalog(
                    self.client, self.settings, on_create=lambda spec: self._note_created(load_id, spec)
                )
                self._catalogs = {load_id: catalog}
            return catalog

    def _note_created(self, load_id: str, spec: PropertySpec) -> None:
        """Every property a load creates is listed in the run summary (a typo in a column name
        would otherwise become a portal property unnoticed)."""
        self.staging.record_created_property(
            load_id, self.settings.object_type, spec.name, spec.type, spec.field_type,
            dry_run=self.settings.dry_run,
        )

    def ensure_state(self, load_id: str, specs: Mapping[str, PropertySpec]) -> None:
        """Bind the staging file to the portal, and rebuild ``sync_state`` from HubSpot when
        the file is new or empty.

        A fresh CI runner or a lost staging file would otherwise re-send every course. The
        rebuild lists the object's records with every writable property: one read request
        per 100 records in the portal (README "Lost state").
        """
        s = self.settings
        if s.dry_run:
            return
        with self._lock:
            if load_id in self._state_checked:
                return
            self._bind_portal()
            format_key = f"content_hash_format:{s.object_type}"
            format_current = self.staging.get_meta(format_key) == CONTENT_HASH_FORMAT
            hashes_dropped = not format_current and self._drop_hashes_of_older_format()
            if s.rebuild_state and not s.full_resync and (
                hashes_dropped or self.staging.synced_count(s.object_type) == 0
            ):
                records = rebuilt_state(self.client, s, specs)
                self.staging.mark_rebuilt(s.object_type, load_id, records)
                log.info("rebuilt sync_state from HubSpot: %d courses already there", len(records))
            # only now: if the rebuild failed, the next batch or load drops and rebuilds again
            if not format_current:
                self.staging.set_meta(format_key, CONTENT_HASH_FORMAT)
            self._state_checked.add(load_id)

    def reserve_creates(self, load_id: str, creates: int, *, batch_rows: int) -> None:
        """Refuse, before anything of this batch is sent, creates past the portal's record limit.

        Before the first create of a load the portal's record limit of the object is read
        once (``GET /crm/limits/{ver}/records``: ``limit`` and ``usage``, docs/hubspot-behaviour.md,
        "Record limits"); the load's headroom is ``limit - usage``. Every batch then reserves
        its creates against it, and the batch that would cross it raises
        :class:`RecordLimitExceededError` instead of being sent.

        Conservative on purpose: ``creates`` counts every key to send that ``sync_state`` knows
        no HubSpot id for (a key HubSpot holds but this staging file does not know counts as a
        create, rows HubSpot may still reject count too), reservations are never given back
        (a batch that failed keeps its share), and the usage read at the start of the load
        already includes records others create meanwhile only up to that moment. So the check
        may refuse a load that would just fit, never let through one whose new keys cannot
        fit. dlt hands the load over in batches, so earlier batches of the load may have been
        sent before a later one is refused; the message says how many.

        Skipped (and said once) when the portal does not give the limit (403/404, no entry for
        the object) or the API family has no record-limits endpoint.
        """
        if creates <= 0:
            return
        s = self.settings
        with self._lock:
            state = self._headroom.get(load_id)
            if state is None:
                limit = self.client.record_limit(s.object_type) if self.client.has_record_limits else None
                if limit is None and not self._headroom_skip_said:
                    self._headroom_skip_said = True
                    log.info(
                        "record-limit check skipped for %s: %s", s.object_type,
                        f"API family {s.api_version} has no record-limits endpoint"
                        if not self.client.has_record_limits else
                        "HubSpot did not give the portal's record limit of the object (no endpoint, "
                        "no scope for the token, or no entry for the object)",
                    )
                state = [None if limit is None else limit[0] - limit[1], 0, limit[0] if limit else None]
                self._headroom = {load_id: state}
            headroom, planned, limit_value = state[0], int(state[1] or 0), int(state[2] or 0)
            if headroom is not None and planned + creates > headroom:
                raise RecordLimitExceededError(
                    f"This load would pass the HubSpot portal's record limit for {s.object_type}: "
                    f"{limit_value:,} records allowed, {limit_value - headroom:,} in use when the load started, and this load would create up to {planned + creates:,} "
                    f"({creates:,} in this batch of {batch_rows:,} rows; keys the staging file does not "
                    f"know count as creates). Nothing of this batch was sent"
                    f"{f'; {planned:,} creates of earlier batches of this load were' if planned else ''}. "
                    "Archive unused records in HubSpot, raise the portal's limit, or load fewer new courses"
                )
            state[1] = planned + creates

    def _drop_hashes_of_older_format(self) -> bool:
        """Hashes written by an older release of this package use another format: every row
        would look changed and be sent again, bumping each record's last-modified date and
        possibly firing workflows. Their hashes are dropped instead (keys, ids and sources
        stay), so the rebuild compares rows with what HubSpot holds: reads, one per 100
        courses, no writes. Returns whether there were hashes to drop."""
        s = self.settings
        dropped = self.staging.drop_hashes(s.object_type)
        if dropped:
            log.warning(
                "staging file %s holds content hashes of an older format for %d courses; %s",
                s.staging_path, dropped,
                "comparing them with HubSpot's records instead" if s.rebuild_state and not s.full_resync
                else "they are sent again once (rebuild_state is off)",
            )
        return dropped > 0

    def _bind_portal(self) -> None:
        """Tie the staging file to one portal.

        ``sync_state`` says what *a* portal holds; against another portal (a test portal's
        staging file used for production) it would skip every row as unchanged and send
        nothing. On a mismatch the state is dropped, and rebuilt from the new portal.
        """
        s, staging = self.settings, self.staging
        portal = portal_identity(self.client, s)
        bound = staging.get_meta(f"portal:{s.object_type}")
        if bound is not None and bound != portal:
            dropped = staging.clear_sync_state(s.object_type)
            log.warning(
                "staging file %s was last used with another HubSpot portal; dropped its sync_state "
                "(%d courses) so nothing is skipped by mistake", s.staging_path, dropped,
            )
        if bound != portal:
            staging.set_meta(f"portal:{s.object_type}", portal)


def portal_identity(client: HubSpotClient, settings: HubSpotCoursesConfiguration) -> str:
    """The API host and the portal (hub) id; the token fingerprint when the id is unreadable.

    The id survives token rotation, so a new token does not cost a rebuild.
    """
    host = urlsplit(settings.api_base_url).hostname or settings.api_base_url
    portal_id = client.portal_id()
    return f"{host}/{portal_id}" if portal_id is not None else f"{host}/token:{settings.token_fingerprint}"


def rebuilt_state(
    client: HubSpotClient,
    settings: HubSpotCoursesConfiguration,
    specs: Mapping[str, PropertySpec],
) -> list[tuple[str, str, dict[str, str]]]:
    """(key, HubSpot id, values) of every record, values coerced the way rows are.

    Values go through the same coercion as rows, so HubSpot's formats (e.g. a datetime
    without milliseconds) compare like ours. Every writable property is read because each
    source table sends its own set; the comparison happens per row, over what it sends.
    """
    names = sorted(n for n, spec in specs.items() if not spec.read_only)
    out: list[tuple[str, str, dict[str, str]]] = []
    for record in client.iter_records(settings.object_type, properties=names):
        props = record.get("properties") or {}
        key = props.get(settings.id_property)
        if not key:
            continue
        values: dict[str, str] = {}
        for name in names:
            raw = props.get(name)
            if raw in (None, ""):
                continue
            try:
                coerced = to_hubspot_value(raw, specs[name])
            except CoercionError:
                coerced = str(raw)
            if coerced is not None:
                values[name] = coerced
        values[settings.id_property] = str(key)
        out.append((str(key), str(record["id"]), values))
    return out


def check_portal(settings: HubSpotCoursesConfiguration, *, max_wait_s: float = 10.0) -> None:
    """Two quick reads before a run extracts anything: is HubSpot reachable, does it take the
    token? Raises ``HubSpotTransientError`` (unreachable) or a terminal error (401, 403).

    A name that does not resolve or a port that refuses is known in milliseconds; inside a
    load it surfaced only after five backed-off dlt retries of every job (minutes).
    """
    quick = RetryPolicy(max_attempts=3, backoff_base_s=1.0, max_total_wait_s=max_wait_s)
    client = HubSpotClient(settings.access_token, settings.api_base_url, connect_timeout_s=5.0,
                     read_timeout_s=30.0, retry_policy=quick, max_concurrency=1,
                     api_version=settings.api_version)
    level, log.level = log.level, logging.ERROR  # its "giving up" line: the caller says it
    try:
        client.portal_id()
        # an object path of the chosen family: a portal that no longer serves it answers 404
        client.is_object_enabled(settings.object_type)
    finally:
        log.setLevel(level)
        client.close()


# ---------------------------------------------------------------------- the one registry

_sessions: dict[tuple[Any, ...], Session] = {}
_sessions_lock = threading.Lock()


def session_for(settings: HubSpotCoursesConfiguration) -> Session:
    """The process's session for these settings, opened on first use.

    Sessions of one portal and token share one client, so the rate limit is one budget
    however many object types or staging files a process syncs.
    """
    key = settings.session_key()
    with _sessions_lock:
        session = _sessions.get(key)
        if session is None or not session.usable:
            siblings = [s for s in _sessions.values() if s.usable and _portal(s.settings) == _portal(settings)]
            same_client = next(
                (s for s in siblings if s.settings.max_concurrency == settings.max_concurrency
                 and s.settings.api_version == settings.api_version), None,
            )
            limiter = siblings[0].client.rate_limiter if siblings else None
            # one daily budget per portal and token for the run, whatever sessions spend it
            budget = siblings[0].client.daily_budget if siblings else None
            if budget is not None and settings.daily_budget_share < budget.share:
                budget.share = settings.daily_budget_share  # a lower share lowers it, never raises it
            if limiter is not None and settings.requests_per_10s < limiter.rate.limit:
                # a lower tier lowers the shared budget, never raises it
                limiter.set_rate(Rate(settings.requests_per_10s, limiter.rate.interval_s))
            # one connection (and so one lock) per staging file, whatever sessions use it
            path = os.path.abspath(settings.staging_path)
            same_file = next((s.staging for s in _sessions.values() if s.usable and s.staging_key == path), None)
            session = Session(settings, client=same_client.client if same_client else None,
                              rate_limiter=limiter, staging=same_file, daily_budget=budget)
            _sessions[key] = session
        return session


def _portal(s: HubSpotCoursesConfiguration) -> tuple[str, str]:
    """One rate-limit budget: HubSpot counts requests per app (token) and portal."""
    return s.api_base_url.rstrip("/").lower(), str(s.access_token)


def daily_budget_of(settings: HubSpotCoursesConfiguration) -> BudgetSnapshot | None:
    """What this run's daily budget for the settings' portal stands at (for the job's summary);
    ``None`` when no session of the portal is open."""
    with _sessions_lock:
        found = next((s for s in _sessions.values() if s.usable and _portal(s.settings) == _portal(settings)), None)
    budget = found.client.daily_budget if found is not None else None
    return budget.snapshot() if budget is not None else None


def close_sessions(staging_path: str | None = None) -> None:
    """Close every session, or those on one staging file (so another process may open it)."""
    wanted = os.path.abspath(staging_path) if staging_path else None
    with _sessions_lock:
        closing = [(k, s) for k, s in _sessions.items() if wanted is None or s.staging_key == wanted]
        for key, _ in closing:
            del _sessions[key]
        clients_in_use = {id(s.client) for s in _sessions.values()}
        files_in_use = {id(s.staging) for s in _sessions.values()}
    for _, session in closing:
        session.closed = True
        if id(session.staging) not in files_in_use:
            session.staging.close()
        if id(session.client) not in clients_in_use:
            session.client.close()


atexit.register(close_sessions)
