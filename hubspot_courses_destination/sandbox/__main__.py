"""`python -m hubspot_courses_destination.sandbox --port 8765`: run the sandbox until Ctrl-C."""

from __future__ import annotations

import argparse
import sys

from .app import DEFAULT_PORTAL_ID, DEFAULT_TOKEN, Sandbox


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m hubspot_courses_destination.sandbox",
        description="A local HubSpot-compatible Courses (0-410) API backed by DuckDB.",
    )
    parser.add_argument("--port", type=int, default=8765, help="port on 127.0.0.1 (0 = any free port)")
    parser.add_argument("--db", default=None, help="DuckDB file to keep records in (default: in memory)")
    parser.add_argument("--token", default=DEFAULT_TOKEN,
                        help=f"private-app token to accept (default: {DEFAULT_TOKEN})")
    parser.add_argument("--rate-limit-per-10s", type=int, default=100, help="requests per rolling 10 s per token")
    parser.add_argument("--daily-limit", type=int, default=250_000, help="requests per day for the portal")
    parser.add_argument("--latency-ms", type=float, default=0, help="added latency per request (±20%% jitter)")
    parser.add_argument("--portal-id", type=int, default=DEFAULT_PORTAL_ID, help="portal id shown in messages")
    parser.add_argument("--seed", type=int, default=0, help="seed for result order and latency jitter")
    args = parser.parse_args(argv)

    sandbox = Sandbox(
        args.port, db_path=args.db, token=args.token, rate_limit_per_10s=args.rate_limit_per_10s,
        daily_limit=args.daily_limit, latency_ms=args.latency_ms, portal_id=args.portal_id, seed=args.seed,
    )
    url = sandbox.start()
    print(f"HubSpot sandbox listening on {url}", flush=True)
    print(f"token: {args.token}", flush=True)
    try:
        sandbox.wait()
    except KeyboardInterrupt:
        pass
    finally:
        sandbox.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
