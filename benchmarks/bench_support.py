"""Shared pieces of the benchmarks: a sandbox in its own process, course rows, child runs.

- :class:`SandboxProcess` runs a :class:`~hubspot_courses_destination.sandbox.Sandbox` in a
  separate process and drives it through a pipe with the same Python API
  (``sbp.call("faults.set_rates", {...}, seed=1)``), so the sandbox's CPU (JSON parsing,
  DuckDB writes) and memory never count against the process being measured. It also
  records when each request arrived (``CLOCK_MONOTONIC`` is system-wide on Linux, so the
  times compare with ``time.monotonic()`` in any process).
- :func:`course_rows` yields pages of realistic course rows (ten columns: text, numbers,
  dates, a datetime, an enumeration) with a ``variant`` that changes every value.
- :func:`in_child` runs a function in a fresh ``spawn`` process and returns its result with
  the child's peak RSS, so peaks of different configurations never mix.

Peak RSS is ``VmHWM`` from ``/proc/self/status`` (falling back to ``ru_maxrss``): on Linux
``getrusage().ru_maxrss`` survives ``exec``, so a child spawned by a parent that once held
380 MiB reports at least 380 MiB whatever it did itself; ``VmHWM`` belongs to the child's
own address space.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing as mp
import os
import resource
import time
import traceback
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Sequence

os.environ.setdefault("RUNTIME__LOG_LEVEL", "WARNING")

ID_PROPERTY = "lms_course_key"
UPSERT_SUFFIX = "/batch/upsert"
WINDOW_S = 10.0

_SPAWN = mp.get_context("spawn")


def peak_rss_kib() -> int:
    """This process's peak resident set size in KiB (see the module docstring)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


# --------------------------------------------------------------------------- rows


_STAGES = ("planned", "open", "in_progress", "completed")
_BASE_DAY = dt.date(2024, 1, 1)
_BASE_TS = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)


def course_row(i: int, variant: int = 0, prefix: str = "c") -> dict[str, Any]:
    """One course as an LMS export would give it; ``variant`` changes every sent value."""
    start = _BASE_DAY + dt.timedelta(days=(i + variant) % 730)
    return {
        ID_PROPERTY: f"{prefix}-{i:07d}",
        "hs_course_name": f"Course {i} v{variant}: Introduction to topic {i % 997}",
        "hs_course_id": f"LMS-{i}",
        "hs_course_description": f"A course about topic {i % 997}, section {i % 7}, edition {variant}.",
        "hs_enrollment_capacity": (i * 7 + variant) % 500,
        "hs_pipeline_stage": _STAGES[(i + variant) % len(_STAGES)],
        "course_start_date": start,
        "course_end_date": start + dt.timedelta(days=90),
        "course_updated_at": _BASE_TS + dt.timedelta(seconds=i, days=variant),
        "lms_source": "bench",
    }


def hubspot_values(row: dict[str, Any]) -> dict[str, str]:
    """What HubSpot holds after ``row`` was written (string values, dates as YYYY-MM-DD)."""
    updated = row["course_updated_at"].astimezone(dt.timezone.utc)
    return {
        ID_PROPERTY: row[ID_PROPERTY],
        "hs_course_name": row["hs_course_name"],
        "hs_course_id": row["hs_course_id"],
        "hs_course_description": row["hs_course_description"],
        "hs_enrollment_capacity": str(row["hs_enrollment_capacity"]),
        "hs_pipeline_stage": row["hs_pipeline_stage"],
        "course_start_date": row["course_start_date"].isoformat(),
        "course_end_date": row["course_end_date"].isoformat(),
        "course_updated_at": updated.strftime("%Y-%m-%dT%H:%M:%S.") + f"{updated.microsecond // 1000:03d}Z",
        "lms_source": row["lms_source"],
    }


def expected_properties(i: int, variant: int = 0, prefix: str = "c") -> dict[str, str]:
    """What the sandbox should hold for ``course_row(i, variant)``."""
    return hubspot_values(course_row(i, variant, prefix))


