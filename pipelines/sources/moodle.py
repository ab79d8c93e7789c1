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

Enrolments (``moodle_enrollments``): ``mdl_user_enrolments`` joined to its enrolment method
instance (``mdl_enrol``, which names the course) and ``mdl_user`` (email, names); the label
comes from the user's role in the course context (``mdl_role_assignments`` via ``mdl_context``
with ``contextlevel = 50``, ``mdl_role.shortname``). An enrolment is active, as Moodle counts
it, when the user enrolment and its instance are enabled (``status = 0``) and now lies between
``timestart`` and ``timeend`` (``0`` = unbounded); every other enrolment is a removal. One user
enrolled through two methods (manual and self) is one row, active if either is.
"""

from __future__ import annotations

import re
import time
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple

import dlt
import sqlalchemy as sa
from dlt.extract import DltResource
from dlt.sources.sql_database import sql_table

from .common import (
    DEFAULT_ID_PROPERTY,
    CourseRow,
    EnrollmentRow,
    as_course_resource,
    enrollment_row,
    enrollments_table_name,
    blank_to_none,
    course_key,
    as_enrollment_resource,
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


# ------------------------------------------------------------------ enrolments

CONTEXT_COURSE = 50  # Moodle's CONTEXT_COURSE (lib/accesslib.php)

#: Moodle role shortnames -> course-contact labels, in priority order: a user holding several
#: roles in one course gets the first label listed. "teacher" is Moodle's non-editing teacher.
#: Roles not listed (manager, guest, custom roles) give an unlabeled association.
MOODLE_ROLE_LABELS: Dict[str, str] = {
    "editingteacher": "Instructor",
    "teacher": "Instructor",
    "student": "Student",
}

_ENROLMENTS_SQL = """
SELECT e.courseid AS courseid, ue.userid AS userid, ue.status AS ue_status, e.status AS e_status,
       ue.timestart AS timestart, ue.timeend AS timeend, ue.timemodified AS ue_modified,
       e.timemodified AS e_modified, u.email AS email, u.firstname AS firstname,
       u.lastname AS lastname
FROM {p}user_enrolments ue
JOIN {p}enrol e ON e.id = ue.enrolid
JOIN {p}user u ON u.id = ue.userid
WHERE e.courseid <> :site AND u.deleted = 0 AND EXISTS (
    SELECT 1 FROM {p}user_enrolments ue2 JOIN {p}enrol e2 ON e2.id = ue2.enrolid
    WHERE e2.courseid = e.courseid AND ue2.userid = ue.userid AND (
        ue2.timemodified >= :since OR e2.timemodified >= :since
        OR (ue2.timeend > :checked AND ue2.timeend <= :now)
        OR (ue2.timestart > :checked AND ue2.timestart <= :now)
        OR EXISTS (
            SELECT 1 FROM {p}role_assignments ra JOIN {p}context ctx ON ctx.id = ra.contextid
            WHERE ctx.contextlevel = :course_level AND ctx.instanceid = e2.courseid
              AND ra.userid = ue2.userid AND ra.timemodified >= :since)))
ORDER BY e.courseid, ue.userid
"""

_ROLES_SQL = """
SELECT ctx.instanceid AS courseid, ra.userid AS userid, r.shortname AS shortname,
       ra.timemodified AS ra_modified
FROM {p}role_assignments ra
JOIN {p}context ctx ON ctx.id = ra.contextid
JOIN {p}role r ON r.id = ra.roleid
WHERE ctx.contextlevel = :course_level AND ctx.instanceid IN :courses
"""


def enrolment_is_active(row: Mapping[str, Any], now: int) -> bool:
    """Moodle's notion of an active enrolment: both statuses enabled (0), started, not ended."""
    timestart, timeend = int(row.get("timestart") or 0), int(row.get("timeend") or 0)
    return (
        int(row["ue_status"]) == 0 and int(row["e_status"]) == 0
        and timestart <= now and (timeend == 0 or timeend > now)
    )


def role_label(shortnames: Sequence[str], role_labels: Mapping[str, str] = MOODLE_ROLE_LABELS) -> Optional[str]:
    """The label of the highest-priority role held, None when no role maps to one."""
    held = set(shortnames)
    return next((label for role, label in role_labels.items() if role in held), None)


def map_moodle_enrolments(
    rows: Sequence[Mapping[str, Any]], roles: Mapping[Tuple[int, int], Sequence[str]], now: int,
    role_labels: Mapping[str, str] = MOODLE_ROLE_LABELS,
) -> List[EnrollmentRow]:
    """The enrolment rows of (course, user) pairs -> one enrollment per pair. The one place
    Moodle's enrolment columns are mapped; ``rows`` holds every enrolment of each pair."""
    by_pair: Dict[Tuple[int, int], List[Mapping[str, Any]]] = {}
    for row in rows:
        by_pair.setdefault((int(row["courseid"]), int(row["userid"])), []).append(row)
    out = []
    for (course, user), pair_rows in by_pair.items():
        first = pair_rows[0]
        active = any(enrolment_is_active(r, now) for r in pair_rows)
        out.append(enrollment_row(
            course_key("moodle", course), first["email"], first.get("firstname"), first.get("lastname"),
            role_label(roles.get((course, user), ()), role_labels), removed=not active,
        ))
    return out


