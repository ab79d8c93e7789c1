"""Throughput at HubSpot's burst limit and the cost of an unchanged re-run, through real dlt.

For each burst limit (100 and 190 requests / 10 s; 250 ms per request, ±20 %), in one run:

1. a 20,000-row course table goes through ``dlt.pipeline(...)`` with ``hubspot_courses(...)``
   into the sandbox (a separate process, so its CPU is not the destination's). Reported:
   rows/s of the load step against the ceiling (limit x 100 rows / 10 s), the share of
   requests answered 429 and the most requests the sandbox saw in any 10 s;
2. a plain sequential upsert loop (one ``requests.post`` of 100 rows after another, what a
   user writes by hand) over the same rows, under a second private-app token (HubSpot gives
   each app its own burst window);
3. (at the first limit only) the same 20,000 rows again, unchanged, 11 s later (the window
   has rolled on): upsert requests sent and time against the first run.

Honest throughput. A rolling window that starts empty lets a full window's requests
through at once, so "rows / load time" of a run only two windows long beats the
ceiling. Two figures are printed:

- *sustained*: ``k x limit`` requests over the time from the first request to request
  ``k x limit + 1`` (the first that has to wait for the window to roll on), rows carried by
  those requests per second. A client that never exceeds the limit cannot score above the
  ceiling this way, however it bursts; preflight requests count, with 0 rows. This is the
  figure held against the >= 90 % target.
- *cold*: 20,000 rows / load-step time, free first window included (what a user sees for a
  table this size), next to the end-to-end time (extract + normalize + load).

Run: ``.venv/bin/python benchmarks/bench_pipeline.py`` (about 3 minutes), ``--quick`` for a
smoke run (2,000 rows, no sequential loop).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from hubspot_courses_destination.session import close_sessions
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from bench_support import (  # noqa: E402
    ID_PROPERTY,
    SEQUENTIAL_TOKEN,
    SandboxProcess,
    courses_resource,
    expected_properties,
    max_in_window,
    pct,
    portal_setup,
    sustained_requests_per_s,
    upserts,
)

def make_pipeline(url: str, workdir: str, limit: int, max_concurrency: int | None, name: str = "bench") -> Any:
    import dlt

    from hubspot_courses_destination import hubspot_courses
    from hubspot_courses_destination.sandbox import DEFAULT_TOKEN

    kw: dict[str, Any] = dict(
        access_token=DEFAULT_TOKEN, api_base_url=url, id_property=ID_PROPERTY,
        staging_path=os.path.join(workdir, "staging.duckdb"), requests_per_10s=limit,
    )
    if max_concurrency is not None:
        kw["max_concurrency"] = max_concurrency
    return dlt.pipeline(name, destination=hubspot_courses(**kw), pipelines_dir=os.path.join(workdir, "pipelines"))


def timed_run(pipeline: Any, n: int, variant: int = 0) -> dict[str, float]:
    """extract + normalize, then the load step on its own clock."""
    t0 = time.monotonic()
    pipeline.extract(courses_resource(n, variant))
    pipeline.normalize()
    t1 = time.monotonic()
    pipeline.load()
    t2 = time.monotonic()
    return {"prepare_s": t1 - t0, "load_s": t2 - t1, "total_s": t2 - t0, "load_started": t1}


def sequential_loop(url: str, n: int, prefix: str = "s") -> dict[str, float]:
    """The hand-written way: one request per 100 rows, one after another; wait and repeat on 429."""
    import requests

    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {SEQUENTIAL_TOKEN}"
    requests_sent = n_429 = 0
    started = time.monotonic()
    for page_start in range(0, n, 100):
        inputs = []
        for i in range(page_start, min(n, page_start + 100)):
            props = expected_properties(i, prefix=prefix)
            props.pop(ID_PROPERTY)
            inputs.append({"id": f"{prefix}-{i:07d}", "idProperty": ID_PROPERTY, "properties": props})
        while True:
            requests_sent += 1
            resp = session.post(f"{url}/crm/v3/objects/0-410/batch/upsert", json={"inputs": inputs}, timeout=(5, 60))
            if resp.status_code != 429:
                resp.raise_for_status()
                break
            n_429 += 1
            time.sleep(1.0)
    elapsed = time.monotonic() - started
    return {"seconds": elapsed, "rows_per_s": n / elapsed, "requests": requests_sent, "responses_429": n_429}


def throughput(limit: int, n: int, *, latency_ms: float = 250, max_concurrency: int | None = None,
               sequential: bool = True, rerun: bool = False, rerun_wait_s: float = 11.0,
               seed: int = 0) -> dict[str, Any]:
    """One limit: the pipeline, optionally the sequential loop and the unchanged re-run."""
    from hubspot_courses_destination.sandbox import DEFAULT_TOKEN

    close_sessions()  # a fresh client and limiter per limit
    ceiling = limit * 100 / 10.0
    workdir = tempfile.mkdtemp(prefix=f"bench_pipeline_{limit}_")
    out: dict[str, Any] = {"limit": limit, "rows": n, "ceiling_rows_per_s": ceiling, "latency_ms": latency_ms}
    try:
        with SandboxProcess(portal_setup(), rate_limit_per_10s=limit, latency_ms=latency_ms, seed=seed,
                            daily_limit=10_000_000) as sbp:
            pipeline = make_pipeline(sbp.url, workdir, limit, max_concurrency)
            first = timed_run(pipeline, n)
            arrivals = [a for a in sbp.arrivals() if a.token == DEFAULT_TOKEN]
            ups = upserts(arrivals)
            statuses = [a.status for a in arrivals]
            sent_rows = sum(a.n_inputs or 0 for a in ups if a.status == 200)
            window = sorted(arrivals, key=lambda a: a.at)
            k_times = [a.at for a in window]
            sustained_rps = sustained_requests_per_s(k_times, limit)
            sustained_rows = None
            if sustained_rps is not None:
                k = (len(window) - 1) // limit
                rows_in = sum(a.n_inputs or 0 for a in window[: k * limit] if a.path.endswith("/batch/upsert"))
                sustained_rows = rows_in / (window[k * limit].at - window[0].at)
            out["pipeline"] = {
                **{k: v for k, v in first.items() if k != "load_started"},
                "cold_rows_per_s": n / first["load_s"],
                "cold_share": n / first["load_s"] / ceiling,
                "end_to_end_rows_per_s": n / first["total_s"],
                "sustained_rows_per_s": sustained_rows,
                "sustained_share": sustained_rows / ceiling if sustained_rows else None,
                "requests": len(arrivals),
                "upsert_requests": len(ups),
                "rows_accepted": sent_rows,
                "responses_429": statuses.count(429),
                "share_429": statuses.count(429) / max(1, len(arrivals)),
                "max_requests_in_10s": max_in_window(k_times),
                "max_concurrency": max_concurrency or "default",
            }
            if rerun:
                time.sleep(rerun_wait_s)  # a later run: the 10 s window has rolled on
                sbp.call("clear_arrivals")
                again = timed_run(make_pipeline(sbp.url, workdir, limit, max_concurrency), n)
                re_arrivals = [a for a in sbp.arrivals() if a.token == DEFAULT_TOKEN]
                out["rerun"] = {
                    **{k: v for k, v in again.items() if k != "load_started"},
                    "requests": len(re_arrivals),
                    "upsert_requests": len(upserts(re_arrivals)),
                    "other_requests": sorted({f"{a.method} {a.path}" for a in re_arrivals if not a.path.endswith("/batch/upsert")}),
                    "time_vs_first": again["total_s"] / first["total_s"],
                    "load_time_vs_first": again["load_s"] / first["load_s"],
                }
            if sequential:
                seq = sequential_loop(sbp.url, n)
                seq["share"] = seq["rows_per_s"] / ceiling
                seq_arrivals = [a for a in sbp.arrivals() if a.token == SEQUENTIAL_TOKEN]
                seq["share_429"] = seq["responses_429"] / max(1, seq["requests"])
                seq["max_requests_in_10s"] = max_in_window([a.at for a in seq_arrivals])
                out["sequential"] = seq
            records, dupes = sbp.call("records_by_key")
            out["records_ok"] = dupes == 0 and all(
                all(records.get(f"c-{i:07d}", {}).get(k) == v for k, v in expected_properties(i).items())
                for i in range(n)
            )
        close_sessions(os.path.join(workdir, "staging.duckdb"))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return out


def report(r: dict[str, Any]) -> list[str]:
    p = r["pipeline"]
    lines = [
        f"== {r['limit']} requests / 10 s, {r['latency_ms']:.0f} ms per request; ceiling {r['ceiling_rows_per_s']:.0f} rows/s; "
        f"{r['rows']:,} rows (max_concurrency={p['max_concurrency']})",
        (f"  hubspot_courses, sustained : {p['sustained_rows_per_s']:7.0f} rows/s = "
         f"{pct(p['sustained_share'])} of ceiling (free first window discounted)") if p["sustained_rows_per_s"]
        else f"  hubspot_courses, sustained : n/a (fewer than {r['limit'] + 1} requests)",
        f"  hubspot_courses, load step : {p['cold_rows_per_s']:7.0f} rows/s = {pct(p['cold_share'])} of ceiling "
        f"({p['load_s']:.1f} s, first window free); end to end {p['total_s']:.1f} s = {p['end_to_end_rows_per_s']:.0f} rows/s "
        f"(extract+normalize {p['prepare_s']:.1f} s)",
        f"  requests {p['requests']} ({p['upsert_requests']} upserts), 429s {p['responses_429']} = {pct(p['share_429'])}, "
        f"most in any 10 s: {p['max_requests_in_10s']} (limit {r['limit']}); records exact: {r['records_ok']}",
    ]
    if "sequential" in r:
        s = r["sequential"]
        lines.append(
            f"  plain sequential loop      : {s['rows_per_s']:7.0f} rows/s = {pct(s['share'])} of ceiling ({s['seconds']:.1f} s), "
            f"{s['requests']} requests, 429s {s['responses_429']} = {pct(s['share_429'])}; "
            f"hubspot_courses is {(p['sustained_rows_per_s'] or p['cold_rows_per_s']) / s['rows_per_s']:.1f}x faster (sustained)"
        )
    if "rerun" in r:
        q = r["rerun"]
        lines.append(
            f"  re-run, same rows unchanged: {q['upsert_requests']} upsert requests ({q['requests']} requests in all: "
            f"{', '.join(q['other_requests']) or 'none'}); {q['total_s']:.1f} s end to end = {pct(q['time_vs_first'])} of the first run "
            f"(load step {q['load_s']:.2f} s = {pct(q['load_time_vs_first'])})"
        )
    return lines


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--limits", default="100,190", help="burst limits to measure, comma-separated")
    parser.add_argument("--latency-ms", type=float, default=250)
    parser.add_argument("--max-concurrency", type=int, default=None, help="destination setting (default: its default)")
    parser.add_argument("--no-sequential", action="store_true", help="skip the plain sequential loop")
    parser.add_argument("--quick", action="store_true", help="smoke run: 2,000 rows, no sequential loop")
    args = parser.parse_args(argv)
    rows = 2_000 if args.quick else args.rows
    results = []
    for i, limit in enumerate(int(x) for x in args.limits.split(",")):
        r = throughput(limit, rows, latency_ms=args.latency_ms, max_concurrency=args.max_concurrency,
                       sequential=not (args.no_sequential or args.quick), rerun=i == 0)
        for line in report(r):
            print(line, flush=True)
        results.append(r)
    return results


if __name__ == "__main__":
    main()