def course_rows(n: int, variant: int = 0, prefix: str = "c", page: int = 1000) -> Iterator[list[dict[str, Any]]]:
    """``n`` course rows in pages (dlt extracts pages much faster than single rows)."""
    for start in range(0, n, page):
        yield [course_row(i, variant, prefix) for i in range(start, min(n, start + page))]


def courses_resource(n: int, variant: int = 0, prefix: str = "c") -> Any:
    import dlt

    return dlt.resource(course_rows(n, variant, prefix), name="courses")


SEQUENTIAL_TOKEN = "pat-bench-sequential"
CUSTOM_PROPERTIES = [
    ("course_start_date", "date", "date"),
    ("course_end_date", "date", "date"),
    ("course_updated_at", "datetime", "date"),
    ("lms_source", "string", "text"),
]


def portal_setup() -> list[tuple[str, tuple, dict]]:
    """A portal set up as a user's would be: the id property and the custom properties exist,
    and a second private app (token) for the hand-written loop."""
    setup: list[tuple[str, tuple, dict]] = [
        ("create_property", (ID_PROPERTY,), {"type": "string", "field_type": "text", "has_unique_value": True}),
        ("add_token", (SEQUENTIAL_TOKEN,), {}),
    ]
    setup += [("create_property", (name,), {"type": t, "field_type": f}) for name, t, f in CUSTOM_PROPERTIES]
    return setup


# --------------------------------------------------------------------------- sandbox process


@dataclass(frozen=True)
class Arrival:
    """One request as the sandbox saw it: when it arrived (monotonic s) and its answer."""

    at: float
    method: str
    path: str
    status: int | None
    n_inputs: int | None
    fault: str | None
    token: str | None


def _timed_sandbox_class() -> type:
    from hubspot_courses_destination.sandbox import Sandbox

    class TimedSandbox(Sandbox):
        """Records each request's arrival time next to the sandbox's own request log."""

        arrivals: list[Arrival]

        def log_request(self, method, path, status, n_inputs, fault, token, correlation_id, client_port, duration_ms):  # type: ignore[override]
            self.arrivals.append(Arrival(time.monotonic() - duration_ms / 1000, method, path, status,
                                         n_inputs, fault, token))
            super().log_request(method, path, status, n_inputs, fault, token, correlation_id, client_port, duration_ms)

    return TimedSandbox


