"""The benchmark scripts' core functions at tiny sizes, so they cannot rot unnoticed.

The real runs are ``make bench`` (benchmarks/run_all.py); the full soak is also
``pytest -m slow tests/benchmarks``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import bench_overhead  # noqa: E402
import bench_pipeline  # noqa: E402
import bench_portal_share  # noqa: E402
import soak  # noqa: E402
from bench_support import max_in_window, sustained_requests_per_s  # noqa: E402


def test_sustained_rate_discounts_the_free_first_window():
    # 10 requests at once, the next 10 only after the window rolled on: 10 per 10 s, not 20/s
    times = [0.0] * 10 + [10.0] * 10 + [20.0]
    assert sustained_requests_per_s(times, 10) == pytest.approx(1.0)
    assert sustained_requests_per_s(times[:10], 10) is None
    assert max_in_window(times) == 10
    assert max_in_window([0.0, 5.0, 9.99, 10.0]) == 3


def test_pipeline_throughput_rerun_and_sequential_loop_tiny():
    r = bench_pipeline.throughput(1000, 300, latency_ms=0, sequential=True, rerun=True, rerun_wait_s=0)
    p = r["pipeline"]
    assert r["records_ok"] and p["rows_accepted"] == 300 and p["upsert_requests"] == 3
    assert r["rerun"]["upsert_requests"] == 0
    assert r["sequential"]["requests"] == 3
    assert bench_pipeline.report(r)


def test_overhead_tiny():
    # each measure runs in fresh spawned processes; the sandbox server path is the pipeline test's
    r = bench_overhead.overhead(200, servers=("null",), rounds=1)
    assert r["null"]["hubspot_courses"]["synced"] == 200
    assert r["null"]["hubspot_courses"]["upsert_requests"] == 2
    assert r["null"]["time_ratio"] > 0 and r["noop"]["peak_rss_kib"] > 0
    assert r["null"]["time_ratio_common_prepare"] > 0
    assert bench_overhead.report_overhead(r)


def test_memory_tiny():
    m = bench_overhead.memory([200], noop_up_to=0)
    assert m[0]["hubspot_courses"]["load_child_peak_rss_kib"] > 0
    assert bench_overhead.report_memory(m)


def test_soak_model_counts_every_row():
    m = soak.model(2000, 2)
    assert len(m.courses) + len(m.rejected) + m.missing_key_rows + m.superseded == 2000
    assert m.superseded == 2 and m.missing_key_rows == 2


def test_soak_tiny_with_one_kill():
    r = soak.soak(300, kills=(1, 0), latency_ms=0, burst_every_s=None, min_kill_s=0.5, max_kill_s=1.0, fault_rates={},
                  scheduled=(("write_then_drop", 1), ("503", 1)))
    assert r["check"]["problems"] == [], r["check"]["problems"]
    assert sum(p["killed"] for p in r["phases"]) == 1
    assert soak.report(r)


@pytest.mark.slow
def test_soak_full():
    r = soak.soak()
    assert r["check"]["problems"] == [], r["check"]["problems"]
    assert sum(p["killed"] for p in r["phases"]) == 5


def test_load_breakdown_times_every_phase():
    import bench_load_breakdown

    totals = bench_load_breakdown.breakdown(300)
    assert totals["load_s"] > 0
    assert all(totals[label] > 0 for _, _, label in bench_load_breakdown.PHASES)


def test_portal_share_two_processes_tiny():
    # two spawned pipeline processes on one token, the variants side by side, one window's work
    variants = ["solo", "congestion", "congestion+file"]
    results = bench_portal_share.matrix([2], [100], variants, rows=300, latency_ms=0)
    assert [r["control"] for r in results] == variants
    for r in results:
        assert r["records_ok"] and not r["failed_jobs"] and r["ok"] >= 6
        assert len(r["load_s"]) == 2 and r["fairness"] >= 1.0
        assert bench_portal_share.report_line(r)


def test_enrollments_benchmark_tiny():
    import bench_enrollments

    r = bench_enrollments.run(300, 90, 12, limit=1000, latency_ms=0, rerun_wait_s=0)
    assert r["associations"] == 300 and r["contacts_stored"] == 90
    assert r["first"]["writes"] == r["minimum_requests"] == 1 + 1 + 1
    assert r["rerun"]["course_upserts"] + r["rerun"]["contact_upserts"] + r["rerun"]["association_creates"] == 0
    assert bench_enrollments.report(r)
