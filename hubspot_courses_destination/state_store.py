"""Run state kept on a shared volume or object storage, for workers that start empty.

Used by the job (``pipelines/lms_to_hubspot.py --state-url``, through ``pipelines.job.state_store``)
and by ``python -m hubspot_courses_destination rejected list|retry --state-url``; it imports
nothing of either.

An orchestrator's worker (a Dagster run, an Airflow task, a Kubernetes pod) often gets a fresh
disk. The job's state must outlive it (README "Running on an orchestrator"): per target, dlt's
pipeline directory of the source (incremental cursor, pending load packages) and the staging
DuckDB file (content hashes and HubSpot ids of synced courses, rejected rows). ``StateStore``
copies both in before a run and back after it, under a lock, so two workers never use one
state at once.

Layout under the store's URL (any fsspec URL; a plain path is a directory, e.g. on NFS)::

    <url>/<target>/lock.json                    who holds the state now
    <url>/<target>/staging.duckdb               the staging file, as the job leaves it
    <url>/<target>/pipelines/<pipeline>.tar.gz  dlt's pipeline directory of one source

Each object is written to a temporary name and renamed (one PUT on object storage), so a worker
that dies while copying back leaves the previous complete copy, never half a file.

The lock is an object created with exclusive create (``open(..., "xb")``: ``O_EXCL`` on a local
or NFS path, ``If-None-Match: *`` on S3 through s3fs). The holder rewrites it every
``heartbeat_s``; a lock whose heartbeat is older than ``stale_after_s`` (or, on the same host,
whose process is gone) belonged to a crashed worker and is taken over, and the new holder is told
(``Checkout.took_over``). A storage without exclusive create is refused rather than locked
unreliably. Known limit: two workers that find the same stale lock within milliseconds of each
other could both take it over; on a healthy schedule a stale lock is rare and its takeover is
logged.
"""

from __future__ import annotations

import contextlib
import getpass
import io
import json
import os
import shutil
import socket
import tarfile
import threading
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Iterator, Optional

from .hubspot.shared_budget import pid_alive

__all__ = ["StateStore", "StateLocked", "StateStoreError", "LockInfo", "Checkout", "describe_checkout"]

#: files of a target's state directory that are carried, when present (the sandbox target keeps
#: its portal's records next to the staging file, so a sandbox run on a worker behaves the same)
STATE_FILES = ("staging.duckdb", "sandbox-portal.duckdb")


class StateStoreError(Exception):
    """The shared state cannot be used (unsupported storage, lock lost): exit code 1."""


class StateLocked(StateStoreError):
    """Another worker holds the state: nothing was read or sent; try again later."""


@dataclass(frozen=True)
class LockInfo:
    token: str
    owner: str
    host: str
    pid: int
    acquired_at: float
    heartbeat_at: float

    def describe(self, now: float) -> str:
        return (f"{self.owner}@{self.host} pid {self.pid}, since "
                f"{time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime(self.acquired_at))}, "
                f"last heartbeat {now - self.heartbeat_at:.0f} s ago")


@dataclass(frozen=True)
class Checkout:
    """The worker-local copy of one target's state, for the length of one run."""

    state_dir: Path  # <local>/<target>: pipelines/ and staging.duckdb, the job's layout
    pipelines_dir: Path
    staging_path: Path
    took_over: Optional[LockInfo]  # the crashed worker whose stale lock this run replaced
    restored: tuple[str, ...]  # what was found in the store ("staging.duckdb", "pipeline")


