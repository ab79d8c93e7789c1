"""Run every benchmark and the soak, then print one summary (``make bench``).

    .venv/bin/python benchmarks/run_all.py            # the figures in the README (~14 minutes)
    .venv/bin/python benchmarks/run_all.py --quick    # smoke run of every script (~1 minute)
    .venv/bin/python benchmarks/run_all.py --only pipeline,soak

Parts: ``client`` (bench_client.py, a colleague's client-level benchmark, at 100 and 190
requests / 10 s, without its sequential loop: ``pipeline`` has one), ``pipeline``
(bench_pipeline.py: throughput at 100 and 190 requests / 10 s, the plain sequential loop,
the unchanged re-run), ``overhead`` (bench_overhead.py: against a no-op
destination at 100,000 rows; peak RSS at 100,000 and 1,000,000 rows), ``soak`` (soak.py:
faults and kill -9s, every row checked), ``enrollments`` (bench_enrollments.py: 100,000
enrollments, requests against the minimum and time against the ceiling). The 2 CPUs here are noisy; every ratio is
measured side by side within one run. Exit code 1 if the soak found a problem.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import bench_enrollments  # noqa: E402
import bench_overhead  # noqa: E402
import bench_pipeline  # noqa: E402
import soak  # noqa: E402
from bench_support import mib, pct  # noqa: E402

PARTS = ("client", "pipeline", "overhead", "enrollments", "soak")
HERE = os.path.dirname(os.path.abspath(__file__))


def client(quick: bool) -> list[str]:
    """bench_client.py in its own process (it keeps its own argv); returns its output lines."""
    lines: list[str] = []
    for limit in (100, 190):
        # its timed part must be whole windows (2 x limit requests): 20,000 rows at 190 / 10 s
        # would end with a window of 10 requests and read ~74 % for no fault of the client
        rows = 2000 if quick else 2 * limit * 100
        cmd = [sys.executable, os.path.join(HERE, "bench_client.py"), "--rate-limit-per-10s", str(limit),
               "--skip-sequential", "--rows", str(rows)]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        print(out, end="", flush=True)
        lines += [ln for ln in out.splitlines() if ln.startswith("HubSpotClient")]
    return lines


def summary(results: dict[str, Any]) -> list[str]:
    lines = ["", "=" * 100, "SUMMARY", "=" * 100]
    lines += [f"client: {ln}" for ln in results.get("client", [])]
    lines += [f"enrollments: {ln}" for ln in results.get("enrollments", [])]
    for r in results.get("pipeline", []):
        p = r["pipeline"]
        sustained = p["sustained_share"]
        lines.append(
            f"throughput {r['limit']:>3}/10 s: sustained {pct(sustained) if sustained else 'n/a':>6} of ceiling "
            f"(target >= 90%), load step {pct(p['cold_share'])}, 429s {pct(p['share_429'])} (target <= 1%)"
            + (f"; plain loop {pct(r['sequential']['share'])}" if "sequential" in r else "")
        )
        if "rerun" in r:
            q = r["rerun"]
            lines.append(f"re-run unchanged: {q['upsert_requests']} upsert requests (target 0), "
                         f"{pct(q['time_vs_first'])} of the first run's time")
    if "overhead" in results:
        o = results["overhead"]["overhead"]
        lines.append(
            f"overhead {o['rows']:,} rows: time ratio vs no-op {o['null']['time_ratio_common_prepare']:.2f} against a null "
            f"HubSpot, {o['sandbox']['time_ratio_common_prepare']:.2f} against the sandbox (median extract+normalize of "
            f"{o['rounds']} rounds; target <= 1.5); load step +{o['null']['load_us_per_row']:.0f} us per row; "
            f"CPU ratio {o['null']['cpu_ratio']:.2f}; "
            f"peak RSS {mib(o['noop']['peak_rss_kib']):.0f} -> {mib(o['null']['hubspot_courses']['peak_rss_kib']):.0f} MiB"
        )
        for m in results["overhead"].get("memory", []):
            d = m["hubspot_courses"]
            lines.append(f"memory {m['rows']:>9,} rows: load-step peak RSS {mib(d['load_child_peak_rss_kib']):.0f} MiB")
    if "soak" in results:
        c = results["soak"]["check"]
        kills = sum(p["killed"] for p in results["soak"]["phases"])
        lines.append(
            f"soak {results['soak']['rows']:,} rows, {kills} kill -9s: missing {c['missing']}, duplicated {c['duplicated']}, "
            f"wrong values {c['wrong_values']}, rejected keys {c['open_rejected_keys']}/{c['expected_rejected_keys']} "
            f"with reasons -> {'OK' if not c['problems'] else 'FAILED'}"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run of every part")
    parser.add_argument("--only", default=",".join(PARTS), help=f"comma-separated parts: {', '.join(PARTS)}")
    args = parser.parse_args(argv)
    parts = [p.strip() for p in args.only.split(",") if p.strip()]
    quick = ["--quick"] if args.quick else []
    results: dict[str, Any] = {}
    timings: dict[str, float] = {}
    for part in parts:
        print(f"\n##### {part}", flush=True)
        started = time.monotonic()
        if part == "client":
            results[part] = client(args.quick)
        elif part == "pipeline":
            results[part] = bench_pipeline.main(quick)
        elif part == "overhead":
            results[part] = bench_overhead.main(quick)
        elif part == "enrollments":
            results[part] = bench_enrollments.main(args.quick)
        elif part == "soak":
            try:
                results[part] = soak.main(quick)
            except SystemExit:
                results[part] = None
        else:
            parser.error(f"unknown part {part!r}")
        timings[part] = time.monotonic() - started
    if results.get("soak") is None and "soak" in parts:
        results.pop("soak")
        print("soak FAILED (see above)")
        return 1
    for line in summary(results):
        print(line)
    print("time: " + ", ".join(f"{k} {v / 60:.1f} min" for k, v in timings.items()))
    return 1 if "soak" in results and results["soak"]["check"]["problems"] else 0


if __name__ == "__main__":
    sys.exit(main())
