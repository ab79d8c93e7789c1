"""Soak: 20,000 courses through dlt into a faulty sandbox, with kill -9s; then check every row.

The parent process runs the sandbox (threaded, in-process) with seeded faults on every
request: 5 % 5xx (502/503/504), 2 % connection resets, 1 % 423 Locked, 1 % "write then
drop" (the write is applied, the answer lost), plus a burst of 429s every few seconds from a
background thread. It launches the pipeline as child processes (``soak.py --child ...``)
and kills a planned number of them with SIGKILL at seeded random moments (2-12 s after the
run started in phase 1, 2-7 s in phase 2, whose runs are shorter: in extract, normalize or
load), restarting until a run exits cleanly. A planned kill that did not happen (the run
finished first) fails the soak, so "5 kills" in a report is always 5. A run that fails on
its own (retries exhausted) is restarted too and counted.

Two phases over the same 20,000 keys: phase 1 creates them (3 kills planned), phase 2
changes every 4th course (2 kills planned), so lost updates show as well as lost creates.
The data carries rows that must not be written: an invalid enumeration option (rejected
locally, ``COERCION_ERROR``), no course name on create (HubSpot's ``REQUIRED_PROPERTY``,
in a 207), no key (``MISSING_KEY``), and a key repeated inside a batch (the later row
wins, the earlier one is recorded ``SUPERSEDED``).

At the end, checked against a model computed from the same rows: every expected course is
in the sandbox exactly once with every value right; no other course is there; every
rejected row is in ``rejected_rows`` with a category and a message; ``sync_state`` holds
exactly the synced courses with the sandbox's record ids. Exit code 1 on any mismatch.

Run: ``.venv/bin/python benchmarks/soak.py`` (about 3 minutes), ``--quick`` for a smoke run.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterator

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from bench_support import ID_PROPERTY, course_row, hubspot_values, portal_setup  # noqa: E402

HERE = os.path.abspath(__file__)
ROOT = os.path.dirname(os.path.dirname(HERE))
FAULT_RATES = {"502": 0.015, "503": 0.02, "504": 0.015, "reset": 0.02, "423": 0.01, "write_then_drop": 0.01}
BAD_OPTION = "not-a-stage"


# --------------------------------------------------------------------------- the data


def soak_row(i: int, phase: int) -> dict[str, Any]:
    """Row ``i`` of the source in ``phase`` (1 or 2); a few rows are wrong on purpose."""
    variant = 1 if phase == 2 and i % 4 == 0 else 0
    row = course_row(i, variant, prefix="k")
    m = i % 1000
    if i % 200 == 13:
        row["hs_pipeline_stage"] = BAD_OPTION  # COERCION_ERROR, never sent
    elif i % 250 == 17:
        row["hs_course_name"] = None  # HubSpot refuses to create a course without a name
    elif m == 500:
        row[ID_PROPERTY] = None  # MISSING_KEY
    elif m == 321:
        row[ID_PROPERTY] = f"k-{i - 1:07d}"  # same key as the row before, same batch: this one wins
    return row


def soak_pages(n: int, phase: int, page: int = 1000) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, n, page):
        yield [soak_row(i, phase) for i in range(start, min(n, start + page))]


@dataclass
class Model:
    """What must be true after a phase: courses with values, rejected keys with categories."""

    courses: dict[str, dict[str, str]] = field(default_factory=dict)
    rejected: dict[str, tuple[str, str]] = field(default_factory=dict)  # key -> (category, code)
    missing_key_rows: int = 0
    superseded: int = 0


def model(n: int, phase: int) -> Model:
    m = Model()
    for i in range(n):
        row = soak_row(i, phase)
        key = row[ID_PROPERTY]
        if key is None:
            m.missing_key_rows += 1
        elif row["hs_pipeline_stage"] == BAD_OPTION:
            m.rejected[key] = ("COERCION_ERROR", "INVALID_VALUE")
        elif row["hs_course_name"] is None:
            m.rejected[key] = ("VALIDATION_ERROR", "REQUIRED_PROPERTY")
        else:
            if key in m.courses:
                m.superseded += 1
            m.courses[key] = hubspot_values(row)
    return m


# --------------------------------------------------------------------------- the child


def child(url: str, staging_path: str, pipelines_dir: str, n: int, phase: int) -> None:
    """One pipeline run: finish what a killed run left, then load the phase's rows."""
    os.environ.setdefault("RUNTIME__LOG_LEVEL", "ERROR")
    import dlt

    from hubspot_courses_destination import hubspot_courses
    from hubspot_courses_destination.sandbox import DEFAULT_TOKEN

    pipeline = dlt.pipeline(
        "soak",
        destination=hubspot_courses(
            access_token=DEFAULT_TOKEN, api_base_url=url, id_property=ID_PROPERTY,
            staging_path=staging_path, create_missing_properties=True, requests_per_10s=100,
        ),
        pipelines_dir=pipelines_dir,
    )
    if pipeline.has_pending_data:
        pipeline.load()  # the package a killed run left behind
    pipeline.run(dlt.resource(soak_pages(n, phase), name="courses"))


