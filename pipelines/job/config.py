"""Which configuration the job reads: the project's .dlt/ wherever it starts, said out loud."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional


from hubspot_courses_destination import TOKEN_ENV, TOKEN_KEY
from .common import PROJECT_ROOT


@dataclass(frozen=True)
class ConfigOrigin:
    settings_dir: Path
    files: tuple[str, ...]  # the .toml files found there
    env_names: tuple[str, ...]  # DESTINATION__/SOURCES__ variables set (names only)
    ignored_cwd_dir: Optional[Path]  # a .dlt/ in the working directory that is not read

    def describe(self) -> str:
        files = ", ".join(self.files) if self.files else "no config.toml or secrets.toml"
        text = f"Config: {self.settings_dir} ({files})"
        if self.env_names:
            text += f"; environment: {', '.join(self.env_names)}"
        return text + "."


def project_dir() -> Path:
    """The folder whose ``.dlt/`` the job reads: ``DLT_PROJECT_DIR`` (dlt's own variable) if
    set, else this project, wherever the job is started from (cron calls it by absolute path)."""
    return Path(os.environ.get("DLT_PROJECT_DIR") or PROJECT_ROOT).resolve()


def use_project_config(root: Path) -> ConfigOrigin:
    """Point dlt's config and secrets providers at ``root/.dlt`` and say what they will read."""
    os.environ["DLT_PROJECT_DIR"] = str(root)
    from dlt.common.configuration.container import Container
    from dlt.common.configuration.specs.pluggable_run_context import PluggableRunContext

    Container()[PluggableRunContext].reload_providers()
    settings_dir = root / ".dlt"
    files = tuple(f for f in ("config.toml", "secrets.toml") if (settings_dir / f).is_file())
    env_names = tuple(sorted(n for n in os.environ if n.startswith(("DESTINATION__", "SOURCES__", "LMS_TO_HUBSPOT__"))))
    cwd_dir = Path.cwd().resolve() / ".dlt"
    ignored = cwd_dir if cwd_dir != settings_dir and cwd_dir.is_dir() else None
    return ConfigOrigin(settings_dir, files, env_names, ignored)


def token_origin() -> str:
    """Where the token in use comes from (the environment wins over secrets.toml), never the token."""
    if os.environ.get(TOKEN_ENV):
        return f"the environment variable {TOKEN_ENV}"
    secrets = project_dir() / ".dlt" / "secrets.toml"
    if secrets.is_file() and "access_token" in secrets.read_text(encoding="utf-8", errors="replace"):
        return f"{TOKEN_KEY} in {secrets}"
    return f"{TOKEN_KEY} in one of dlt's config providers"
