"""Command line tools around the staging database.

    python -m hubspot_courses_destination rejected list  [--staging PATH | --state-dir DIR | --state-url URL] [--sandbox] [--limit N] [--json]
    python -m hubspot_courses_destination rejected retry [--staging PATH | --state-dir DIR | --state-url URL] [--sandbox] [--limit N] [--id-property NAME]

The staging file is the one the job (pipelines/lms_to_hubspot.py) writes: ``--staging`` if
given; else ``destination.hubspot_courses.staging_path`` from dlt config, unless
``--state-dir`` or ``--sandbox`` say which of the job's state to use; else
``<state dir>/<target>/staging.duckdb``, where the state dir is ``.state`` in the project
directory (``DLT_PROJECT_DIR``, else the current directory) and the target is ``hubspot``
when a HubSpot token is configured, ``sandbox`` otherwise (or with ``--sandbox``).

With ``--state-url`` (the job's shared state, README "Running on an orchestrator") the target's
state is copied out of the store into a temporary folder: ``list`` reads the last stored copy
without the lock (a running job is not disturbed); ``retry`` takes the store's lock, as a job
run does, and copies the staging file (and the sandbox portal) back when it is done.

In sandbox mode (``--sandbox``, or no token configured) ``retry`` starts the embedded
sandbox on the portal file the job keeps next to the staging file (``sandbox-portal.duckdb``)
and retries against it. Otherwise settings
(token, id property, API URL, ...) resolve like the destination's: environment variables,
``.dlt/secrets.toml`` and ``.dlt/config.toml``. Exit codes: 0 done, 1 rows are still
rejected after a retry, 2 an error (one line on stderr: no staging file, bad configuration,
HubSpot refused). A reader that stops early (``| head``) ends the output quietly. The file
used, and why, is printed on stderr, so stdout stays the listing (or JSON lines).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from .errors import ConfigurationError
from .session import close_sessions
from .settings import SECTION, resolve_settings, token_configured
from .errors import HubSpotError
from .replay import ReplayResult, needs_source_fix, replay_rejections
from .staging import Staging

STAGING_KEY = f"{SECTION}.staging_path"
ID_PROPERTY_KEY = f"{SECTION}.id_property"
DEFAULT_ID_PROPERTY = "lms_course_key"
"""The job's default id property (``--id-property`` there); the CLI falls back to it too."""
SANDBOX_PORTAL_FILE = "sandbox-portal.duckdb"
"""The embedded sandbox's records, kept by the job next to its sandbox staging file."""


class CliError(Exception):
    """A problem to report in one line with exit code 2."""


@dataclass(frozen=True)
class StagingChoice:
    path: str
    why: str  # printed, so a user sees which file was read and why
    state_url: str | None = None  # the file is a copy out of the job's state store


def choose_staging(
    *,
    staging: str | None,
    state_dir: str | None,
    sandbox_flag: bool,
    configured_path: Callable[[], str | None],
    use_sandbox: Callable[[], bool],
    project_dir: str,
) -> StagingChoice:
    """Which staging file to read. Flags beat config, config beats the job's default file.

    Lookups are callables so that a flag which settles the question never reads (or fails
    on) the dlt config or secrets.
    """
    if staging:
        return StagingChoice(staging, "--staging")
    if not state_dir and not sandbox_flag:
        configured = configured_path()
        if configured:
            return StagingChoice(str(configured), f"{STAGING_KEY} in dlt config")
    sandbox = sandbox_flag or use_sandbox()
    target = "sandbox" if sandbox else "hubspot"
    base = Path(state_dir) if state_dir else Path(project_dir) / ".state"
    reason = "--sandbox" if sandbox_flag else ("no HubSpot token configured" if sandbox else "a HubSpot token is configured")
    return StagingChoice(str(base / target / "staging.duckdb"), f"the job's {target} state: {reason}")


def project_dir() -> str:
    """Where the job keeps ``.state``: dlt's project directory."""
    return os.environ.get("DLT_PROJECT_DIR") or os.getcwd()


def hubspot_token_configured() -> bool:
    """A token in any dlt provider; a destination section without one is a typo, not 'no token'."""
    try:
        return token_configured()
    except ConfigurationError as exc:
        raise CliError(f"{exc} (or pass --sandbox)") from None


