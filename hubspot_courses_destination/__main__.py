"""Command line tools around the staging database.

    python -m hubspot_courses_destination rejected list  [--staging PATH] [--limit N] [--json]
    python -m hubspot_courses_destination rejected retry [--staging PATH] [--limit N]

Settings (token, id property, API URL, ...) resolve like the destination's: environment
variables, ``.dlt/secrets.toml`` and ``.dlt/config.toml`` of the current directory.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Sequence

from .config import DEFAULT_STAGING_PATH, settings_from_dlt_config
from .errors import HubSpotError
from .replay import NOT_REPLAYABLE, replay_rejections
from .staging import Staging


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m hubspot_courses_destination", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    rejected = sub.add_parser("rejected", help="list or retry rows HubSpot (or coercion) refused")
    rsub = rejected.add_subparsers(dest="action", required=True)
    for name, text in (("list", "show open rejections, newest first"),
                       ("retry", "re-send open rejections after fixing their cause; fixed ones are closed")):
        p = rsub.add_parser(name, help=text, description=text)
        p.add_argument("--staging", help=f"staging DuckDB file (default: the configured staging_path, else {DEFAULT_STAGING_PATH})")
        p.add_argument("--limit", type=int, default=None, help="at most this many rows")
        if name == "list":
            p.add_argument("--json", action="store_true", help="one JSON object per line, with the stored row")
    return parser


def _staging_path(arg: str | None) -> str:
    if arg:
        return arg
    import dlt

    return dlt.config.get("destination.hubspot_courses.staging_path") or DEFAULT_STAGING_PATH


def _list(path: str, limit: int | None, as_json: bool) -> int:
    if not os.path.exists(path):
        print(f"no staging database at {path}: nothing was synced with this staging_path yet")
        return 0
    with Staging(path) as staging:
        rows = staging.open_rejections(limit=limit)
    if as_json:
        for r in rows:
            print(json.dumps({**r, "rejected_at": r["rejected_at"].isoformat()}, ensure_ascii=False))
        return 0
    if not rows:
        print("no open rejections")
        return 0
    for r in rows:
        code = f"/{r['code']}" if r["code"] and r["code"] != r["category"] else ""
        print(f"{r['rejected_at']:%Y-%m-%d %H:%M}  {r['source_table'] or '-':<12} {r['record_key'] or '(no key)':<24} "
              f"{r['category']}{code}: {r['message']}")
    replayable = sum(1 for r in rows if r["category"] not in NOT_REPLAYABLE)
    print(f"\n{len(rows)} open rejection(s); {replayable} can be retried with "
          "`python -m hubspot_courses_destination rejected retry` once the cause is fixed")
    return 0


def _retry(path: str, limit: int | None) -> int:
    settings = settings_from_dlt_config(staging_path=path)
    result = replay_rejections(settings, limit=limit)
    print(f"retried {result.attempted}: {result.fixed} now synced, {result.still_rejected} still rejected "
          f"(replay load id {result.load_id})")
    return 0 if result.still_rejected == 0 else 1


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    path = _staging_path(args.staging)
    try:
        if args.action == "list":
            return _list(path, args.limit, args.json)
        return _retry(path, args.limit)
    except HubSpotError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
