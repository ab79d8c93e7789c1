"""One portal, many processes: N separate pipelines share one private app's burst limit.

HubSpot's burst limit belongs to the private app (its token), not to a process: separate
pipeline processes with the same token spend one rolling 10 s budget. Each process here is
its own OS process running a real dlt pipeline into the destination (own pipeline name, own
pipelines dir, own staging file, own keys; no coordination between them but the shared
budget file in the ``+file`` variant),
all against ONE sandbox process (250 ms per request by default, one token). Every process
gets equal work and starts its load step at the same moment (the benchmark waits until all
have extracted and normalized; that is the benchmark's synchronisation, not the
destination's).

For each (limit, N, control law) it reports:

- *aggregate*: requests answered 2xx / the ceiling over the load's wall time (``limit`` per
  10 s from the first request to the last response), as the issue measures it; and
  *sustained* (``k x limit`` OK requests over the time to OK request ``k x limit + 1``, the
  free first window discounted, cannot exceed 100 %);
- the share of requests answered 429 (HubSpot asks apps to stay under 5 %);
- each process's load time and the max / min ratio (fairness, equal work);
- the most requests the sandbox counted in any 10 s.

The variants run side by side in one run (setting ``rate_limit_control``: ``solo`` is
the limiter before congestion control, ``congestion`` the headers-only law; both with
``shared_budget_dir = "off"``; ``congestion+file`` adds the machine-wide ledger, the default). Worker processes are
started once and reused, so imports do not count; each case gets fresh sessions.

Run: ``.venv/bin/python benchmarks/bench_portal_share.py`` (N = 1, 2, 4, 8 x 100, 190 / 10 s,
both laws, about 20 minutes on 2 cores); ``--procs 2,4 --limits 100 --windows 2`` for a shorter one;
``--count-rejected`` makes the sandbox count refused requests in the window.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import shutil
import sys
import tempfile
import time
import traceback
from typing import Any, Sequence

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from bench_support import (  # noqa: E402
    ID_PROPERTY,
    WINDOW_S,
    SandboxProcess,
    courses_resource,
    max_in_window,
    pct,
    portal_setup,
    sustained_requests_per_s,
)

CONTROLS = ("solo", "congestion", "congestion+file")
"""``+file``: the same law with the machine-wide ledger (``shared_budget_dir``); without it
the ledger is off, as before it existed."""
_SPAWN = mp.get_context("spawn")


# --------------------------------------------------------------------------- worker processes


def _prepare(job: dict[str, Any]) -> tuple[Any, str]:
    import dlt

    from hubspot_courses_destination import hubspot_courses
    from hubspot_courses_destination.sandbox import DEFAULT_TOKEN

    workdir = tempfile.mkdtemp(prefix=f"bench_share_{job['index']}_")
    kw: dict[str, Any] = dict(
        access_token=DEFAULT_TOKEN, api_base_url=job["url"], id_property=ID_PROPERTY,
        staging_path=os.path.join(workdir, "staging.duckdb"), requests_per_10s=job["limit"],
    )
    if job["control"] is not None:
        control, _, file = job["control"].partition("+")
        kw["rate_limit_control"] = control
        kw["shared_budget_dir"] = job["ledger_dir"] if file else "off"
    pipeline = dlt.pipeline(f"share_{job['index']}", destination=hubspot_courses(**kw),
                            pipelines_dir=os.path.join(workdir, "pipelines"))
    pipeline.extract(courses_resource(job["rows"], prefix=f"p{job['index']}"))
    pipeline.normalize()
    return pipeline, workdir


def _worker(conn: Any) -> None:
    """Serve jobs: prepare (extract + normalize), say ready, wait for go, load, report."""
    from hubspot_courses_destination.session import close_sessions

    while True:
        job = conn.recv()
        if job is None:
            return
        workdir = None
        try:
            pipeline, workdir = _prepare(job)
            conn.send(("ready", None))
            conn.recv()  # go
            started = time.monotonic()
            info = pipeline.load()
            ended = time.monotonic()
            failed = [j for p in info.load_packages for j in p.jobs.get("failed_jobs", [])]
            close_sessions()
            conn.send(("ok", {"index": job["index"], "started": started, "ended": ended,
                              "load_s": ended - started, "failed_jobs": len(failed)}))
        except BaseException as exc:  # noqa: BLE001 - reported to the parent
            conn.send(("error", f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"))
        finally:
            if workdir:
                shutil.rmtree(workdir, ignore_errors=True)


class Workers:
    """``n`` spawned worker processes, kept for every case of a run."""

    def __init__(self, n: int) -> None:
        self._procs: list[Any] = []
        self._conns: list[Any] = []
        for _ in range(n):
            parent, child = _SPAWN.Pipe()
            proc = _SPAWN.Process(target=_worker, args=(child,), daemon=True)
            proc.start()
            self._procs.append(proc)
            self._conns.append(parent)

    def _recv(self, i: int, timeout_s: float = 900) -> Any:
        deadline = time.monotonic() + timeout_s
        while not self._conns[i].poll(0.2):
            if not self._procs[i].is_alive():
                raise RuntimeError(f"worker {i} exited (code {self._procs[i].exitcode})")
            if time.monotonic() > deadline:
                raise RuntimeError(f"worker {i} did not answer within {timeout_s:.0f} s")
        status, value = self._conns[i].recv()
        if status == "error":
            raise RuntimeError(f"worker {i}: {value}")
        return value

    def run(self, jobs: Sequence[dict[str, Any]]) -> tuple[float, list[dict[str, Any]]]:
        """Prepare every job, start all loads at once; returns (go time, per-process results)."""
        for i, job in enumerate(jobs):
            self._conns[i].send(job)
        for i in range(len(jobs)):
            self._recv(i)
        go = time.monotonic()
        for i in range(len(jobs)):
            self._conns[i].send("go")
        return go, [self._recv(i) for i in range(len(jobs))]

    def close(self) -> None:
        for conn, proc in zip(self._conns, self._procs):
            try:
                conn.send(None)
            except OSError:
                pass
            proc.join(10)
            if proc.is_alive():
                proc.kill()


# --------------------------------------------------------------------------- one case


def rows_per_process(limit: int, n: int, windows: float) -> int:
    """Equal work: ``windows`` x ``limit`` upsert requests of 100 rows in all, split N ways."""
    return max(100, int(limit * windows * 100 / n) // 100 * 100)


def case(workers: Workers, limit: int, n: int, control: str | None, rows: int, *, latency_ms: float = 250,
         count_rejected: bool = False, seed: int = 0) -> dict[str, Any]:
    """N processes, one sandbox, one token; the figures of the issue's table."""
    from hubspot_courses_destination.sandbox import DEFAULT_TOKEN

    with SandboxProcess(portal_setup(), rate_limit_per_10s=limit, latency_ms=latency_ms, seed=seed,
                        daily_limit=10_000_000, count_rejected_requests=count_rejected) as sbp:
        ledger_dir = tempfile.mkdtemp(prefix="bench_share_ledger_")
        jobs = [dict(url=sbp.url, limit=limit, rows=rows, control=control, index=i, ledger_dir=ledger_dir)
                for i in range(n)]
        go, procs = workers.run(jobs)
        arrivals = sorted((a for a in sbp.arrivals() if a.token == DEFAULT_TOKEN and a.at >= go - 0.5),
                          key=lambda a: a.at)
        records, dupes = sbp.call("records_by_key")
        shutil.rmtree(ledger_dir, ignore_errors=True)
    ok_times = [a.at for a in arrivals if a.status is not None and 200 <= a.status < 300]
    n_429 = sum(1 for a in arrivals if a.status == 429)
    first = arrivals[0].at if arrivals else go
    last = max(p["ended"] for p in procs)
    wall = max(last - first, 1e-9)
    sustained = sustained_requests_per_s(ok_times, limit)
    loads = [p["load_s"] for p in procs]
    return {
        "limit": limit, "procs": n, "control": control or "main", "rows_per_process": rows,
        "latency_ms": latency_ms, "count_rejected": count_rejected,
        "requests": len(arrivals), "ok": len(ok_times), "responses_429": n_429,
        "share_429": n_429 / max(1, len(arrivals)),
        "wall_s": wall, "aggregate": len(ok_times) / (limit * wall / WINDOW_S),
        "sustained": sustained / (limit / WINDOW_S) if sustained else None,
        "max_in_10s": max_in_window(ok_times),
        "load_s": loads, "fairness": max(loads) / min(loads),
        "failed_jobs": sum(p["failed_jobs"] for p in procs),
        "records_ok": dupes == 0 and len(records) >= n * rows,
    }


