#!/usr/bin/env python
"""Sync LMS course records into HubSpot's Courses object (0-410) with dlt.

    python pipelines/lms_to_hubspot.py                      # bundled sample -> embedded sandbox
    python pipelines/lms_to_hubspot.py --source moodle --moodle-url mysql+pymysql://...
    python pipelines/lms_to_hubspot.py --help

Without a HubSpot token configured it runs end to end against an embedded HubSpot sandbox
(started in-process). With ``destination.hubspot_courses.access_token`` set in
``.dlt/secrets.toml`` or as ``DESTINATION__HUBSPOT_COURSES__ACCESS_TOKEN``, it writes to the
real HubSpot API; nothing else changes. Run it from the project root (dlt reads ``.dlt/``
from the working directory).

Exit codes: 0 the run completed (rejected rows are reported, not a failure); 1 the pipeline
failed (nothing lost: dlt keeps the load package and the next run retries it first);
2 bad arguments or missing configuration.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
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

from hubspot_courses_destination.config import settings_from_dlt_config  # noqa: E402
from hubspot_courses_destination.errors import ConfigurationError  # noqa: E402

from sources.common import DEFAULT_ID_PROPERTY  # noqa: E402

PIPELINE_NAME = "lms_to_hubspot"
SOURCES = ("sample", "moodle", "canvas", "csv")
TOKEN_KEY = "destination.hubspot_courses.access_token"
DEFAULT_STATE_DIR = PROJECT_ROOT / ".state"


class UsageError(Exception):
    """Bad arguments or missing configuration: exit code 2, nothing was run."""


# --------------------------------------------------------------------------------------
# command line


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lms_to_hubspot.py",
        description=(
            "Upsert LMS courses into HubSpot's Courses object (0-410) through dlt. Without a "
            f"HubSpot token ({TOKEN_KEY} in .dlt/secrets.toml, or the env var "
            "DESTINATION__HUBSPOT_COURSES__ACCESS_TOKEN) it runs against an embedded HubSpot "
            "sandbox. Every option can also come from dlt config: the flag wins."
        ),
        epilog=(
            "State: dlt's pipeline directory (incremental cursors, pending load packages) and the "
            "staging DuckDB file (content hashes of synced rows, rejected rows, run counts) live "
            "under --state-dir, one subdirectory per target ('sandbox' or 'hubspot'). Keep them "
            "between scheduled runs. Exit codes: 0 done (rejected rows are reported, not a "
            "failure), 1 the pipeline failed, 2 bad arguments or missing configuration."
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
        help="CSV export file or glob (e.g. 'exports/*.csv'), OULAD layout or HubSpot-named "
        "columns (config: sources.csv.path)",
    )
    dst = parser.add_argument_group("destination")
    dst.add_argument(
        "--id-property",
        metavar="NAME",
        help="the unique-value HubSpot property used as upsert key; created if missing "
        f"(config: destination.hubspot_courses.id_property; default: {DEFAULT_ID_PROPERTY})",
    )
    dst.add_argument(
        "--sandbox",
        action="store_true",
        help="use the embedded sandbox even when a HubSpot token is configured",
    )
    dst.add_argument(
        "--no-create-properties",
        dest="create_properties",
        action="store_false",
        help="do not create missing HubSpot properties (the id property and the course_* "
        "properties); use when the token lacks crm.schemas.courses.write",
    )
    dst.add_argument(
        "--full-resync",
        action="store_true",
        help="send every row again: ignore the staging hashes that skip unchanged rows and "
        "reset incremental cursors (Moodle's timemodified)",
    )
    dst.add_argument(
        "--mirror",
        action="store_true",
        help="treat this run as a full snapshot: archive courses synced earlier that the source "
        "no longer has (refused when more than --mirror-max-share of them would go)",
    )
    dst.add_argument(
        "--mirror-max-share",
        type=float,
        default=0.1,
        metavar="SHARE",
        help="mirror safety threshold: the largest share of synced courses one run may archive "
        "(default: %(default)s)",
    )
    dst.add_argument(
        "--dry-run",
        action="store_true",
        help="extract, map and diff, but write nothing to HubSpot",
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
    run.add_argument("--pipeline-name", default=PIPELINE_NAME, help="dlt pipeline name (default: %(default)s)")
    run.add_argument(
        "--progress",
        action="store_true",
        help="log dlt's progress (progress='log': rows extracted, jobs loaded) while the run goes",
    )
    run.add_argument(
        "--drop-pending",
        action="store_true",
        help="discard load packages a failed earlier run left behind instead of retrying them "
        "first (their rows are not sent; use --full-resync to send everything again)",
    )
    return parser


# --------------------------------------------------------------------------------------
# configuration: flag > dlt config/secrets > default


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
    otherwise switch a scheduled run to the embedded sandbox and report success forever.
    """
    if dlt.secrets.get(TOKEN_KEY):
        return True
    section = dlt.secrets.get(TOKEN_KEY.rsplit(".", 1)[0])
    if section:
        raise UsageError(
            f"the secrets have a [{TOKEN_KEY.rsplit('.', 1)[0]}] section ({', '.join(sorted(section))}) "
            "but no access_token: check the key's spelling, or remove the section to use the sandbox"
        )
    return False


