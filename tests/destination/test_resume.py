"""kill -9 in the middle of a multi-batch load, then a re-run: nothing lost, nothing duplicated."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from hubspot_courses_destination import BATCH_SIZE
from hubspot_courses_destination.sandbox import Sandbox
from hubspot_courses_destination.staging import Staging

from .conftest import ID, by_key
from .resume_job import expected_rows

JOB = Path(__file__).with_name("resume_job.py")
ROOT = Path(__file__).resolve().parents[2]
N = 3 * BATCH_SIZE  # three dlt batches
KILL_AFTER = BATCH_SIZE // 100 + 2  # upsert requests: the first batch done, the second under way


def _start(sb: Sandbox, tmp_path: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(JOB), sb.url, str(tmp_path / "staging.duckdb"), str(tmp_path / "pipelines"), str(N)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )


def test_kill_9_mid_load_then_rerun_ends_exact(tmp_path):
    # 40 ms per request keeps the load running long enough to be killed in the middle
    with Sandbox(rate_limit_per_10s=1000, latency_ms=40) as sb:
        proc = _start(sb, tmp_path)
        deadline = time.monotonic() + 60
        while sb.count_requests("POST", "/batch/upsert") < KILL_AFTER and time.monotonic() < deadline:
            if proc.poll() is not None:
                raise AssertionError("job ended before it could be killed:\n" + proc.stdout.read().decode())
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        assert proc.returncode == -signal.SIGKILL
        partial = len(sb.records())
        assert 0 < partial < N, "the kill must land in the middle of the load"

        rerun = _start(sb, tmp_path)
        out, _ = rerun.communicate(timeout=120)
        assert rerun.returncode == 0, out.decode()

        records = by_key(sb)  # also fails on any duplicated key
        expected = {r[ID]: r for r in expected_rows(N)}
        assert set(records) == set(expected)
        for key, row in expected.items():
            assert records[key]["hs_course_name"] == row["hs_course_name"]
            assert records[key]["hs_enrollment_capacity"] == str(row["hs_enrollment_capacity"])

    with Staging(str(tmp_path / "staging.duckdb")) as st:
        assert st.synced_count("0-410") == N
        assert st.open_rejections() == []


def test_batch_identity_counts_keys_in_variant_columns():
    """Two batches whose keys all sit in ``<id>▶v_text`` must not share an identity: the
    second's counts would replace the first's in sync_runs."""
    from hubspot_courses_destination.routes import batch_id

    keys = ("lms_course_key", "lms_course_key▶v_text")
    first = [{"lms_course_key▶v_text": "a"}, {"lms_course_key▶v_text": "b"}]
    second = [{"lms_course_key▶v_text": "c"}, {"lms_course_key▶v_text": "d"}]
    assert batch_id(first, keys) != batch_id(second, keys)
    assert batch_id([{"lms_course_key": 5}], keys) == batch_id([{"lms_course_key": 5}], keys[:1])
