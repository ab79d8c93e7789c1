"""CSV exports through dlt's ``filesystem`` source (local paths, globs, or any fsspec URL).

Two layouts are recognised from the header row:

- **OULAD** (``code_module, code_presentation, module_presentation_length``): the Open
  University's course table. The key is composite, and there are no titles, so a readable name
  ("AAA 2013J") is synthesised and the description says so.
- **HubSpot-named columns**: a header that already names the id property (``lms_course_key``)
  and ``hs_course_name``; columns pass through, known ones (see ``COURSE_COLUMNS``) parsed to
  their type. Use this for any LMS export you shape yourself (a SQL view, a spreadsheet).

Files are read with Python's ``csv`` module in text mode with ``newline=""``, which is what
handles quoted fields with embedded commas/newlines and CRLF line ends correctly; a UTF-8 BOM
is dropped. (dlt 1.31's ``read_csv`` needs pandas, and ``read_csv_duckdb`` fails with duckdb
2.x: relations lost ``fetchmany``.) Empty cells become None.
"""

from __future__ import annotations

import csv
import io
import os
from decimal import Decimal
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple

import dlt
from dlt.extract import DltResource
from dlt.sources.filesystem import FileItemDict, filesystem

from .common import (
    COURSE_COLUMNS,
    DEFAULT_ID_PROPERTY,
    CourseRow,
    as_course_resource,
    blank_to_none,
    course_key,
    drop_none,
    html_to_text,
    parse_iso_datetime,
)

OULAD_COLUMNS = ("code_module", "code_presentation", "module_presentation_length")
PASS_THROUGH_REQUIRED = (DEFAULT_ID_PROPERTY, "hs_course_name")


class UnknownCsvLayout(ValueError):
    pass


def map_oulad_course(row: Dict[str, Any]) -> CourseRow:
    """One OULAD ``courses.csv`` row -> one HubSpot course (OULAD has no names: synthesised)."""
    module, presentation = row["code_module"], row["code_presentation"]
    length = blank_to_none(row.get("module_presentation_length"))
    length_text = f", {length} days long" if length else ""
    return drop_none(
        {
            DEFAULT_ID_PROPERTY: course_key("oulad", f"{module}-{presentation}"),
            "lms_source": "oulad",
            "hs_course_id": f"{module}-{presentation}",
            "hs_course_name": f"{module} {presentation}",  # synthesised: OULAD has no titles
            "hs_course_description": (
                f"Open University module {module}, presentation {presentation}{length_text}. "
                "Name synthesised from the module and presentation codes: the OULAD dataset "
                "has no course titles."
            ),
            "course_code": module,
            "course_length_days": int(length) if length else None,
        }
    )


_TRUE, _FALSE = ("1", "true", "yes", "y", "t"), ("0", "false", "no", "n", "f")


def _parse_typed(name: str, value: Optional[str]) -> Any:
    """Parse a known property's string to its type; a value that does not parse stays a string,
    so the destination rejects that one row with HubSpot's reason instead of the run failing."""
    value = blank_to_none(value)
    if value is None:
        return None
    data_type = COURSE_COLUMNS.get(name, {}).get("data_type")
    try:
        if data_type == "timestamp":
            return parse_iso_datetime(value)
        if data_type == "bool" and value.strip().lower() in _TRUE + _FALSE:
            return value.strip().lower() in _TRUE
        if data_type == "bigint":
            return int(Decimal(value))
    except (ValueError, ArithmeticError):
        pass
    return value


def map_course_csv_row(row: Dict[str, Any]) -> CourseRow:
    """A row whose columns are already HubSpot property names: parse known types, keep the rest."""
    mapped = {name: _parse_typed(name, value) for name, value in row.items() if name}
    if mapped.get("hs_course_description"):
        mapped["hs_course_description"] = html_to_text(mapped["hs_course_description"])
    mapped.setdefault("lms_source", "csv")
    return drop_none(mapped)


def detect_layout(header: List[str]) -> str:
    columns = {c.strip() for c in header}
    if set(OULAD_COLUMNS[:2]) <= columns:
        return "oulad"
    if set(PASS_THROUGH_REQUIRED) <= columns:
        return "hubspot"
    raise UnknownCsvLayout(
        f"unrecognised CSV header {sorted(columns)}: expected the OULAD columns "
        f"{list(OULAD_COLUMNS)} or HubSpot property names including {list(PASS_THROUGH_REQUIRED)}"
    )


MAPPERS = {"oulad": map_oulad_course, "hubspot": map_course_csv_row}


@dlt.transformer(name="csv_rows")
def read_csv_rows(items: List[FileItemDict], chunk_size: int = 1000) -> Iterator[List[Dict[str, Any]]]:
    """Each CSV file -> its rows as dicts, tagged with ``_layout`` (from the header row)."""
    for file_item in items:
        with file_item.open(mode="rb") as raw:
            text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
            reader = csv.DictReader(text)
            layout = detect_layout(reader.fieldnames or [])
            chunk: List[Dict[str, Any]] = []
            for row in reader:
                row["_layout"] = layout
                chunk.append(row)
                if len(chunk) >= chunk_size:
                    yield chunk
                    chunk = []
            if chunk:
                yield chunk


def map_csv_row(row: Dict[str, Any]) -> CourseRow:
    return MAPPERS[row.pop("_layout")](row)


def split_path(path: str) -> Tuple[str, str]:
    """``data/*.csv`` -> (bucket ``file:///abs/data``, glob ``*.csv``); a URL passes through."""
    if "://" in path:
        head, _, glob = path.rpartition("/")
        return head, glob
    p = Path(path).expanduser()
    parts = p.parts
    first_glob = next((i for i, part in enumerate(parts) if any(ch in part for ch in "*?[")), None)
    if first_glob is None:
        return p.resolve().parent.as_uri(), p.name
    base = Path(*parts[:first_glob]) if first_glob else Path(".")
    return base.resolve().as_uri(), "/".join(parts[first_glob:])


def csv_courses(path: str, id_property: str = DEFAULT_ID_PROPERTY, name: str = "csv") -> DltResource:
    """Course rows from one CSV file or a glob of them (``exports/courses-*.csv``)."""
    bucket_url, file_glob = split_path(path)
    if "://" not in path and not any(ch in path for ch in "*?[") and not os.path.isfile(path):
        raise FileNotFoundError(f"CSV file not found: {path}")
    files = filesystem(bucket_url=bucket_url, file_glob=file_glob).with_name(f"{name}_files")
    rows = files | read_csv_rows.with_name(f"{name}_rows")
    return as_course_resource(rows, map_csv_row, id_property, f"{name}_courses")
