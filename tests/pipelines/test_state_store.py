"""Run state on a shared location for ephemeral workers (``--state-url``, pipelines/job/state_store.py).

Real parts only: the job against a sandbox standing in for the portal, real dlt pipelines and
DuckDB files, the store on a real directory (``file://`` fsspec URL and a plain path), and
other workers as real processes holding or abandoning the lock.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from lms_support import OULAD_CSV, PROJECT_ROOT, summary
from hubspot_courses_destination.hubspot.endpoints import Endpoints
from hubspot_courses_destination.sandbox import Sandbox
from hubspot_courses_destination.settings import DEFAULT_API_VERSION
from pipelines import lms_to_hubspot
from pipelines.job.state_store import StateLocked, StateStore, StateStoreError

LIST_COURSES = Endpoints(DEFAULT_API_VERSION).path("list_objects", object_type="0-410")
CSV = ["--source", "csv", "--csv-path", str(OULAD_CSV)]  # 22 courses


def _worker(tmp_path: Path, n: int) -> list[str]:
    """A fresh worker: its own empty local state dir, as on a new pod."""
    return ["--state-dir", str(tmp_path / f"worker{n}")]


def _holder(url: str, then: str) -> subprocess.Popen:
    """Another worker, a real process: takes the lock, says so, then ``then``: "crash" (exits
    without releasing) or "release" (releases when a line arrives on its stdin)."""
    code = textwrap.dedent(f"""
        import os, sys, time
        sys.path.insert(0, {str(PROJECT_ROOT)!r})
        from pipelines.job.state_store import StateStore
        store = StateStore({url!r}, heartbeat_s=0.2)
        if {then!r} == "crash":
            store.acquire("hubspot"); print("held", flush=True); os._exit(9)
        with store.locked("hubspot"):
            print("held", flush=True); sys.stdin.readline()
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


# ------------------------------------------------------------------ the job with --state-url


def test_state_round_trip_between_fresh_workers_sends_nothing_the_second_time(portal: Sandbox, tmp_path, capsys) -> None:
    url = (tmp_path / "shared").as_uri()  # file:// through fsspec, as object storage would be
    assert lms_to_hubspot.main([*CSV, "--state-url", url, *_worker(tmp_path, 1)]) == 0
    assert summary(capsys.readouterr().out)["created"] == 22
    stored = tmp_path / "shared" / "hubspot"
    assert (stored / "staging.duckdb").is_file() and not (stored / "lock.json").exists()
    assert len(list((stored / "pipelines").glob("lms_to_hubspot_csv_*.tar.gz"))) == 1
    portal.reset_log()

    assert lms_to_hubspot.main([*CSV, "--state-url", url, *_worker(tmp_path, 2)]) == 0
    out = capsys.readouterr().out
    assert "State from" in out and "staging.duckdb, pipeline" in out
    assert summary(out)["unchanged"] == 22 and summary(out)["created"] == 0
    assert portal.count_requests("POST", "/batch/upsert") == 0
    assert portal.count_requests("GET", LIST_COURSES) == 0  # restored, not rebuilt from HubSpot
    assert len(portal.records()) == 22


def test_a_second_worker_on_a_held_state_fails_and_sends_nothing(portal: Sandbox, tmp_path, capsys) -> None:
    shared = tmp_path / "shared"
    holder = _holder(str(shared), "release")
    try:
        rc = lms_to_hubspot.main([*CSV, "--state-url", str(shared), *_worker(tmp_path, 1)])
        err = capsys.readouterr().err
    finally:
        holder.communicate("release\n", timeout=10)
    assert rc == 1
    assert "in use by another worker" in err and f"pid {holder.pid}" in err and socket.gethostname() in err
    assert "Traceback" not in err
    assert portal.count_requests("POST", "/batch/upsert") == 0 and portal.records() == []


