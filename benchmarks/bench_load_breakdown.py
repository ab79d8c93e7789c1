"""Where the load step's time goes, per row: mapping, diff, send, record, and dlt's share.

Runs one pipeline of ``--rows`` course rows into the null HubSpot (a server that answers
every upsert at once, in its own process) and times each phase of the sink by wrapping the
phase functions with timers. The phases run on dlt's load thread and the client's pool, so
a sampling profile of the main thread shows nothing useful; the wrapped timers do.

Run: ``.venv/bin/python benchmarks/bench_load_breakdown.py`` (about half a minute).
"""

from __future__ import annotations

import argparse
import collections
import tempfile
import time
from typing import Any, Callable, Dict

PHASES = (
    ("routes", "plan_batch", "map: coerce, dedupe, hash (plan_batch)"),
    ("CoursesRoute", "_diff", "diff against sync_state"),
    ("HubSpotClient", "batch_upsert", "send: bodies, HTTP, JSON, matching (batch_upsert)"),
    ("CoursesRoute", "send", "send step, outcome objects included"),
    ("Staging", "record_batch", "record_batch (one transaction)"),
    ("destination", "sync_batch", "sink, per batch, all of the above"),
)


def _timed(owner: Any, name: str, label: str, totals: Dict[str, float]) -> Callable[..., Any]:
    """Wrap ``owner.name`` with a timer; returns the original, to put back."""
    inner: Callable[..., Any] = getattr(owner, name)

    def timed(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return inner(*args, **kwargs)
        finally:
            totals[label] += time.perf_counter() - started

    setattr(owner, name, timed)
    return inner


def breakdown(rows: int) -> Dict[str, float]:
    """Seconds per phase (and ``load_s``) for one load of ``rows`` rows."""
    import bench_overhead as bo
    from bench_support import NullHubSpotProcess

    import hubspot_courses_destination.destination as destination
    import hubspot_courses_destination.routes as routes
    from hubspot_courses_destination.hubspot import HubSpotClient
    from hubspot_courses_destination.staging import Staging

    owners = {"routes": routes, "CoursesRoute": routes.CoursesRoute, "HubSpotClient": HubSpotClient,
              "Staging": Staging, "destination": destination}
    totals: Dict[str, float] = collections.defaultdict(float)
    originals = [(owners[owner], name, _timed(owners[owner], name, label, totals)) for owner, name, label in PHASES]
    try:
        workdir = tempfile.mkdtemp(prefix="bench_breakdown_")
        with NullHubSpotProcess(bo.portal_setup()) as server:
            pipeline = bo._pipeline("hubspot_courses", server.url, workdir)
            pipeline.extract(bo.courses_resource(rows))
            pipeline.normalize()
            started = time.monotonic()
            pipeline.load()
            totals["load_s"] = time.monotonic() - started
    finally:
        for owner, name, original in reversed(originals):
            setattr(owner, name, original)
    return dict(totals)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    totals = breakdown(args.rows)
    per_row = 1e6 / args.rows
    print(f"== load step of {args.rows:,} rows into the null HubSpot: {totals['load_s']:.2f} s = "
          f"{totals['load_s'] * per_row:.1f} us per row")
    for _, _, label in PHASES:
        print(f"  {label:<55} {totals[label]:6.2f} s = {totals[label] * per_row:5.1f} us per row")
    dlt_share = totals["load_s"] - totals[PHASES[-1][2]]
    print(f"  {'dlt around the sink (reading its files, job bookkeeping)':<55} {dlt_share:6.2f} s = "
          f"{dlt_share * per_row:5.1f} us per row")


if __name__ == "__main__":
    main()
