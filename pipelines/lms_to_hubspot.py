#!/usr/bin/env python
"""Sync LMS course records into HubSpot's Courses object (0-410) with dlt.

    python pipelines/lms_to_hubspot.py --sandbox                 # bundled sample -> embedded sandbox
    python pipelines/lms_to_hubspot.py --source moodle --moodle-url mysql+pymysql://...
    python pipelines/lms_to_hubspot.py --help

Settings come from the project's ``.dlt/`` folder (the one next to ``pipelines/``, wherever the
job is started from; ``DLT_PROJECT_DIR`` points elsewhere) and from the environment, in dlt's
order; a flag given on the command line wins. With ``destination.hubspot_courses.access_token``
configured the job writes to HubSpot. Without one it uses the embedded HubSpot sandbox only
when that cannot be a mistake: ``--sandbox`` or ``--sandbox-if-no-token`` was given, or the
run is interactive (a terminal) in a project that has never synced to HubSpot. A scheduled
run without a token fails with exit 2 instead of "succeeding" against a local sandbox.

Exit codes: 0 the run completed (rejected rows are reported, not a failure); 1 the pipeline
failed or HubSpot could not be reached (nothing lost: dlt keeps an unfinished load package and
the next run of the same source finishes it first), or mirror mode refused; 2 bad arguments or
configuration (nothing was sent).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, List, Optional, Sequence

HERE = Path(__file__).resolve().parent
PROJECT_ROOT = HERE.parent
if str(HERE) not in sys.path:  # `pipelines/` is a folder of scripts, not an installed package
    sys.path.insert(0, str(HERE))

import dlt  # noqa: E402
from dlt.common.configuration.exceptions import (  # noqa: E402
    ConfigFieldMissingException,
    ConfigProviderException,
)
from dlt.pipeline.exceptions import PipelineStepFailed  # noqa: E402

from hubspot_courses_destination.config import DestinationSettings, settings_from_dlt_config  # noqa: E402
from hubspot_courses_destination.errors import ConfigurationError, HubSpotError  # noqa: E402

from sources.common import DEFAULT_ID_PROPERTY  # noqa: E402

PIPELINE_PREFIX = "lms_to_hubspot"
LEGACY_PIPELINE_NAME = "lms_to_hubspot"  # one pipeline for every source, before 0.2
SOURCES = ("sample", "moodle", "canvas", "csv")
DEST_SECTION = "destination.hubspot_courses"
TOKEN_KEY = f"{DEST_SECTION}.access_token"
TOKEN_ENV = "DESTINATION__HUBSPOT_COURSES__ACCESS_TOKEN"
DEFAULT_STATE_DIR = PROJECT_ROOT / ".state"

#: flags that belong to one source: giving them with another source is a mistake
SOURCE_FLAGS = {
    "moodle": ("moodle_url", "moodle_table_prefix", "moodle_site_url"),
    "canvas": ("canvas_base_url", "canvas_account_id"),
    "csv": ("csv_path",),
}

log = logging.getLogger("lms_to_hubspot")


class UsageError(Exception):
    """Bad arguments or configuration: exit code 2, nothing was sent."""


class Unreachable(Exception):
    """HubSpot (or the sandbox) could not be reached before the run: exit code 1."""


# --------------------------------------------------------------------------------------
# command line


def share(text: str) -> float:
    """``--mirror-max-share``: a fraction 0 < x <= 1 (``0.05``) or a percent (``5%``).

    A bare ``5`` (meaning 5 %) or ``-1`` would switch the archive guard off, so both are refused.
    """
    raw = text.strip()
    try:
        value = float(raw[:-1]) / 100 if raw.endswith("%") else float(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number; give a fraction like 0.1 or a percent like 10%")
    if not 0 < value <= 1:
        hint = f" (did you mean {raw}%?)" if not raw.endswith("%") and 1 < value <= 100 else ""
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a share of the synced courses: give a fraction 0 < x <= 1 such as 0.1, "
            f"or a percent such as 10%{hint}"
        )
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lms_to_hubspot.py",
        description=(
            "Upsert LMS courses into HubSpot's Courses object (0-410) through dlt. Settings come "
            "from the project's .dlt/ folder and the environment (dlt's order); a flag wins. "
            f"With a HubSpot token ({TOKEN_KEY} in .dlt/secrets.toml, or the env var {TOKEN_ENV}) "
            "it writes to HubSpot; --sandbox runs against an embedded HubSpot sandbox instead."
        ),
        epilog=(
            "State: each source has its own dlt pipeline (incremental cursors, pending load "
            "packages) under --state-dir, and all share one staging DuckDB file per target "
            "(content hashes of synced rows, rejected rows, run counts); one subdirectory per "
            "target ('sandbox' or 'hubspot'). Keep them between scheduled runs. Exit codes: 0 "
            "done (rejected rows are reported, not a failure), 1 the pipeline failed, HubSpot was "
            "unreachable or mirror refused, 2 bad arguments or configuration."
        ),
    )
    src = parser.add_argument_group("source")
    src.add_argument(
        "--source",
        choices=SOURCES,
        default=None,
        help="where courses come from: the bundled real sample data, a Moodle database, the "
        "Canvas REST API or a CSV export (config: lms_to_hubspot.source; default: sample)",
    )
    src.add_argument(
        "--moodle-url",
        metavar="SQLALCHEMY_URL",
        help="Moodle database, e.g. mysql+pymysql://reader:PASS@db/moodle; prefer the secret "
        "sources.moodle.credentials so the password stays off the command line",
    )
    src.add_argument(
        "--moodle-table-prefix",
        metavar="PREFIX",
        help="Moodle's $CFG->prefix (config: sources.moodle.table_prefix; default: mdl_)",
    )
    src.add_argument(
        "--moodle-site-url",
        metavar="URL",
        help="Moodle's wwwroot, to fill course_url (config: sources.moodle.site_url; optional)",
    )
    src.add_argument(
        "--canvas-base-url",
        metavar="URL",
        help="Canvas instance, e.g. https://school.instructure.com (config: sources.canvas.base_url); "
        "the token is the secret sources.canvas.access_token",
    )
    src.add_argument(
        "--canvas-account-id",
        metavar="ID",
        help="Canvas account whose courses are listed, e.g. 1 for the root account "
        "(config: sources.canvas.account_id)",
    )
    src.add_argument(
        "--csv-path",
        metavar="PATH_OR_GLOB",
        help="CSV export file or glob (e.g. 'exports/*.csv'), OULAD courses.csv layout or "
        "HubSpot-named columns (config: sources.csv.path); a glob matching no file is an error",
    )
    dst = parser.add_argument_group("destination")
    dst.add_argument(
        "--id-property",
        metavar="NAME",
        help="the unique-value HubSpot property used as upsert key "
        f"(config: {DEST_SECTION}.id_property; default: {DEFAULT_ID_PROPERTY})",
    )
    dst.add_argument(
        "--sandbox",
        action="store_true",
        help="use the embedded sandbox, even when a HubSpot token is configured",
    )
    dst.add_argument(
        "--sandbox-if-no-token",
        action="store_true",
        help="use the embedded sandbox when no HubSpot token is configured, also in a "
        "non-interactive run (what `make run` does); without it such a run fails with exit 2",
    )
    dst.add_argument(
        "--create-properties",
        dest="create_properties",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="create missing HubSpot properties (the id property and course_* ones) from the "
        f"dlt column types (config: {DEST_SECTION}.create_missing_properties); "
        "--no-create-properties when the token lacks crm.schemas.courses.write",
    )
    dst.add_argument(
        "--full-resync",
        action="store_true",
        default=None,
        help="send every row again: ignore the staging hashes that skip unchanged rows and "
        f"reset incremental cursors (Moodle's timemodified) (config: {DEST_SECTION}.full_resync)",
    )
    dst.add_argument(
        "--mirror",
        action="store_true",
        help="treat this run as a full snapshot: archive courses this same input delivered "
        "before but no longer has (refused when more than --mirror-max-share of them would go)",
    )
    dst.add_argument(
        "--mirror-max-share",
        type=share,
        default=0.1,
        metavar="SHARE",
        help="mirror safety threshold: the largest share of this input's synced courses one run "
        "may archive, a fraction 0 < x <= 1 or a percent like 5%% (default: 0.1)",
    )
    dst.add_argument(
        "--dry-run",
        action="store_true",
        default=None,
        help="extract, map and diff, and report what would happen; changes nothing: not "
        "HubSpot, not the staging file, not dlt's state or incremental cursors",
    )
    run = parser.add_argument_group("run")
    run.add_argument(
        "--state-dir",
        type=Path,
        default=None,
        help=f"where run state lives (default: {DEFAULT_STATE_DIR.relative_to(PROJECT_ROOT)}/ in "
        "the project, one subdirectory per target)",
    )
    run.add_argument(
        "--pipelines-dir",
        type=Path,
        help="dlt's pipelines directory (default: <state-dir>/<target>/pipelines)",
    )
    run.add_argument(
        "--staging-path",
        type=Path,
        help="the staging DuckDB file (default: <state-dir>/<target>/staging.duckdb)",
    )
    run.add_argument(
        "--pipeline-name",
        default=None,
        help=f"dlt pipeline name (default: {PIPELINE_PREFIX}_<source>, and for csv one per input "
        "file or glob, so one source's failed load never blocks another's)",
    )
    run.add_argument(
        "--progress",
        action="store_true",
        help="log dlt's progress (progress='log': rows extracted, jobs loaded) while the run goes",
    )
    run.add_argument(
        "--verbose",
        action="store_true",
        help="show dlt's log records with their tracebacks, and the traceback of a failure",
    )
    run.add_argument(
        "--drop-pending",
        action="store_true",
        help="discard load packages a failed earlier run of this source left behind instead of "
        "retrying them first (their rows are not sent; use --full-resync to send everything again)",
    )
    return parser


def check_argument_combinations(args: argparse.Namespace, source: str) -> None:
    """A flag of another source (``--csv-path`` without ``--source csv``) is a mistake, not a
    reason to run the sample silently."""
    for owner, names in SOURCE_FLAGS.items():
        given = [n for n in names if getattr(args, n) not in (None, "")]
        if given and owner != source:
            flags = ", ".join("--" + n.replace("_", "-") for n in given)
            raise UsageError(f"{flags} belong(s) to --source {owner}, but the source is {source!r}: "
                             f"add --source {owner}, or leave out {flags}")
    if args.sandbox and args.sandbox_if_no_token:
        raise UsageError("--sandbox and --sandbox-if-no-token contradict each other: give one")
    if args.mirror and source == "moodle" and not args.full_resync:
        raise UsageError(
            "--mirror needs a full snapshot, but the moodle source is incremental (only courses "
            "modified since the last run are read): add --full-resync, or leave out --mirror"
        )


# --------------------------------------------------------------------------------------
# configuration: flag > environment > .dlt/secrets.toml > .dlt/config.toml > default


@dataclass(frozen=True)
class ConfigOrigin:
    settings_dir: Path
    files: tuple[str, ...]  # the .toml files found there
    env_names: tuple[str, ...]  # DESTINATION__/SOURCES__ variables set (names only)
    ignored_cwd_dir: Optional[Path]  # a .dlt/ in the working directory that is not read

    def describe(self) -> str:
        files = ", ".join(self.files) if self.files else "no config.toml or secrets.toml"
        text = f"Config: {self.settings_dir} ({files})"
        if self.env_names:
            text += f"; environment: {', '.join(self.env_names)}"
        return text + "."


def project_dir() -> Path:
    """The folder whose ``.dlt/`` the job reads: ``DLT_PROJECT_DIR`` (dlt's own variable) if
    set, else this project, wherever the job is started from (cron calls it by absolute path)."""
    return Path(os.environ.get("DLT_PROJECT_DIR") or PROJECT_ROOT).resolve()


def use_project_config(root: Path) -> ConfigOrigin:
    """Point dlt's config and secrets providers at ``root/.dlt`` and say what they will read."""
    os.environ["DLT_PROJECT_DIR"] = str(root)
    from dlt.common.configuration.container import Container
    from dlt.common.configuration.specs.pluggable_run_context import PluggableRunContext

    Container()[PluggableRunContext].reload_providers()
    settings_dir = root / ".dlt"
    files = tuple(f for f in ("config.toml", "secrets.toml") if (settings_dir / f).is_file())
    env_names = tuple(sorted(n for n in os.environ if n.startswith(("DESTINATION__", "SOURCES__", "LMS_TO_HUBSPOT__"))))
    cwd_dir = Path.cwd().resolve() / ".dlt"
    ignored = cwd_dir if cwd_dir != settings_dir and cwd_dir.is_dir() else None
    return ConfigOrigin(settings_dir, files, env_names, ignored)


def _conf(flag_value: Any, key: str, default: Any = None, secret: bool = False) -> Any:
    if flag_value not in (None, ""):
        return flag_value
    provider = dlt.secrets if secret else dlt.config
    value = provider.get(key)
    return default if value in (None, "") else value


def hubspot_token_configured() -> bool:
    """A HubSpot token in any dlt provider (secrets.toml, env, vaults). Asked at run time only.

    A broken secrets file raises (dlt's ConfigProviderException, exit 2), and a destination
    section in the secrets without ``access_token`` (a typo) is a usage error: either would
    otherwise look like "no token" and switch the run to the sandbox.
    """
    if dlt.secrets.get(TOKEN_KEY):
        return True
    section = dlt.secrets.get(DEST_SECTION)
    if section:
        raise UsageError(
            f"the secrets have a [{DEST_SECTION}] section ({', '.join(sorted(section))}) "
            "but no access_token: check the key's spelling, or remove the section to use the sandbox"
        )
    return False


def choose_target(
    *, sandbox_flag: bool, sandbox_if_no_token: bool, token_configured: bool, interactive: bool,
    synced_to_hubspot_before: bool, settings_dir: Path,
) -> str:
    """"sandbox" or "hubspot". The sandbox is never a silent fallback for a run meant for HubSpot.

    Without a token the sandbox is used only when asked for, or in a terminal session of a
    project that has no HubSpot state yet (a first try). A cron or CI run (no terminal) and a
    project that synced to HubSpot before fail instead: their missing token is a mistake.
    """
    if sandbox_flag:
        return "sandbox"
    if token_configured:
        return "hubspot"
    if sandbox_if_no_token:
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


# --------------------------------------------------------------------------------------
# sources


def pipeline_name_for(args: argparse.Namespace, source: str, csv_path: Optional[str]) -> str:
    """One dlt pipeline (state, cursors, pending packages) per source, and per CSV input: a
    failed load of one never blocks the runs of another."""
    if args.pipeline_name:
        return args.pipeline_name
    if source == "csv" and csv_path:
        from sources.csv_export import csv_table_name

        return f"{PIPELINE_PREFIX}_{csv_table_name(csv_path)}"
    return f"{PIPELINE_PREFIX}_{source}"


def check_moodle_connection(url: Any, table_prefix: str) -> None:
    """Connect once before the run: a wrong password or a missing driver is a one-paragraph
    configuration error, not a traceback from dlt's extract step."""
    import sqlalchemy as sa
    from sqlalchemy.exc import NoSuchModuleError, SQLAlchemyError

    try:
        engine = sa.create_engine(url) if isinstance(url, str) else url
    except NoSuchModuleError as exc:
        raise UsageError(f"the Moodle URL names an unknown SQLAlchemy dialect ({exc}); use e.g. "
                         "mysql+pymysql://, postgresql+psycopg2:// or sqlite:///") from None
    except ModuleNotFoundError as exc:
        raise UsageError(f"the database driver for the Moodle URL is not installed ({exc.name}): "
                         f"pip install {_driver_package(exc.name)} (for MySQL/MariaDB use a "
                         "mysql+pymysql:// URL and pip install pymysql)") from None
    except Exception as exc:  # noqa: BLE001 - a malformed URL: ArgumentError, ValueError
        raise UsageError(f"the Moodle database URL is not valid: {type(exc).__name__}: "
                         f"{_without_password(str(exc), url)}") from None
    try:
        with engine.connect() as con:
            if not sa.inspect(con).has_table(f"{table_prefix}course"):
                raise UsageError(f"the Moodle database has no table {table_prefix}course: check the "
                                 "database name and --moodle-table-prefix (Moodle's $CFG->prefix)")
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        raise UsageError(f"cannot read the Moodle database: {_without_password(reason, url)}. Check "
                         "the host, database name, user and password in sources.moodle.credentials "
                         "(or --moodle-url)") from None
    finally:
        if isinstance(url, str):
            engine.dispose()


def _driver_package(module: Optional[str]) -> str:
    return {"MySQLdb": "mysqlclient", "psycopg2": "psycopg2-binary"}.get(module or "", module or "the driver")


def _without_password(text: str, url: Any) -> str:
    try:
        from sqlalchemy.engine import make_url

        password = make_url(url).password if isinstance(url, str) else None
    except Exception:  # noqa: BLE001
        password = None
    return text.replace(password, "***") if password else text


def build_source(args: argparse.Namespace, source: str, id_property: str, csv_path: Optional[str]) -> Any:
    """The dlt source or resource for ``--source``; each maps its columns in its own module."""
    if source == "sample":
        from sources.sample import sample_source

        return sample_source(id_property=id_property)
    if source == "moodle":
        from sources.moodle import moodle_courses

        url = _conf(args.moodle_url, "sources.moodle.credentials", secret=True)
        if not url:
            raise UsageError(
                "--source moodle needs the Moodle database: --moodle-url SQLALCHEMY_URL or the "
                "secret sources.moodle.credentials (env SOURCES__MOODLE__CREDENTIALS)."
            )
        prefix = _conf(args.moodle_table_prefix, "sources.moodle.table_prefix", "mdl_")
        check_moodle_connection(url, prefix)
        return moodle_courses(
            url, table_prefix=prefix, site_url=_conf(args.moodle_site_url, "sources.moodle.site_url"),
            id_property=id_property,
        )
    if source == "canvas":
        from sources.canvas import canvas_source

        kwargs = {"id_property": id_property}
        if args.canvas_base_url:
            kwargs["base_url"] = args.canvas_base_url
        if args.canvas_account_id:
            kwargs["account_id"] = args.canvas_account_id
        return canvas_source(**kwargs)  # the rest (and the token) resolve from dlt config
    if source == "csv":
        from sources.csv_export import UnknownCsvLayout, check_csv_input, csv_courses

        if not csv_path:
            raise UsageError("--source csv needs --csv-path FILE_OR_GLOB (or config sources.csv.path).")
        try:
            check_csv_input(csv_path)
        except (FileNotFoundError, UnknownCsvLayout) as exc:
            raise UsageError(str(exc)) from None
        return csv_courses(csv_path, id_property=id_property)
    raise UsageError(f"unknown source {source!r}")


# --------------------------------------------------------------------------------------
# target: the embedded sandbox or the real API


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
def open_target(args: argparse.Namespace, name: str, id_property: str) -> Iterator[Target]:
    pipelines_dir, staging_path = target_paths(args, name)
    staging_path.parent.mkdir(parents=True, exist_ok=True)
    if name == "hubspot":
        api = _conf(None, f"{DEST_SECTION}.api_base_url", "https://api.hubapi.com")
        print(f"Target: the HubSpot API at {api} (token from {TOKEN_KEY}).")
        yield Target(name, None, None, pipelines_dir, staging_path)
        return
    from hubspot_courses_destination.sandbox import DEFAULT_TOKEN, Sandbox

    # the sandbox keeps its records in a file next to the staging state, so a second run sees
    # the courses of the first (and the staging hashes stay true), like a real portal would
    sandbox_db = staging_path.parent / "sandbox-portal.duckdb"
    with Sandbox(db_path=str(sandbox_db)) as sandbox:
        if not args.dry_run and not any(p["name"] == id_property for p in sandbox.properties()):
            # what a HubSpot admin does once per portal (the destination could also create it)
            sandbox.create_property(id_property, label="LMS course key", has_unique_value=True)
        why = "--sandbox given" if args.sandbox else "No HubSpot token configured"
        print(
            "=" * 78
            + f"\n{why}: running against the EMBEDDED SANDBOX at {sandbox.url}\n(records kept in "
            f"{_rel(sandbox_db)}). Nothing is sent to HubSpot. To target a portal, set\n"
            f"{TOKEN_KEY} in .dlt/secrets.toml or the env var {TOKEN_ENV}.\n" + "=" * 78
        )
        yield Target(name, sandbox.url, DEFAULT_TOKEN, pipelines_dir, staging_path, sandbox_db)
        print(f"Sandbox now holds {len(sandbox.records())} live course record(s).")


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
        yield Target(target.name, target.api_base_url, target.access_token, tmp_dir / "pipelines",
                     staging, target.sandbox_db)


# --------------------------------------------------------------------------------------
# the run


def destination_kwargs(args: argparse.Namespace, target: Target, id_property: str) -> dict:
    """Settings the command line or the target fixes; every other setting (and these, when no
    flag was given) resolves from dlt's providers: environment, secrets.toml, config.toml."""
    dest_kwargs: dict = {"id_property": id_property, "staging_path": str(target.staging_path)}
    flags = {
        "create_missing_properties": args.create_properties,
        "full_resync": args.full_resync,
        "dry_run": args.dry_run,
    }
    dest_kwargs.update({k: v for k, v in flags.items() if v is not None})
    if target.api_base_url:
        dest_kwargs["api_base_url"] = target.api_base_url
    if target.access_token:
        dest_kwargs["access_token"] = target.access_token
    return dest_kwargs


def check_portal(settings: DestinationSettings) -> None:
    """Two reads before anything is extracted: is HubSpot reachable, and does it take the token?

    A name that does not resolve or a port that refuses is known in milliseconds; without this
    it surfaced only in dlt's load step, after five backed-off retries of every job (minutes).
    """
    from hubspot_courses_destination.hubspot import HubSpotClient
    from hubspot_courses_destination.errors import HubSpotTerminalError, HubSpotTransientError
    from hubspot_courses_destination.hubspot.retry import RetryPolicy

    quick = RetryPolicy(max_attempts=3, backoff_base_s=1.0, max_total_wait_s=10.0)
    client = HubSpotClient(settings.access_token, settings.api_base_url, connect_timeout_s=5.0,
                           read_timeout_s=30.0, retry_policy=quick, max_concurrency=1)
    client_log = logging.getLogger("hubspot_courses_destination")
    level, client_log.level = client_log.level, logging.ERROR  # its "giving up" line: said below
    try:
        client.portal_id()
    except HubSpotTransientError as exc:
        raise Unreachable(
            f"HubSpot could not be reached at {settings.api_base_url}: {str(exc).rstrip('.')}. Nothing was extracted "
            "or sent. Check the network, a proxy (HTTPS_PROXY) and api_base_url, then run again."
        ) from None
    except HubSpotTerminalError as exc:
        raise UsageError(str(exc)) from None
    finally:
        client_log.setLevel(level)
        client.close()


class _OneLineDltErrors(logging.Filter):
    """dlt logs a failed job with its full traceback before the run fails; the job prints one
    paragraph about the failure instead (``--verbose`` keeps dlt's records as they are)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        head, traceback_, _ = message.partition("Traceback (most recent call last)")
        if record.exc_info or record.exc_text or traceback_:
            first = (head.strip() or message).splitlines()[0]
            record.msg, record.args = f"{first} (details below; --verbose shows the traceback)", ()
            record.exc_info, record.exc_text = None, None
        return True


def quiet_dlt_tracebacks() -> None:
    dlt_logger = logging.getLogger("dlt")
    if not any(isinstance(f, _OneLineDltErrors) for f in dlt_logger.filters):
        dlt_logger.addFilter(_OneLineDltErrors())


def make_pipeline(args: argparse.Namespace, target: Target, id_property: str, name: str) -> dlt.Pipeline:
    from hubspot_courses_destination import hubspot_courses

    dest_kwargs = destination_kwargs(args, target, id_property)
    pipeline_kwargs: dict = {}
    if args.progress:  # dlt's own progress lines, plus the sink's per-batch lines
        pipeline_kwargs["progress"] = dlt.progress.log(log_period=10, dump_system_stats=False)
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s: %(message)s", "%H:%M:%S"))
        sink_log = logging.getLogger("hubspot_courses_destination")
        sink_log.addHandler(handler)
        sink_log.setLevel(logging.INFO)
    return dlt.pipeline(
        pipeline_name=name,
        destination=hubspot_courses(**dest_kwargs),
        pipelines_dir=str(target.pipelines_dir),
        dev_mode=False,  # dev_mode wipes incremental cursors and pending packages
        **pipeline_kwargs,
    )


def run_pipeline(pipeline: dlt.Pipeline, data: Any, args: argparse.Namespace) -> List[str]:
    """Finish what an earlier run left pending, then this run's data. Returns the load ids."""
    load_ids: List[str] = []
    if pipeline.has_pending_data:
        if args.drop_pending:
            print("Dropping load packages left pending by an earlier failed run (--drop-pending).")
            pipeline.abort_packages()
        else:
            # dlt would load the pending packages and silently skip `data`: do both, in order
            print("Finishing load packages left pending by an earlier run first.")
            info = pipeline.run()
            load_ids += info.loads_ids if info else []
    info = pipeline.run(data, refresh="drop_resources" if args.full_resync else None)
    load_ids += info.loads_ids
    return load_ids


def note_legacy_pipeline(target: Target, name: str) -> None:
    """Before 0.2 every source shared the pipeline ``lms_to_hubspot``: say what happened to it."""
    legacy = target.pipelines_dir / LEGACY_PIPELINE_NAME
    if name != LEGACY_PIPELINE_NAME and legacy.is_dir() and not (target.pipelines_dir / name).exists():
        print(
            f"Note: each source now has its own dlt pipeline ({name!r}); the shared one of earlier "
            f"releases ({_rel(legacy)}) is left as it is. Its incremental cursors are not carried "
            "over, so this run re-reads the source once (courses that did not change are not sent). "
            f"If it has a pending load package, finish it with --pipeline-name {LEGACY_PIPELINE_NAME}."
        )


@dataclass
class MirrorOutcome:
    message: str
    refused: bool
    would_archive: int = 0


def mirror(args: argparse.Namespace, target: Target, id_property: str, load_ids: Sequence[str]) -> MirrorOutcome:
    """Archive courses this input delivered before but no longer has."""
    from hubspot_courses_destination.mirror import archive_missing

    settings = settings_from_dlt_config(**destination_kwargs(args, target, id_property))
    result = archive_missing(settings, load_ids, max_share=args.mirror_max_share, dry_run=bool(args.dry_run))
    would = len(result.missing) if args.dry_run and not result.refused else 0
    return MirrorOutcome(result.message, result.refused, would)


def print_summary(target: Target, load_ids: Sequence[str], seconds: float, dry_run: bool,
                  mirrored: Optional[MirrorOutcome]) -> None:
    from hubspot_courses_destination.staging import Staging

    with Staging(str(target.staging_path)) as st:
        s = st.load_summary(load_ids)
        top = st.top_rejections(load_ids, limit=5)
        created_props = st.created_properties(load_ids)
    head = "Summary (dry run: nothing was written, no state was changed)" if dry_run else "Summary"
    archived = f"{s.get('archived', 0):>8}"
    if mirrored is not None and mirrored.would_archive:
        archived += f"   (dry run: mirror would archive {mirrored.would_archive})"
    lines = [
        f"{head}: {len(load_ids)} load package(s) in {seconds:.1f} s",
        f"  rows seen    {s.get('rows_seen', 0):>8}",
        f"  created      {s.get('created', 0):>8}",
        f"  updated      {s.get('updated', 0):>8}",
        f"  unchanged    {s.get('unchanged', 0):>8}   (same content as last synced: not sent)",
        f"  rejected     {s.get('rejected', 0):>8}",
        f"  archived     {archived}",
        f"  requests     {s.get('requests', 0):>8}   (upsert calls to HubSpot; preflight reads not counted)",
        f"  429s         {s.get('responses_429', 0):>8}   (rate-limited, retried)",
    ]
    if created_props:
        verb = "would create" if dry_run else "created"
        lines.append(f"  properties {verb} in HubSpot ({len(created_props)}): " + ", ".join(created_props))
    if mirrored is not None:
        lines.append(f"  mirror: {mirrored.message}")
    if s.get("rejected"):
        lines.append("  top rejection reasons (count, category/code, property):")
        lines += [f"    {count:>6}  {reason}" for reason, count in top]
        if not dry_run:
            lines.append(f"  list them: {rejected_command(target)}")
    print("\n".join(lines))


def rejected_command(target: Target) -> str:
    """The command that lists this run's rejections, runnable as printed from any directory."""
    python = _rel(Path(sys.executable)) if Path(sys.prefix) != Path(sys.base_prefix) else "python"
    sandbox = " --sandbox" if target.name == "sandbox" else ""
    return f"{python} -m hubspot_courses_destination rejected list{sandbox} --staging {target.staging_path}"


def failure_message(exc: BaseException, pipeline_name: str) -> str:
    """One paragraph: the root cause (e.g. HubSpot's 401) and what resolves it."""
    root = exc
    while True:
        # an error raised "from None" hid its context on purpose (it may hold a header value)
        nxt = root.__cause__ or (None if root.__suppress_context__ else root.__context__)
        if nxt is None or nxt is root:
            break
        root = nxt
    step = getattr(exc, "step", "run")
    if step == "load":
        after = (
            f"Nothing is lost: dlt keeps the unfinished load package of pipeline {pipeline_name!r}, and "
            "the next run of this source finishes it before extracting new data (rows already sent "
            "are upserted again, which is safe); other sources are not affected. Fix the cause above "
            "and run again, or run with --drop-pending to discard the package."
        )
    else:
        after = "Nothing was sent to HubSpot in this run. Fix the cause above and run again."
    return f"The run FAILED at dlt's {step} step: {type(root).__name__}: {root}\n{after}"


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    started = time.monotonic()
    pipeline_name = args.pipeline_name or PIPELINE_PREFIX
    try:
        origin = use_project_config(project_dir())
        print(origin.describe())
        if origin.ignored_cwd_dir:
            print(f"Note: {origin.ignored_cwd_dir} is not read (the job reads {origin.settings_dir}; "
                  "set DLT_PROJECT_DIR to read another folder's .dlt/).")
        if not args.verbose:
            quiet_dlt_tracebacks()
        source = _conf(args.source, "lms_to_hubspot.source", "sample")
        if source not in SOURCES:
            raise UsageError(f"unknown source {source!r}: choose one of {', '.join(SOURCES)}")
        check_argument_combinations(args, source)
        csv_path = str(_conf(args.csv_path, "sources.csv.path", "")) if source == "csv" else ""
        id_property = _conf(args.id_property, f"{DEST_SECTION}.id_property", DEFAULT_ID_PROPERTY)
        pipeline_name = pipeline_name_for(args, source, csv_path)
        name = choose_target(
            sandbox_flag=args.sandbox, sandbox_if_no_token=args.sandbox_if_no_token,
            token_configured=not args.sandbox and hubspot_token_configured(),
            interactive=is_interactive(),
            synced_to_hubspot_before=target_paths(args, "hubspot")[1].exists(),
            settings_dir=origin.settings_dir,
        )
        data = build_source(args, source, id_property, csv_path)
        with open_target(args, name, id_property) as real_target:
            print(
                f"Source: {source}. Pipeline {pipeline_name!r}, state in "
                f"{_rel(real_target.pipelines_dir)} and {_rel(real_target.staging_path)}."
            )
            note_legacy_pipeline(real_target, pipeline_name)
            with (throwaway_state(real_target, pipeline_name) if args.dry_run
                  else contextlib.nullcontext(real_target)) as target:
                # settings are checked now, not after extract and normalize inside the load step
                settings = settings_from_dlt_config(**destination_kwargs(args, target, id_property))
                check_portal(settings)
                pipeline = make_pipeline(args, target, id_property, pipeline_name)
                load_ids = run_pipeline(pipeline, data, args)
                mirrored = mirror(args, target, id_property, load_ids) if args.mirror else None
                print_summary(target, load_ids, time.monotonic() - started, bool(args.dry_run), mirrored)
                if mirrored is not None and mirrored.refused:
                    return 1
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except ConfigFieldMissingException as exc:
        print(f"error: missing configuration: {exc}", file=sys.stderr)
        return 2
    except (ConfigProviderException, ConfigurationError) as exc:
        print(f"error: configuration: {exc}", file=sys.stderr)
        return 2
    except Unreachable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except PipelineStepFailed as exc:
        if args.verbose:
            import traceback

            traceback.print_exception(exc, file=sys.stderr)
        print(failure_message(exc, pipeline_name), file=sys.stderr)
        return 1
    except HubSpotError as exc:  # mirror's archive after the load
        print(f"error: HubSpot: {exc}", file=sys.stderr)
        return 1
    return 0


def _rel(path: Path) -> str:
    """The path relative to the working directory when under it (symlinks kept: a venv's python)."""
    absolute = Path(os.path.abspath(path))
    try:
        return str(absolute.relative_to(Path.cwd()))
    except ValueError:
        return str(absolute)


if __name__ == "__main__":
    sys.exit(main())
