"""The job's shared names: where the project is, its state, its sources, its two errors."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import dlt

from hubspot_courses_destination import SECTION


PROJECT_ROOT = Path(__file__).resolve().parents[2]
"""The project: the folder that holds pipelines/ and .dlt/."""

PIPELINE_PREFIX = "lms_to_hubspot"


LEGACY_PIPELINE_NAME = "lms_to_hubspot"  # one pipeline for every source, before 0.2


SOURCES = ("sample", "moodle", "canvas", "csv")


DEST_SECTION = SECTION


DEFAULT_STATE_DIR = PROJECT_ROOT / ".state"


#: flags that belong to one source: giving them with another source is a mistake
SOURCE_FLAGS = {
    "moodle": ("moodle_url", "moodle_table_prefix", "moodle_site_url"),
    "canvas": ("canvas_base_url", "canvas_account_id"),
    "csv": ("csv_path",),
}


class UsageError(Exception):
    """Bad arguments or configuration: exit code 2, nothing was sent."""


class Unreachable(Exception):
    """HubSpot (or the sandbox) could not be reached before the run: exit code 1."""


class StateInUse(Exception):
    """Another process holds one of this run's local files (DuckDB allows one writer): exit 1."""


def conf(flag_value: Any, key: str, default: Any = None, secret: bool = False) -> Any:
    if flag_value not in (None, ""):
        return flag_value
    provider = dlt.secrets if secret else dlt.config
    value = provider.get(key)
    return default if value in (None, "") else value


def rel(path: Path) -> str:
    """The path relative to the working directory when under it (symlinks kept: a venv's python)."""
    absolute = Path(os.path.abspath(path))
    try:
        return str(absolute.relative_to(Path.cwd()))
    except ValueError:
        return str(absolute)