def _serve(conn: Any, kwargs: dict[str, Any], setup: Sequence[tuple[str, tuple, dict]]) -> None:
    try:
        sb = _timed_sandbox_class()(**kwargs)
        sb.arrivals = []
        for name, args, kw in setup:
            _resolve(sb, name)(*args, **kw)
        sb.start()
        conn.send(("ok", sb.url))
    except BaseException as exc:  # noqa: BLE001 - reported to the parent
        conn.send(("error", f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"))
        return
    try:
        while True:
            msg = conn.recv()
            if msg is None:
                break
            name, args, kw = msg
            try:
                conn.send(("ok", _command(sb, name, args, kw)))
            except BaseException as exc:  # noqa: BLE001
                conn.send(("error", f"{type(exc).__name__}: {exc}"))
    finally:
        sb.stop()
        conn.send(("ok", peak_rss_kib()))


def _resolve(obj: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        obj = getattr(obj, part)
    return obj


def _command(sb: Any, name: str, args: tuple, kw: dict) -> Any:
    if name == "arrivals":
        return list(sb.arrivals)
    if name == "clear_arrivals":
        sb.arrivals.clear()
        sb.reset_log()
        return None
    if name == "records_by_key":
        out: dict[str, dict[str, str]] = {}
        dupes = 0
        for r in sb.records():
            key = r["properties"].get(args[0] if args else ID_PROPERTY)
            if key in out:
                dupes += 1
            out[key] = r["properties"]
        return out, dupes
    target = _resolve(sb, name)
    return target(*args, **kw) if callable(target) else target


class SandboxProcess:
    """A sandbox in a child process; ``call("faults.add", "503", times=2)`` runs ``sb.faults.add``.

    ``setup`` calls run before the server starts, e.g. ``[("create_property", ("lms_course_key",),
    {"has_unique_value": True})]``.
    """

    def __init__(self, setup: Sequence[tuple[str, tuple, dict]] = (), **sandbox_kwargs: Any) -> None:
        self._kwargs = sandbox_kwargs
        self._setup = list(setup)
        self._conn: Any = None
        self._proc: Any = None
        self.url = ""
        self.peak_rss_kib: int | None = None

    def __enter__(self) -> "SandboxProcess":
        parent, child = _SPAWN.Pipe()
        self._proc = _SPAWN.Process(target=_serve, args=(child, self._kwargs, self._setup), daemon=True)
        self._proc.start()
        self._conn = parent
        self.url = self._recv()
        return self

    def _recv(self, timeout_s: float = 600) -> Any:
        deadline = time.monotonic() + timeout_s
        while not self._conn.poll(0.2):
            if not self._proc.is_alive():
                raise RuntimeError(f"the sandbox process exited (code {self._proc.exitcode})")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the sandbox process did not answer within {timeout_s:.0f} s")
        status, value = self._conn.recv()
        if status != "ok":
            raise RuntimeError(f"sandbox process: {value}")
        return value

    def call(self, name: str, *args: Any, **kw: Any) -> Any:
        self._conn.send((name, args, kw))
        return self._recv()

    def arrivals(self) -> list[Arrival]:
        return self.call("arrivals")

    def __exit__(self, *exc: Any) -> None:
        try:
            self._conn.send(None)
            self.peak_rss_kib = self._recv()
        except (OSError, EOFError, RuntimeError):
            pass
        self._proc.join(10)
        if self._proc.is_alive():
            self._proc.kill()
            self._proc.join(5)


# --------------------------------------------------------------------------- null HubSpot


def _serve_null(conn: Any, setup: Sequence[tuple[str, tuple, dict]]) -> None:
    """A HubSpot that answers at once: every upsert input succeeds, nothing is stored or checked.

    Property definitions come from a real (not started) sandbox after ``setup``, so the
    preflight sees what it would see in the sandbox. Rate-limit headers announce an
    unlimited window, so the client's limiter never waits.
    """
    import json
    import socket
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    import orjson

    from hubspot_courses_destination.sandbox import Sandbox

    sb = Sandbox()
    for name, args, kw in setup:
        _resolve(sb, name)(*args, **kw)
    properties = json.dumps({"results": sb.properties()}).encode()
    sb.stop()
    counter = {"next": 1, "upserts": 0}
    lock = threading.Lock()
    headers = {"X-HubSpot-RateLimit-Max": "10000000", "X-HubSpot-RateLimit-Remaining": "10000000",
               "X-HubSpot-RateLimit-Interval-Milliseconds": "10000"}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()
            # headers and body go out in two writes: without this, Nagle plus delayed ACKs
            # add ~40 ms to every keep-alive request (the sandbox does the same)
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def log_message(self, *a: Any) -> None:
            pass

        def _answer(self, status: int, data: bytes) -> None:
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            path = self.path.split("?")[0]
            if "/enablement/" in path:
                self._answer(200, b'{"enablement": true}')
            elif path.startswith(("/crm/v3/properties/", "/crm/properties/")):  # either API family
                self._answer(200, properties)
            else:
                self._answer(200, b'{"results": []}')

        def do_POST(self) -> None:
            # orjson, and results built from the inputs as they are: the server must cost far
            # less than the client it measures (stdlib json here took ~2 ms per request)
            body = orjson.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
            if not self.path.endswith("/batch/upsert"):
                self._answer(404, b'{"status": "error", "message": "not in the null server"}')
                return
            inputs = body.get("inputs") or []
            with lock:
                first = counter["next"]
                counter["next"] += len(inputs)
                counter["upserts"] += 1
            now = "2024-01-01T00:00:00.000Z"
            results = []
            for j, inp in enumerate(inputs):
                props = inp.get("properties", {})
                props[inp["idProperty"]] = inp["id"]
                results.append({"id": str(first + j), "new": True, "archived": False, "createdAt": now, "updatedAt": now,
                                "objectWriteTraceId": inp.get("objectWriteTraceId"), "properties": props})
            self._answer(200, orjson.dumps({"status": "COMPLETE", "results": results, "startedAt": now,
                                            "completedAt": now}))

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    conn.send(("ok", f"http://127.0.0.1:{server.server_address[1]}"))
    while True:
        msg = conn.recv()
        if msg is None:
            break
        conn.send(("ok", counter["upserts"]))
    server.shutdown()
    conn.send(("ok", peak_rss_kib()))


class NullHubSpotProcess(SandboxProcess):
    """Like :class:`SandboxProcess`, but a server that answers every upsert at once (see
    :func:`_serve_null`); ``call(anything)`` returns the number of upsert requests."""

    def __enter__(self) -> "NullHubSpotProcess":
        parent, child = _SPAWN.Pipe()
        self._proc = _SPAWN.Process(target=_serve_null, args=(child, self._setup), daemon=True)
        self._proc.start()
        self._conn = parent
        self.url = self._recv()
        return self


# --------------------------------------------------------------------------- figures from arrivals


def upserts(arrivals: Sequence[Arrival], token: str | None = None) -> list[Arrival]:
    return sorted(
        (a for a in arrivals if a.path.endswith(UPSERT_SUFFIX) and (token is None or a.token == token)),
        key=lambda a: a.at,
    )


def sustained_requests_per_s(times: Sequence[float], limit: int) -> float | None:
    """Request rate over whole rate-limit cycles, the free first window discounted.

    A window that starts empty lets ``limit`` requests through at once, so "requests / run
    time" of a short run beats the ceiling. Instead: ``k * limit`` requests divided by the
    time from the first request to request number ``k * limit + 1``, which can only be sent
    once the first window has rolled on. A client that never exceeds the limit scores at
    most ``limit / 10 s`` this way, however it bursts. ``None`` if there are fewer than
    ``limit + 1`` requests.
    """
    times = sorted(times)
    k = (len(times) - 1) // limit
    if k < 1:
        return None
    span = times[k * limit] - times[0]
    return k * limit / span if span > 0 else None


def max_in_window(times: Sequence[float], window_s: float = WINDOW_S) -> int:
    """The most requests that arrived within any ``window_s`` seconds."""
    times = sorted(times)
    best = lo = 0
    for hi, t in enumerate(times):
        while t - times[lo] >= window_s:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


# --------------------------------------------------------------------------- child processes


def _child_main(conn: Any, fn: Callable[..., Any], args: tuple, kw: dict) -> None:
    try:
        baseline = peak_rss_kib()
        result = fn(*args, **kw)
        usage = resource.getrusage(resource.RUSAGE_SELF)
        conn.send(("ok", result, {"peak_rss_kib": peak_rss_kib(), "start_rss_kib": baseline,
                                  "cpu_s": usage.ru_utime + usage.ru_stime}))
    except BaseException as exc:  # noqa: BLE001 - reported to the parent
        conn.send(("error", f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}", None))


def in_child(fn: Callable[..., Any], *args: Any, timeout_s: float = 1800, **kw: Any) -> tuple[Any, dict[str, float]]:
    """Run ``fn(*args, **kw)`` in a fresh process; return (result, resources of that process).

    Resources: ``peak_rss_kib`` (``VmHWM``, the whole life of the child),
    ``start_rss_kib`` (before ``fn`` ran: interpreter plus imports of this module) and
    ``cpu_s`` (user + system). ``fn`` must be a module-level function.
    """
    parent, child = _SPAWN.Pipe()
    proc = _SPAWN.Process(target=_child_main, args=(child, fn, args, kw))
    proc.start()
    try:
        deadline = time.monotonic() + timeout_s
        while not parent.poll(0.2):
            if not proc.is_alive():
                raise RuntimeError(f"{fn.__name__}: its child process exited (code {proc.exitcode})")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{fn.__name__} did not finish within {timeout_s:.0f} s")
        status, result, usage = parent.recv()
    finally:
        proc.join(30)
        if proc.is_alive():
            proc.kill()
    if status != "ok":
        raise RuntimeError(f"{fn.__name__} failed in its child process: {result}")
    return result, usage


def mib(kib: float) -> float:
    return kib / 1024.0


def pct(x: float) -> str:
    return f"{x:.1%}"
