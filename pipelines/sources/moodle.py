"""Moodle: read ``mdl_course`` straight from the Moodle database with dlt's ``sql_database``.

Moodle quirks handled here (from Moodle's `lib/db/install.xml` and `course/externallib.php`):

- dates are Unix epoch ints and ``0`` means "not set" (``enddate = 0`` is "no end date");
- course id 1 is the site front page (``format = 'site'``), not a course: excluded in SQL;
- ``summary`` is HTML (or Moodle/plain/Markdown text, per ``summaryformat``); HubSpot's
  description is plain text, so HTML is stripped and entities unescaped;
- ``fullname`` may carry entities and multilang markup
  (``<span lang="en" class="multilang">..</span>``): the first language is kept;
- ``idnumber``/``lang`` use ``''`` for unset;
- the table prefix (``mdl_``) is site-configurable.

Incremental on ``timemodified`` (cursor kept in dlt's pipeline state): each run reads only
courses changed since the last run. Courses whose rows do not change (e.g. only enrolments
changed) are not re-read; ``--full-resync`` re-reads everything.
"""

from __future__ import annotations

import re
from typing import Any, Dict, Optional

import dlt
import sqlalchemy as sa
from dlt.extract import DltResource
from dlt.sources.sql_database import sql_table

from .common import (
    DEFAULT_ID_PROPERTY,
    CourseRow,
    as_course_resource,
    blank_to_none,
    course_key,
    drop_none,
    epoch_to_datetime,
    html_to_text,
)

SITE_COURSE_ID = 1  # Moodle's SITEID: the front page lives in mdl_course as course 1

# Moodle's summaryformat values (lib/weblib.php)
FORMAT_MOODLE, FORMAT_HTML, FORMAT_PLAIN, FORMAT_WIKI, FORMAT_MARKDOWN = 0, 1, 2, 3, 4

#: the mdl_course columns the mapping reads; nothing else is selected from the database
MOODLE_COLUMNS = [
    "id",
    "category",
    "fullname",
    "shortname",
    "idnumber",
    "summary",
    "summaryformat",
    "format",
    "startdate",
    "enddate",
    "visible",
    "lang",
    "timemodified",
]

_MULTILANG_SPAN = re.compile(
    r'<span\s+lang="[^"]*"\s+class="multilang"\s*>(.*?)</span>', re.IGNORECASE | re.DOTALL
)
_MLANG_TAG = re.compile(r"\{mlang\s+[^}]*\}(.*?)\{mlang\}", re.IGNORECASE | re.DOTALL)


def first_language(text: Optional[str]) -> Optional[str]:
    """Keep the first language of Moodle multilang markup (both filter syntaxes), else the text.

    ``<span lang="en" class="multilang">Biology</span><span lang="de" ...>Biologie</span>``
    -> ``Biology``. Stripping the tags alone would give "BiologyBiologie".
    """
    if not text:
        return text
    for pattern in (_MULTILANG_SPAN, _MLANG_TAG):
        matches = list(pattern.finditer(text))
        if matches:
            return text[: matches[0].start()] + matches[0].group(1) + text[matches[-1].end() :]
    return text


def moodle_description(summary: Optional[str], summaryformat: Optional[int]) -> Optional[str]:
    if summary is None:
        return None
    if summaryformat in (FORMAT_PLAIN, FORMAT_MARKDOWN):
        return blank_to_none(summary.strip())
    return html_to_text(first_language(summary))  # FORMAT_MOODLE / FORMAT_HTML / legacy wiki


def map_moodle_course(row: Dict[str, Any], site_url: Optional[str] = None) -> Optional[CourseRow]:
    """One ``mdl_course`` row -> one HubSpot course. The one place Moodle columns are mapped."""
    if row["id"] == SITE_COURSE_ID or row.get("format") == "site":
        return None  # the front page, in case the SQL filter was bypassed
    return drop_none(
        {
            DEFAULT_ID_PROPERTY: course_key("moodle", row["id"]),
            "lms_source": "moodle",
            "hs_course_id": str(row["id"]),
            "hs_course_name": html_to_text(first_language(row["fullname"])),
            "hs_course_description": moodle_description(row.get("summary"), row.get("summaryformat")),
            "course_code": blank_to_none(row.get("shortname")),
            "course_start_date": epoch_to_datetime(row.get("startdate")),
            "course_end_date": epoch_to_datetime(row.get("enddate")),
            "course_visible": None if row.get("visible") is None else bool(row["visible"]),
            "course_language": blank_to_none(row.get("lang")),
            "course_url": f"{site_url.rstrip('/')}/course/view.php?id={row['id']}" if site_url else None,
        }
    )


def moodle_courses(
    credentials: Any,
    table_prefix: str = "mdl_",
    site_url: Optional[str] = None,
    id_property: str = DEFAULT_ID_PROPERTY,
    chunk_size: int = 1000,
) -> DltResource:
    """``mdl_course`` via ``sql_table``, incremental on ``timemodified``, mapped to courses.

    ``credentials``: a SQLAlchemy URL (``mysql+pymysql://reader:***@db/moodle``,
    ``postgresql+psycopg2://...``, ``sqlite:///moodle.db``) or an Engine.
    """

    def _exclude_site_course(query: sa.Select, table: sa.Table) -> sa.Select:
        return query.where(table.c.id != SITE_COURSE_ID).where(table.c.format != "site")

    table = sql_table(
        credentials=credentials,
        table=f"{table_prefix}course",
        schema=None,
        included_columns=MOODLE_COLUMNS,
        incremental=dlt.sources.incremental("timemodified", initial_value=0),
        query_adapter_callback=_exclude_site_course,
        primary_key="id",
        chunk_size=chunk_size,
        # column names only: the table written to HubSpot has the course properties below,
        # not Moodle's columns (typed reflected columns would become HubSpot properties)
        reflection_level="minimal",
    )
    return as_course_resource(table, lambda row: map_moodle_course(row, site_url), id_property)