# --------------------------------------------------------------------------- the parent


@dataclass
class PhaseLog:
    phase: int
    runs: int = 0
    killed: int = 0
    failed: int = 0
    kill_moments_s: list[float] = field(default_factory=list)
    upserts_before_kill: list[int] = field(default_factory=list)
    seconds: float = 0.0
    failures: list[str] = field(default_factory=list)


def run_phase(url: str, workdir: str, n: int, phase: int, kills: int, rng: random.Random,
              max_kill_s: float, max_runs: int = 30, verbose: bool = True, min_kill_s: float = 0.5,
              upserts_so_far: Any = lambda: 0) -> PhaseLog:
    """Run the child until it exits 0; kill the first ``kills`` runs at a random moment in
    ``[min_kill_s, max_kill_s]`` after their start."""
    log = PhaseLog(phase)
    started = time.monotonic()
    cmd = [sys.executable, HERE, "--child", url, os.path.join(workdir, "staging.duckdb"),
           os.path.join(workdir, "pipelines"), str(n), str(phase)]
    while log.runs < max_runs:
        log.runs += 1
        kill_at = rng.uniform(min_kill_s, max_kill_s) if log.killed < kills else None
        upserts_before = upserts_so_far()
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        run_started = time.monotonic()
        out = b""
        try:
            out, _ = proc.communicate(timeout=kill_at if kill_at is not None else 600)
        except subprocess.TimeoutExpired:
            if kill_at is None:
                proc.kill()
                raise RuntimeError(f"phase {phase}: a run did not finish in 600 s")
            os.kill(proc.pid, signal.SIGKILL)
            proc.communicate()
            log.killed += 1
            log.kill_moments_s.append(round(time.monotonic() - run_started, 2))
            log.upserts_before_kill.append(upserts_so_far() - upserts_before)
            if verbose:
                print(f"    phase {phase} run {log.runs}: killed at {log.kill_moments_s[-1]} s, after "
                      f"{log.upserts_before_kill[-1]} upsert requests", file=sys.stderr, flush=True)
            continue
        if proc.returncode == 0:
            if verbose:
                print(f"    phase {phase} run {log.runs}: finished in {time.monotonic() - run_started:.1f} s, "
                      f"{upserts_so_far() - upserts_before} upsert requests", file=sys.stderr, flush=True)
            break
        log.failed += 1
        text = out.decode(errors="replace").strip()
        lines = [ln for ln in text.splitlines() if "Error" in ln or "Exception" in ln] or text.splitlines()[-1:]
        log.failures.append(f"exit {proc.returncode} after {time.monotonic() - run_started:.1f} s: "
                            f"{(lines[-1] if lines else '(no output)')[:400]}")
        if verbose:
            print(f"    phase {phase} run {log.runs}: {log.failures[-1]}", file=sys.stderr, flush=True)
    else:
        raise RuntimeError(f"phase {phase}: no clean run in {max_runs} attempts: {log.failures[-3:]}")
    log.seconds = time.monotonic() - started
    return log


def _burst_429s(sb: Any, stop: threading.Event, rng: random.Random, every_s: float, size: int) -> None:
    """Now and then the next ``size`` upserts get 429 (as if another app had spent the window).

    A burst is only scheduled when the previous one was used up: a client that backs off
    for the window must not find several bursts queued up when it comes back.
    """
    while not stop.wait(rng.uniform(0.5 * every_s, 1.5 * every_s)):
        if sb.faults.pending() == 0:
            sb.faults.add("429", times=size, path_contains="/batch/upsert")


