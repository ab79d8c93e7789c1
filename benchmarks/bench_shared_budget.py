"""What one acquire and one release of the machine-wide burst ledger cost (shared_budget.py).

Each round is what a request pays: ``try_acquire`` (flock, read, drop expired, append, write,
unlock) and ``release`` (the same, setting the expiry). Measured with the ledger holding
``--held`` live entries (the file's size is what varies with load; at most ``limit``).

Run: ``.venv/bin/python benchmarks/bench_shared_budget.py`` (a few seconds).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from hubspot_courses_destination.hubspot.shared_budget import SharedBudget  # noqa: E402


def measure(held: int, rounds: int, limit: int = 190) -> tuple[float, float]:
    """Microseconds per try_acquire and per release with ``held`` entries already live."""
    with tempfile.TemporaryDirectory() as folder:
        ledger = SharedBudget(os.path.join(folder, "bench.ledger"))
        filler = SharedBudget(os.path.join(folder, "bench.ledger"), pid=1)
        for _ in range(held):
            ticket, _ = filler.try_acquire(1, limit, 3600.0)
            filler.release(ticket, 3600.0)
        acquire_s = release_s = 0.0
        for _ in range(rounds):
            t0 = time.perf_counter()
            ticket, _ = ledger.try_acquire(1, limit, 0.0)
            t1 = time.perf_counter()
            ledger.release(ticket, 0.0)  # expires at once: the ledger keeps `held` entries
            release_s += time.perf_counter() - t1
            acquire_s += t1 - t0
        return acquire_s / rounds * 1e6, release_s / rounds * 1e6


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5000)
    parser.add_argument("--held", default="0,50,189", help="live entries in the ledger, comma-separated")
    args = parser.parse_args(argv)
    for held in (int(x) for x in args.held.split(",")):
        acquire_us, release_us = measure(held, args.rounds)
        print(f"ledger with {held:>3} live entries: acquire {acquire_us:6.1f} us, release {release_us:6.1f} us")


if __name__ == "__main__":
    main()
