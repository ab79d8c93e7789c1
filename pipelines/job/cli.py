"""The command line: flags, their checks, and the combinations that are mistakes."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


from hubspot_courses_destination import TOKEN_ENV, TOKEN_KEY
from pipelines.sources.common import DEFAULT_ID_PROPERTY
from .common import DEFAULT_STATE_DIR, DEST_SECTION, PIPELINE_PREFIX, PROJECT_ROOT, SOURCES, SOURCE_FLAGS, UsageError


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


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # type: ignore[override]
        if message.startswith("unrecognized arguments") and ".csv" in message:
            message += (" (a glob passed to --csv-path must be quoted, e.g. --csv-path 'exports/*.csv'; "
                        "unquoted, the shell expands it into several arguments)")
        super().error(message)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
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
            "unreachable or mirror refused, 2 bad arguments or configuration, 3 stopped at the daily "
            "budget (daily_budget_share) or HubSpot's daily limit: the next run after the portal's "
            "daily reset finishes it."
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
    src.add_argument(
        "--enrollments",
        dest="enrollments",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="also sync the source's enrollments: contacts (upserted by email) associated with "
        "their courses, labelled Student/Instructor; removed enrollments remove the association "
        "(config: lms_to_hubspot.enrollments; default: on when the source has them: the sample, "
        "Canvas, a Moodle database with its enrolment tables, CSV inputs with an enrollments file)",
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
        default=None,
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
        "--state-url",
        metavar="URL",
        default=None,
        help="keep the run state on a shared volume (a directory path) or object storage (an "
        "fsspec URL such as s3://bucket/lms-state): copied into --state-dir (default: a temporary "
        "folder) before the run and back after it, under a lock so two workers never use one "
        "state at once (config: lms_to_hubspot.state_url; README \"Running on an orchestrator\")",
    )
    run.add_argument(
        "--state-lock-wait",
        type=float,
        default=None,
        metavar="SECONDS",
        help="with --state-url: how long to wait for another worker's lock on the state before "
        "failing with exit 1 (default: 0, fail at once)",
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
    if args.mirror_max_share is not None and not args.mirror:
        raise UsageError("--mirror-max-share only applies with --mirror: add --mirror, or leave it out")
    if args.sandbox and args.sandbox_if_no_token:
        raise UsageError("--sandbox and --sandbox-if-no-token contradict each other: give one")
    if args.state_lock_wait is not None and not args.state_url:
        raise UsageError("--state-lock-wait only applies with --state-url: add --state-url, or leave it out")
    if args.state_url and (args.pipelines_dir or args.staging_path):
        raise UsageError("--state-url keeps the pipelines directory and the staging file together: "
                         "leave out --pipelines-dir and --staging-path (use --state-dir for the local copy)")
    if args.mirror and source == "moodle" and not args.full_resync:
        raise UsageError(
            "--mirror needs a full snapshot, but the moodle source is incremental (only courses "
            "modified since the last run are read): add --full-resync, or leave out --mirror"
        )
