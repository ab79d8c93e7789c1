"""Fixtures for the sandbox tests: a fresh sandbox per test on a free port, and a thin client.

Every test gets its own server and in-memory DuckDB, so tests are independent and safe under
pytest-xdist.
"""

from __future__ import annotations

from typing import Iterator

import pytest

from hubspot_courses_destination.sandbox import Sandbox

from sandbox_helpers import KEY, Api


@pytest.fixture
def sb() -> Iterator[Sandbox]:
    with Sandbox() as sandbox:
        yield sandbox


@pytest.fixture
def keyed(sb: Sandbox) -> Sandbox:
    """A sandbox whose portal has the unique key property a sync would create."""
    sb.create_property(KEY, type="string", field_type="text", has_unique_value=True)
    return sb


@pytest.fixture
def api(sb: Sandbox) -> Api:
    return Api(sb.url)
