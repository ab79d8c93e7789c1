"""CSV exports through dlt's ``filesystem`` source (local paths, globs, or any fsspec URL).

A file's layout is recognised from its whole header row; anything else is refused with
``UnknownCsvLayout`` before a row is read (a wrong file must not overwrite live courses):

- **OULAD** ``courses.csv``: exactly ``code_module, code_presentation,
  module_presentation_length``, in any order. The key is composite, and there are no titles,
  so a readable name ("AAA 2013J") is synthesised and the description says so. Other OULAD
  tables (``assessments.csv`` shares the first two columns) are refused.
- **HubSpot-named columns**: a header that names the key column (``lms_course_key``, or the
  id property itself) and ``hs_course_name``; columns pass through, known ones (see
  ``COURSE_COLUMNS``) parsed to their type. Use this for any LMS export you shape yourself (a
  SQL view, a spreadsheet). A column that is no HubSpot property name (``Instructor Name``)
  is not a layout error: ``property_map`` can map it by its column name and
  ``exclude_columns`` drop it; left as is, the destination refuses it before sending rows.

- **Enrollments**: the key column (as above: the course's key, the value its course rows
  carry), ``email``, and optionally ``firstname``, ``lastname`` and ``association_label``
  (a course-contact label such as "Student"), nothing else. Each row associates that contact
  with that course; the rows go to the input's own enrollments table (``csv_enrollments``),
  never to its courses. A file of this layout may sit next to course files under one glob.

Every layout's header with an empty or a repeated column name is refused: the csv module
would silently keep only the last of two same-named cells.

``check_csv_input`` runs the same checks on local files without a pipeline, so a job can
fail fast (and a glob that matches nothing is an error there and at extract time, never an
empty success). ``csv_table_name`` gives each input its own dlt table, so mirror mode (which
archives per source table) never archives one export's courses because another lacks them.

Files are read with Python's ``csv`` module in text mode with ``newline=""``, which is what
handles quoted fields with embedded commas/newlines and CRLF line ends correctly; a UTF-8 BOM
is dropped. (dlt 1.31's ``read_csv`` needs pandas, and ``read_csv_duckdb`` fails with duckdb
2.x: relations lost ``fetchmany``.) Empty cells become None.
"""

from __future__ import annotations

import csv
import glob
import hashlib
import io
import os
import re
from decimal import Decimal
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple
from urllib.parse import urlsplit
from urllib.request import url2pathname

import dlt
from dlt.extract import DltResource
from dlt.sources.filesystem import FileItemDict, filesystem

from .common import (
    COURSE_COLUMNS,
    DEFAULT_ID_PROPERTY,
    CourseRow,
    EnrollmentRow,
    as_course_resource,
    as_enrollment_resource,
    enrollment_row,
    enrollments_table_name,
    blank_to_none,
    course_key,
    drop_none,
    html_to_text,
    parse_iso_datetime,
)

OULAD_COLUMNS = ("code_module", "code_presentation", "module_presentation_length")
PASS_THROUGH_REQUIRED = (DEFAULT_ID_PROPERTY, "hs_course_name")
ENROLLMENT_REQUIRED = ("email",)
ENROLLMENT_OPTIONAL = ("firstname", "lastname", "association_label")
_GLOB_CHARS = "*?["


class UnknownCsvLayout(ValueError):
    """A CSV header that is neither layout; the message names the file and both layouts."""

    def __init__(self, source: str, header: Sequence[str], problem: str = "") -> None:
        self.source = source
        self.header = list(header)
        super().__init__(_layout_message(source, self.header, problem))


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


