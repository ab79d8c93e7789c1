"""What every LMS source shares: the course row shape, its column types, and text/date cleanup.

Each source module maps its own columns to these HubSpot course properties in one function
(``map_moodle_course``, ``map_canvas_course``, ...). The properties here are the contract
with the destination: column names are HubSpot property names, and the dlt data types below
are what ``create_missing_properties=True`` turns into HubSpot property types.
"""

from __future__ import annotations

import html
import re
from datetime import datetime, timezone
from html.parser import HTMLParser
from typing import Any, Callable, Dict, Iterable, Optional

import dlt
from dlt.common.schema.typing import TTableSchemaColumns
from dlt.extract import DltResource

#: The table every source writes to. The destination routes it to Courses (0-410).

#: The column mappers emit for the unique-value id property. ``--id-property`` renames it.
DEFAULT_ID_PROPERTY = "lms_course_key"

#: The course properties sources may emit, with the dlt data type of each. `hs_course_*` are
#: HubSpot's own Courses properties; the destination creates the others on first use, with a
#: HubSpot type derived from the dlt type. Mappers emit Python values of these types (dlt
#: infers the same types from them), and only the properties a source really has: a column
#: that never carries a value is never created in HubSpot. The CSV pass-through layout uses
#: this table to parse its strings.
COURSE_COLUMNS: TTableSchemaColumns = {
    DEFAULT_ID_PROPERTY: {"data_type": "text", "nullable": False},  # "<source>:<native id>"
    "hs_course_name": {"data_type": "text"},  # the only property HubSpot requires
    "hs_course_description": {"data_type": "text"},  # plain text (HTML stripped)
    "hs_course_id": {"data_type": "text"},  # the LMS's own id, as a string
    "lms_source": {"data_type": "text"},  # moodle | canvas | oulad | mit-sloan | csv
    "course_code": {"data_type": "text"},  # short name / course code
    # Timestamps, not dates: LMS start/end are instants in the site's time zone, and cutting
    # them to a UTC date would move a course that starts at local midnight to the day before.
    "course_start_date": {"data_type": "timestamp"},
    "course_end_date": {"data_type": "timestamp"},
    "course_visible": {"data_type": "bool"},
    "course_status": {"data_type": "text"},
    "course_language": {"data_type": "text"},
    "course_url": {"data_type": "text"},
    "course_category": {"data_type": "text"},
    "course_length_days": {"data_type": "bigint"},
}

CourseRow = Dict[str, Any]

#: The enrollment columns sources emit, besides the course key column (named like the id
#: property, holding the same value the course rows carry): the contact's ``email`` (the
#: destination requires it and rejects malformed ones), contact properties, an optional
#: user-defined course-contact label, and ``REMOVED_COLUMN``, dlt's ``hard_delete`` hint: a
#: true value removes that course-contact association (the contact itself is kept).
REMOVED_COLUMN = "enrollment_removed"
ENROLLMENT_COLUMNS: TTableSchemaColumns = {
    "email": {"data_type": "text"},
    "firstname": {"data_type": "text"},
    "lastname": {"data_type": "text"},
    "association_label": {"data_type": "text"},
    REMOVED_COLUMN: {"data_type": "bool", "hard_delete": True},
}

#: The course-contact labels the sources' default role mappings name ("Student", "Instructor");
#: they must exist in the portal (the job's sandbox creates them, a HubSpot admin does once).
DEFAULT_LABELS = ("Student", "Instructor")

EnrollmentRow = Dict[str, Any]


def enrollments_table_name(prefix: str) -> str:
    """The enrollments table of one source or input: ``<prefix>_enrollments``. One per source,
    like the course tables, so mirror mode never removes one LMS's associations because
    another's snapshot lacks them; the job passes it to the destination as ``enrollments_table``."""
    return f"{prefix}_enrollments"


def enrollment_row(key: str, email: Any, firstname: Any = None, lastname: Any = None,
                   label: Optional[str] = None, removed: bool = False) -> EnrollmentRow:
    """One enrollment as the destination reads it. Values pass as the LMS holds them (the
    destination validates emails); the key column is ``lms_course_key`` until
    ``as_enrollment_resource`` renames it to the id property."""
    row: EnrollmentRow = {DEFAULT_ID_PROPERTY: key, "email": email, REMOVED_COLUMN: bool(removed)}
    row.update(drop_none({"firstname": blank_to_none(firstname), "lastname": blank_to_none(lastname),
                          "association_label": label}))
    return row


def course_key(source: str, native_id: Any) -> str:
    """The upsert key: unique across every LMS feeding the same portal."""
    return f"{source}:{native_id}"


