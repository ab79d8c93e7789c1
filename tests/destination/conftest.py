"""Fixtures for real dlt pipelines loading into a real sandbox over HTTP."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any, Callable, Iterator

import dlt
import pytest

from hubspot_courses_destination.session import close_sessions
from hubspot_courses_destination import hubspot_courses
from hubspot_courses_destination.sandbox import DEFAULT_TOKEN, Sandbox
from hubspot_courses_destination.staging import Staging

ID = "lms_course_key"
_names = itertools.count()


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(rate_limit_per_10s=1000) as sb:
        yield sb


@pytest.fixture
def staging_path(tmp_path: Path) -> str:
    return str(tmp_path / "staging.duckdb")


@pytest.fixture
def make_pipeline(tmp_path: Path, sandbox: Sandbox, staging_path: str) -> Iterator[Callable[..., dlt.Pipeline]]:
    """A pipeline into the sandbox; keyword arguments override destination settings."""

    def make(name: str = "courses_test", **settings: Any) -> dlt.Pipeline:
        kw: dict[str, Any] = dict(
            access_token=DEFAULT_TOKEN, api_base_url=sandbox.url, id_property=ID,
            staging_path=staging_path, create_missing_properties=True,
        )
        kw.update(settings)
        return dlt.pipeline(
            f"{name}_{next(_names)}", destination=hubspot_courses(**kw),
            pipelines_dir=str(tmp_path / "pipelines"),
        )

    yield make
    close_sessions(staging_path)


@pytest.fixture
def staging(staging_path: str) -> Callable[[], Staging]:
    """The staging database the destination wrote (the same shared connection)."""
    return lambda: Staging(staging_path)


def by_key(sandbox: Sandbox, key_property: str = ID) -> dict[str, dict[str, str]]:
    """Live sandbox records as key -> properties; fails on duplicate keys."""
    out: dict[str, dict[str, str]] = {}
    for record in sandbox.records():
        key = record["properties"].get(key_property)
        assert key not in out, f"duplicate record for key {key}"
        out[key] = record["properties"]
    return out


def upsert_inputs(sandbox: Sandbox) -> int:
    """How many inputs the sandbox received in answered upsert requests."""
    return sum(e.n_inputs or 0 for e in sandbox.request_log if e.path.endswith("/batch/upsert"))
