"""Test helpers for the job's tests (a Moodle schema, a Canvas look-alike server, paths).

Kept out of conftest.py so test modules can import them by a name no other test folder uses.
"""

from __future__ import annotations

import json
import re
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, List
from urllib.parse import parse_qs, urlencode, urlparse

import sqlalchemy as sa

if TYPE_CHECKING:
    from hubspot_courses_destination.sandbox import Sandbox

PROJECT_ROOT = Path(__file__).resolve().parents[2]
PIPELINES_DIR = PROJECT_ROOT / "pipelines"
if str(PROJECT_ROOT) not in sys.path:  # the job's package, as the script imports it
    sys.path.insert(0, str(PROJECT_ROOT))

SAMPLE_DIR = PIPELINES_DIR / "sample_data"
FIXED_CONFIG = PROJECT_ROOT / "tests" / "fixtures" / "config.toml"


def checked_in_config() -> str:
    """The .dlt/config.toml a fresh clone has (git's copy, not the one a user edited)."""
    import subprocess

    try:
        return subprocess.run(["git", "show", "HEAD:.dlt/config.toml"], cwd=PROJECT_ROOT, capture_output=True,
                              text=True, check=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return FIXED_CONFIG.read_text(encoding="utf-8")
OULAD_CSV = SAMPLE_DIR / "oulad" / "courses.csv"


# ------------------------------------------------------------------ Moodle (SQLite)

MDL_COURSE_DDL = """
CREATE TABLE {prefix}course (
    id INTEGER PRIMARY KEY,
    category INTEGER NOT NULL DEFAULT 0,
    sortorder INTEGER NOT NULL DEFAULT 0,
    fullname VARCHAR(1333) NOT NULL,
    shortname VARCHAR(255) NOT NULL,
    idnumber VARCHAR(100) NOT NULL DEFAULT '',
    summary TEXT,
    summaryformat INTEGER NOT NULL DEFAULT 0,
    format VARCHAR(21) NOT NULL DEFAULT 'topics',
    startdate INTEGER NOT NULL DEFAULT 0,
    enddate INTEGER NOT NULL DEFAULT 0,
    visible INTEGER NOT NULL DEFAULT 1,
    lang VARCHAR(30) NOT NULL DEFAULT '',
    theme VARCHAR(50) NOT NULL DEFAULT '',
    timecreated INTEGER NOT NULL DEFAULT 0,
    timemodified INTEGER NOT NULL DEFAULT 0
)
"""

# a Moodle site as the database holds it: the front page is course 1
MOODLE_ROWS: List[Dict[str, Any]] = [
    dict(id=1, category=0, fullname="Moodle Demo Site", shortname="demo", format="site",
         summary="<p>Front page</p>", summaryformat=1, timemodified=1_700_000_000),
    dict(id=2, category=1, fullname="Biology &amp; Chemistry 101", shortname="BIO101",
         idnumber="SIS-BIO-101", summary="<p>Cells, <b>molecules</b> &amp; life.</p><p>Week&nbsp;1: intro</p>",
         summaryformat=1, startdate=1_725_148_800, enddate=0, visible=1, lang="en",
         timemodified=1_700_000_100),
    dict(id=3, category=1,
         fullname='<span lang="en" class="multilang">Statistics</span><span lang="de" class="multilang">Statistik</span>',
         shortname="STAT", summary="Plain text <not html>", summaryformat=2,
         startdate=1_725_148_800, enddate=1_735_603_200, visible=0, timemodified=1_700_000_200),
    dict(id=4, category=2, fullname="Café Ünïcode – Ελληνικά", shortname="UNI",
         summary=None, summaryformat=0, timemodified=1_700_000_300),
]


def create_moodle_db(url: str, rows: List[Dict[str, Any]] = MOODLE_ROWS, prefix: str = "mdl_") -> sa.Engine:
    engine = sa.create_engine(url)
    with engine.begin() as con:
        con.exec_driver_sql(MDL_COURSE_DDL.format(prefix=prefix))
        table = sa.Table(f"{prefix}course", sa.MetaData(), autoload_with=con)
        for row in rows:  # one by one: rows set different columns, like Moodle's defaults
            con.execute(sa.insert(table).values(**row))
    return engine


# Moodle's enrolment tables (lib/db/install.xml: user, enrol, user_enrolments, context, role,
# role_assignments), with the columns the source reads and Moodle's defaults
MDL_ENROLMENT_DDL = [
    """CREATE TABLE {prefix}user (
        id INTEGER PRIMARY KEY, auth VARCHAR(20) NOT NULL DEFAULT 'manual',
        confirmed INTEGER NOT NULL DEFAULT 0, deleted INTEGER NOT NULL DEFAULT 0,
        suspended INTEGER NOT NULL DEFAULT 0, username VARCHAR(100) NOT NULL DEFAULT '',
        firstname VARCHAR(100) NOT NULL DEFAULT '', lastname VARCHAR(100) NOT NULL DEFAULT '',
        email VARCHAR(100) NOT NULL DEFAULT '', timemodified INTEGER NOT NULL DEFAULT 0)""",
    """CREATE TABLE {prefix}enrol (
        id INTEGER PRIMARY KEY, enrol VARCHAR(20) NOT NULL DEFAULT '', status INTEGER NOT NULL DEFAULT 0,
        courseid INTEGER NOT NULL, sortorder INTEGER NOT NULL DEFAULT 0, name VARCHAR(255),
        roleid INTEGER DEFAULT 0, timecreated INTEGER NOT NULL DEFAULT 0,
        timemodified INTEGER NOT NULL DEFAULT 0)""",
    """CREATE TABLE {prefix}user_enrolments (
        id INTEGER PRIMARY KEY, status INTEGER NOT NULL DEFAULT 0, enrolid INTEGER NOT NULL,
        userid INTEGER NOT NULL, timestart INTEGER NOT NULL DEFAULT 0,
        timeend INTEGER NOT NULL DEFAULT 2147483647, modifierid INTEGER NOT NULL DEFAULT 0,
        timecreated INTEGER NOT NULL DEFAULT 0, timemodified INTEGER NOT NULL DEFAULT 0,
        UNIQUE (enrolid, userid))""",
    """CREATE TABLE {prefix}context (
        id INTEGER PRIMARY KEY, contextlevel INTEGER NOT NULL DEFAULT 0,
        instanceid INTEGER NOT NULL DEFAULT 0, path VARCHAR(255), depth INTEGER NOT NULL DEFAULT 0,
        locked INTEGER NOT NULL DEFAULT 0)""",
    """CREATE TABLE {prefix}role (
        id INTEGER PRIMARY KEY, name VARCHAR(255) NOT NULL DEFAULT '', shortname VARCHAR(100) NOT NULL,
        description TEXT, sortorder INTEGER NOT NULL DEFAULT 0, archetype VARCHAR(30) NOT NULL DEFAULT '')""",
    """CREATE TABLE {prefix}role_assignments (
        id INTEGER PRIMARY KEY, roleid INTEGER NOT NULL DEFAULT 0, contextid INTEGER NOT NULL DEFAULT 0,
        userid INTEGER NOT NULL DEFAULT 0, timemodified INTEGER NOT NULL DEFAULT 0,
        modifierid INTEGER NOT NULL DEFAULT 0, component VARCHAR(100) NOT NULL DEFAULT '',
        itemid INTEGER NOT NULL DEFAULT 0, sortorder INTEGER NOT NULL DEFAULT 0)""",
]

MOODLE_NOW = 1_750_000_000  # the sources' injected clock in these tests
T0 = 1_700_000_000

MOODLE_ENROLMENT_ROWS: Dict[str, List[Dict[str, Any]]] = {
    "user": [
        dict(id=11, username="alice", firstname="Alice", lastname="Active", email="alice@example.edu"),
        dict(id=12, username="bob", firstname="Bob", lastname="Suspended", email="bob@example.edu"),
        dict(id=13, username="carol", firstname="Carol", lastname="Expired", email="carol@example.edu"),
        dict(id=14, username="dave", firstname="Dave", lastname="Disabled", email="dave@example.edu"),
        dict(id=15, username="erin", firstname="Erin", lastname="Teacher", email="erin@example.edu"),
        dict(id=16, username="frank", firstname="Frank", lastname="Twomethods", email="frank@example.edu"),
        dict(id=17, username="gone", firstname="", lastname="", email="0b1f...hash", deleted=1),
        dict(id=18, username="fay", firstname="Fay", lastname="Future", email="fay@example.edu"),
    ],
    "enrol": [
        dict(id=1, enrol="manual", courseid=2, timemodified=T0),
        dict(id=2, enrol="manual", courseid=3, timemodified=T0),
        dict(id=3, enrol="self", courseid=3, status=1, timemodified=T0),  # a disabled method
        dict(id=4, enrol="manual", courseid=4, timemodified=T0),
        dict(id=5, enrol="self", courseid=4, timemodified=T0),
        dict(id=6, enrol="manual", courseid=1, timemodified=T0),  # the front page
    ],
    "user_enrolments": [
        dict(id=101, enrolid=1, userid=11, timemodified=T0 + 10),
        dict(id=102, enrolid=1, userid=12, status=1, timemodified=T0 + 11),  # suspended
        dict(id=103, enrolid=1, userid=15, timeend=0, timemodified=T0 + 12),  # 0 = no end
        dict(id=104, enrolid=1, userid=17, timemodified=T0 + 13),  # a deleted user
        dict(id=105, enrolid=2, userid=13, timestart=T0, timeend=MOODLE_NOW - 86400, timemodified=T0 + 14),
        dict(id=106, enrolid=3, userid=14, timemodified=T0 + 15),  # via the disabled method
        dict(id=107, enrolid=2, userid=15, timemodified=T0 + 16),  # Erin also in course 3, no role
        dict(id=108, enrolid=4, userid=16, status=1, timemodified=T0 + 17),  # suspended here...
        dict(id=109, enrolid=5, userid=16, timemodified=T0 + 18),  # ...but active by self enrolment
        dict(id=110, enrolid=4, userid=18, timestart=MOODLE_NOW + 86400, timemodified=T0 + 19),
        dict(id=111, enrolid=6, userid=11, timemodified=T0 + 20),
    ],
    "context": [dict(id=c, contextlevel=50, instanceid=c - 100) for c in (102, 103, 104)]
    + [dict(id=1, contextlevel=10, instanceid=0)],
    "role": [
        dict(id=1, shortname="manager", archetype="manager"),
        dict(id=3, shortname="editingteacher", archetype="editingteacher"),
        dict(id=4, shortname="teacher", archetype="teacher"),
        dict(id=5, shortname="student", archetype="student"),
    ],
    "role_assignments": [
        dict(id=201, roleid=5, contextid=102, userid=11, timemodified=T0 + 10),
        dict(id=202, roleid=5, contextid=102, userid=12, timemodified=T0 + 11),
        dict(id=203, roleid=3, contextid=102, userid=15, timemodified=T0 + 12),
        dict(id=204, roleid=5, contextid=102, userid=15, timemodified=T0 + 12),  # teacher wins
        dict(id=205, roleid=5, contextid=103, userid=13, timemodified=T0 + 14),
        dict(id=206, roleid=5, contextid=104, userid=16, timemodified=T0 + 18),
        dict(id=207, roleid=1, contextid=1, userid=14, timemodified=T0),  # a system role: no label
    ],
}


def add_moodle_enrolments(url: str, rows: Dict[str, List[Dict[str, Any]]] = MOODLE_ENROLMENT_ROWS,
                          prefix: str = "mdl_") -> None:
    """Moodle's enrolment tables with a site's worth of cases (see MOODLE_ENROLMENT_ROWS)."""
    engine = sa.create_engine(url)
    with engine.begin() as con:
        for ddl in MDL_ENROLMENT_DDL:
            con.exec_driver_sql(ddl.format(prefix=prefix))
        for name, table_rows in rows.items():
            table = sa.Table(f"{prefix}{name}", sa.MetaData(), autoload_with=con)
            for row in table_rows:
                con.execute(sa.insert(table).values(**row))
    engine.dispose()


# ------------------------------------------------------------------ Canvas (local HTTP)


def canvas_course(i: int, **overrides: Any) -> Dict[str, Any]:
    course = {
        "id": 1000 + i,
        "name": f"Course {i}",
        "course_code": f"C{i:03d}",
        "workflow_state": "available",
        "account_id": 1,
        "start_at": None,
        "end_at": None,
        "enrollment_term_id": 7,
        "uuid": f"uuid-{i}",
        "is_public": None,
        "term": {"id": 7, "name": "Fall 2024", "start_at": "2024-09-02T06:00:00Z", "end_at": None},
    }
    course.update(overrides)
    return course


def canvas_enrollment(i: int, course_id: int, user: int, type_: str = "StudentEnrollment",
                      state: str = "active") -> Dict[str, Any]:
    """An Enrollment object as Canvas lists it (its user object has login_id, no email)."""
    return {
        "id": 5000 + i, "course_id": course_id, "course_section_id": 70 + course_id % 10,
        "enrollment_state": state, "type": type_, "user_id": user, "role": type_, "role_id": 3,
        "user": {"id": user, "name": f"Test Person {user}", "sortable_name": f"Person {user}, Test",
                 "short_name": f"Test {user}", "login_id": f"person{user}@example.edu"},
    }


class CanvasServer:
    """Serves /api/v1/accounts/1/courses and /api/v1/courses/:id/enrollments like Canvas:
    bearer auth, per_page, Link headers, and the enrollment list's state[]/type[] filters
    (without state[], only active and invited enrollments, as Canvas documents)."""

    def __init__(self, courses: List[Dict[str, Any]], token: str = "canvas-test-token",
                 enrollments: Dict[int, List[Dict[str, Any]]] | None = None) -> None:
        self.courses = courses
        self.enrollments = enrollments or {}
        self.token = token
        self.requests: List[Dict[str, Any]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                server.handle(self)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def handle(self, h: BaseHTTPRequestHandler) -> None:
        parsed = urlparse(h.path)
        query = parse_qs(parsed.query)
        self.requests.append({"path": parsed.path, "query": query, "auth": h.headers.get("Authorization")})
        if h.headers.get("Authorization") != f"Bearer {self.token}":
            return self._send(h, 401, {"errors": [{"message": "Invalid access token."}]})
        enrollments = re.fullmatch(r"/api/v1/courses/(\d+)/enrollments", parsed.path)
        if enrollments:
            states = query.get("state[]", ["active", "invited"])
            types = query.get("type[]")
            items = [e for e in self.enrollments.get(int(enrollments.group(1)), [])
                     if e["enrollment_state"] in states and (not types or e["type"] in types)]
        elif parsed.path == "/api/v1/accounts/1/courses":
            items = self.courses
        else:
            return self._send(h, 404, {"errors": [{"message": "The specified resource does not exist."}]})
        per_page = int(query.get("per_page", ["10"])[0])
        page = int(query.get("page", ["1"])[0])
        chunk = items[(page - 1) * per_page : page * per_page]
        last = max(1, -(-len(items) // per_page))

        def link(p: int) -> str:
            q = {k: v for k, v in query.items() if k != "page"}
            return f"{self.url}{parsed.path}?{urlencode({**q, 'page': p}, doseq=True)}"

        links = [f'<{link(page)}>; rel="current"', f'<{link(1)}>; rel="first"', f'<{link(last)}>; rel="last"']
        if page < last:
            links.insert(1, f'<{link(page + 1)}>; rel="next"')
        if page > 1:
            links.insert(1, f'<{link(page - 1)}>; rel="prev"')
        self._send(h, 200, chunk, {"Link": ",".join(links)})

    @staticmethod
    def _send(h: BaseHTTPRequestHandler, status: int, body: Any, headers: Dict[str, str] = {}) -> None:
        data = json.dumps(body).encode()
        h.send_response(status)
        h.send_header("Content-Type", "application/json; charset=utf-8")
        h.send_header("Content-Length", str(len(data)))
        for k, v in headers.items():
            h.send_header(k, v)
        h.end_headers()
        h.wfile.write(data)

    def __enter__(self) -> "CanvasServer":
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()




# ------------------------------------------------------------------ reading the job's output


def summary(out: str) -> Dict[str, int]:
    """The numbers of the printed summary."""
    fields = ("rows seen", "created", "updated", "unchanged", "rejected", "requests", "429s")
    return {f: int(re.search(rf"^  {f}\s+(\d+)", out, re.M).group(1)) for f in fields}


def names_by_key(records: list, id_property: str = "lms_course_key") -> Dict[str, str]:
    return {r["properties"][id_property]: r["properties"].get("hs_course_name") for r in records}


def upserted_inputs(sb: "Sandbox") -> int:
    return sum(e.n_inputs or 0 for e in sb.request_log if e.path.endswith("/batch/upsert"))