def _layout_message(source: str, header: List[str], problem: str) -> str:
    """Say what the file has, what is wrong with it, and what each layout needs."""
    oulad = set(OULAD_COLUMNS)
    near_oulad = len(oulad & set(header)) >= 2 and set(header) != oulad
    hint = ""
    if near_oulad and not problem:
        extra = sorted(set(header) - oulad)
        missing = [c for c in OULAD_COLUMNS if c not in header]
        diff = [f"{label}: {', '.join(cols)}" for label, cols in (("extra", extra), ("missing", missing)) if cols]
        hint = f" It shares columns with OULAD's courses.csv but is another table ({'; '.join(diff)})."
    if not problem and not hint and "email" in header and "hs_course_name" not in header:
        extra = sorted(set(header) - {DEFAULT_ID_PROPERTY, *ENROLLMENT_REQUIRED, *ENROLLMENT_OPTIONAL})
        wrong = [f"{', '.join(extra)} {'is' if len(extra) == 1 else 'are'} no enrollments column"] if extra else []
        if DEFAULT_ID_PROPERTY not in header:
            wrong.insert(0, f"it has no key column ({DEFAULT_ID_PROPERTY} or the id property)")
        hint = f" It looks like an enrollments file, but {'; '.join(wrong)}." if wrong else ""
    return (
        f"{source}: unrecognised CSV header {header}{': ' + problem if problem else ''}.{hint} "
        f"Expected one of: the OULAD courses.csv header, exactly {', '.join(OULAD_COLUMNS)} (any "
        f"order, nothing else); HubSpot property names including {' and '.join(PASS_THROUGH_REQUIRED)}; "
        f"or enrollments, {DEFAULT_ID_PROPERTY} and {', '.join(ENROLLMENT_REQUIRED)} with optionally "
        f"{', '.join(ENROLLMENT_OPTIONAL)} and nothing else (the key column may also be named after "
        "the id property)"
    )


def _header_problem(columns: Sequence[str]) -> str:
    """Empty or repeated column names: csv.DictReader would drop cells without a word."""
    if not columns:
        return "the file is empty"
    if any(not c for c in columns):
        return f"column {list(columns).index('') + 1} has no name"
    repeated = sorted({c for c in columns if list(columns).count(c) > 1})
    return f"repeated column {', '.join(repeated)}" if repeated else ""


def detect_layout(header: Sequence[str], source: str = "CSV file", id_property: str = DEFAULT_ID_PROPERTY) -> str:
    """``"oulad"``, ``"hubspot"`` or ``"enrollments"`` from the whole header row; raises
    ``UnknownCsvLayout``.

    ``id_property`` is the job's key property: a HubSpot-named file may name its key column
    after it instead of ``lms_course_key``, but not both (one would overwrite the other).
    """
    columns = [c.strip() for c in header]
    problem = _header_problem(columns)
    if not problem and set(columns) == set(OULAD_COLUMNS):
        return "oulad"
    key_columns = [c for c in dict.fromkeys((DEFAULT_ID_PROPERTY, id_property)) if c in columns]
    if len(key_columns) > 1:
        problem = problem or f"both {key_columns[0]} and {key_columns[1]} name the key; keep one"
    if not problem and key_columns and "hs_course_name" in columns:
        return "hubspot"
    others = set(columns) - set(key_columns)
    if (not problem and key_columns and set(ENROLLMENT_REQUIRED) <= others
            and others <= {*ENROLLMENT_REQUIRED, *ENROLLMENT_OPTIONAL}):
        return "enrollments"
    raise UnknownCsvLayout(source, columns, problem)


def _read_header(path: str) -> List[str]:
    """The first row of a local CSV file, read the way ``read_csv_rows`` reads it."""
    try:
        with open(path, encoding="utf-8-sig", newline="") as f:
            return next(csv.reader(f), [])
    except UnicodeDecodeError:
        raise UnknownCsvLayout(path, [], "not UTF-8 text (a spreadsheet file? export it as CSV)") from None


def _matching_files(path: str) -> List[str]:
    """Local files a path or glob names; ``FileNotFoundError`` when there are none."""
    expanded = os.path.expanduser(path)
    if not any(ch in expanded for ch in _GLOB_CHARS):
        if os.path.isdir(expanded):
            raise FileNotFoundError(f"{path} is a directory, not a CSV file: give a file or a glob like {path}/*.csv")
        if not os.path.isfile(expanded):
            raise FileNotFoundError(f"CSV file not found: {path}")
        return [expanded]
    files = sorted(f for f in glob.glob(expanded, recursive=True) if os.path.isfile(f))
    if not files:
        absolute = os.path.abspath(expanded)
        raise FileNotFoundError(f"no file matches the CSV glob {path}" + (f" ({absolute})" if absolute != path else ""))
    return files


