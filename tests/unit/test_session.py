"""One registry of sessions: one per portal, object type and staging file; one rate-limit
budget per portal and token, whatever else differs."""

from __future__ import annotations

import os
from pathlib import Path

from hubspot_courses_destination.session import close_sessions, session_for
from hubspot_courses_destination.settings import HubSpotCoursesConfiguration

TOKEN = "pat-na1-0123456789abcdef"


def _settings(tmp_path: Path, **values) -> HubSpotCoursesConfiguration:
    values.setdefault("staging_path", str(tmp_path / "staging.duckdb"))
    return HubSpotCoursesConfiguration.from_values(access_token=TOKEN, id_property="lms_key", **values)


def test_one_session_per_settings_and_one_budget_per_portal_and_token(tmp_path: Path) -> None:
    try:
        a = session_for(_settings(tmp_path, requests_per_10s=190))
        assert session_for(_settings(tmp_path, requests_per_10s=190)) is a
        other_object = session_for(_settings(tmp_path, requests_per_10s=190, object_type="0-1",
                                             staging_path=str(tmp_path / "contacts.duckdb")))
        assert other_object is not a and other_object.client is a.client
        more_threads = session_for(_settings(tmp_path, requests_per_10s=190, max_concurrency=2))
        assert more_threads.client is not a.client
        assert more_threads.client.rate_limiter is a.client.rate_limiter
        other_token = session_for(HubSpotCoursesConfiguration.from_values(
            access_token="pat-na1-other", id_property="lms_key", staging_path=str(tmp_path / "o.duckdb")))
        assert other_token.client.rate_limiter is not a.client.rate_limiter
        lower = session_for(_settings(tmp_path, requests_per_10s=100, staging_path=str(tmp_path / "l.duckdb")))
        assert lower.client.rate_limiter is a.client.rate_limiter
        assert a.client.rate_limiter.rate.limit == 100  # a lower tier lowers the shared budget
        assert TOKEN not in repr(a.client.rate_limiter) and TOKEN not in repr(a.settings)
    finally:
        close_sessions()


def test_close_sessions_of_one_staging_file_releases_it(tmp_path: Path) -> None:
    first = session_for(_settings(tmp_path))
    kept = session_for(_settings(tmp_path, staging_path=str(tmp_path / "other.duckdb")))
    try:
        close_sessions(str(tmp_path / "staging.duckdb"))
        assert first.closed and not kept.closed
        assert session_for(_settings(tmp_path)) is not first  # reopened on next use
    finally:
        close_sessions()
    assert kept.closed


def test_the_session_client_calls_the_family_of_the_api_version_setting(tmp_path: Path) -> None:
    try:
        dated = session_for(_settings(tmp_path, api_version="2026-09"))
        assert dated.client.api_version == "2026-09"
        legacy = session_for(_settings(tmp_path, api_version="v3", staging_path=str(tmp_path / "v3.duckdb")))
        assert legacy.client.api_version == "v3"
        assert legacy.client is not dated.client  # a client calls one family
        assert legacy.client.rate_limiter is dated.client.rate_limiter  # one budget per portal and token
    finally:
        close_sessions()


def test_the_rate_limit_control_setting_reaches_the_limiter(tmp_path: Path) -> None:
    try:
        default = session_for(_settings(tmp_path))
        solo = session_for(HubSpotCoursesConfiguration.from_values(
            access_token="pat-na1-solo", id_property="lms_key", staging_path=str(tmp_path / "s.duckdb"),
            rate_limit_control="solo"))
        assert default.client.rate_limiter.control == "congestion" and default.client.rate_limiter.congestion
        assert solo.client.rate_limiter.control == "solo" and solo.client.rate_limiter.congestion is None
    finally:
        close_sessions()


def test_the_shared_budget_dir_setting_reaches_the_limiter(tmp_path: Path, monkeypatch) -> None:
    import tempfile

    from hubspot_courses_destination.hubspot.shared_budget import DIR_NAME

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    try:
        default = session_for(_settings(tmp_path)).client.rate_limiter.shared
        assert default is not None and os.path.dirname(default.path) == str(tmp_path / "tmp" / DIR_NAME)
        chosen = session_for(HubSpotCoursesConfiguration.from_values(
            access_token="pat-na1-other", id_property="lms_key", staging_path=str(tmp_path / "o.duckdb"),
            shared_budget_dir=str(tmp_path / "ledgers"))).client.rate_limiter.shared
        assert chosen is not None and os.path.dirname(chosen.path) == str(tmp_path / "ledgers")
        assert "pat-na1-other" not in chosen.path
        off = session_for(HubSpotCoursesConfiguration.from_values(
            access_token="pat-na1-off", id_property="lms_key", staging_path=str(tmp_path / "f.duckdb"),
            shared_budget_dir="off"))
        assert off.client.rate_limiter.shared is None
    finally:
        close_sessions()
