"""Client throughput against the sandbox at HubSpot's Free/Starter burst limit.

Prints, for a sandbox limited to 100 requests / 10 s with 250 ms latency, the rows/s
``HubSpotClient.batch_upsert`` achieves against the ceiling (100 requests x 100 rows / 10 s
= 1000 rows/s) and the number of 429s, next to a plain sequential loop (one
``requests.post`` per 100 rows) over the same rows in the same run.

The sandbox allows a full window's burst at the start, so a short run would beat the
sustained ceiling. The client therefore first spends one window's budget (warm-up, not
timed) and is then timed over the following windows. The sequential loop uses a second
private-app token (its own burst window, as HubSpot gives each app) and cannot reach the
limit anyway: one request at a time at 250 ms is 4 requests/s.

Run: ``.venv/bin/python benchmarks/bench_client.py`` (about 1.5 minutes with the defaults).
"""

from __future__ import annotations

import argparse
import time

import requests

from hubspot_courses_destination.hubspot import HubSpotClient, UpsertRow
from hubspot_courses_destination.sandbox import DEFAULT_TOKEN, Sandbox

ID_PROPERTY = "lms_course_key"
SEQUENTIAL_TOKEN = "pat-bench-sequential"


def make_rows(n: int, prefix: str) -> list[UpsertRow]:
    return [
        UpsertRow(key=f"{prefix}-{i:06d}", properties={"hs_course_name": f"Course {i}", "hs_enrollment_capacity": str(i % 500)})
        for i in range(n)
    ]


def sequential_loop(base_url: str, rows: list[UpsertRow]) -> tuple[float, int, int]:
    """The plain way: one request per 100 rows, one after another. Returns (s, requests, 429s)."""
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {SEQUENTIAL_TOKEN}"
    n_429 = n_requests = 0
    started = time.monotonic()
    for i in range(0, len(rows), 100):
        payload = {
            "inputs": [
                {"id": r.key, "idProperty": ID_PROPERTY, "objectWriteTraceId": f"t{j}", "properties": dict(r.properties)}
                for j, r in enumerate(rows[i : i + 100])
            ]
        }
        while True:
            n_requests += 1
            resp = session.post(f"{base_url}/crm/v3/objects/0-410/batch/upsert", json=payload, timeout=(5, 60))
            if resp.status_code != 429:
                resp.raise_for_status()
                break
            n_429 += 1
            time.sleep(1.0)
    return time.monotonic() - started, n_requests, n_429


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000, help="rows in the timed part (default 20000)")
    parser.add_argument("--rate-limit-per-10s", type=int, default=100)
    parser.add_argument("--latency-ms", type=float, default=250)
    parser.add_argument("--max-concurrency", type=int, default=8)
    parser.add_argument("--skip-sequential", action="store_true")
    args = parser.parse_args()

    limit = args.rate_limit_per_10s
    ceiling = limit * 100 / 10.0
    with Sandbox(rate_limit_per_10s=limit, latency_ms=args.latency_ms) as sb:
        sb.create_property(ID_PROPERTY, type="string", field_type="text", has_unique_value=True)
        sb.add_token(SEQUENTIAL_TOKEN)
        client = HubSpotClient(DEFAULT_TOKEN, sb.url, requests_per_10s=limit, max_concurrency=args.max_concurrency)
        with client:
            warmup = make_rows(limit * 100, "warm")
            client.batch_upsert("0-410", ID_PROPERTY, warmup)
            rows = make_rows(args.rows, "c")
            before = client.stats
            started = time.monotonic()
            outcomes = client.batch_upsert("0-410", ID_PROPERTY, rows)
            elapsed = time.monotonic() - started
            after = client.stats
        assert len(outcomes) == len(rows) and all(o.ok for o in outcomes)
        client_rps = len(rows) / elapsed
        client_requests = after.requests_sent - before.requests_sent
        client_429 = after.rate_limited_429
        server_429 = sum(1 for e in sb.request_log if e.status == 429 and e.token == DEFAULT_TOKEN)

        print(f"sandbox: {limit} requests / 10 s, {args.latency_ms:.0f} ms latency; ceiling {ceiling:.0f} rows/s")
        print(
            f"HubSpotClient (max_concurrency={args.max_concurrency}): {len(rows)} rows in {elapsed:.1f} s = "
            f"{client_rps:.0f} rows/s = {client_rps / ceiling:.1%} of ceiling; "
            f"{client_requests} requests, 429s: {client_429} (whole run incl. warm-up; server saw {server_429})"
        )
        if not args.skip_sequential:
            seq_s, seq_requests, seq_429 = sequential_loop(sb.url, rows)
            seq_rps = len(rows) / seq_s
            print(
                f"plain sequential loop: {len(rows)} rows in {seq_s:.1f} s = {seq_rps:.0f} rows/s = "
                f"{seq_rps / ceiling:.1%} of ceiling; {seq_requests} requests, 429s: {seq_429}"
            )
            print(f"speed-up of the client over the loop: {client_rps / seq_rps:.1f}x")


if __name__ == "__main__":
    main()