def check_csv_input(path: str, id_property: str = DEFAULT_ID_PROPERTY) -> List[Tuple[str, str]]:
    """(file, layout) of every local file ``path`` (a file or a glob) names, before any run.

    Raises ``FileNotFoundError`` when nothing matches and ``UnknownCsvLayout`` for the first
    file whose header is neither layout. fsspec URLs (``s3://...``) are not listed here: the
    result is ``[]`` for them, and the pipeline checks each file's header (and fails when no
    file matched) while extracting, before anything is loaded.
    """
    if "://" in path:
        return []
    return [(f, detect_layout(_read_header(f), f, id_property)) for f in _matching_files(path)]


def csv_table_name(path: str) -> str:
    """A stable, readable dlt table name per input: ``csv_<file stem>_<6 hex of its path>``.

    The hash is of the absolute path (a URL as given), so the same export keeps its table
    from run to run and from any working directory, while two exports never share one.
    """
    normalized = path if "://" in path else os.path.abspath(os.path.expanduser(path))
    parts = [p for p in re.split(r"[/\\]", normalized) if p]
    # the file name up to its first glob character and extension; for `exports/*.csv`, `exports`
    candidates = [re.split(r"[*?\[]", parts[-1])[0].split(".")[0]] + parts[-2:-1] if parts else []
    slugs = (re.sub(r"[^a-z0-9]+", "_", c.lower()).strip("_")[:40] for c in candidates)
    slug = next((s for s in slugs if s), "files")
    digest = hashlib.sha256(normalized.encode("utf-8")).hexdigest()[:6]
    return f"csv_{slug}_{digest}"


MAPPERS = {"oulad": map_oulad_course, "hubspot": map_course_csv_row}
ENROLLMENTS_LAYOUT = "enrollments"


def _csv_reader(raw: Any, source: str, id_property: str) -> Tuple[str, "csv.DictReader[str]"]:
    """A DictReader on a binary stream and the layout its header names."""
    text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
    reader = csv.DictReader(text)
    try:
        header = reader.fieldnames or []
    except UnicodeDecodeError:
        raise UnknownCsvLayout(source, [], "not UTF-8 text (a spreadsheet file? export it as CSV)") from None
    layout = detect_layout(header, source, id_property)
    reader.fieldnames = [c.strip() for c in header]  # the mappers look columns up stripped
    return layout, reader


@dlt.transformer(name="csv_rows")
def read_csv_rows(
    items: List[FileItemDict], chunk_size: int = 1000, id_property: str = DEFAULT_ID_PROPERTY
) -> Iterator[List[Dict[str, Any]]]:
    """Each CSV file -> its rows as dicts, tagged with ``_layout`` (from the header row)."""
    for file_item in items:
        with file_item.open(mode="rb") as raw:
            try:
                layout, reader = _csv_reader(raw, _display_name(file_item), id_property)
            except UnknownCsvLayout as exc:
                # dlt resumes transformers while it handles a StopIteration: without `from None`
                # that would be this error's context, and the root cause a job reports
                raise exc from None
            chunk: List[Dict[str, Any]] = []
            for row in reader:
                row["_layout"] = layout
                chunk.append(row)
                if len(chunk) >= chunk_size:
                    yield chunk
                    chunk = []
            if chunk:
                yield chunk


def map_csv_row(row: Dict[str, Any]) -> Optional[CourseRow]:
    """A course row by its file's layout; rows of an enrollments file are not courses (None)."""
    layout = row.pop("_layout")
    return None if layout == ENROLLMENTS_LAYOUT else MAPPERS[layout](row)