class StateStore:
    """The shared home of the job's state: a directory path or an fsspec URL.

    ``wait_s``: how long ``checkout`` waits for another worker's lock before ``StateLocked``.
    ``stale_after_s``: a lock not refreshed for this long is a crashed worker's. ``clock`` and
    ``sleep`` are injectable for tests of the timing rules only.
    """

    def __init__(self, url: str, *, wait_s: float = 0.0, stale_after_s: float = 600.0,
                 heartbeat_s: float = 30.0, poll_s: float = 1.0,
                 clock: Callable[[], float] = time.time, sleep: Callable[[float], None] = time.sleep) -> None:
        from fsspec.core import url_to_fs

        if heartbeat_s >= stale_after_s:
            raise ValueError("heartbeat_s must be shorter than stale_after_s")
        self.url = url
        self.fs, root = url_to_fs(url)
        self.root = root.rstrip("/")
        self.wait_s, self.stale_after_s, self.heartbeat_s, self.poll_s = wait_s, stale_after_s, heartbeat_s, poll_s
        self.clock, self.sleep = clock, sleep

    # ------------------------------------------------------------------ paths

    def _path(self, *parts: str) -> str:
        return "/".join([self.root, *parts])

    def has_state(self, target: str) -> bool:
        """Whether a run of ``target`` ever stored its staging file here."""
        return bool(self.fs.exists(self._path(target, "staging.duckdb")))

    # ------------------------------------------------------------------ the lock

    def read_lock(self, target: str) -> Optional[LockInfo]:
        try:
            with self.fs.open(self._path(target, "lock.json"), "rb") as f:
                return LockInfo(**json.loads(f.read()))
        except FileNotFoundError:
            return None
        except (ValueError, TypeError):  # a lock written half: treat it as a crashed writer's
            return LockInfo("unreadable", "?", "?", -1, 0.0, 0.0)

    def _is_stale(self, info: LockInfo, now: float) -> bool:
        if now - info.heartbeat_at > self.stale_after_s:
            return True
        return info.host == socket.gethostname() and info.pid > 0 and not pid_alive(info.pid)

    def _create_lock(self, target: str, info: LockInfo) -> bool:
        self.fs.makedirs(self._path(target), exist_ok=True)
        try:
            with self.fs.open(self._path(target, "lock.json"), "xb") as f:
                f.write(json.dumps(asdict(info)).encode())
        except FileExistsError:
            return False
        except (ValueError, NotImplementedError) as exc:
            raise StateStoreError(
                f"the state store {self.url} does not offer exclusive create ({exc}), so two workers "
                "could use one state at once: use a shared volume (a directory path) or S3"
            ) from None
        return True

    def _write_lock(self, target: str, info: LockInfo) -> None:
        """Refresh the heartbeat: written beside and renamed over, never half a lock."""
        tmp = self._path(target, f"lock.json.tmp-{info.token}")
        with self.fs.open(tmp, "wb") as f:
            f.write(json.dumps(asdict(info)).encode())
        self.fs.mv(tmp, self._path(target, "lock.json"))

    def acquire(self, target: str) -> tuple[LockInfo, Optional[LockInfo]]:
        """(our lock, the stale lock it replaced); waits up to ``wait_s``, else ``StateLocked``."""
        deadline = self.clock() + self.wait_s
        took_over: Optional[LockInfo] = None
        while True:
            now = self.clock()
            mine = LockInfo(uuid.uuid4().hex, getpass.getuser(), socket.gethostname(), os.getpid(), now, now)
            if self._create_lock(target, mine):
                return mine, took_over
            held = self.read_lock(target)
            if held is None:
                continue  # released between our create and our read
            if self._is_stale(held, now):
                again = self.read_lock(target)
                if again == held:  # still the crashed worker's, not a fresh one
                    with contextlib.suppress(FileNotFoundError):
                        self.fs.rm(self._path(target, "lock.json"))
                    took_over = held
                continue
            if now >= deadline:
                raise StateLocked(
                    f"the run state of target {target!r} in {self.url} is in use by another worker "
                    f"({held.describe(now)}). Nothing was read or sent. Two runs on one state would "
                    f"send rows twice and lose pending loads, so this run stops: run it again when that "
                    f"one has finished (or wait longer with --state-lock-wait). A lock not refreshed for "
                    f"{self.stale_after_s:.0f} s is a crashed worker's and is taken over."
                )
            self.sleep(min(self.poll_s, max(deadline - now, 0.0)))

    def release(self, target: str, mine: LockInfo) -> None:
        held = self.read_lock(target)
        if held is not None and held.token == mine.token:
            self.fs.rm(self._path(target, "lock.json"))

    @contextlib.contextmanager
    def locked(self, target: str) -> Iterator[tuple[LockInfo, Optional[LockInfo]]]:
        """Hold the target's lock, refreshing it in the background, for the body's length."""
        mine, took_over = self.acquire(target)
        stop = threading.Event()
        current = [mine]

        def beat() -> None:
            while not stop.wait(self.heartbeat_s):
                held = self.read_lock(target)
                if held is None or held.token != mine.token:
                    return  # taken over: the upload checks and refuses
                current[0] = LockInfo(**{**asdict(held), "heartbeat_at": self.clock()})
                with contextlib.suppress(OSError):
                    self._write_lock(target, current[0])

        thread = threading.Thread(target=beat, name=f"state-lock-{target}", daemon=True)
        thread.start()
        try:
            yield mine, took_over
        finally:
            stop.set()
            thread.join()
            self.release(target, mine)

    def _still_ours(self, target: str, mine: LockInfo) -> None:
        held = self.read_lock(target)
        if held is None or held.token != mine.token:
            who = held.describe(self.clock()) if held else "nobody"
            raise StateStoreError(
                f"this worker's lock on the run state of target {target!r} in {self.url} was taken "
                f"over (now held by {who}): its heartbeat stalled for more than {self.stale_after_s:.0f} s. "
                "This run's state is NOT copied back; the next run resumes from the last copy stored "
                "(rows this run sent are found unchanged or re-sent once as upserts, no duplicates)."
            )

    # ------------------------------------------------------------------ copying

    def download(self, target: str, pipeline_name: Optional[str], state_dir: Path) -> tuple[str, ...]:
        """Copy the stored state into ``state_dir`` (the job's layout); returns what was found.
        ``pipeline_name`` None: no pipeline directory (the ``rejected`` CLI needs none)."""
        found = []
        state_dir.mkdir(parents=True, exist_ok=True)
        for name in STATE_FILES:
            remote = self._path(target, name)
            if self.fs.exists(remote):
                self.fs.get_file(remote, str(state_dir / name))
                found.append(name)
        if pipeline_name is None:  # the staging file (and sandbox portal) only
            return tuple(found)
        remote_tar = self._path(target, "pipelines", f"{pipeline_name}.tar.gz")
        pipeline_dir = state_dir / "pipelines" / pipeline_name
        if self.fs.exists(remote_tar):
            if pipeline_dir.exists():
                shutil.rmtree(pipeline_dir)
            pipeline_dir.parent.mkdir(parents=True, exist_ok=True)
            with self.fs.open(remote_tar, "rb") as f, tarfile.open(fileobj=io.BytesIO(f.read()), mode="r:gz") as tar:
                tar.extractall(pipeline_dir.parent, filter="data")
            found.append("pipeline")
        return tuple(found)

    def upload(self, target: str, pipeline_name: Optional[str], state_dir: Path, mine: LockInfo) -> None:
        """Copy the worker's state back, each object via a temporary name and a rename.

        The pipeline directory goes first, the staging file second: a crash between the two
        leaves an older staging file, whose only cost is courses re-sent once as upserts."""
        self._still_ours(target, mine)
        pipeline_dir = state_dir / "pipelines" / (pipeline_name or "")
        if pipeline_name is not None and pipeline_dir.is_dir():
            buffer = io.BytesIO()
            with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
                tar.add(pipeline_dir, arcname=pipeline_name)
            self.fs.makedirs(self._path(target, "pipelines"), exist_ok=True)
            self._put_bytes(buffer.getvalue(), self._path(target, "pipelines", f"{pipeline_name}.tar.gz"), mine)
        for name in STATE_FILES:
            local = state_dir / name
            if local.is_file():
                if Path(f"{local}.wal").exists():
                    raise StateStoreError(f"{local} is still open (a .wal file is next to it): not copied back")
                tmp = self._path(target, f"{name}.tmp-{mine.token}")
                self.fs.put_file(str(local), tmp)
                self.fs.mv(tmp, self._path(target, name))

    def _put_bytes(self, data: bytes, remote: str, mine: LockInfo) -> None:
        tmp = f"{remote}.tmp-{mine.token}"
        with self.fs.open(tmp, "wb") as f:
            f.write(data)
        self.fs.mv(tmp, remote)

    # ------------------------------------------------------------------ one run

    @contextlib.contextmanager
    def checkout(self, target: str, pipeline_name: Optional[str], local_dir: Path, *,
                 write_back: bool = True) -> Iterator[Checkout]:
        """Lock the target's state, copy it into ``local_dir/<target>``, and copy it back after
        the body, also when the body failed (a pending load package must survive for the next
        run). ``write_back=False`` (a dry run) copies nothing back."""
        with self.locked(target) as (mine, took_over):
            state_dir = Path(local_dir) / target
            restored = self.download(target, pipeline_name, state_dir)
            checkout = Checkout(state_dir, state_dir / "pipelines", state_dir / "staging.duckdb", took_over, restored)
            try:
                yield checkout
            finally:
                if write_back:
                    self.upload(target, pipeline_name, state_dir, mine)


def describe_checkout(store: StateStore, checkout: Checkout) -> str:
    """One line for the run's output: where the state came from, and a crashed worker's lock."""
    found = ", ".join(checkout.restored) if checkout.restored else "nothing yet (a first run)"
    line = f"State from {store.url}: {found}."
    if checkout.took_over is not None:
        line += (f" Took over a stale lock ({checkout.took_over.describe(store.clock())}): that worker "
                 "did not finish; this run resumes from the last state it copied back.")
    return line

