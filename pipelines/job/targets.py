"""HubSpot or the embedded sandbox, and the state each keeps; a dry run's throwaway copy."""

from __future__ import annotations

import argparse
import contextlib
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Optional

import dlt

from hubspot_courses_destination import TOKEN_ENV, TOKEN_KEY, close_sessions
from pipelines.sources.common import DEFAULT_LABELS
from .common import DEFAULT_STATE_DIR, DEST_SECTION, StateInUse, UsageError, conf, rel
from .config import project_dir, token_origin

if TYPE_CHECKING:
    from .state_store import StateStore


def choose_target(
    *, sandbox_flag: bool, sandbox_if_no_token: bool, token_configured: bool, interactive: bool,
    synced_to_hubspot_before: bool, settings_dir: Path,
) -> str:
    """"sandbox" or "hubspot". The sandbox is never a silent fallback for a run meant for HubSpot.

    Without a token the sandbox is used only when asked for (``--sandbox``), or, in a project
    that has no HubSpot state yet, with ``--sandbox-if-no-token`` or in a terminal session (a
    first try). A cron or CI run (no terminal) and a project that synced to HubSpot before fail
    instead: their missing token is a mistake.
    """
    if sandbox_flag:
        return "sandbox"
    if token_configured:
        return "hubspot"
    if sandbox_if_no_token and not synced_to_hubspot_before:
        return "sandbox"
    why = (
        "this project has synced to HubSpot before (its state is in .state/hubspot)"
        if synced_to_hubspot_before else "this run is not interactive (cron, CI, an orchestrator)"
    )
    if interactive and not synced_to_hubspot_before:
        return "sandbox"
    raise UsageError(
        f"no HubSpot token is configured (looked for {TOKEN_KEY} in {settings_dir}/secrets.toml, "
        f"in the environment as {TOKEN_ENV}, and in dlt's other providers), and {why}, so the job "
        "does not fall back to the embedded sandbox: a run meant for HubSpot must not 'succeed' "
        "against a local sandbox. Configure the token, or pass --sandbox to run against the "
        "sandbox on purpose."
    )


def is_interactive() -> bool:
    return sys.stdin is not None and sys.stdin.isatty() and sys.stdout.isatty()


@dataclass
class Target:
    name: str  # "sandbox" | "hubspot"
    api_base_url: Optional[str]
    access_token: Optional[str]  # None: dlt resolves it from secrets/env
    pipelines_dir: Path
    staging_path: Path
    sandbox_db: Optional[Path] = None


def target_paths(args: argparse.Namespace, name: str) -> tuple[Path, Path]:
    """(pipelines dir, staging file); separate per target: sandbox hashes must never make the
    real portal skip rows. A configured ``staging_path`` counts for HubSpot runs only."""
    state_dir = (args.state_dir or DEFAULT_STATE_DIR) / name
    configured = dlt.config.get(f"{DEST_SECTION}.staging_path") if name == "hubspot" else None
    staging = args.staging_path or (project_dir() / str(configured) if configured else state_dir / "staging.duckdb")
    return args.pipelines_dir or state_dir / "pipelines", staging


@contextlib.contextmanager
def open_target(args: argparse.Namespace, name: str, id_property: str, labels: bool = False) -> Iterator[Target]:
    """The run's target; for the sandbox, set up as a portal's admin would once: the id
    property and (``labels``: enrollments are synced) the course-contact labels the sources use."""
    pipelines_dir, staging_path = target_paths(args, name)
    staging_path.parent.mkdir(parents=True, exist_ok=True)
    if name == "hubspot":
        api = conf(None, f"{DEST_SECTION}.api_base_url", "https://api.hubapi.com")
        print(f"Target: the HubSpot API at {api} (token from {token_origin()}).")
        try:
            yield Target(name, None, None, pipelines_dir, staging_path)
        finally:
            close_sessions(str(staging_path))  # this run's client and staging file, not others'
        return
    from hubspot_courses_destination.sandbox import DEFAULT_TOKEN, Sandbox

    # the sandbox keeps its records in a file next to the staging state, so a second run sees
    # the courses of the first (and the staging hashes stay true), like a real portal would
    sandbox_db = staging_path.parent / "sandbox-portal.duckdb"
    with open_sandbox(sandbox_db) as sandbox:
        if not args.dry_run and not any(p["name"] == id_property for p in sandbox.properties()):
            # what a HubSpot admin does once per portal (the destination could also create it)
            sandbox.create_property(id_property, label="LMS course key", has_unique_value=True)
        if labels:  # also for a dry run (a fresh sandbox file has none; they persist once made)
            for label in DEFAULT_LABELS:
                with contextlib.suppress(ValueError):  # the label exists already
                    sandbox.create_association_label(label)
        why = "--sandbox given" if args.sandbox else "No HubSpot token configured"
        print(
            "=" * 78
            + f"\n{why}: running against the EMBEDDED SANDBOX at {sandbox.url}\n(records kept in "
            f"{rel(sandbox_db)}). Nothing is sent to HubSpot. To target a portal, set\n"
            f"{TOKEN_KEY} in .dlt/secrets.toml or the env var {TOKEN_ENV}.\n" + "=" * 78
        )
        try:
            yield Target(name, sandbox.url, DEFAULT_TOKEN, pipelines_dir, staging_path, sandbox_db)
        finally:
            close_sessions(str(staging_path))  # before the sandbox stops
        contacts = f", {len(sandbox.contacts())} contact(s), {len(sandbox.associations())} course-contact " \
            "association(s)" if labels else ""
        print(f"Sandbox now holds {len(sandbox.records())} live course record(s){contacts}.")