def _pairs(result: Iterator[Any], size: int) -> Iterator[List[Dict[str, Any]]]:
    """Rows ordered by (course, user) in chunks of about ``size``, never splitting a pair."""
    chunk: List[Dict[str, Any]] = []
    for row in result:
        row = dict(row._mapping)
        if len(chunk) >= size and (chunk[-1]["courseid"], chunk[-1]["userid"]) != (row["courseid"], row["userid"]):
            yield chunk
            chunk = []
        chunk.append(row)
    if chunk:
        yield chunk


def moodle_enrollments(
    credentials: Any,
    table_prefix: str = "mdl_",
    id_property: str = DEFAULT_ID_PROPERTY,
    chunk_size: int = 1000,
    role_labels: Mapping[str, str] = MOODLE_ROLE_LABELS,
    now: Optional[int] = None,
) -> DltResource:
    """Enrolments of every course, incremental, as rows of the ``moodle_enrollments`` table.

    Incremental state (dlt resource state, reset by ``--full-resync``): ``since``, the newest
    ``timemodified`` seen in ``mdl_user_enrolments``, ``mdl_enrol`` and course-context
    ``mdl_role_assignments``; ``checked_at``, when the last run read. A run re-reads each
    (course, user) pair with a change since then, including an enrolment whose ``timestart`` or
    ``timeend`` passed between the two runs (Moodle writes nothing when an enrolment simply
    expires). Not seen incrementally: a deleted ``mdl_user_enrolments`` row (Moodle's
    "unenrol" deletes it) or role assignment; ``--mirror --full-resync`` removes those.
    ``now`` (epoch seconds) is for tests.
    """
    table = enrollments_table_name("moodle")

    @dlt.resource(name="moodle_user_enrolments")
    def raw() -> Iterator[Dict[str, Any]]:
        state = dlt.current.resource_state()
        since, checked = int(state.get("since", 0)), int(state.get("checked_at", 0))
        run_at = int(now if now is not None else time.time())
        engine = sa.create_engine(credentials) if isinstance(credentials, str) else credentials
        newest = since
        try:
            with engine.connect() as con:
                result = con.execution_options(stream_results=True).execute(
                    sa.text(_ENROLMENTS_SQL.format(p=table_prefix)),
                    {"site": SITE_COURSE_ID, "since": since, "checked": checked, "now": run_at,
                     "course_level": CONTEXT_COURSE},
                )
                for chunk in _pairs(result, chunk_size):
                    roles = _roles_of(engine, table_prefix, chunk)
                    newest = max([newest] + [int(r["ue_modified"] or 0) for r in chunk]
                                 + [int(r["e_modified"] or 0) for r in chunk]
                                 + [m for _, m in roles.values()])
                    yield {"rows": chunk, "roles": {k: v for k, (v, _) in roles.items()}, "now": run_at}
        finally:
            if isinstance(credentials, str):
                engine.dispose()
        state["since"], state["checked_at"] = newest, run_at

    def _map(page: Dict[str, Any]) -> List[EnrollmentRow]:
        return map_moodle_enrolments(page["rows"], page["roles"], page["now"], role_labels)

    return as_enrollment_resource(raw(), _map, id_property, table)


def _roles_of(
    engine: Any, prefix: str, chunk: Sequence[Mapping[str, Any]]
) -> Dict[Tuple[int, int], Tuple[List[str], int]]:
    """(course, user) -> (role shortnames, newest role timemodified) for the chunk's pairs."""
    pairs = {(int(r["courseid"]), int(r["userid"])) for r in chunk}
    query = sa.text(_ROLES_SQL.format(p=prefix)).bindparams(sa.bindparam("courses", expanding=True))
    roles: Dict[Tuple[int, int], Tuple[List[str], int]] = {}
    with engine.connect() as con:
        for row in con.execute(query, {"course_level": CONTEXT_COURSE, "courses": sorted({c for c, _ in pairs})}):
            pair = (int(row.courseid), int(row.userid))
            if pair in pairs:
                names, newest = roles.get(pair, ([], 0))
                roles[pair] = (names + [row.shortname], max(newest, int(row.ra_modified or 0)))
    return roles


@dlt.source(name="moodle")
def moodle_source(
    credentials: Any = dlt.secrets.value,
    table_prefix: str = "mdl_",
    site_url: Optional[str] = None,
    id_property: str = DEFAULT_ID_PROPERTY,
    enrollments: bool = True,
) -> List[DltResource]:
    """Courses (``moodle_courses``) and, unless ``enrollments=False``, their enrolments
    (``moodle_enrollments``) from one Moodle database."""
    resources = [moodle_courses(credentials, table_prefix, site_url, id_property)]
    if enrollments:
        resources.append(moodle_enrollments(credentials, table_prefix, id_property))
    return resources
