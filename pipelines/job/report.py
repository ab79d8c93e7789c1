"""What the user reads: the summary, and one paragraph per expected failure."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Optional, Sequence

from dlt.common.configuration.exceptions import ConfigFieldMissingException, ConfigProviderException
from dlt.pipeline.exceptions import PipelineStepFailed

from hubspot_courses_destination import ConfigurationError, Staging
from .common import Unreachable, UsageError, rel
from .run import MirrorOutcome
from .targets import Target


def print_summary(target: Target, load_ids: Sequence[str], seconds: float, dry_run: bool,
                  mirrored: Optional[MirrorOutcome]) -> None:
    with Staging(str(target.staging_path)) as st:
        s = st.load_summary(load_ids)
        top = st.top_rejections(load_ids, limit=5)
        created_props = st.created_properties(load_ids)
        enrolled = st.enrollment_summary(load_ids)
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
    if enrolled.get("rows_seen") or enrolled.get("associations_removed"):
        lines += enrollment_lines(enrolled)
    if created_props:
        verb = "would create" if dry_run else "created"
        lines.append(f"  properties {verb} in HubSpot ({len(created_props)}): " + ", ".join(created_props))
    if mirrored is not None:
        lines.append(f"  mirror: {mirrored.message}")
    if s.get("rejected") or enrolled.get("rejected"):
        lines.append("  top rejection reasons (count, category/code, property):")
        lines += [f"    {count:>6}  {reason}" for reason, count in top]
        if not dry_run:
            lines.append(f"  list them: {rejected_command(target)}")
    print("\n".join(lines))


def enrollment_lines(e: dict[str, int]) -> list[str]:
    """The enrollment part of the summary (issue 15): contacts and associations apart."""
    return [
        f"  enrollments  {e.get('rows_seen', 0):>8}",
        f"    contacts created {e.get('contacts_created', 0)}, updated {e.get('contacts_updated', 0)}, "
        f"unchanged {e.get('contacts_unchanged', 0)}",
        f"    associations added {e.get('associations_added', 0)}, removed {e.get('associations_removed', 0)}, "
        f"unchanged {e.get('associations_unchanged', 0)}",
        f"    rejected {e.get('rejected', 0)}, requests {e.get('requests', 0)}",
    ]


def rejected_command(target: Target) -> str:
    """The command that lists this run's rejections, runnable as printed from any directory."""
    python = rel(Path(sys.executable)) if Path(sys.prefix) != Path(sys.base_prefix) else "python"
    sandbox = " --sandbox" if target.name == "sandbox" else ""
    return f"{python} -m hubspot_courses_destination rejected list{sandbox} --staging {target.staging_path}"


def failure_message(exc: BaseException, pipeline_name: str, *, dry_run: bool = False,
                    dropped_pending: bool = False) -> str:
    """One paragraph: the root cause (e.g. HubSpot's 401) and what resolves it."""
    root = exc
    while True:
        # an error raised "from None" hid its context on purpose (it may hold a header value)
        nxt = root.__cause__ or (None if root.__suppress_context__ else root.__context__)
        if nxt is None or nxt is root:
            break
        root = nxt
    step = getattr(exc, "step", "run")
    if dry_run:
        after = ("This was a dry run on a throwaway copy of the state: nothing was sent, and no load "
                 "package or cursor was kept. Fix the cause above and run again.")
    elif step == "load":
        drop = ("" if dropped_pending else
                " If the cause was in the data, note that the pending package holds the rows as they "
                "were read, so fixing the source file does not change it: exclude or map the column "
                "in the settings, or run once with --drop-pending to discard the package.")
        after = (
            f"Nothing is lost: dlt keeps the unfinished load package of pipeline {pipeline_name!r}, and "
            "the next run of this source finishes it before extracting new data (rows already sent "
            "are upserted again, which is safe); other sources are not affected." + drop
        )
    else:
        after = "Nothing was sent to HubSpot in this run. Fix the cause above and run again."
    return f"The run FAILED at dlt's {step} step: {type(root).__name__}: {root}\n{after}"


def missing_config_message(exc: ConfigFieldMissingException) -> str:
    """dlt lists every provider and key it tried (dozens of lines); name each field once,
    with the secrets.toml key and the environment variable to set."""
    names = []
    for field_name in getattr(exc, "fields", None) or []:
        traces = (getattr(exc, "traces", None) or {}).get(field_name, [])
        env_keys = sorted({t.key for t in traces if getattr(t, "key", "").isupper() and t.key.count("__") >= 2}, key=len)
        env = env_keys[0] if env_keys else None
        names.append(f"{env.lower().replace('__', '.')} (env {env})" if env else field_name)
    spec = getattr(exc, "spec_name", "") or "the source"
    if not names:
        return f"missing configuration: {str(exc).splitlines()[0]}"
    return (f"missing configuration for {spec}: {', '.join(names)}. Set them in the project's "
            ".dlt/config.toml or .dlt/secrets.toml (secrets), or in the environment.")


def explain_failure(exc: BaseException, args: argparse.Namespace, pipeline_name: str) -> tuple[str, int]:
    """The one paragraph a user sees for an expected failure, and the exit code."""
    if isinstance(exc, UsageError):
        return f"error: {exc}", 2
    if isinstance(exc, ConfigFieldMissingException):
        return f"error: {missing_config_message(exc)}", 2
    if isinstance(exc, (ConfigProviderException, ConfigurationError)):
        return f"error: configuration: {exc}", 2
    if isinstance(exc, Unreachable):
        return f"error: {exc}", 1
    if isinstance(exc, PipelineStepFailed):
        return failure_message(exc, pipeline_name, dry_run=bool(args.dry_run), dropped_pending=args.drop_pending), 1
    return f"error: HubSpot: {exc}", 1  # mirror's archive after the load