def open_sandbox(sandbox_db: Path) -> Any:
    """The embedded sandbox on the job's portal file; a file another process holds (a second
    run at once, or ``rejected retry --sandbox``) is one paragraph, not DuckDB's traceback."""
    import duckdb

    from hubspot_courses_destination.sandbox import Sandbox

    daily_limit = sandbox_daily_limit()
    try:
        return Sandbox(db_path=str(sandbox_db), daily_limit=daily_limit)
    except duckdb.IOException as exc:
        if "lock" not in str(exc).lower():
            raise
        raise StateInUse(
            f"the embedded sandbox's records file {rel(sandbox_db)} is in use by another process: "
            "another run of this job against the sandbox with the same --state-dir, or a "
            "`rejected retry --sandbox` (DuckDB lets one process open it). Nothing was read or sent. "
            "Wait for that run to finish and run again, or give this run its own --state-dir."
        ) from None


def sandbox_daily_limit() -> int:
    """The embedded sandbox's requests per day (``lms_to_hubspot.sandbox.daily_limit``, env
    ``LMS_TO_HUBSPOT__SANDBOX__DAILY_LIMIT``; HubSpot's smallest tier by default): a small one
    shows the daily budget at work (README "Daily budget"). Each run starts a new sandbox day."""
    value = conf(None, "lms_to_hubspot.sandbox.daily_limit", 250_000)
    try:
        limit = int(str(value).strip())
    except ValueError:
        limit = 0
    if limit < 1:
        raise UsageError(f"lms_to_hubspot.sandbox.daily_limit (env LMS_TO_HUBSPOT__SANDBOX__DAILY_LIMIT) must be "
                         f"a whole number of requests >= 1, got {value!r}")
    return limit


@contextlib.contextmanager
def throwaway_state(target: Target, pipeline_name: str) -> Iterator[Target]:
    """A dry run works on copies of the pipeline's state and the staging file, thrown away after:
    it must move no incremental cursor, finish or drop no pending package and record nothing."""
    with tempfile.TemporaryDirectory(prefix="lms_to_hubspot-dry-run-") as tmp:
        tmp_dir = Path(tmp)
        pipeline_dir = target.pipelines_dir / pipeline_name
        if pipeline_dir.is_dir():
            shutil.copytree(pipeline_dir, tmp_dir / "pipelines" / pipeline_name, symlinks=True)
        staging = tmp_dir / "staging.duckdb"
        for suffix in ("", ".wal"):
            original = Path(f"{target.staging_path}{suffix}")
            if original.is_file():
                shutil.copy2(original, f"{staging}{suffix}")
        try:
            yield Target(target.name, target.api_base_url, target.access_token, tmp_dir / "pipelines",
                         staging, target.sandbox_db)
        finally:
            close_sessions(str(staging))  # the copy's connection, before the folder goes


@contextlib.contextmanager
def worker_state(args: argparse.Namespace, name: str, pipeline_name: str) -> Iterator[None]:
    """With ``--state-url``: lock the target's shared state, copy it into this worker's
    ``--state-dir`` (or a temporary folder) and point the run at that copy; copy it back after
    the run, also a failed one (its pending load package is what the next run finishes first).
    A dry run copies nothing back."""
    if not args.state_url:
        yield
        return
    from .state_store import StateStoreError, describe_checkout

    store = _state_store(args)
    with contextlib.ExitStack() as stack:
        local = args.state_dir or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="lms_to_hubspot-state-")))
        try:
            checkout = stack.enter_context(store.checkout(name, pipeline_name, Path(local), write_back=not args.dry_run))
        except StateStoreError:
            raise
        except Exception as exc:  # storage errors (no such bucket, no credentials, not a directory)
            raise StateStoreError(f"the state store {args.state_url} could not be used: {type(exc).__name__}: "
                                  f"{exc}. Nothing was read or sent; check the URL and the storage's "
                                  "credentials, then run again.") from None
        print(describe_checkout(store, checkout))
        args.state_dir, args.pipelines_dir, args.staging_path = Path(local), checkout.pipelines_dir, checkout.staging_path
        yield


def synced_to_hubspot_before(args: argparse.Namespace) -> bool:
    """Whether this project's HubSpot state exists: locally, or in the shared store."""
    if args.state_url:
        from .state_store import StateStoreError

        try:
            return _state_store(args).has_state("hubspot")
        except (UsageError, StateStoreError):
            raise
        except Exception as exc:  # storage errors (no such bucket, no credentials)
            raise StateStoreError(f"the state store {args.state_url} could not be read: {type(exc).__name__}: "
                                  f"{exc}. Nothing was read or sent; check the URL and the storage's "
                                  "credentials, then run again.") from None
    return target_paths(args, "hubspot")[1].exists()


def _state_store(args: argparse.Namespace) -> "StateStore":
    """The ``--state-url`` store; a URL no installed filesystem serves is a usage error."""
    from .state_store import StateStore

    try:
        return StateStore(str(args.state_url), wait_s=float(args.state_lock_wait or 0.0))
    except (ValueError, ImportError) as exc:  # an unknown protocol, its package not installed
        raise UsageError(f"--state-url {args.state_url} cannot be used: {exc}. Give a directory path or an "
                         "fsspec URL whose filesystem package is installed (s3fs for s3://)") from None
