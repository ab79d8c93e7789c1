"""Enrollments at HubSpot's burst limit: requests used against the minimum, time against the ceiling.

One dlt run brings a course table (2,000 courses) and an enrollments table (100,000
enrollments over 30,000 contacts, every contact in 3-4 courses, first and last name on every
row) into the sandbox, a separate process at 100 requests / 10 s and 250 ms per request.
Reported:

- requests by kind (course upserts, contact upserts, association creates, reads), against
  the minimum ``ceil(courses / 100) + ceil(contacts / 100) + ceil(associations / 2,000)``;
- the load step's time against the ceiling: the minimum requests at the burst limit
  (``minimum / (limit / 10 s)``);
- an unchanged re-run 11 s later: requests sent (the minimum is 0 writes).

Run: ``.venv/bin/python benchmarks/bench_enrollments.py`` (about 2 minutes),
``--quick`` for a smoke run (2,000 enrollments).
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import sys
import tempfile
import time
from typing import Any, Iterator

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from bench_support import ID_PROPERTY, SandboxProcess, course_rows, portal_setup  # noqa: E402

ASSOCIATION_BATCH = 2000


def enrollment_pages(n: int, contacts: int, courses: int, page: int = 5000) -> Iterator[list[dict[str, Any]]]:
    """Enrollment ``i``: contact ``i % contacts`` in course ``(i + i // contacts) % courses``,
    so every (course, contact) pair is distinct while ``n <= contacts * courses``."""
    for start in range(0, n, page):
        out = []
        for i in range(start, min(n, start + page)):
            c = i % contacts
            out.append({ID_PROPERTY: f"c-{(i + i // contacts) % courses:07d}", "email": f"student{c}@example.com",
                        "firstname": f"First{c}", "lastname": f"Last{c % 977}"})
        yield out


def _pipeline(url: str, workdir: str, limit: int) -> Any:
    import dlt

    from hubspot_courses_destination import hubspot_courses
    from hubspot_courses_destination.sandbox import DEFAULT_TOKEN

    return dlt.pipeline("bench_enrollments", destination=hubspot_courses(
        access_token=DEFAULT_TOKEN, api_base_url=url, id_property=ID_PROPERTY, requests_per_10s=limit,
        staging_path=os.path.join(workdir, "staging.duckdb"), create_missing_properties=True,
    ), pipelines_dir=os.path.join(workdir, "pipelines"))


def _source(n: int, contacts: int, courses: int) -> Any:
    import dlt

    @dlt.source(max_table_nesting=0)
    def lms() -> Any:
        return [dlt.resource(course_rows(courses), name="courses"),
                dlt.resource(enrollment_pages(n, contacts, courses), name="enrollments")]

    return lms()


def _kinds(arrivals: list[Any]) -> dict[str, int]:
    out = {"course_upserts": 0, "contact_upserts": 0, "association_creates": 0, "other": 0}
    for a in arrivals:
        if a.path.endswith("/batch/upsert"):
            out["contact_upserts" if "/0-1/" in a.path else "course_upserts"] += 1
        elif "associations" in a.path and a.path.endswith("/batch/create"):
            out["association_creates"] += 1
        else:
            out["other"] += 1
    return out


def run(n: int = 100_000, contacts: int = 30_000, courses: int = 2_000, *, limit: int = 100,
        latency_ms: float = 250, rerun_wait_s: float = 11.0) -> dict[str, Any]:
    from hubspot_courses_destination.session import close_sessions

    close_sessions()
    workdir = tempfile.mkdtemp(prefix="bench_enrollments_")
    minimum = math.ceil(courses / 100) + math.ceil(min(contacts, n) / 100) + math.ceil(n / ASSOCIATION_BATCH)
    out: dict[str, Any] = {"enrollments": n, "contacts": min(contacts, n), "courses": courses, "limit": limit,
                           "latency_ms": latency_ms, "minimum_requests": minimum,
                           "ceiling_s": minimum / (limit / 10.0)}
    # the custom course properties are created by the load (create_missing_properties)
    setup = [s for s in portal_setup() if s[0] != "create_property" or s[1][0] == ID_PROPERTY]
    try:
        with SandboxProcess(setup, rate_limit_per_10s=limit, latency_ms=latency_ms, daily_limit=10_000_000) as sbp:
            pipeline = _pipeline(sbp.url, workdir, limit)
            t0 = time.monotonic()
            pipeline.extract(_source(n, contacts, courses))
            pipeline.normalize()
            t1 = time.monotonic()
            info = pipeline.load()
            t2 = time.monotonic()
            arrivals = sbp.arrivals()
            kinds = _kinds(arrivals)
            statuses = [a.status for a in arrivals]
            out["first"] = {
                "prepare_s": t1 - t0, "load_s": t2 - t1, "requests": len(arrivals), **kinds,
                "writes": kinds["course_upserts"] + kinds["contact_upserts"] + kinds["association_creates"],
                "responses_429": statuses.count(429),
            }
            out["first"]["writes_vs_minimum"] = out["first"]["writes"] / minimum
            out["first"]["load_vs_ceiling"] = out["first"]["load_s"] / out["ceiling_s"]
            out["associations"] = len(sbp.call("associations"))
            out["contacts_stored"] = len(sbp.call("contacts"))
            from hubspot_courses_destination.staging import Staging

            with Staging(os.path.join(workdir, "staging.duckdb")) as st:
                out["summary"] = st.enrollment_summary(info.loads_ids)
            close_sessions(os.path.join(workdir, "staging.duckdb"))

            time.sleep(rerun_wait_s)
            sbp.call("clear_arrivals")
            t3 = time.monotonic()
            _pipeline(sbp.url, workdir, limit).run(_source(n, contacts, courses))
            again = sbp.arrivals()
            out["rerun"] = {"total_s": time.monotonic() - t3, "requests": len(again), **_kinds(again),
                            "other_paths": sorted({f"{a.method} {a.path}" for a in again})}
        close_sessions(os.path.join(workdir, "staging.duckdb"))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return out


def report(r: dict[str, Any]) -> list[str]:
    f, again = r["first"], r["rerun"]
    return [
        f"== enrollments: {r['enrollments']:,} over {r['contacts']:,} contacts and {r['courses']:,} courses, "
        f"{r['limit']} requests / 10 s, {r['latency_ms']:.0f} ms per request",
        f"  writes {f['writes']} = {f['writes_vs_minimum']:.2f} x the minimum {r['minimum_requests']} "
        f"(course upserts {f['course_upserts']}, contact upserts {f['contact_upserts']}, association creates "
        f"{f['association_creates']}); other requests {f['other']}; 429s {f['responses_429']}",
        f"  load step {f['load_s']:.1f} s = {f['load_vs_ceiling']:.2f} x the ceiling {r['ceiling_s']:.1f} s "
        f"(minimum requests at the limit); extract+normalize {f['prepare_s']:.1f} s",
        f"  stored: {r['associations']:,} associations, {r['contacts_stored']:,} contacts; summary {r['summary']}",
        f"  unchanged re-run: {again['requests']} requests ({again['course_upserts']} course upserts, "
        f"{again['contact_upserts']} contact upserts, {again['association_creates']} association creates), "
        f"{again['total_s']:.1f} s; paths {again['other_paths']}",
    ]


def main(quick: bool = False) -> list[str]:
    r = run(2_000, 600, 40, limit=1000, latency_ms=0, rerun_wait_s=0) if quick else run()
    lines = report(r)
    print("\n".join(lines), flush=True)
    return lines


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    main(parser.parse_args().quick)
