"""What the user reads: the summary, and one paragraph per expected failure."""

from __future__ import annotations

import argparse
import dataclasses
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Optional, Sequence

from dlt.common.configuration.exceptions import (
    ConfigFieldMissingException,
    ConfigProviderException,
    ConfigValueCannotBeCoercedException,
)
from dlt.pipeline.exceptions import PipelineStepFailed

from hubspot_courses_destination import (
    ConfigurationError,
    DailyBudgetReachedError,
    DailyLimitExceededError,
    HubSpotCoursesConfiguration,
    Staging,
)
from .state_store import StateStoreError
from .common import StateInUse, Unreachable, UsageError, rel
from .run import MirrorOutcome
from .targets import Target

if TYPE_CHECKING:
    from hubspot_courses_destination.hubspot import BudgetSnapshot


DEST_ENV_PREFIX = "DESTINATION__HUBSPOT_COURSES__"

DAILY_LIMIT_EXIT = 3
"""Exit code of a run that stopped at the daily budget or HubSpot's daily limit: nothing is
lost, the next run (after the reset) finishes it; a scheduler may treat it as "try tomorrow"."""


def print_summary(target: Target, load_ids: Sequence[str], seconds: float, dry_run: bool,
                  mirrored: Optional[MirrorOutcome], budget: Optional["BudgetSnapshot"] = None,
                  state_url: Optional[str] = None) -> None:
    """The run's counts, its top rejections, and the daily budget when it had a cap.
    ``state_url``: the run's state lives in that store (the local copy is temporary)."""
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
    if budget is not None and budget.cap is not None:
        left = budget.left_today
        lines.append(f"  daily budget: this run used {budget.used} of its cap {budget.cap} (daily_budget_share "
                     "of what was left)" + (f"; the portal has {left} left today" if left is not None else ""))
    if enrolled.get("rows_seen") or enrolled.get("associations_removed"):
        # with two kinds of rows, say that the lines above are the courses' alone
        lines.insert(1, "  courses (the course tables' rows; enrollments below)")
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
            lines.append(f"  list them: {rejected_command(target, state_url)}")
    print("\n".join(lines))


def enrollment_lines(e: dict[str, int]) -> list[str]:
    """The enrollment part of the summary (issue 15): contacts and course-contact associations
    apart; every enrollment row is counted once (README "Enrollments")."""
    associations = (
        f"    associations added {e.get('associations_added', 0)}, removed {e.get('associations_removed', 0)}, "
        f"unchanged {e.get('associations_unchanged', 0)}"
    )
    if e.get("nothing_to_remove"):
        associations += (f"; {e['nothing_to_remove']} removal(s) had nothing to remove "
                         "(no association made by this state)")
    return [
        f"  enrollments  {e.get('rows_seen', 0):>8}   (rows: contacts upserted by email, associated with courses)",
        f"    contacts created {e.get('contacts_created', 0)}, updated {e.get('contacts_updated', 0)}, "
        f"unchanged {e.get('contacts_unchanged', 0)}   (unchanged: same as last synced, not sent)",
        associations + "   (course-contact; contacts are never deleted)",
        f"    rejected {e.get('rejected', 0)}, requests {e.get('requests', 0)}   (contact upserts and "
        "association calls)",
    ]


def rejected_command(target: Target, state_url: Optional[str] = None) -> str:
    """The command that lists this run's rejections, runnable as printed from any directory.
    With ``--state-url`` it names the store: the run's local copy is gone after the run."""
    python = rel(Path(sys.executable)) if Path(sys.prefix) != Path(sys.base_prefix) else "python"
    sandbox = " --sandbox" if target.name == "sandbox" else ""
    where = f"--state-url {shlex.quote(str(state_url))}" if state_url else f"--staging {target.staging_path}"
    return f"{python} -m hubspot_courses_destination rejected list{sandbox} {where}"


def root_cause(exc: BaseException) -> BaseException:
    """The exception at the bottom of the chain (dlt wraps the destination's own error)."""
    root = exc
    while True:
        # an error raised "from None" hid its context on purpose (it may hold a header value)
        nxt = root.__cause__ or (None if root.__suppress_context__ else root.__context__)
        if nxt is None or nxt is root:
            return root
        root = nxt


def daily_limit_message(error: DailyLimitExceededError, pipeline_name: str, *, in_load: bool) -> str:
    """One paragraph for a run stopped by the daily budget or a DAILY 429: how much is left
    today, when it resets, and that nothing is lost."""
    if isinstance(error, DailyBudgetReachedError) and error.daily_remaining == 0 and \
            (error.daily_used or 0) < (error.daily_cap or 0):
        stop = "at HubSpot's daily limit"
        why = ("HubSpot reported no requests left today (the portal's other apps count too), so this "
               "run stopped before a DAILY 429")
    elif isinstance(error, DailyBudgetReachedError):
        stop = "at this run's daily budget (daily_budget_share), not at HubSpot's limit"
        why = (f"this run spent its daily budget: {error.daily_used:,} of the {error.daily_cap:,} "
               "requests it may send today (daily_budget_share of what the portal had left when it started)")
    else:
        stop = "at HubSpot's daily limit (429 DAILY)"
        why = ("HubSpot answered 429 DAILY: the portal's daily request limit is spent (every app of "
               "the portal counts against it)")
    left = error.daily_remaining
    left_text = "an unknown number of" if left is None else f"{left:,}"
    if in_load:
        after = (f"Nothing is lost: the load package of pipeline {pipeline_name!r} stays pending and the "
                 "next run finishes it first; rows already synced are recorded and not sent again.")
    else:
        after = "Nothing was extracted or sent in this run."
    return (f"The run STOPPED {stop}: {why}. The portal has {left_text} requests left "
            f"today; the count resets {error.resets_when}. {after} Run again after the reset "
            "(or raise daily_budget_share under [destination.hubspot_courses] to spend more of the day).")


def failure_message(exc: BaseException, pipeline_name: str, *, dry_run: bool = False,
                    dropped_pending: bool = False) -> str:
    """One paragraph: the root cause (e.g. HubSpot's 401) and what resolves it."""
    root = root_cause(exc)
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
    if isinstance(exc, ConfigValueCannotBeCoercedException):
        hint = getattr(exc.hint, "__name__", str(exc.hint))
        where = ""
        if exc.field_name in {f.name for f in dataclasses.fields(HubSpotCoursesConfiguration)}:
            where = (f" (env {DEST_ENV_PREFIX}{exc.field_name.upper()}, or {exc.field_name} under "
                     "[destination.hubspot_courses] in .dlt/config.toml)")
        return f"error: configuration: the value of {exc.field_name} cannot be read as a {hint}{where}", 2
    if isinstance(exc, (ConfigProviderException, ConfigurationError)):
        return f"error: configuration: {exc}", 2
    if isinstance(exc, (Unreachable, StateStoreError, StateInUse)):
        return f"error: {exc}", 1
    root = root_cause(exc)
    if isinstance(root, DailyLimitExceededError) and not args.dry_run:
        in_load = isinstance(exc, PipelineStepFailed) and getattr(exc, "step", None) == "load"
        return daily_limit_message(root, pipeline_name, in_load=in_load), DAILY_LIMIT_EXIT
    if isinstance(exc, PipelineStepFailed):
        return failure_message(exc, pipeline_name, dry_run=bool(args.dry_run), dropped_pending=args.drop_pending), 1
    return f"error: HubSpot: {exc}", 1  # mirror's archive after the load