def verify(sb: Any, staging_path: str, expected: Model) -> dict[str, Any]:
    from hubspot_courses_destination.staging import Staging

    problems: list[str] = []
    records: dict[str, dict[str, Any]] = {}
    duplicated = 0
    for r in sb.records():
        key = r["properties"].get(ID_PROPERTY)
        if key in records:
            duplicated += 1
        records[key] = r
    missing = sorted(set(expected.courses) - set(records))
    extra = sorted(set(records) - set(expected.courses))
    wrong_values = 0
    for key, want in expected.courses.items():
        have = records.get(key, {}).get("properties", {})
        diff = {k: (have.get(k), v) for k, v in want.items() if have.get(k) != v}
        if key in records and diff:
            wrong_values += 1
            if wrong_values <= 3:
                problems.append(f"{key}: {diff}")
    if missing:
        problems.append(f"{len(missing)} courses missing, e.g. {missing[:5]}")
    if extra:
        problems.append(f"{len(extra)} unexpected courses, e.g. {extra[:5]}")
    if duplicated:
        problems.append(f"{duplicated} duplicated courses")

    with Staging(staging_path, read_only=True) as st:
        open_rej = st.open_rejections()
        state = dict(st._query(  # noqa: SLF001 - a read-only check of our own file
            "SELECT record_key, hubspot_id FROM sync_state WHERE object_type = '0-410'"))
        superseded = st._query(  # noqa: SLF001
            "SELECT count(*) FROM rejected_rows WHERE category = 'SUPERSEDED' AND resolved_at IS NOT NULL")[0][0]
    by_key: dict[str, list[dict[str, Any]]] = {}
    for r in open_rej:
        by_key.setdefault(r["record_key"], []).append(r)
    no_reason = [r for r in open_rej if not r["category"] or not r["message"]]
    if no_reason:
        problems.append(f"{len(no_reason)} rejected rows without a category or message")
    for key, (category, code) in expected.rejected.items():
        got = by_key.get(key, [])
        if not any(r["category"] == category and (r["code"] or "") == code for r in got):
            problems.append(f"rejected row {key} not in rejected_rows as {category}/{code} (have {[(r['category'], r['code']) for r in got]})")
    unexpected = sorted(k for k in by_key if k is not None and k not in expected.rejected)
    if unexpected:
        problems.append(f"{len(unexpected)} keys with open rejections that should have synced, e.g. "
                        f"{[(k, by_key[k][0]['category'], by_key[k][0]['message']) for k in unexpected[:3]]}")
    missing_key_rows = len(by_key.get(None, []))
    if missing_key_rows < expected.missing_key_rows:
        problems.append(f"{missing_key_rows} MISSING_KEY rejections, expected {expected.missing_key_rows}")
    twice = sum(n - 1 for n in Counter((r["record_key"], r["load_id"], r["category"]) for r in open_rej
                                       if r["record_key"] is not None).values() if n > 1)
    if twice:
        problems.append(f"{twice} rejections stored twice for the same key and load")
    if superseded < expected.superseded:
        problems.append(f"{superseded} SUPERSEDED rows recorded, expected at least {expected.superseded}")
    if set(state) != set(expected.courses):
        problems.append(f"sync_state has {len(state)} keys, expected {len(expected.courses)}")
    id_mismatch = sum(1 for k, rid in state.items() if k in records and str(records[k]["id"]) != str(rid))
    if id_mismatch:
        problems.append(f"{id_mismatch} sync_state rows with a HubSpot id the sandbox does not have")
    return {
        "expected_courses": len(expected.courses), "courses_in_sandbox": len(records),
        "missing": len(missing), "extra": len(extra), "duplicated": duplicated, "wrong_values": wrong_values,
        "expected_rejected_keys": len(expected.rejected), "open_rejected_keys": len([k for k in by_key if k]),
        "open_rejection_rows": len(open_rej),
        "rejections_by_category": dict(Counter(f"{r['category']}/{r['code']}" for r in open_rej)),
        "missing_key_rows": missing_key_rows, "superseded_recorded": superseded,
        "expected_superseded_per_load": expected.superseded,
        "sync_state_rows": len(state), "problems": problems,
    }