def epoch_to_datetime(value: Any) -> Optional[datetime]:
    """Moodle-style epoch seconds -> aware UTC datetime; ``0``/``None``/``''`` mean unset."""
    if value in (None, "", 0, "0"):
        return None
    return datetime.fromtimestamp(int(value), tz=timezone.utc)


def parse_iso_datetime(value: Any) -> Optional[datetime]:
    """ISO 8601 (``2024-09-04T15:00:00Z``, ``...000Z``) or a plain ``YYYY-MM-DD`` -> UTC datetime."""
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    text = str(value).strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


class _TextExtractor(HTMLParser):
    _BLOCK_TAGS = {"p", "div", "br", "li", "ul", "ol", "tr", "h1", "h2", "h3", "h4", "h5", "h6"}
    _SKIP_TAGS = {"script", "style"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag in self._SKIP_TAGS:
            self._skip += 1
        elif tag in self._BLOCK_TAGS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP_TAGS:
            self._skip = max(0, self._skip - 1)
        elif tag in self._BLOCK_TAGS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def html_to_text(value: Optional[str]) -> Optional[str]:
    """HTML -> plain text: tags dropped, entities unescaped, paragraphs kept as blank lines.

    HubSpot's ``hs_course_description`` is a plain string property; HTML would show as markup.
    Returns None for empty results so an empty summary does not overwrite anything with "".
    """
    if value is None:
        return None
    parser = _TextExtractor()
    parser.feed(value)
    parser.close()
    text = html.unescape("".join(parser.parts)).replace("\xa0", " ")
    lines = [re.sub(r"[ \t\r\f\v]+", " ", line).strip() for line in text.split("\n")]
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
    return text or None


def blank_to_none(value: Any) -> Any:
    """CSV cells and Moodle char columns use ``''`` for "not set"."""
    if isinstance(value, str) and not value.strip():
        return None
    return value


def drop_none(row: CourseRow) -> CourseRow:
    return {k: v for k, v in row.items() if v is not None}


def as_course_resource(
    resource: DltResource,
    mapper: Callable[[Dict[str, Any]], Optional[CourseRow]],
    id_property: str = DEFAULT_ID_PROPERTY,
    name: Optional[str] = None,
) -> DltResource:
    """Compose a raw LMS resource with its mapper into a resource for the ``courses`` table.

    The mapper runs in a transformer of its own, so the raw resource keeps its own hints and
    state (e.g. ``sql_table``'s incremental cursor on ``timemodified``, which must see the raw
    rows) and the table sent to HubSpot has only course properties. ``mapper`` may return None
    to skip a row (e.g. Moodle's site course). A non-default ``id_property`` is applied here,
    once, so mappers stay readable.
    """

    def _map_page(items: Any) -> Iterable[CourseRow]:
        for item in items if isinstance(items, list) else [items]:
            row = mapper(item)
            if row is None:
                continue
            if id_property != DEFAULT_ID_PROPERTY and DEFAULT_ID_PROPERTY in row:
                row[id_property] = row.pop(DEFAULT_ID_PROPERTY)
            yield row

    mapped = resource | dlt.transformer(
        _map_page,
        name=name or f"{resource.name}_courses",
        # one table per source: mirror mode archives only what this table's snapshot dropped
        table_name=name or f"{resource.name}_courses",
        columns={id_property: {"data_type": "text", "nullable": False}},
        primary_key=id_property,
    )
    return mapped


def as_enrollment_resource(
    resource: DltResource,
    mapper: Callable[[Any], Iterable[EnrollmentRow]],
    id_property: str = DEFAULT_ID_PROPERTY,
    table: str = "enrollments",
) -> DltResource:
    """Compose a raw resource with a mapper (one raw page -> enrollment rows) into the
    resource of an enrollments table, the key column renamed to ``id_property``."""

    def _map_page(items: Any) -> Iterable[EnrollmentRow]:
        for row in mapper(items):
            if id_property != DEFAULT_ID_PROPERTY:
                row[id_property] = row.pop(DEFAULT_ID_PROPERTY)
            yield row

    return resource | dlt.transformer(
        _map_page,
        name=table,
        table_name=table,
        columns={id_property: {"data_type": "text", "nullable": False}, **ENROLLMENT_COLUMNS},
    )


__all__ = [
    "COURSE_COLUMNS",
    "DEFAULT_LABELS",
    "ENROLLMENT_COLUMNS",
    "EnrollmentRow",
    "REMOVED_COLUMN",
    "as_enrollment_resource",
    "enrollment_row",
    "enrollments_table_name",
    "DEFAULT_ID_PROPERTY",
    "CourseRow",
    "as_course_resource",
    "blank_to_none",
    "course_key",
    "drop_none",
    "epoch_to_datetime",
    "html_to_text",
    "parse_iso_datetime",
]