def build_source(args: argparse.Namespace, source: str, id_property: str) -> Any:
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
        return moodle_courses(
            url,
            table_prefix=_conf(args.moodle_table_prefix, "sources.moodle.table_prefix", "mdl_"),
            site_url=_conf(args.moodle_site_url, "sources.moodle.site_url"),
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
        from sources.csv_export import csv_courses

        path = _conf(args.csv_path, "sources.csv.path")
        if not path:
            raise UsageError("--source csv needs --csv-path FILE_OR_GLOB (or config sources.csv.path).")
        try:
            return csv_courses(str(path), id_property=id_property)
        except FileNotFoundError as exc:
            raise UsageError(str(exc)) from exc
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


@contextlib.contextmanager
def open_target(args: argparse.Namespace, id_property: str) -> Iterator[Target]:
    use_sandbox = args.sandbox or not hubspot_token_configured()
    name = "sandbox" if use_sandbox else "hubspot"
    # separate state per target: sandbox hashes must never make the real portal skip rows
    state_dir = (args.state_dir or DEFAULT_STATE_DIR) / name
    pipelines_dir = args.pipelines_dir or state_dir / "pipelines"
    staging_path = args.staging_path or state_dir / "staging.duckdb"
    staging_path.parent.mkdir(parents=True, exist_ok=True)
    if not use_sandbox:
        api = _conf(None, "destination.hubspot_courses.api_base_url", "https://api.hubapi.com")
        print(f"Target: the HubSpot API at {api} (token from {TOKEN_KEY}).")
        yield Target(name, None, None, pipelines_dir, staging_path)
        return
    from hubspot_courses_destination.sandbox import DEFAULT_TOKEN, Sandbox

    # the sandbox keeps its records in a file next to the staging state, so a second run sees
    # the courses of the first (and the staging hashes stay true), like a real portal would
    sandbox_db = staging_path.parent / "sandbox-portal.duckdb"
    with Sandbox(db_path=str(sandbox_db)) as sandbox:
        if not any(p["name"] == id_property for p in sandbox.properties()):
            # what a HubSpot admin does once per portal (the destination could also create it)
            sandbox.create_property(id_property, label="LMS course key", has_unique_value=True)
        print(
            "=" * 78
            + f"\n{'--sandbox given' if args.sandbox else 'No HubSpot token configured'}: "
            "running against the EMBEDDED SANDBOX at "
            f"{sandbox.url}\n(records kept in {_rel(sandbox_db)}). Nothing is sent to HubSpot. "
            f"To target a portal, set\n{TOKEN_KEY} in .dlt/secrets.toml or the env var "
            "DESTINATION__HUBSPOT_COURSES__ACCESS_TOKEN.\n" + "=" * 78
        )
        yield Target(name, sandbox.url, DEFAULT_TOKEN, pipelines_dir, staging_path)
        print(f"Sandbox now holds {len(sandbox.records())} live course record(s).")


# --------------------------------------------------------------------------------------
# the run


def destination_kwargs(args: argparse.Namespace, target: Target, id_property: str) -> dict:
    """Explicit destination settings; everything else resolves from dlt config."""
    dest_kwargs: dict = {
        "id_property": id_property,
        "staging_path": str(target.staging_path),
        "create_missing_properties": args.create_properties,
        "full_resync": args.full_resync,
        "dry_run": args.dry_run,
    }
    if target.api_base_url:
        dest_kwargs["api_base_url"] = target.api_base_url
    if target.access_token:
        dest_kwargs["access_token"] = target.access_token
    return dest_kwargs


def make_pipeline(args: argparse.Namespace, target: Target, id_property: str) -> dlt.Pipeline:
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
        pipeline_name=args.pipeline_name,
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


def print_summary(target: Target, load_ids: Sequence[str], seconds: float, dry_run: bool) -> None:
    from hubspot_courses_destination.staging import Staging

    with Staging(str(target.staging_path)) as st:
        s = st.load_summary(load_ids)
        top = st.top_rejections(load_ids, limit=5)
    head = "Summary (dry run: nothing was written)" if dry_run else "Summary"
    lines = [
        f"{head}: {len(load_ids)} load package(s) in {seconds:.1f} s",
        f"  rows seen    {s.get('rows_seen', 0):>8}",
        f"  created      {s.get('created', 0):>8}",
        f"  updated      {s.get('updated', 0):>8}",
        f"  unchanged    {s.get('unchanged', 0):>8}   (same content as last synced: not sent)",
        f"  rejected     {s.get('rejected', 0):>8}",
        f"  archived     {s.get('archived', 0):>8}",
        f"  requests     {s.get('requests', 0):>8}   (upsert calls to HubSpot; preflight reads not counted)",
        f"  429s         {s.get('responses_429', 0):>8}   (rate-limited, retried)",
    ]
    if s.get("rejected"):
        lines.append("  top rejection reasons:")
        lines += [f"    {count:>6}  {reason}" for reason, count in top]
        lines.append(
            "  list them: python -m hubspot_courses_destination rejected list --staging "
            f"{_rel(target.staging_path)}"
        )
    print("\n".join(lines))


def mirror(args: argparse.Namespace, target: Target, id_property: str, load_ids: Sequence[str]) -> bool:
    """Archive courses this full snapshot no longer has; False when the threshold refused."""
    from hubspot_courses_destination.mirror import archive_missing

    settings = settings_from_dlt_config(**destination_kwargs(args, target, id_property))
    result = archive_missing(settings, load_ids, max_share=args.mirror_max_share, dry_run=args.dry_run)
    print(f"Mirror: {result.message}")
    return not result.refused


def failure_message(exc: BaseException) -> str:
    """One paragraph: the root cause (e.g. HubSpot's 401) and what happens next."""
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
            "Nothing is lost: dlt keeps the unfinished load package and the next run retries it "
            "before extracting new data (rows already sent are upserted again, which is safe). "
            "Fix the cause above and run again, or run with --drop-pending to discard the package."
        )
    else:
        after = "Nothing was sent to HubSpot in this run. Fix the cause above and run again."
    return f"The run FAILED at dlt's {step} step: {type(root).__name__}: {root}\n{after}"


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    started = time.monotonic()
    try:
        source = _conf(args.source, "lms_to_hubspot.source", "sample")
        if source not in SOURCES:
            raise UsageError(f"unknown source {source!r}: choose one of {', '.join(SOURCES)}")
        if args.mirror and source == "moodle" and not args.full_resync:
            raise UsageError(
                "--mirror needs a full snapshot, but the moodle source is incremental (only courses "
                "modified since the last run are read): add --full-resync, or leave out --mirror"
            )
        id_property = _conf(args.id_property, "destination.hubspot_courses.id_property", DEFAULT_ID_PROPERTY)
        data = build_source(args, source, id_property)
        with open_target(args, id_property) as target:
            print(
                f"Source: {source}. Pipeline {args.pipeline_name!r}, state in "
                f"{_rel(target.pipelines_dir)} and {_rel(target.staging_path)}."
            )
            # settings are checked now, not after extract and normalize inside the load step
            settings_from_dlt_config(**destination_kwargs(args, target, id_property))
            pipeline = make_pipeline(args, target, id_property)
            load_ids = run_pipeline(pipeline, data, args)
            print_summary(target, load_ids, time.monotonic() - started, args.dry_run)
            if args.mirror and not mirror(args, target, id_property, load_ids):
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
    except PipelineStepFailed as exc:
        print(failure_message(exc), file=sys.stderr)
        return 1
    return 0


def _rel(path: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


if __name__ == "__main__":
    sys.exit(main())