def soak(n: int = 20_000, *, seed: int = 20261129, kills: tuple[int, int] = (3, 2), latency_ms: float = 100,
         burst_every_s: float | None = 30.0, burst_size: int = 3, min_kill_s: float = 2.0,
         max_kill_s: float | tuple[float, float] = (12.0, 7.0),
         fault_rates: dict[str, float] | None = None,
         scheduled: tuple[tuple[str, int], ...] = ()) -> dict[str, Any]:
    """The soak; ``burst_every_s=None`` sends no 429 bursts, ``scheduled`` adds (kind, times)
    faults on the first upserts (the smoke test uses these instead of rates); ``max_kill_s``
    is one bound for both phases or one per phase."""
    from hubspot_courses_destination.sandbox import Sandbox

    rng = random.Random(seed)
    workdir = tempfile.mkdtemp(prefix="soak_")
    rates = FAULT_RATES if fault_rates is None else fault_rates
    result: dict[str, Any] = {"rows": n, "seed": seed, "fault_rates": rates,
                              "burst_429": f"{burst_size} x 429 every ~{burst_every_s:.0f} s" if burst_every_s
                              else "no 429 bursts"}
    try:
        with Sandbox(rate_limit_per_10s=100, latency_ms=latency_ms, seed=seed) as sb:
            for name, args, kw in portal_setup():
                if name == "create_property" and args[0] != ID_PROPERTY:
                    continue  # the destination creates the others (through the faults)
                getattr(sb, name)(*args, **kw)
            if rates:
                sb.faults.set_rates(rates, seed=seed)
            for kind, times in scheduled:
                sb.faults.add(kind, times=times, path_contains="/batch/upsert")
            stop = threading.Event()
            bursts = threading.Thread(target=_burst_429s, args=(sb, stop, random.Random(seed + 1), burst_every_s,
                                                                burst_size), daemon=True)
            if burst_every_s:
                bursts.start()
            phases = []
            try:
                max_kills = max_kill_s if isinstance(max_kill_s, tuple) else (max_kill_s, max_kill_s)
                for phase, k in ((1, kills[0]), (2, kills[1])):
                    phases.append(run_phase(sb.url, workdir, n, phase, k, rng, max_kills[phase - 1], min_kill_s=min_kill_s,
                                            upserts_so_far=lambda: sb.count_requests("POST", "/batch/upsert")))
            finally:
                stop.set()
                if bursts.is_alive():
                    bursts.join()
                sb.faults.clear()
            log = sb.request_log
            result["phases"] = [p.__dict__ for p in phases]
            result["requests"] = len(log)
            result["upsert_requests"] = sum(1 for e in log if e.path.endswith("/batch/upsert"))
            result["faults_injected"] = dict(Counter(e.fault for e in log if e.fault))
            result["statuses"] = dict(Counter(str(e.status) for e in log))
            result["check"] = verify(sb, os.path.join(workdir, "staging.duckdb"), model(n, 2))
            result["kills_planned"] = list(kills)
            for p, planned in zip(phases, kills):
                if p.killed != planned:
                    result["check"]["problems"].append(
                        f"phase {p.phase}: {p.killed} of {planned} planned kills happened (the run finished "
                        "first); lower max_kill_s for this phase")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return result


def report(r: dict[str, Any]) -> list[str]:
    c = r["check"]
    lines = [f"== soak: {r['rows']:,} rows, 2 phases (create, then change every 4th), seed {r['seed']}; "
             f"faults {json.dumps(r['fault_rates'])} + {r['burst_429']}"]
    for p in r["phases"]:
        lines.append(f"  phase {p['phase']}: {p['runs']} runs, {p['killed']} killed with SIGKILL at "
                     f"{p['kill_moments_s']} s (after {p['upserts_before_kill']} upserts of that run), "
                     f"{p['failed']} failed on their own; {p['seconds']:.0f} s")
        for f in p["failures"][:3]:
            lines.append(f"    failed run: {f}")
    lines.append(f"  requests {r['requests']} ({r['upsert_requests']} upserts); injected {r['faults_injected']}; "
                 f"statuses {r['statuses']}")
    lines.append(f"  courses: expected {c['expected_courses']}, in sandbox {c['courses_in_sandbox']}, missing {c['missing']}, "
                 f"unexpected {c['extra']}, duplicated {c['duplicated']}, wrong values {c['wrong_values']}; "
                 f"sync_state rows {c['sync_state_rows']}")
    lines.append(f"  rejected: {c['open_rejected_keys']} keys open (expected {c['expected_rejected_keys']}), "
                 f"{c['open_rejection_rows']} open rows {c['rejections_by_category']}; MISSING_KEY rows {c['missing_key_rows']}; "
                 f"SUPERSEDED recorded {c['superseded_recorded']} ({c['expected_superseded_per_load']} per load)")
    lines.append("  RESULT: " + ("OK, nothing lost, nothing duplicated" if not c["problems"] else
                                 "FAILED: " + "; ".join(c["problems"])))
    return lines


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=20261129)
    parser.add_argument("--quick", action="store_true", help="smoke run: 2,000 rows, 1 + 1 kills")
    parser.add_argument("--child", nargs=5, metavar=("URL", "STAGING", "PIPELINES_DIR", "N", "PHASE"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        url, staging, pipelines_dir, n, phase = args.child
        child(url, staging, pipelines_dir, int(n), int(phase))
        return {}
    if args.quick:
        r = soak(2_000, seed=args.seed, kills=(1, 1), latency_ms=20, burst_every_s=10, min_kill_s=1.5, max_kill_s=4)
    else:
        r = soak(args.rows, seed=args.seed)
    for line in report(r):
        print(line, flush=True)
    if r["check"]["problems"]:
        sys.exit(1)
    return r


if __name__ == "__main__":
    main()
