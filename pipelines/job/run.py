"""The run itself: the destination's settings, the portal check, the pipeline, mirror mode."""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import dataclass
from typing import Any, List, Optional, Sequence

import dlt

from hubspot_courses_destination import (
    DailyLimitExceededError,
    HubSpotCoursesConfiguration,
    HubSpotTerminalError,
    HubSpotTransientError,
    archive_missing,
    check_portal,
    hubspot_courses,
    resolve_settings,
)
from .common import LEGACY_PIPELINE_NAME, Unreachable, UsageError, rel
from .targets import Target


def destination_kwargs(args: argparse.Namespace, target: Target, id_property: str,
                       enrollments_table: Optional[str] = None) -> dict:
    """Settings the command line or the target fixes; every other setting (and these, when no
    flag was given) resolves from dlt's providers: environment, secrets.toml, config.toml.
    ``enrollments_table`` is the source's enrollments table (``moodle_enrollments``, ...)."""
    dest_kwargs: dict = {"id_property": id_property, "staging_path": str(target.staging_path)}
    if enrollments_table:
        dest_kwargs["enrollments_table"] = enrollments_table
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


def check_target(settings: HubSpotCoursesConfiguration) -> None:
    """Reachable, and the token accepted, before anything is extracted (exit 1 / exit 2)."""
    try:
        check_portal(settings)
    except HubSpotTransientError as exc:
        raise Unreachable(
            f"HubSpot could not be reached at {settings.api_base_url}: {str(exc).rstrip('.')}. Nothing "
            "was extracted or sent. Check the network, a proxy (HTTPS_PROXY) and api_base_url, then run again."
        ) from None
    except DailyLimitExceededError:
        raise  # the portal's day is spent: explained like a load that stopped at it (exit 3)
    except HubSpotTerminalError as exc:
        if getattr(exc, "status", None) == 404:
            raise UsageError(
                f"HubSpot at {settings.api_base_url} does not serve the {settings.api_version!r} API paths "
                f"({str(exc).rstrip('.')}). Set api_version under [destination.hubspot_courses] in "
                '.dlt/config.toml (or DESTINATION__HUBSPOT_COURSES__API_VERSION) to "2026-09", or "v3" '
                "for a portal that still serves the legacy paths, and check api_base_url."
            ) from None
        raise UsageError(str(exc)) from None


class _LeaveFailuresToTheJob(logging.Filter):
    """dlt logs a failed job with its full traceback before the run fails; the job prints one
    paragraph about the failure instead (``--verbose`` keeps dlt's records as they are)."""


    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info or record.exc_text or "Traceback (most recent call last)" in message:
            return False  # a failed job: the job says what failed, in one paragraph
        # the job reads the project's .dlt/ wherever it is started from: dlt's hint is wrong here
        return "is different from directory of your pipeline script" not in message


def quiet_dlt_tracebacks() -> None:
    dlt_logger = logging.getLogger("dlt")
    if not any(isinstance(f, _LeaveFailuresToTheJob) for f in dlt_logger.filters):
        dlt_logger.addFilter(_LeaveFailuresToTheJob())


def make_pipeline(args: argparse.Namespace, target: Target, id_property: str, name: str,
                  enrollments_table: Optional[str] = None) -> dlt.Pipeline:
    dest_kwargs = destination_kwargs(args, target, id_property, enrollments_table)
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
            f"releases ({rel(legacy)}) is left as it is. Its incremental cursors are not carried "
            "over, so this run re-reads the source once (courses that did not change are not sent). "
            f"If it has a pending load package, finish it with --pipeline-name {LEGACY_PIPELINE_NAME}."
        )


@dataclass
class MirrorOutcome:
    message: str
    refused: bool
    would_archive: int = 0


def mirror(args: argparse.Namespace, target: Target, id_property: str, load_ids: Sequence[str],
           enrollments_table: Optional[str] = None) -> MirrorOutcome:
    """Archive courses this input delivered before but no longer has, and remove the
    course-contact associations of enrollments it no longer has (the destination's mirror)."""
    settings = resolve_settings(**destination_kwargs(args, target, id_property, enrollments_table))
    result = archive_missing(settings, load_ids, max_share=args.mirror_max_share if args.mirror_max_share is not None else 0.1, dry_run=bool(args.dry_run))
    would = len(result.missing) if args.dry_run and not result.refused else 0
    return MirrorOutcome(result.message, result.refused, would)
