"""One burst budget for every process on this machine that uses the same portal and token.

The congestion law (``ratelimit.py``) shares HubSpot's rolling window using only response
headers, which arrive one round trip late: several processes starting together overrun
the window before any of them has heard of the others. Processes on one machine can do
better by counting together. This module keeps the single-process limiter's rule (a
request takes its unit at acquire, holds it while in flight, and keeps it for
``interval + margin`` after its answer) in a small file that every such process reads and
writes under an exclusive ``flock``:

    acquire: lock, read, drop expired entries; if used + weight <= limit append an entry
             and unlock; else unlock and wait until the earliest expiry (or a short poll
             while everything is in flight).
    release: lock, set the entry's expiry to now + interval + margin, unlock.

Crash safety: an in-flight entry is written with a conservative expiry (acquire + the
client's request timeout + interval + margin), so a process killed mid-request blocks its
unit for that long at most; entries whose owner pid is gone are expired at
``now + interval + margin`` (the request cannot have reached HubSpot after its process
died) as soon as someone is kept waiting. A torn or foreign file (bad size, magic, boot id
or checksum) is reset, with one warning, rather than blocking anyone.

The file is named by a hash of the API host and the token, never the token itself, in
``<dir>/<sha256 prefix>.ledger``. Format: a 28-byte header (magic, version, boot id,
CRC-32 of the records) then one 28-byte record per live entry (expiry, acquire time,
pid, sequence, weight, state), so at most ``limit`` records (about 5 KiB at 190).
Times are ``time.monotonic()``: one clock for every process of a boot (the boot id in
the header rejects a file left from an earlier boot).
"""

from __future__ import annotations

import hashlib
import logging
import os
import struct
import tempfile
import threading
import time
import zlib
from functools import lru_cache
from itertools import chain
from typing import Callable, NamedTuple
from urllib.parse import urlsplit

try:  # POSIX only; elsewhere the shared budget is off (one log line)
    import fcntl
except ImportError:  # pragma: no cover - not on Linux/macOS
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "SharedBudget",
    "Ticket",
    "Usage",
    "OFF",
    "DIR_NAME",
    "ledger_path",
    "open_shared_budget",
]

log = logging.getLogger("hubspot_courses_destination")

OFF = "off"
"""The ``shared_budget_dir`` value that switches the shared budget off."""

DIR_NAME = "hubspot-courses-budget"
"""Folder under the system temp dir used when ``shared_budget_dir`` is empty."""

POLL_S = 0.25
"""The longest a blocked caller waits before looking again while units are in flight: an
answer frees nothing for a window (its unit is then held until a known expiry, which
the caller sleeps to exactly), so this only bounds how late it learns of that expiry."""

_MAGIC = b"HCB1"
_VERSION = 1
_HEADER = struct.Struct("<4sHH16sI")  # magic, version, reserved, boot id, crc32 of the records
_RECORD = struct.Struct("<ddiIHBx")  # expires_at, acquired_at, pid, seq, weight, state
_IN_FLIGHT, _RELEASED = 1, 2
_SLACK_S = 1.0  # an entry expiring later than any bound allows (plus this) is garbage


class Ticket(NamedTuple):
    """This process's entry in the ledger, returned by :meth:`SharedBudget.try_acquire`."""

    pid: int
    seq: int
    weight: int


class Usage(NamedTuple):
    """Units the whole machine holds in the ledger: in flight, and answered within the window."""

    in_flight: int
    held: int


