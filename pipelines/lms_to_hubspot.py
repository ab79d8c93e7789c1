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
configuration (nothing was sent); 3 the run stopped at its daily budget (``daily_budget_share``)
or HubSpot's daily limit (nothing lost: the pending load package is finished by the next run,
after the portal's daily reset).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from pathlib import Path
from typing import Optional, Sequence

if __package__ in (None, ""):  # run as a script: make `pipelines` importable as a package
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dlt.common.configuration.exceptions import (  # noqa: E402
    ConfigFieldMissingException,
    ConfigProviderException,
    ConfigValueCannotBeCoercedException,
)
from dlt.pipeline.exceptions import PipelineStepFailed  # noqa: E402

from hubspot_courses_destination import (  # noqa: E402
    ConfigurationError,
    HubSpotError,
    daily_budget_of,
    resolve_settings,
    token_configured,
)
from pipelines.job.cli import build_parser, check_argument_combinations, share  # noqa: E402
from pipelines.job.common import (  # noqa: E402
    DEST_SECTION,
    PIPELINE_PREFIX,
    SOURCES,
    Unreachable,
    UsageError,
    conf,
    rel,
)
from pipelines.job.config import project_dir, use_project_config  # noqa: E402
from pipelines.job.inputs import build_source, pipeline_name_for  # noqa: E402
from pipelines.job.report import explain_failure, print_summary  # noqa: E402
from pipelines.job.run import (  # noqa: E402
    check_target,
    destination_kwargs,
    make_pipeline,
    mirror,
    note_legacy_pipeline,
    quiet_dlt_tracebacks,
    run_pipeline,
)
from pipelines.job.targets import (  # noqa: E402
    choose_target,
    is_interactive,
    open_target,
    synced_to_hubspot_before,
    throwaway_state,
    worker_state,
)
from pipelines.job.state_store import StateStoreError  # noqa: E402
from pipelines.sources.common import DEFAULT_ID_PROPERTY  # noqa: E402

__all__ = ["main", "build_parser", "choose_target", "share", "UsageError"]


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the job; returns its exit code. Its HubSpot client and staging file are closed when
    its target is (``open_target``), so other pipelines of the same process are left alone."""
    return _run(build_parser().parse_args(argv))


def _run(args: argparse.Namespace) -> int:
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
        source = conf(args.source, "lms_to_hubspot.source", "sample")
        if source not in SOURCES:
            raise UsageError(f"unknown source {source!r}: choose one of {', '.join(SOURCES)}")
        args.state_url = conf(args.state_url, "lms_to_hubspot.state_url", None)
        check_argument_combinations(args, source)
        csv_path = str(conf(args.csv_path, "sources.csv.path", "")) if source == "csv" else ""
        id_property = conf(args.id_property, f"{DEST_SECTION}.id_property", DEFAULT_ID_PROPERTY)
        pipeline_name = pipeline_name_for(args, source, csv_path)
        name = choose_target(
            sandbox_flag=args.sandbox, sandbox_if_no_token=args.sandbox_if_no_token,
            token_configured=not args.sandbox and token_configured(),
            interactive=is_interactive(),
            synced_to_hubspot_before=synced_to_hubspot_before(args),
            settings_dir=origin.settings_dir,
        )
        data, enrollments_table = build_source(args, source, id_property, csv_path)
        with worker_state(args, name, pipeline_name), \
                open_target(args, name, id_property, labels=bool(enrollments_table)) as real_target:
            print(
                f"Source: {source}. Pipeline {pipeline_name!r}, state in "
                f"{rel(real_target.pipelines_dir)} and {rel(real_target.staging_path)}."
            )
            note_legacy_pipeline(real_target, pipeline_name)
            with (throwaway_state(real_target, pipeline_name) if args.dry_run
                  else contextlib.nullcontext(real_target)) as target:
                # settings are checked now, not after extract and normalize inside the load step
                settings = resolve_settings(**destination_kwargs(args, target, id_property, enrollments_table))
                check_target(settings)
                pipeline = make_pipeline(args, target, id_property, pipeline_name, enrollments_table)
                load_ids = run_pipeline(pipeline, data, args)
                mirrored = (mirror(args, target, id_property, load_ids, enrollments_table)
                            if args.mirror else None)
                print_summary(target, load_ids, time.monotonic() - started, bool(args.dry_run), mirrored,
                              daily_budget_of(settings))
                if mirrored is not None and mirrored.refused:
                    return 1
    except (UsageError, Unreachable, ConfigFieldMissingException, ConfigProviderException,
            ConfigValueCannotBeCoercedException, ConfigurationError, PipelineStepFailed, HubSpotError,
            StateStoreError) as exc:
        if args.verbose:
            import traceback

            traceback.print_exception(exc, file=sys.stderr)
        message, code = explain_failure(exc, args, pipeline_name)
        print(message, file=sys.stderr)
        return code
    return 0


if __name__ == "__main__":
    sys.exit(main())