def map_enrollment_csv_rows(rows: Any, id_property: str = DEFAULT_ID_PROPERTY) -> List[EnrollmentRow]:
    """The rows of enrollments files, values as written (empty cells dropped); course rows skipped."""
    out = []
    for row in rows if isinstance(rows, list) else [rows]:
        if row.get("_layout") != ENROLLMENTS_LAYOUT:
            continue
        key = row.get(id_property) if row.get(id_property) is not None else row.get(DEFAULT_ID_PROPERTY)
        out.append(enrollment_row(blank_to_none(key), blank_to_none(row.get("email")), row.get("firstname"),
                                  row.get("lastname"), blank_to_none(row.get("association_label"))))
    return out


def split_path(path: str) -> Tuple[str, str]:
    """``data/*.csv`` -> (bucket ``file:///abs/data``, glob ``*.csv``); a URL passes through."""
    if "://" in path:
        head, _, glob_part = path.rpartition("/")
        return head, glob_part
    p = Path(path).expanduser()
    parts = p.parts
    first_glob = next((i for i, part in enumerate(parts) if any(ch in part for ch in _GLOB_CHARS)), None)
    if first_glob is None:
        return p.resolve().parent.as_uri(), p.name
    base = Path(*parts[:first_glob]) if first_glob else Path(".")
    return base.resolve().as_uri(), "/".join(parts[first_glob:])


def _display_name(file_item: FileItemDict) -> str:
    """A local file by its path (as ``check_csv_input`` names it), anything else by its URL."""
    url = file_item.get("file_url") or file_item["file_name"]
    return url2pathname(urlsplit(url).path) if url.startswith("file://") else url


def _files_or_fail(files: DltResource, path: str) -> Iterator[List[FileItemDict]]:
    """The listed files; an input that matches nothing fails the extract (also for URLs)."""
    found = list(files)
    if not found:
        raise FileNotFoundError(f"no CSV file matches {path}") from None
    yield found


def _csv_rows(path: str, id_property: str, prefix: str) -> DltResource:
    """The rows of every file ``path`` names, each tagged with its file's layout."""
    if "://" not in path:
        _matching_files(path)
    bucket_url, file_glob = split_path(path)
    listing = filesystem(bucket_url=bucket_url, file_glob=file_glob)
    files = dlt.resource(_files_or_fail, name=f"{prefix}_files")(listing, path)
    return files | read_csv_rows.with_name(f"{prefix}_rows")(id_property=id_property)


def csv_courses(path: str, id_property: str = DEFAULT_ID_PROPERTY, name: Optional[str] = None) -> DltResource:
    """Course rows from one CSV file or a glob of them (``exports/courses-*.csv``).

    The table is ``csv_table_name(path)`` unless ``name`` is given (then ``<name>_courses``).
    A local path or glob that matches no file raises ``FileNotFoundError`` here already.
    Rows of enrollments files the glob matches are left to ``csv_enrollments``.
    """
    table = f"{name}_courses" if name else csv_table_name(path)
    return as_course_resource(_csv_rows(path, id_property, name or table), map_csv_row, id_property, table)


def csv_enrollments(path: str, id_property: str = DEFAULT_ID_PROPERTY, name: Optional[str] = None) -> DltResource:
    """Enrollment rows of the enrollments-layout files ``path`` names (others are skipped).

    The table is ``<csv_table_name(path)>_enrollments``, or ``<name>_enrollments``: one per
    input, like its courses, so mirror mode of one input never removes another's associations.
    """
    table = enrollments_table_name(name or csv_table_name(path))
    rows = _csv_rows(path, id_property, f"{table}_source")
    return as_enrollment_resource(rows, lambda page: map_enrollment_csv_rows(page, id_property), id_property, table)


@dlt.source(name="csv")
def csv_source(path: str, id_property: str = DEFAULT_ID_PROPERTY, enrollments: bool = True) -> List[DltResource]:
    """The courses of one CSV input and, unless ``enrollments=False``, its enrollments."""
    resources = [csv_courses(path, id_property)]
    if enrollments:
        resources.append(csv_enrollments(path, id_property))
    return resources