def test_the_printed_rejected_command_reads_the_store_and_retry_takes_its_lock(portal: Sandbox, tmp_path, capsys) -> None:
    """With --state-url the run's local copy is a temporary folder: the summary's command names
    the store instead, and works as printed after the run; retry holds the store's lock."""
    export = tmp_path / "export.csv"
    export.write_bytes(b"lms_course_key,hs_course_name\r\nx:1,Good\r\nx:2,\r\n")  # x:2 has no name
    shared = tmp_path / "shared"
    assert lms_to_hubspot.main(["--source", "csv", "--csv-path", str(export), "--state-url", str(shared)]) == 0
    out = capsys.readouterr().out
    command = next(line.split("list them: ", 1)[1] for line in out.splitlines() if "list them: " in line)
    assert f"rejected list --state-url {shared}" in command and "lms_to_hubspot-state-" not in command
    listed = subprocess.run(command, shell=True, capture_output=True, text=True, timeout=120)
    assert listed.returncode == 0, listed.stderr
    assert "x:2" in listed.stdout and "1 open rejection(s)" in listed.stdout
    assert f"rejected retry --state-url {shared}" in listed.stdout  # the next step, runnable too
    retry = command.replace("rejected list", "rejected retry")

    holder = _holder(str(shared), "release")
    try:
        held = subprocess.run(retry, shell=True, capture_output=True, text=True, timeout=120)
    finally:
        holder.communicate("release\n", timeout=10)
    assert held.returncode == 2 and "in use by another worker" in held.stderr and "Traceback" not in held.stderr
    done = subprocess.run(retry, shell=True, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "1 left open: they need a fix in the source data" in done.stdout
    assert not (shared / "hubspot" / "lock.json").exists()  # released after copying back


def test_a_worker_that_waits_runs_once_the_other_has_finished(portal: Sandbox, tmp_path, capsys) -> None:
    shared = tmp_path / "shared"
    holder = _holder(str(shared), "release")
    releaser = threading.Timer(2.0, holder.communicate, args=("release\n",))  # while this run waits
    releaser.start()
    rc = lms_to_hubspot.main([*CSV, "--state-url", str(shared), "--state-lock-wait", "30", *_worker(tmp_path, 1)])
    releaser.join()
    assert holder.returncode == 0
    assert rc == 0 and summary(capsys.readouterr().out)["created"] == 22


def test_a_crashed_workers_lock_is_detected_and_taken_over(portal: Sandbox, tmp_path, capsys) -> None:
    shared = tmp_path / "shared"
    assert lms_to_hubspot.main([*CSV, "--state-url", str(shared), *_worker(tmp_path, 1)]) == 0
    crashed = _holder(str(shared), "crash")
    assert crashed.wait(timeout=10) == 9
    assert json.loads((shared / "hubspot" / "lock.json").read_text())["pid"] == crashed.pid
    capsys.readouterr()
    portal.reset_log()

    assert lms_to_hubspot.main([*CSV, "--state-url", str(shared), *_worker(tmp_path, 2)]) == 0
    out = capsys.readouterr().out
    assert "Took over a stale lock" in out and f"pid {crashed.pid}" in out
    assert summary(out)["unchanged"] == 22  # the state the first worker stored is intact
    assert portal.count_requests("POST", "/batch/upsert") == 0
    assert not (shared / "hubspot" / "lock.json").exists()


def test_a_first_run_with_the_old_state_dir_moves_the_local_state_into_the_store(portal: Sandbox, tmp_path, capsys) -> None:
    assert lms_to_hubspot.main([*CSV, *_worker(tmp_path, 1)]) == 0  # a machine's state, before --state-url
    capsys.readouterr()
    portal.reset_log()
    shared = tmp_path / "shared"
    assert lms_to_hubspot.main([*CSV, "--state-url", str(shared), *_worker(tmp_path, 1)]) == 0
    assert summary(capsys.readouterr().out)["unchanged"] == 22
    assert portal.count_requests("POST", "/batch/upsert") == 0 and portal.count_requests("GET", LIST_COURSES) == 0
    assert (shared / "hubspot" / "staging.duckdb").is_file()
    assert len(list((shared / "hubspot" / "pipelines").glob("*.tar.gz"))) == 1


def test_a_dry_run_reads_the_shared_state_and_stores_nothing(portal: Sandbox, tmp_path, capsys) -> None:
    shared = tmp_path / "shared"
    assert lms_to_hubspot.main([*CSV, "--state-url", str(shared), "--dry-run", *_worker(tmp_path, 1)]) == 0
    assert not (shared / "hubspot" / "staging.duckdb").exists() and not (shared / "hubspot" / "lock.json").exists()


@pytest.mark.parametrize("argv, message", [
    (["--state-lock-wait", "5"], "--state-lock-wait only applies with --state-url"),
    (["--state-url", "x", "--staging-path", "s.duckdb"], "leave out --pipelines-dir and --staging-path"),
])
def test_state_url_flag_mistakes_exit_2(argv, message, tmp_path, capsys) -> None:
    assert lms_to_hubspot.main(["--sandbox", *argv]) == 2
    assert message in capsys.readouterr().err


def test_a_state_url_no_filesystem_serves_is_exit_2_in_one_paragraph(tmp_path, capsys) -> None:
    assert lms_to_hubspot.main(["--sandbox", "--state-url", "nope://bucket/state", *_worker(tmp_path, 1)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "--state-url" in err and "nope://bucket/state" in err


def test_a_state_store_that_cannot_be_written_is_exit_1_in_one_paragraph(tmp_path, capsys) -> None:
    (tmp_path / "a-file").write_text("not a directory")
    url = str(tmp_path / "a-file" / "store")
    assert lms_to_hubspot.main(["--sandbox", "--state-url", url, *_worker(tmp_path, 1)]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and url in err and "Not a directory" in err


# ------------------------------------------------------------------ state that was not kept


def test_a_worker_with_no_state_against_a_populated_portal_reads_and_sends_nothing(
        portal: Sandbox, moodle_url, tmp_path, capsys) -> None:
    """README "What happens when the state is lost": the pipeline dir is gone, so the Moodle
    cursor is gone and every course is read again; the staging file is gone, so it is rebuilt
    from HubSpot (one list read per 100 records). No create, no upsert, no duplicate."""
    moodle = ["--source", "moodle", "--moodle-url", moodle_url]
    assert lms_to_hubspot.main([*moodle, *_worker(tmp_path, 1)]) == 0
    assert lms_to_hubspot.main([*CSV, *_worker(tmp_path, 1)]) == 0
    before = {r["id"]: r["properties"] for r in portal.records()}
    assert len(before) == 3 + 22
    capsys.readouterr()
    portal.reset_log()

    assert lms_to_hubspot.main([*moodle, *_worker(tmp_path, 2)]) == 0  # a new worker, empty disk
    out = capsys.readouterr().out
    assert summary(out)["rows seen"] == 3  # the cursor was lost with the pipeline dir: a full re-read
    assert summary(out)["unchanged"] == 3 and summary(out)["created"] == 0 and summary(out)["updated"] == 0
    assert portal.count_requests("POST", "/batch/upsert") == 0
    assert portal.count_requests("GET", LIST_COURSES) == 1  # the rebuild: 25 records, one page
    assert {r["id"]: r["properties"] for r in portal.records()} == before  # same records, same ids

    portal.reset_log()
    assert lms_to_hubspot.main([*CSV, *_worker(tmp_path, 2)]) == 0  # rebuilt once, for every source
    assert summary(capsys.readouterr().out)["unchanged"] == 22
    assert portal.count_requests("POST", "/batch/upsert") == 0 and portal.count_requests("GET", LIST_COURSES) == 0


# ------------------------------------------------------------------ the store's rules


def test_a_failed_run_still_copies_its_state_back(tmp_path) -> None:
    """A failed load leaves a pending package in the pipeline dir: it must reach the store."""
    store = StateStore(str(tmp_path / "shared"))
    with pytest.raises(RuntimeError):
        with store.checkout("hubspot", "p", tmp_path / "w1") as co:
            (co.pipelines_dir / "p").mkdir(parents=True)
            (co.pipelines_dir / "p" / "pending.json").write_text("package")
            co.staging_path.write_bytes(b"staging")
            raise RuntimeError("load failed")
    with store.checkout("hubspot", "p", tmp_path / "w2") as co:
        assert (co.pipelines_dir / "p" / "pending.json").read_text() == "package"
        assert co.staging_path.read_bytes() == b"staging"
        assert co.restored == ("staging.duckdb", "pipeline")


def test_an_interrupted_copy_back_leaves_the_previous_complete_state(tmp_path) -> None:
    """Objects are written to a temporary name and renamed: a crash mid-copy leaves a stray
    temporary object, never a half-written staging file under the real name."""
    store = StateStore(str(tmp_path / "shared"))
    with store.checkout("hubspot", "p", tmp_path / "w1") as co:
        co.staging_path.write_bytes(b"complete")
    (tmp_path / "shared" / "hubspot" / "staging.duckdb.tmp-deadbeef").write_bytes(b"comp")  # a crash's leftover
    with store.checkout("hubspot", "p", tmp_path / "w2", write_back=False) as co:
        assert co.staging_path.read_bytes() == b"complete"


def test_a_lock_with_a_fresh_heartbeat_on_another_host_is_respected_and_a_stale_one_taken_over(tmp_path) -> None:
    now = [1_000_000.0]
    store = StateStore(str(tmp_path), stale_after_s=600, clock=lambda: now[0], sleep=lambda s: None)
    (tmp_path / "hubspot").mkdir()
    lock = {"token": "t", "owner": "airflow", "host": "worker-7", "pid": 1, "acquired_at": now[0] - 900}
    (tmp_path / "hubspot" / "lock.json").write_text(json.dumps({**lock, "heartbeat_at": now[0] - 30}))
    with pytest.raises(StateLocked, match=r"airflow@worker-7 pid 1, .* last heartbeat 30 s ago"):
        store.acquire("hubspot")
    (tmp_path / "hubspot" / "lock.json").write_text(json.dumps({**lock, "heartbeat_at": now[0] - 601}))
    mine, took_over = store.acquire("hubspot")
    assert took_over is not None and took_over.host == "worker-7"
    assert json.loads((tmp_path / "hubspot" / "lock.json").read_text())["token"] == mine.token


def test_the_heartbeat_keeps_a_long_run_from_looking_stale(tmp_path) -> None:
    store = StateStore(str(tmp_path), heartbeat_s=0.05, stale_after_s=1)
    with store.locked("hubspot") as (mine, _):
        first = store.read_lock("hubspot").heartbeat_at
        deadline = time.monotonic() + 10
        while store.read_lock("hubspot").heartbeat_at == first and time.monotonic() < deadline:
            time.sleep(0.05)
        held = store.read_lock("hubspot")
        assert held.token == mine.token and held.heartbeat_at > first


def test_a_worker_whose_lock_was_taken_over_does_not_overwrite_the_new_holders_state(tmp_path) -> None:
    store = StateStore(str(tmp_path / "shared"))
    with pytest.raises(StateStoreError, match="was taken over .* NOT copied back"):
        with store.checkout("hubspot", "p", tmp_path / "w1") as co:
            co.staging_path.write_bytes(b"old worker")
            lock = tmp_path / "shared" / "hubspot" / "lock.json"
            lock.write_text(json.dumps({**json.loads(lock.read_text()), "token": "someone-else"}))
    assert not (tmp_path / "shared" / "hubspot" / "staging.duckdb").exists()


def test_a_storage_without_exclusive_create_is_refused(tmp_path) -> None:
    import fsspec
    from fsspec.implementations.memory import MemoryFileSystem

    class NoExclusive(MemoryFileSystem):
        protocol = "noexcl"

        def _open(self, path, mode="rb", **kwargs):
            if "x" in mode:
                raise NotImplementedError("mode 'x'")
            return super()._open(path, mode, **kwargs)

    fsspec.register_implementation("noexcl", NoExclusive, clobber=True)
    with pytest.raises(StateStoreError, match="does not offer exclusive create"):
        StateStore("noexcl://state").acquire("hubspot")


def test_a_same_host_lock_of_a_dead_process_is_stale_at_once(tmp_path) -> None:
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(proc.stdout)
    (tmp_path / "hubspot").mkdir()
    now = time.time()
    (tmp_path / "hubspot" / "lock.json").write_text(json.dumps(
        {"token": "t", "owner": "me", "host": socket.gethostname(), "pid": dead_pid,
         "acquired_at": now, "heartbeat_at": now}))
    _, took_over = StateStore(str(tmp_path)).acquire("hubspot")
    assert took_over is not None and took_over.pid == dead_pid
    assert os.getpid() != dead_pid
