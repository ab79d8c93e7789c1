"""The dlt source for --source, checked before the run (a Moodle connection, CSV headers)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Optional


from .common import PIPELINE_PREFIX, UsageError, conf, rel


def pipeline_name_for(args: argparse.Namespace, source: str, csv_path: Optional[str]) -> str:
    """One dlt pipeline (state, cursors, pending packages) per source, and per CSV input: a
    failed load of one never blocks the runs of another."""
    if args.pipeline_name:
        return args.pipeline_name
    if source == "csv" and csv_path:
        from pipelines.sources.csv_export import csv_table_name

        return f"{PIPELINE_PREFIX}_{csv_table_name(csv_path)}"
    return f"{PIPELINE_PREFIX}_{source}"


def check_moodle_connection(url: Any, table_prefix: str) -> None:
    """Connect once before the run: a wrong password or a missing driver is a one-paragraph
    configuration error, not a traceback from dlt's extract step."""
    import sqlalchemy as sa
    from sqlalchemy.exc import NoSuchModuleError, SQLAlchemyError

    if isinstance(url, str) and url.startswith("sqlite:///") and url != "sqlite://":
        db_file = Path(url[len("sqlite:///"):].split("?", 1)[0])
        if not db_file.is_file():  # SQLite would create an empty file and report no tables
            raise UsageError(f"the Moodle database file {db_file} does not exist: check --moodle-url")
    try:
        engine = sa.create_engine(url) if isinstance(url, str) else url
    except NoSuchModuleError as exc:
        raise UsageError(f"the Moodle URL names an unknown SQLAlchemy dialect ({exc}); use e.g. "
                         "mysql+pymysql://, postgresql+psycopg2:// or sqlite:///") from None
    except ModuleNotFoundError as exc:
        pip = f"{rel(Path(sys.executable))} -m pip install {_driver_package(exc.name)}"
        mysql = "" if exc.name == "pymysql" or "mysql" not in str(url).split(":", 1)[0] else (
            " (or use a mysql+pymysql:// URL, whose driver is pure Python)")
        raise UsageError(f"the database driver for the Moodle URL is not installed ({exc.name}): "
                         f"install it with `{pip}`{mysql}") from None
    except Exception as exc:  # noqa: BLE001 - a malformed URL: ArgumentError, ValueError
        raise UsageError(f"the Moodle database URL is not valid: {type(exc).__name__}: "
                         f"{_without_password(str(exc), url)}") from None
    try:
        with engine.connect() as con:
            if not sa.inspect(con).has_table(f"{table_prefix}course"):
                raise UsageError(f"the Moodle database has no table {table_prefix}course: check the "
                                 "database name and --moodle-table-prefix (Moodle's $CFG->prefix)")
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        raise UsageError(f"cannot read the Moodle database: {_without_password(reason, url)}. Check "
                         "the host, database name, user and password in sources.moodle.credentials "
                         "(or --moodle-url)") from None
    finally:
        if isinstance(url, str):
            engine.dispose()


def _driver_package(module: Optional[str]) -> str:
    return {"MySQLdb": "mysqlclient", "psycopg2": "psycopg2-binary"}.get(module or "", module or "the driver")


def _without_password(text: str, url: Any) -> str:
    try:
        from sqlalchemy.engine import make_url

        password = make_url(url).password if isinstance(url, str) else None
    except Exception:  # noqa: BLE001
        password = None
    return text.replace(password, "***") if password else text


def build_source(args: argparse.Namespace, source: str, id_property: str, csv_path: Optional[str]) -> Any:
    """The dlt source or resource for ``--source``; each maps its columns in its own module."""
    if source == "sample":
        from pipelines.sources.sample import sample_source

        return sample_source(id_property=id_property)
    if source == "moodle":
        from pipelines.sources.moodle import moodle_courses

        url = conf(args.moodle_url, "sources.moodle.credentials", secret=True)
        if not url:
            raise UsageError(
                "--source moodle needs the Moodle database: --moodle-url SQLALCHEMY_URL or the "
                "secret sources.moodle.credentials (env SOURCES__MOODLE__CREDENTIALS)."
            )
        prefix = conf(args.moodle_table_prefix, "sources.moodle.table_prefix", "mdl_")
        check_moodle_connection(url, prefix)
        return moodle_courses(
            url, table_prefix=prefix, site_url=conf(args.moodle_site_url, "sources.moodle.site_url"),
            id_property=id_property,
        )
    if source == "canvas":
        from pipelines.sources.canvas import canvas_source

        kwargs = {"id_property": id_property}
        if args.canvas_base_url:
            kwargs["base_url"] = args.canvas_base_url
        if args.canvas_account_id:
            kwargs["account_id"] = args.canvas_account_id
        return canvas_source(**kwargs)  # the rest (and the token) resolve from dlt config
    if source == "csv":
        from pipelines.sources.csv_export import UnknownCsvLayout, check_csv_input, csv_courses

        if not csv_path:
            raise UsageError("--source csv needs --csv-path FILE_OR_GLOB (or config sources.csv.path).")
        try:
            check_csv_input(csv_path)
        except (FileNotFoundError, UnknownCsvLayout) as exc:
            raise UsageError(str(exc)) from None
        return csv_courses(csv_path, id_property=id_property)
    raise UsageError(f"unknown source {source!r}")
