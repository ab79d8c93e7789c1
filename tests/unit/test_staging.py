"""Staging against a real DuckDB file: sync_state, rejected_rows, sync_runs."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

from hubspot_courses_destination.staging import RejectedRecord, RunCounts, Staging, SyncedRow


def test_sync_state_upsert_keeps_first_synced_and_resolves_rejections(tmp_path):
    path = str(tmp_path / "s.duckdb")
    with Staging(path) as st:
        st.record_rejections("0-410", "courses", "L1", [
            RejectedRecord("k1", "VALIDATION_ERROR", "INVALID_OPTION", "bad", {"d": date(2024, 1, 2), "n": Decimal("1.5")}),
            RejectedRecord("k2", "SUPERSEDED", "DUPLICATE_KEY", "later row won", {"x": 1}, resolved=True),
        ])
        assert [r["record_key"] for r in st.open_rejections()] == ["k1"]
        assert json.loads(st.open_rejections()[0]["row_json"]) == {"d": "2024-01-02", "n": "1.5"}
        st.mark_synced("0-410", "courses", "L1", [SyncedRow("k1", "101", "h1"), SyncedRow("k3", "103", "h3")])
        st.mark_synced("0-410", "courses", "L2", [SyncedRow("k3", None, "h3b")])
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
        st.add_run_counts("L1", "courses", "0-410", RunCounts(rows_seen=10, created=8, rejected=2, requests=1))
        st.add_run_counts("L1", "courses", "0-410", RunCounts(rows_seen=5, updated=5, requests=1, responses_429=1))
        st.add_run_counts("L1", "runs", "0-410", RunCounts(rows_seen=1, unchanged=1))
        st.add_run_counts("L2", "courses", "0-410", RunCounts(rows_seen=99))
        summary = st.load_summary(["L1"])
        assert summary == {"rows_seen": 16, "created": 8, "updated": 5, "unchanged": 1, "rejected": 2,
                           "archived": 0, "requests": 2, "responses_429": 1}
        assert st.load_summary([])["rows_seen"] == 0


def test_top_rejections_groups_reasons_and_skips_superseded(tmp_path):
    with Staging(str(tmp_path / "s.duckdb")) as st:
        recs = [RejectedRecord(f"k{i}", "VALIDATION_ERROR", "INVALID_OPTION", f"'v{i}' was not one of the allowed options", {}) for i in range(3)]
        recs.append(RejectedRecord("m", "MISSING_KEY", "MISSING_KEY", "column empty", {}))
        recs.append(RejectedRecord("s", "SUPERSEDED", "DUPLICATE_KEY", "x", {}, resolved=True))
        st.record_rejections("0-410", "courses", "L1", recs)
        top = st.top_rejections(["L1"])
        assert top[0][1] == 3 and "INVALID_OPTION" in top[0][0]
        assert [n for _, n in top] == [3, 1]