def _boot_id() -> bytes:
    try:
        with open("/proc/sys/kernel/random/boot_id", "rb") as fh:
            return hashlib.sha256(fh.read().strip()).digest()[:16]
    except OSError:
        return b"\0" * 16


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` of this host still runs (a crashed owner's entries or lock can go)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return True


def ledger_path(directory: str, api_base_url: str, token: str) -> str:
    """Where the ledger of one API host and token lives; the token only enters a hash."""
    host = (urlsplit(api_base_url).netloc or api_base_url).lower()
    digest = hashlib.sha256(f"{host}\0{token}".encode()).hexdigest()[:32]
    return os.path.join(directory, f"{digest}.ledger")


class SharedBudget:
    """The cross-process ledger of one portal and token (thread- and process-safe).

    Args:
        path: the ledger file (created if missing).
        in_flight_bound_s: the longest a request can stay in flight (the client's connect
            plus read timeout): an entry of a process that dies mid-request holds its unit
            for at most this plus the hold.
        clock: shared monotonic seconds; inject one in tests (every process must share it).
        pid: this process's id (tests inject one per simulated process).
        alive: whether a pid on this host still runs (tests inject one).
    """

    def __init__(self, path: str, *, in_flight_bound_s: float = 65.0,
                 clock: Callable[[], float] = time.monotonic, pid: int | None = None,
                 alive: Callable[[int], bool] = pid_alive) -> None:
        if fcntl is None:  # pragma: no cover
            raise OSError("file locks (fcntl) are not available on this system")
        if in_flight_bound_s <= 0:
            raise ValueError(f"in_flight_bound_s must be > 0, got {in_flight_bound_s}")
        self.path = path
        self.in_flight_bound_s = in_flight_bound_s
        self._clock = clock
        self._fixed_pid = pid
        self._alive = alive
        self._boot = _boot_id()
        self._lock = threading.Lock()  # flock does not exclude threads sharing one descriptor
        self._fd: int | None = None
        self._fd_pid: int | None = None
        self._seq = 0
        self.resets = 0
        self._open()

    # -- public API -------------------------------------------------------------------

    def try_acquire(self, weight: int, limit: int, hold_s: float) -> tuple[Ticket | None, float | None]:
        """Take ``weight`` units if the machine holds at most ``limit - weight``.

        Returns ``(ticket, None)`` on success, else ``(None, wait_s)``: how long until the
        earliest entry expires, or ``None`` when every unit is in flight (look again soon).
        ``hold_s`` is how long an answered unit stays taken (interval + margin).
        """
        pid = self._pid()
        with self._locked() as fd:
            now = self._clock()
            records = self._live(self._read(fd, now), now)
            used = sum(r[4] for r in records)
            if used + weight > limit:
                if self._expire_dead(records, now, hold_s, pid):
                    records = self._live(records, now)
                    used = sum(r[4] for r in records)
            if used + weight > limit:
                self._write(fd, records)  # the expired ones go, the file stays small
                released = [r[0] for r in records if r[5] == _RELEASED]
                wait = min(released) - now if released else None
                if any(r[5] == _IN_FLIGHT for r in records):
                    wait = POLL_S if wait is None else min(wait, POLL_S)
                return None, wait if wait is None else max(wait, 0.0)
            self._seq = (self._seq + 1) & 0xFFFFFFFF
            expires = now + self.in_flight_bound_s + hold_s
            records.append((expires, now, pid, self._seq, weight, _IN_FLIGHT))
            self._write(fd, records)
            return Ticket(pid, self._seq, weight), None

    def release(self, ticket: Ticket, hold_s: float) -> Usage:
        """The ticket's answer is in: its units stay taken for ``hold_s`` from now.

        Returns what the machine holds after this release (for the congestion law).
        A ticket the ledger no longer has (reset, or expired at its bound) is ignored.
        """
        with self._locked() as fd:
            now = self._clock()
            records = self._live(self._read(fd, now), now)
            for i, r in enumerate(records):
                if r[2] == ticket.pid and r[3] == ticket.seq and r[5] == _IN_FLIGHT:
                    records[i] = (min(r[0], now + hold_s), r[1], r[2], r[3], r[4], _RELEASED)
                    break
            self._write(fd, records)
            return _usage(records)

    def usage(self) -> Usage:
        """What the machine holds now (reads only)."""
        with self._locked() as fd:
            now = self._clock()
            return _usage(self._live(self._read(fd, now), now))

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None

    def __repr__(self) -> str:
        return f"SharedBudget({os.path.basename(self.path)!r})"

    # -- internals --------------------------------------------------------------------

    def _pid(self) -> int:
        return self._fixed_pid if self._fixed_pid is not None else os.getpid()

    def _open(self) -> int:
        # a forked child must not share the parent's open file (and so its flock)
        if self._fd is None or self._fd_pid != os.getpid():
            os.makedirs(os.path.dirname(self.path) or ".", mode=0o700, exist_ok=True)
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            self._fd_pid = os.getpid()
        return self._fd

    class _Held:
        def __init__(self, owner: "SharedBudget") -> None:
            self.owner = owner

        def __enter__(self) -> int:
            self.owner._lock.acquire()
            try:
                fd = self.owner._open()
                fcntl.flock(fd, fcntl.LOCK_EX)
            except BaseException:
                self.owner._lock.release()
                raise
            self.fd = fd
            return fd

        def __exit__(self, *exc: object) -> None:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_UN)
            finally:
                self.owner._lock.release()

    def _locked(self) -> "SharedBudget._Held":
        return SharedBudget._Held(self)

    def _read(self, fd: int, now: float) -> list[tuple]:
        size = os.fstat(fd).st_size
        if size == 0:
            return []
        data = os.pread(fd, size, 0)
        records: list[tuple] = []
        problem = self._problem(data, now, records)
        if problem:
            self.resets += 1
            log.warning("shared budget file %s %s: reset (its entries are forgotten)", self.path, problem)
            return []
        return records

    def _problem(self, data: bytes, now: float, records: list[tuple]) -> str | None:
        """What is wrong with the file's bytes (``None``: nothing; ``records`` then holds them)."""
        if len(data) < _HEADER.size or (len(data) - _HEADER.size) % _RECORD.size:
            return f"has a torn size ({len(data)} bytes)"
        magic, version, _, boot, crc = _HEADER.unpack_from(data)
        if magic != _MAGIC or version != _VERSION:
            return "is not a ledger of this version"
        if boot != self._boot:
            return "is from an earlier boot"
        body = memoryview(data)[_HEADER.size:]
        if zlib.crc32(body) != crc:
            return "fails its checksum"
        records.extend(_RECORD.iter_unpack(body))
        # the checksum proves our writer wrote it; what it cannot prove is that the entries fit
        # this clock (a far-future expiry would block everyone): no hold is near an hour
        if records and not max(r[0] for r in records) <= now + self.in_flight_bound_s + 3600.0:
            return "holds an entry beyond any bound"
        return None

    @staticmethod
    def _live(records: list[tuple], now: float) -> list[tuple]:
        return [r for r in records if r[0] > now]

    def _expire_dead(self, records: list[tuple], now: float, hold_s: float, pid: int) -> bool:
        """Cut in-flight entries of processes that are gone to ``now + hold_s``."""
        changed = False
        verdicts: dict[int, bool] = {}
        for i, r in enumerate(records):
            if r[5] != _IN_FLIGHT or r[2] == pid:
                continue
            alive = verdicts.get(r[2])
            if alive is None:
                alive = verdicts[r[2]] = self._alive(r[2])
            if not alive and r[0] > now + hold_s:
                records[i] = (now + hold_s, r[1], r[2], r[3], r[4], _RELEASED)
                changed = True
        return changed

    def _write(self, fd: int, records: list[tuple]) -> None:
        body = _records_struct(len(records)).pack(*chain.from_iterable(records))
        data = _HEADER.pack(_MAGIC, _VERSION, 0, self._boot, zlib.crc32(body)) + body
        os.pwrite(fd, data, 0)
        os.ftruncate(fd, len(data))


@lru_cache(maxsize=512)
def _records_struct(n: int) -> struct.Struct:
    """``n`` records in one struct: packing them is one call instead of ``n``."""
    return struct.Struct("<" + _RECORD.format[1:] * n)


def _usage(records: list[tuple]) -> Usage:
    in_flight = sum(r[4] for r in records if r[5] == _IN_FLIGHT)
    return Usage(in_flight, sum(r[4] for r in records) - in_flight)


def open_shared_budget(directory: str, api_base_url: str, token: str, *,
                       in_flight_bound_s: float = 65.0) -> SharedBudget | None:
    """The ledger for ``shared_budget_dir`` (``""``: the system temp dir; ``"off"``: none).

    Returns ``None`` (the process counts alone) when switched off, when the system has no
    file locks, or when the file cannot be opened, saying so once in the log.
    """
    if directory.strip().lower() == OFF:
        return None
    if fcntl is None:  # pragma: no cover
        log.info("shared burst budget off: this system has no file locks (fcntl)")
        return None
    folder = directory or os.path.join(tempfile.gettempdir(), DIR_NAME)
    path = ledger_path(folder, api_base_url, token)
    try:
        return SharedBudget(path, in_flight_bound_s=in_flight_bound_s)
    except OSError as exc:
        log.warning("shared burst budget off: cannot open a ledger in %s (%s); set shared_budget_dir "
                    "to a writable folder, or to \"off\"", folder, exc.strerror or exc)
        return None
