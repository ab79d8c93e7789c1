"""The dlt source for --source, checked before the run (a Moodle connection, CSV headers)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Optional, Tuple


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


#: the Moodle tables the enrolments are read from (besides the course table)
MOODLE_ENROLMENT_TABLES = ("user_enrolments", "enrol", "user", "context", "role", "role_assignments")


def check_moodle_connection(url: Any, table_prefix: str) -> list[str]:
    """Connect once before the run: a wrong password or a missing driver is a one-paragraph
    configuration error, not a traceback from dlt's extract step. Returns the enrolment tables
    the database lacks (none in a real Moodle)."""
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
            inspector = sa.inspect(con)
            if not inspector.has_table(f"{table_prefix}course"):
                raise UsageError(f"the Moodle database has no table {table_prefix}course: check the "
                                 "database name and --moodle-table-prefix (Moodle's $CFG->prefix)")
            return [f"{table_prefix}{t}" for t in MOODLE_ENROLMENT_TABLES if not inspector.has_table(f"{table_prefix}{t}")]
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


def enrollments_wanted(args: argparse.Namespace) -> Optional[bool]:
    """``--enrollments``/``--no-enrollments``, else ``lms_to_hubspot.enrollments``, else None
    (on when the source has enrollments)."""
    value = conf(args.enrollments, "lms_to_hubspot.enrollments")
    if value is None or isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text not in ("true", "false", "1", "0", "yes", "no"):
        raise UsageError(f"lms_to_hubspot.enrollments must be true or false, got {value!r}")
    return text in ("true", "1", "yes")


def build_source(
    args: argparse.Namespace, source: str, id_property: str, csv_path: Optional[str]
) -> Tuple[Any, Optional[str]]:
    """The dlt source for ``--source`` (each maps its columns in its own module), and the name
    of its enrollments table when enrollments are synced (None: courses only)."""
    from pipelines.sources.common import enrollments_table_name

    wanted = enrollments_wanted(args)
    if source == "sample":
        from pipelines.sources.sample import sample_source

        on = wanted is not False
        return sample_source(id_property=id_property, enrollments=on), enrollments_table_name("sample") if on else None
    if source == "moodle":
        from pipelines.sources.moodle import moodle_courses, moodle_enrollments

        url = conf(args.moodle_url, "sources.moodle.credentials", secret=True)
        if not url:
            raise UsageError(
                "--source moodle needs the Moodle database: --moodle-url SQLALCHEMY_URL or the "
                "secret sources.moodle.credentials (env SOURCES__MOODLE__CREDENTIALS)."
            )
        prefix = conf(args.moodle_table_prefix, "sources.moodle.table_prefix", "mdl_")
        missing = check_moodle_connection(url, prefix)
        if missing and wanted:
            raise UsageError(f"--enrollments: the Moodle database has no table {', '.join(missing)}: check "
                             "the database, or leave out --enrollments to sync courses only")
        if missing and wanted is None:
            print(f"Note: the Moodle database has no {', '.join(missing)}: syncing courses only.")
        on = bool(wanted is not False and not missing)
        # bare resources, as before enrollments: the course cursor stays where dlt keeps it
        data = [moodle_courses(url, table_prefix=prefix, id_property=id_property,
                               site_url=conf(args.moodle_site_url, "sources.moodle.site_url"))]
        if on:
            data.append(moodle_enrollments(url, table_prefix=prefix, id_property=id_property))
        return data, enrollments_table_name("moodle") if on else None
    if source == "canvas":
        from pipelines.sources.canvas import canvas_source

        on = wanted is not False
        kwargs: dict = {"id_property": id_property, "enrollments": on}
        if args.canvas_base_url:
            kwargs["base_url"] = args.canvas_base_url
        if args.canvas_account_id:
            kwargs["account_id"] = args.canvas_account_id
        # the rest (and the token) resolve from dlt config
        return canvas_source(**kwargs), enrollments_table_name("canvas") if on else None
    if source == "csv":
        from pipelines.sources.csv_export import (
            ENROLLMENTS_LAYOUT, UnknownCsvLayout, check_csv_input, csv_courses, csv_enrollments, csv_table_name,
        )

        if not csv_path:
            raise UsageError("--source csv needs --csv-path FILE_OR_GLOB (or config sources.csv.path).")
        try:
            layouts = check_csv_input(csv_path, id_property)
        except (FileNotFoundError, UnknownCsvLayout) as exc:
            raise UsageError(str(exc)) from None
        # a URL's files are only listed while extracting: its enrollments are read if it has any
        has_enrollments = not layouts or any(layout == ENROLLMENTS_LAYOUT for _, layout in layouts)
        on = wanted if wanted is not None else has_enrollments
        data = [csv_courses(csv_path, id_property=id_property)]  # bare resources, as before enrollments
        if on:
            data.append(csv_enrollments(csv_path, id_property=id_property))
        return data, enrollments_table_name(csv_table_name(csv_path)) if on else None
    raise UsageError(f"unknown source {source!r}")
