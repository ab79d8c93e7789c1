"""The machine-wide burst ledger (shared_budget.py): one file, several simulated processes.

Each :class:`SharedBudget` here opens the file on its own (its own descriptor and flock, as
a separate process would) with its own pid and one injected clock, so expiry is exact.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from hubspot_courses_destination.hubspot.ratelimit import Rate, RateLimiter
from hubspot_courses_destination.hubspot.shared_budget import (
    DIR_NAME,
    POLL_S,
    SharedBudget,
    Usage,
    ledger_path,
    open_shared_budget,
)

HOLD = 10.05
BOUND = 65.0


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def ledgers(path: Path, clock: Clock, n: int, alive=lambda pid: True) -> list[SharedBudget]:
    return [SharedBudget(str(path), in_flight_bound_s=BOUND, clock=clock, pid=100 + i, alive=alive) for i in range(n)]


def test_processes_never_hold_more_than_the_limit_together(tmp_path: Path) -> None:
    clock = Clock()
    a, b = ledgers(tmp_path / "x.ledger", clock, 2)
    tickets = [a.try_acquire(1, 3, HOLD)[0], b.try_acquire(1, 3, HOLD)[0], a.try_acquire(1, 3, HOLD)[0]]
    assert all(tickets)
    ticket, wait = b.try_acquire(1, 3, HOLD)
    assert ticket is None and wait == POLL_S  # all in flight: look again soon
    assert a.usage() == Usage(in_flight=3, held=0)


def test_an_answered_unit_stays_taken_for_the_hold_then_frees(tmp_path: Path) -> None:
    clock = Clock()
    a, b = ledgers(tmp_path / "x.ledger", clock, 2)
    t1, _ = a.try_acquire(1, 2, HOLD)
    t2, _ = a.try_acquire(1, 2, HOLD)
    clock.now += 0.25
    assert a.release(t1, HOLD) == Usage(in_flight=1, held=1)
    clock.now += 1.0
    ticket, wait = b.try_acquire(1, 2, HOLD)
    assert ticket is None and wait == pytest.approx(POLL_S)  # one still in flight: poll
    a.release(t2, HOLD)
    ticket, wait = b.try_acquire(1, 2, HOLD)
    assert ticket is None and wait == pytest.approx(HOLD - 1.0)  # the first release's expiry
    clock.now += HOLD - 1.0
    assert b.try_acquire(1, 2, HOLD)[0] is not None
    assert b.try_acquire(1, 2, HOLD)[0] is None  # the second is still held


def test_weight_counts_in_units(tmp_path: Path) -> None:
    clock = Clock()
    a, b = ledgers(tmp_path / "x.ledger", clock, 2)
    assert a.try_acquire(3, 4, HOLD)[0] is not None
    assert b.try_acquire(2, 4, HOLD)[0] is None
    assert b.try_acquire(1, 4, HOLD)[0] is not None


def test_a_live_owner_that_never_answers_holds_until_its_bound(tmp_path: Path) -> None:
    clock = Clock()
    a, b = ledgers(tmp_path / "x.ledger", clock, 2)
    a.try_acquire(1, 1, HOLD)
    clock.now += BOUND + HOLD - 0.01
    assert b.try_acquire(1, 1, HOLD)[0] is None
    clock.now += 0.02
    assert b.try_acquire(1, 1, HOLD)[0] is not None


def test_a_dead_owners_units_free_one_hold_after_it_is_noticed(tmp_path: Path) -> None:
    clock = Clock()
    dead = {100}
    a, b = ledgers(tmp_path / "x.ledger", clock, 2, alive=lambda pid: pid not in dead)
    a.try_acquire(1, 1, HOLD)
    clock.now += 2.0
    ticket, wait = b.try_acquire(1, 1, HOLD)  # notices pid 100 is gone: its request may still count
    assert ticket is None and wait == pytest.approx(HOLD)
    clock.now += HOLD
    assert b.try_acquire(1, 1, HOLD)[0] is not None  # long before the in-flight bound


def test_own_in_flight_entries_are_never_taken_for_dead(tmp_path: Path) -> None:
    clock = Clock()
    (a,) = ledgers(tmp_path / "x.ledger", clock, 1, alive=lambda pid: False)
    a.try_acquire(1, 1, HOLD)
    clock.now += HOLD + 1
    assert a.try_acquire(1, 1, HOLD)[0] is None


@pytest.mark.parametrize("garbage", [b"x" * 7, b"HCB1" + b"\0" * 52, b"\xff" * 56])
def test_a_torn_or_foreign_file_is_reset_with_a_warning(tmp_path: Path, garbage: bytes,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "x.ledger"
    clock = Clock()
    a, b = ledgers(path, clock, 2)
    a.try_acquire(1, 1, HOLD)
    path.write_bytes(garbage)
    with caplog.at_level(logging.WARNING, logger="hubspot_courses_destination"):
        assert b.try_acquire(1, 1, HOLD)[0] is not None
    assert b.resets == 1 and "reset" in caplog.text
    assert b.try_acquire(1, 1, HOLD)[0] is None  # a valid ledger again, holding b's entry


def test_a_flipped_byte_fails_the_checksum(tmp_path: Path) -> None:
    path = tmp_path / "x.ledger"
    clock = Clock()
    a, b = ledgers(path, clock, 2)
    a.try_acquire(1, 5, HOLD)
    data = bytearray(path.read_bytes())
    data[-3] ^= 0xFF
    path.write_bytes(bytes(data))
    b.try_acquire(1, 5, HOLD)
    assert b.resets == 1 and b.usage() == Usage(1, 0)


def test_the_file_stays_small(tmp_path: Path) -> None:
    path = tmp_path / "x.ledger"
    clock = Clock()
    (a,) = ledgers(path, clock, 1)
    for _ in range(500):
        ticket, _ = a.try_acquire(1, 190, HOLD)
        if ticket is None:
            clock.now += HOLD
            ticket, _ = a.try_acquire(1, 190, HOLD)
        a.release(ticket, HOLD)
        clock.now += 0.01
    assert path.stat().st_size <= 28 + 190 * 28


def test_the_file_name_hashes_host_and_token_never_shows_the_token(tmp_path: Path) -> None:
    token = "pat-na1-secret-0000"
    one = ledger_path(str(tmp_path), "https://api.hubapi.com", token)
    assert token not in one and one.endswith(".ledger") and os.path.dirname(one) == str(tmp_path)
    assert one == ledger_path(str(tmp_path), "https://API.hubapi.com/", token)
    assert one != ledger_path(str(tmp_path), "https://api.hubapi.com", token + "x")
    assert one != ledger_path(str(tmp_path), "http://127.0.0.1:8080", token)


def test_open_shared_budget_off_default_and_unwritable(tmp_path: Path, caplog: pytest.LogCaptureFixture,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    assert open_shared_budget("off", "https://api.hubapi.com", "t") is None
    assert open_shared_budget("OFF", "https://api.hubapi.com", "t") is None
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile
    monkeypatch.setattr(tempfile, "tempdir", None)
    ledger = open_shared_budget("", "https://api.hubapi.com", "t")
    assert ledger is not None and os.path.dirname(ledger.path) == str(tmp_path / DIR_NAME)
    ledger.close()
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with caplog.at_level(logging.WARNING, logger="hubspot_courses_destination"):
        assert open_shared_budget(str(blocker / "sub"), "https://api.hubapi.com", "t") is None
    assert "shared_budget_dir" in caplog.text


def test_two_limiters_on_one_ledger_share_the_limit(tmp_path: Path) -> None:
    """The ledger is a gate inside RateLimiter: each limiter alone would allow 4."""
    clock = Clock()
    a_ledger, b_ledger = ledgers(tmp_path / "x.ledger", clock, 2)
    a = RateLimiter(Rate(4), clock=clock, control="solo", shared=a_ledger)
    b = RateLimiter(Rate(4), clock=clock, control="solo", shared=b_ledger)
    permits = [a.try_acquire(), a.try_acquire(), b.try_acquire(), b.try_acquire()]
    assert all(permits) and all(p.ticket for p in permits)
    assert a.try_acquire() is None and b.try_acquire() is None
    assert a.in_use == 2 and b.in_use == 2
    headers = {"X-HubSpot-RateLimit-Max": "4", "X-HubSpot-RateLimit-Remaining": "0",
               "X-HubSpot-RateLimit-Interval-Milliseconds": "10000"}
    a.release(permits[0], headers)
    # the server's count is the machine's: nothing extra is reserved for "someone else"
    assert a.in_use == 2
    clock.now += 10.05
    assert b.try_acquire() is not None


def _full_window(shared: list[SharedBudget | None], clock: Clock) -> list[RateLimiter]:
    a, b = (RateLimiter(Rate(6), clock=clock, shared=s) for s in shared)
    pa = [a.try_acquire() for _ in range(3)]
    pb = [b.try_acquire() for _ in range(3)]
    headers = {"X-HubSpot-RateLimit-Max": "6", "X-HubSpot-RateLimit-Remaining": "0",
               "X-HubSpot-RateLimit-Interval-Milliseconds": "10000"}
    for p in pa:
        a.release(p, headers)
    for p in pb:
        b.release(p, headers)
    return [a, b]


def test_the_congestion_law_sees_the_machine_as_one_sender(tmp_path: Path) -> None:
    """The server's window is full, all of it this machine's: with the ledger that is no
    one else's use, so no process cuts its share (without it, each sees the other)."""
    clock = Clock()
    alone = _full_window([None, None], clock)
    assert all(lim.congestion.decreases == 1 for lim in alone)
    together = _full_window(ledgers(tmp_path / "x.ledger", clock, 2), clock)
    assert all(lim.congestion.decreases == 0 and lim.congestion.slow_start for lim in together)