def _configured(key: str) -> Any:
    import dlt

    return dlt.config.get(key)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m hubspot_courses_destination", description=__doc__.split("\n\n")[0],
                                     allow_abbrev=False)
    sub = parser.add_subparsers(dest="command", required=True)
    rejected = sub.add_parser("rejected", help="list or retry rows HubSpot (or coercion) refused", allow_abbrev=False)
    rsub = rejected.add_subparsers(dest="action", required=True)
    for name, text in (("list", "show open rejections, newest first"),
                       ("retry", "re-send open rejections after fixing their cause in HubSpot or the "
                                 "destination's settings; fixed ones are closed")):
        p = rsub.add_parser(name, help=text, description=text, allow_abbrev=False)
        p.add_argument("--staging", metavar="PATH",
                       help="staging DuckDB file (default: the configured staging_path, else the job's "
                            "<state-dir>/<target>/staging.duckdb)")
        p.add_argument("--state-dir", metavar="DIR",
                       help="the job's --state-dir (default: .state in DLT_PROJECT_DIR or the current directory)")
        p.add_argument("--state-url", metavar="URL",
                       help="the job's --state-url (a shared directory or fsspec URL): use the target's "
                            "state stored there; retry takes its lock")
        p.add_argument("--sandbox", action="store_true",
                       help="the job's embedded-sandbox state, also when a HubSpot token is configured")
        p.add_argument("--limit", type=int, default=None, metavar="N", help="at most this many rows")
        if name == "list":
            p.add_argument("--json", action="store_true", help="one JSON object per line, with the stored row")
        else:
            p.add_argument("--id-property", metavar="NAME",
                           help=f"the id property the load used (default: the configured id_property, else "
                                f"{DEFAULT_ID_PROPERTY}, as in the job)")
    return parser


def _require_staging(choice: StagingChoice) -> None:
    """A missing file means a wrong directory or target: opening it would create an empty one."""
    if not os.path.isfile(choice.path):
        raise CliError(
            f"no staging database at {choice.path} ({choice.why}): nothing was synced with it; "
            "pass the job's --state-dir/--sandbox, or --staging PATH"
        )


def _list(choice: StagingChoice, limit: int | None, as_json: bool, sandbox: bool = False) -> int:
    _require_staging(choice)
    with Staging(choice.path) as staging:
        rows = staging.open_rejections(limit=limit)
    if as_json:
        for r in rows:
            record = {**r, "rejected_at": r["rejected_at"].isoformat(), "needs_source_fix": needs_source_fix(r)}
            print(json.dumps(record, ensure_ascii=False))
        return 0
    if not rows:
        print("no open rejections")
        return 0
    for r in rows:
        code = f"/{r['code']}" if r["code"] and r["code"] != r["category"] else ""
        fix = "source" if needs_source_fix(r) else "retry"
        print(f"{r['rejected_at']:%Y-%m-%d %H:%M}  {fix:<6}  {r['source_table'] or '-':<12} "
              f"{r['record_key'] or '(no key)':<24} {r['category']}{code}: {r['message']}")
    source = sum(1 for r in rows if needs_source_fix(r))
    print(f"\n{len(rows)} open rejection(s); {len(rows) - source} can be retried with "
          f"`{retry_command(choice, sandbox)}` once the cause is fixed in HubSpot "
          f"or the destination's settings; {source} need a fix in the source data, then a load "
          "(marked 'source': no key, no course name, text over HubSpot's 65,536-character limit, "
          "a duplicate key)")
    return 0


def is_sandbox_state(staging_path: str) -> bool:
    """A staging file the job keeps for the embedded sandbox: its portal file lies beside it."""
    return os.path.exists(os.path.join(os.path.dirname(os.path.abspath(staging_path)), SANDBOX_PORTAL_FILE))


def retry_command(choice: StagingChoice, sandbox: bool) -> str:
    """The retry command for the file just listed, runnable as printed (this interpreter)."""
    python = sys.executable
    try:
        python = os.path.relpath(os.path.abspath(python)) if os.path.abspath(python).startswith(os.getcwd()) else python
    except ValueError:
        pass
    where = f"--state-url {shlex.quote(choice.state_url)}" if choice.state_url else f"--staging {choice.path}"
    return f"{python} -m hubspot_courses_destination rejected retry{' --sandbox' if sandbox else ''} {where}"


@contextlib.contextmanager
def _stored_state(url: str, target: str, *, lock: bool) -> Iterator[StagingChoice]:
    """The target's state from the job's store, copied into a temporary folder. ``lock``
    (retry): held for the body, and the files are copied back after it, as a job run does."""
    import tempfile

    from .state_store import StateStore

    from .state_store import StateStoreError

    def unusable(exc: Exception) -> CliError:
        return CliError(f"the state store {url} could not be used: {type(exc).__name__}: {exc}; check the URL "
                        "(a directory path or an fsspec URL whose filesystem package is installed) and the "
                        "storage's credentials")

    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="hubspot-courses-rejected-")))
        why = f"--state-url: the {target} state stored there"
        try:
            store = StateStore(url)
            if not store.has_state(target):
                raise CliError(f"no {target} state in the state store {url}: no job run with --state-url "
                               f"{url} stored one{' (leave out --sandbox)' if target == 'sandbox' else ' (try --sandbox)'}")
            if lock:
                checkout = stack.enter_context(store.checkout(target, None, tmp))
                choice = StagingChoice(str(checkout.staging_path), why, url)
            else:
                store.download(target, None, tmp / target)
                choice = StagingChoice(str(tmp / target / "staging.duckdb"), why + " (last stored copy)", url)
        except (CliError, StateStoreError):
            raise
        except Exception as exc:  # noqa: BLE001 - an unknown protocol, no credentials, not a directory
            raise unusable(exc) from None
        yield choice


