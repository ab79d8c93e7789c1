"""Every test reads dlt settings from an empty project folder, never the checkout's .dlt/.

A user who edits .dlt/config.toml (property_map, create_missing_properties = false) or puts
a real token in .dlt/secrets.toml must still get a green `make test`, and no test may reach
their portal. Tests that need settings write them into this folder or set env vars.
"""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _empty_dlt_project(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from dlt.common.configuration.container import Container
    from dlt.common.configuration.specs.pluggable_run_context import PluggableRunContext

    project = tmp_path_factory.mktemp("dlt_project")
    (project / ".dlt").mkdir()
    monkeypatch.setenv("DLT_PROJECT_DIR", str(project))
    Container()[PluggableRunContext].reload_providers()
    return project
