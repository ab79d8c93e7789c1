"""Staging against a real DuckDB file: sync_state, rejected_rows, sync_runs."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

from hubspot_courses_destination.outcomes import Rejection, RunCounts, Synced
from hubspot_courses_destination.staging import Staging


def test_sync_state_upsert_keeps_first_synced_and_resolves_rejections(tmp_path):
    path = str(tmp_path / "s.duckdb")
    with Staging(path) as st:
        st.record_rejections("0-410", "courses", "L1", [
            Rejection("k1", "VALIDATION_ERROR", "INVALID_OPTION", "bad", {"d": date(2024, 1, 2), "n": Decimal("1.5")}),
            Rejection("k2", "SUPERSEDED", "DUPLICATE_KEY", "later row won", {"x": 1}, resolved=True),
        ])
        assert [r["record_key"] for r in st.open_rejections()] == ["k1"]
        assert json.loads(st.open_rejections()[0]["row_json"]) == {"d": "2024-01-02", "n": "1.5"}
        st.mark_synced("0-410", "courses", "L1", [Synced("k1", "101", "h1"), Synced("k3", "103", "h3")])
        st.mark_synced("0-410", "courses", "L2", [Synced("k3", None, "h3b")])
        assert st.known_hashes("0-410", ["k1", "k3", "nope"]) == {"k1": "h1", "k3": "h3b"}
        # a later sync without an id keeps the id we knew
        assert st.hubspot_ids("0-410", ["k1", "k3"]) == {"k1": "101", "k3": "103"}
        assert st.open_rejections() == []
        st.forget("0-410", ["k1"])
        assert st.synced_count("0-410") == 1
    # the file persists across connections
    with Staging(path) as st:
        assert st.known_hashes("0-410", ["k3"]) == {"k3": "h3b"}


def test_run_counts_accumulate_per_load_and_table(tmp_path):
    with Staging(str(tmp_path / "s.duckdb")) as st:
        st.put_run_counts("L1", "courses", "b1", "0-410", RunCounts(rows_seen=10, created=8, rejected=2, requests=1))
        st.put_run_counts("L1", "courses", "b2", "0-410", RunCounts(rows_seen=5, updated=5, requests=1, responses_429=1))
        st.put_run_counts("L1", "runs", "b1", "0-410", RunCounts(rows_seen=1, unchanged=1))
        st.put_run_counts("L2", "courses", "b1", "0-410", RunCounts(rows_seen=99))
        # dlt re-delivers batch b2 after a crash: its counts replace the first delivery's
        st.put_run_counts("L1", "courses", "b2", "0-410", RunCounts(rows_seen=5, updated=5, requests=1, responses_429=1))
        summary = st.load_summary(["L1"])
        assert summary == {"rows_seen": 16, "created": 8, "updated": 5, "unchanged": 1, "rejected": 2,
                           "archived": 0, "requests": 2, "responses_429": 1}
        assert st.load_summary([])["rows_seen"] == 0


def test_rejections_of_a_redelivered_batch_are_stored_once(tmp_path):
    with Staging(str(tmp_path / "s.duckdb")) as st:
        recs = [Rejection("k", "VALIDATION_ERROR", "INVALID_OPTION", "bad", {"a": 1}),
                Rejection(None, "MISSING_KEY", "MISSING_KEY", "empty", {"a": 2})]
        st.record_rejections("0-410", "courses", "L1", recs)
        st.record_rejections("0-410", "courses", "L1", recs)  # the same batch again
        assert len(st.open_rejections()) == 2
        st.record_rejections("0-410", "courses", "L2", recs[:1])  # a later load: a new record
        open_rows = st.open_rejections()
        # the key's older open rejection is superseded; the keyless row stays open
        assert sorted((r["record_key"] or "-", r["load_id"]) for r in open_rows) == [("-", "L1"), ("k", "L2")]


def test_mirror_candidates_are_scoped_to_source_tables(tmp_path):
    with Staging(str(tmp_path / "s.duckdb")) as st:
        st.mark_synced("0-410", "moodle", "L1", [Synced("m1", "1", "h"), Synced("m2", "2", "h")])
        st.mark_synced("0-410", "canvas", "L1", [Synced("c1", "3", "h")])
        st.mark_seen("0-410", "moodle", "L2", ["m1"])
        assert st.not_seen_in("0-410", ["L2"], ["moodle"]) == [("m2", "2")]
        assert st.synced_count_in("0-410", ["moodle"]) == 2


def test_top_rejections_groups_reasons_and_skips_superseded(tmp_path):
    with Staging(str(tmp_path / "s.duckdb")) as st:
        recs = [Rejection(f"k{i}", "VALIDATION_ERROR", "INVALID_OPTION", f"'v{i}' was not one of the allowed options", {}) for i in range(3)]
        recs.append(Rejection("m", "MISSING_KEY", "MISSING_KEY", "column empty", {}))
        recs.append(Rejection("s", "SUPERSEDED", "DUPLICATE_KEY", "x", {}, resolved=True))
        st.record_rejections("0-410", "courses", "L1", recs)
        top = st.top_rejections(["L1"])
        assert top[0][1] == 3 and "INVALID_OPTION" in top[0][0]
        assert [n for _, n in top] == [3, 1]


def test_a_batch_transaction_commits_whole_or_not_at_all(tmp_path):
    path = str(tmp_path / "s.duckdb")
    with Staging(path) as st:
        try:
            with st.transaction():
                st.mark_synced("0-410", "courses", "L1", [Synced("k1", "101", "h1")])  # nests inside
                st.record_rejections("0-410", "courses", "L1", [Rejection("k2", "VALIDATION_ERROR", "X", "bad", {})])
                st.put_run_counts("L1", "courses", "b1", "0-410", RunCounts(rows_seen=2, created=1, rejected=1))
                raise RuntimeError("killed between statements")
        except RuntimeError:
            pass
        assert st.synced_count("0-410") == 0 and st.open_rejections() == []
        assert st.load_summary(["L1"])["rows_seen"] == 0
        with st.transaction():
            with st.transaction():
                st.mark_synced("0-410", "courses", "L1", [Synced("k1", "101", "h1")])
            st.put_run_counts("L1", "courses", "b1", "0-410", RunCounts(rows_seen=1, created=1))
    with Staging(path) as st:  # committed, and visible to a new connection
        assert st.known_hashes("0-410", ["k1"]) == {"k1": "h1"}
        assert st.load_summary(["L1"])["created"] == 1


def test_a_caught_failure_inside_a_transaction_still_records_nothing(tmp_path):
    import pytest

    with Staging(str(tmp_path / "s.duckdb")) as st:
        with pytest.raises(RuntimeError, match="nothing of the transaction was recorded"):
            with st.transaction():
                st.mark_synced("0-410", "courses", "L1", [Synced("k1", "101", "h1")])
                try:
                    with st.transaction():
                        raise ValueError("a nested step failed")
                except ValueError:
                    pass  # the caller carries on: the outer level must not commit half a batch
        assert st.synced_count("0-410") == 0
        with st.transaction():  # the next transaction starts clean
            st.mark_synced("0-410", "courses", "L1", [Synced("k1", "101", "h1")])
        assert st.synced_count("0-410") == 1


def test_a_redelivered_batch_that_finds_its_rows_unchanged_keeps_what_the_first_delivery_changed(tmp_path):
    # the first delivery created 3 and recorded them; dlt delivers the batch again (a crash
    # before the job was marked done, or a course job loaded first by the enrollments job)
    with Staging(str(tmp_path / "s.duckdb")) as st:
        st.put_run_counts("L1", "courses", "b1", "0-410", RunCounts(rows_seen=4, created=3, rejected=1, requests=1))
        st.put_run_counts("L1", "courses", "b1", "0-410", RunCounts(rows_seen=4, unchanged=3, rejected=1))
        summary = st.load_summary(["L1"])
        assert (summary["rows_seen"], summary["created"], summary["unchanged"], summary["rejected"],
                summary["requests"]) == (4, 3, 0, 1, 1)