@contextlib.contextmanager
def _sandbox_target(staging_path: str) -> Iterator[dict[str, str]]:
    """The embedded sandbox on the job's persisted portal, as destination settings."""
    from .sandbox import DEFAULT_TOKEN, Sandbox

    portal = Path(staging_path).parent / SANDBOX_PORTAL_FILE
    if not portal.is_file():
        raise CliError(
            f"no sandbox portal at {portal}: retrying in sandbox mode needs the records of the job's "
            "sandbox runs next to the staging file (with a HubSpot token configured, leave out --sandbox)"
        )
    import duckdb  # the sandbox's store: a running job holds the file

    try:
        sandbox = Sandbox(db_path=str(portal))
    except duckdb.Error as exc:
        raise CliError(f"cannot open the sandbox portal {portal}: {exc} (is the job running?)") from None
    with sandbox:
        print(f"Target: the embedded sandbox on {portal}", file=sys.stderr)
        yield {"access_token": DEFAULT_TOKEN, "api_base_url": sandbox.url}


def _retry(choice: StagingChoice, sandbox: bool, limit: int | None, id_property: str | None) -> int:
    _require_staging(choice)
    overrides: dict[str, Any] = {
        "staging_path": choice.path,
        "id_property": id_property or _configured(ID_PROPERTY_KEY) or DEFAULT_ID_PROPERTY,
    }
    target = _sandbox_target(choice.path) if sandbox else contextlib.nullcontext({})
    try:
        with target as endpoint:
            settings = resolve_settings(**overrides, **endpoint)
            if not sandbox:
                print(f"Target: the HubSpot API at {settings.api_base_url}", file=sys.stderr)
            result = replay_rejections(settings, limit=limit)
    finally:
        close_sessions(choice.path)
    print(_retry_line(result))
    return 0 if result.still_rejected == 0 else 1


def _retry_line(result: ReplayResult) -> str:
    left = (f"; {result.needs_source_fix} left open: they need a fix in the source data, then a load"
            if result.needs_source_fix else "")
    return (f"retried {result.attempted}: {result.fixed} now synced, {result.still_rejected} still rejected "
            f"(replay load id {result.load_id}){left}")


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


def _run(args: argparse.Namespace) -> int:
    from dlt.common.configuration.exceptions import ConfigFieldMissingException, ConfigProviderException

    from .state_store import StateStoreError

    use_sandbox = lambda: args.sandbox or not hubspot_token_configured()  # noqa: E731
    try:
        if args.state_url:
            if args.staging or args.state_dir:
                raise CliError("--state-url names the job's state itself: leave out --staging and --state-dir")
            target = "sandbox" if use_sandbox() else "hubspot"
            with _stored_state(args.state_url, target, lock=args.action == "retry") as choice:
                print(f"Staging: {choice.path} ({choice.why})", file=sys.stderr)
                sandbox = target == "sandbox"
                if args.action == "list":
                    return _list(choice, args.limit, args.json, sandbox)
                return _retry(choice, sandbox, args.limit, args.id_property)
        choice = choose_staging(
            staging=args.staging, state_dir=args.state_dir, sandbox_flag=args.sandbox,
            configured_path=lambda: _configured(STAGING_KEY), use_sandbox=use_sandbox,
            project_dir=project_dir(),
        )
        print(f"Staging: {choice.path} ({choice.why})", file=sys.stderr)
        # the sandbox's own staging file (the portal's records lie next to it) is never
        # retried against HubSpot, whatever token is configured
        sandbox = args.sandbox or is_sandbox_state(choice.path) or use_sandbox()
        if args.action == "list":
            return _list(choice, args.limit, args.json, sandbox)
        return _retry(choice, sandbox, args.limit, args.id_property)
    except (CliError, HubSpotError, StateStoreError, ConfigProviderException, ConfigFieldMissingException) as exc:
        print(f"error: {_one_line(exc)}", file=sys.stderr)
    return 2


def _quiet_stdout() -> None:
    """The reader went away (``| head``): point stdout at /dev/null so the exit flush is silent."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    code = 0  # a listing cut short by its reader is not a failure
    try:
        code = _run(args)
        sys.stdout.flush()
    except BrokenPipeError:
        _quiet_stdout()
    return code


if __name__ == "__main__":
    sys.exit(main())