def report_line(r: dict[str, Any]) -> str:
    sustained = pct(r["sustained"]) if r["sustained"] else "n/a"
    return (
        f"{r['procs']} x {r['rows_per_process']:>6,}  {r['limit']:>3}/10 s  {r['control']:<15}  "
        f"aggregate {pct(r['aggregate']):>6}  sustained {sustained:>6}  429s {r['responses_429']:>4}/{r['requests']:<5}"
        f"= {pct(r['share_429']):>6}  fairness {r['fairness']:.2f}  most/10 s {r['max_in_10s']:>3}  "
        f"load {min(r['load_s']):.1f}-{max(r['load_s']):.1f} s"
        + ("" if r["records_ok"] and not r["failed_jobs"] else f"  RECORDS WRONG ({r['failed_jobs']} failed jobs)")
    )


def matrix(procs: Sequence[int], limits: Sequence[int], controls: Sequence[str | None], *, windows: float = 3.0,
           rows: int | None = None, latency_ms: float = 250, count_rejected: bool = False) -> list[dict[str, Any]]:
    """Every (limit, N), the control laws side by side (interleaved, same sandbox settings)."""
    workers = Workers(max(procs))
    results = []
    try:
        for limit in limits:
            for n in procs:
                for control in controls:
                    size = rows or rows_per_process(limit, n, windows)
                    r = case(workers, limit, n, control, size, latency_ms=latency_ms, count_rejected=count_rejected)
                    print(report_line(r), flush=True)
                    results.append(r)
    finally:
        workers.close()
    return results


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--procs", default="1,2,4,8", help="process counts, comma-separated")
    parser.add_argument("--limits", default="100,190", help="burst limits, comma-separated")
    parser.add_argument("--controls", default=",".join(CONTROLS),
                        help="rate_limit_control values side by side ('main': do not pass the setting)")
    parser.add_argument("--windows", type=float, default=3.0,
                        help="work in all, in windows of `limit` requests (100 rows each), split over the processes")
    parser.add_argument("--rows", type=int, default=None, help="rows per process (overrides --windows)")
    parser.add_argument("--latency-ms", type=float, default=250)
    parser.add_argument("--count-rejected", action="store_true", help="the sandbox counts refused requests")
    parser.add_argument("--quick", action="store_true", help="smoke run: N = 2 at 100 / 10 s, 1,000 rows each")
    args = parser.parse_args(argv)
    procs = [2] if args.quick else [int(x) for x in args.procs.split(",")]
    limits = [100] if args.quick else [int(x) for x in args.limits.split(",")]
    controls = [None if c == "main" else c for c in args.controls.split(",")]
    print(f"{len(procs) * len(limits) * len(controls)} cases, latency {args.latency_ms:.0f} ms, "
          f"refused requests {'count' if args.count_rejected else 'do not count'}", flush=True)
    return matrix(procs, limits, controls, windows=args.windows, rows=1000 if args.quick else args.rows,
                  latency_ms=args.latency_ms, count_rejected=args.count_rejected)


if __name__ == "__main__":
    main()
