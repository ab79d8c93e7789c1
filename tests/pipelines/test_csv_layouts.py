"""CSV inputs: a layout is recognised by its whole header, inputs are checked before a run,
and each input gets its own dlt table. Real files in tmp_path, real pipelines, a real sandbox."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Iterator

import dlt
import pytest
from dlt.pipeline.exceptions import PipelineStepFailed

from lms_support import OULAD_CSV
import pipelines.sources.csv_export as csv_export
from hubspot_courses_destination.session import close_sessions
from hubspot_courses_destination import hubspot_courses
from hubspot_courses_destination.settings import resolve_settings
from hubspot_courses_destination.mirror import archive_missing
from hubspot_courses_destination.sandbox import DEFAULT_TOKEN, Sandbox

ID = "lms_course_key"
# the first rows of OULAD's assessments.csv: same first two columns as courses.csv
ASSESSMENTS = (
    '"code_module","code_presentation","id_assessment","assessment_type","date","weight"\r\n'
    '"AAA","2013J","1752","TMA","19","10"\r\n'
    '"AAA","2013J","1753","TMA","54","20"\r\n'
    '"BBB","2014B","15003","CMA","","0"\r\n'
)


def write(path: Path, text: str) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8", newline="")
    return str(path)


def root_cause(exc: BaseException) -> BaseException:
    """The exception at the end of the chain, the way the job finds what to report."""
    while True:
        nxt = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)
        if nxt is None:
            return exc
        exc = nxt


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(rate_limit_per_10s=1000) as sb:
        yield sb


@pytest.fixture
def into_sandbox(sandbox: Sandbox, tmp_path: Path):
    """A pipeline into the sandbox (one staging file for the test); returns its load ids."""
    staging_path = str(tmp_path / "staging.duckdb")

    def run(data, name: str = "csv_layouts") -> list:
        pipeline = dlt.pipeline(
            name, pipelines_dir=str(tmp_path / "pipelines"),
            destination=hubspot_courses(access_token=DEFAULT_TOKEN, api_base_url=sandbox.url, id_property=ID,
                                        staging_path=staging_path, create_missing_properties=True),
        )
        return pipeline.run(data).loads_ids

    run.staging_path = staging_path
    yield run
    close_sessions(staging_path)


# ------------------------------------------------------------------ layouts by full header


def test_an_oulad_table_other_than_courses_is_refused_naming_the_file_and_both_layouts(tmp_path) -> None:
    path = write(tmp_path / "oulad" / "assessments.csv", ASSESSMENTS)
    with pytest.raises(csv_export.UnknownCsvLayout) as info:
        csv_export.check_csv_input(path)
    message = str(info.value)
    assert path in message
    assert "code_module, code_presentation, module_presentation_length" in message
    assert "lms_course_key and hs_course_name" in message
    assert "id_assessment" in message  # what the file has


def test_the_wrong_oulad_file_does_not_overwrite_live_courses(into_sandbox, sandbox, tmp_path) -> None:
    into_sandbox(csv_export.csv_courses(str(OULAD_CSV)))
    before = {r["properties"][ID]: r["properties"] for r in sandbox.records()}
    assert len(before) == 22
    wrong = write(tmp_path / "assessments.csv", ASSESSMENTS)
    with pytest.raises(PipelineStepFailed) as info:
        into_sandbox(csv_export.csv_courses(wrong))
    assert info.value.step == "extract"
    assert "unrecognised CSV header" in str(info.value) and wrong in str(info.value)
    assert isinstance(root_cause(info.value), csv_export.UnknownCsvLayout)  # what the job reports
    after = {r["properties"][ID]: r["properties"] for r in sandbox.records()}
    assert after == before


@pytest.mark.parametrize(
    "header, layout",
    [
        ("module_presentation_length,code_presentation,code_module", "oulad"),  # any order
        (" code_module , code_presentation,module_presentation_length", "oulad"),  # padded
        ("lms_course_key,hs_course_name", "hubspot"),
        ("hs_course_name,lms_course_key,course_start_date,instructor_email", "hubspot"),  # custom property
        ("lms_course_key,hs_course_name,Instructor Name", "hubspot"),  # left to property_map
        ("lms_course_key,hs_course_name,code_module,code_presentation,module_presentation_length", "hubspot"),
    ],
)
def test_headers_that_name_a_layout(header: str, layout: str, tmp_path) -> None:
    path = write(tmp_path / "in.csv", header + "\r\n")
    assert csv_export.check_csv_input(path) == [(path, layout)]


@pytest.mark.parametrize(
    "header, problem",
    [
        ("code_module,code_presentation,module_presentation_length,region", "region"),  # extra column
        ("code_module,code_presentation", "missing: module_presentation_length"),
        ("code_module,code_presentation,module_presentation_length,code_module", "repeated column code_module"),
        ("lms_course_key,hs_course_name,hs_course_name", "repeated column hs_course_name"),
        ("lms_course_key,hs_course_name,", "column 3 has no name"),
        ("lms_course_key,course_code", "hs_course_name"),
        ("", "the file is empty"),
    ],
)
def test_headers_that_name_no_layout(header: str, problem: str, tmp_path) -> None:
    path = write(tmp_path / "in.csv", header + ("\r\n" if header else ""))
    with pytest.raises(csv_export.UnknownCsvLayout, match=re.escape(problem)):
        csv_export.check_csv_input(path)


def test_the_key_column_may_be_named_after_the_id_property_but_not_twice(tmp_path) -> None:
    own = write(tmp_path / "own.csv", "external_course_id,hs_course_name\r\nk1,A\r\n")
    assert csv_export.check_csv_input(own, id_property="external_course_id") == [(own, "hubspot")]
    with pytest.raises(csv_export.UnknownCsvLayout):
        csv_export.check_csv_input(own)  # no key column for the default id property
    both = write(tmp_path / "both.csv", "lms_course_key,external_course_id,hs_course_name\r\n")
    with pytest.raises(csv_export.UnknownCsvLayout, match="name the key"):
        csv_export.check_csv_input(both, id_property="external_course_id")


def test_a_spreadsheet_file_is_a_layout_error_not_a_decode_traceback(tmp_path) -> None:
    path = tmp_path / "courses.csv"
    path.write_bytes(b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00\xb9\xff\xfe")
    with pytest.raises(csv_export.UnknownCsvLayout, match="not UTF-8"):
        csv_export.check_csv_input(str(path))


# ------------------------------------------------------------------ inputs that match no file


def test_check_lists_every_file_of_a_glob_and_names_the_bad_one(tmp_path) -> None:
    good = write(tmp_path / "exports" / "a.csv", "lms_course_key,hs_course_name\r\nx:1,A\r\n")
    oulad = write(tmp_path / "exports" / "b.csv", OULAD_CSV.read_text("utf-8"))
    assert csv_export.check_csv_input(str(tmp_path / "exports" / "*.csv")) == [(good, "hubspot"), (oulad, "oulad")]
    bad = write(tmp_path / "exports" / "c.csv", ASSESSMENTS)
    with pytest.raises(csv_export.UnknownCsvLayout, match=re.escape(bad)):
        csv_export.check_csv_input(str(tmp_path / "exports" / "*.csv"))


@pytest.mark.parametrize("name, message", [("*.csv", "no file matches"), ("none.csv", "not found"), ("", "directory")])
def test_a_path_or_glob_that_matches_no_file_is_an_error(name: str, message: str, tmp_path) -> None:
    (tmp_path / "empty").mkdir()
    path = str(tmp_path / "empty" / name) if name else str(tmp_path / "empty")
    with pytest.raises(FileNotFoundError, match=message):
        csv_export.check_csv_input(path)
    with pytest.raises(FileNotFoundError, match=message):
        csv_export.csv_courses(path)


def test_an_url_glob_that_matches_nothing_fails_the_extract(into_sandbox, sandbox, tmp_path) -> None:
    (tmp_path / "exports").mkdir()
    url = (tmp_path / "exports").as_uri() + "/*.csv"
    assert csv_export.check_csv_input(url) == []  # URLs are checked while extracting
    with pytest.raises(PipelineStepFailed, match="no CSV file matches") as info:
        into_sandbox(csv_export.csv_courses(url))
    assert isinstance(root_cause(info.value), FileNotFoundError)
    assert sandbox.records() == []


# ------------------------------------------------------------------ one dlt table per input


def test_table_names_are_stable_readable_and_distinct_per_input(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    name = csv_export.csv_table_name("exports/courses.csv")
    assert re.fullmatch(r"csv_courses_[0-9a-f]{6}", name)
    assert csv_export.csv_table_name(str(tmp_path / "exports" / "courses.csv")) == name  # any cwd
    assert csv_export.csv_table_name("exports/../exports/courses.csv") == name
    others = {csv_export.csv_table_name(p) for p in (
        "other/courses.csv", "exports/courses-*.csv", "exports/*.csv", "s3://bucket/exports/Courses 2024.CSV",
    )}
    assert name not in others and len(others) == 4
    assert all(re.fullmatch(r"[a-z][a-z0-9_]*", n) for n in others)
    assert csv_export.csv_table_name("exports/*.csv").startswith("csv_exports_")


def test_mirror_of_one_export_leaves_another_exports_courses_alone(into_sandbox, sandbox, tmp_path) -> None:
    a = write(tmp_path / "a" / "courses.csv", "lms_course_key,hs_course_name\r\na:1,A1\r\na:2,A2\r\n")
    b = write(tmp_path / "b" / "courses.csv", "lms_course_key,hs_course_name\r\nb:1,B1\r\n")
    into_sandbox(csv_export.csv_courses(a))
    load_ids = into_sandbox(csv_export.csv_courses(b))
    settings = resolve_settings(access_token=DEFAULT_TOKEN, api_base_url=sandbox.url, id_property=ID,
                                        staging_path=into_sandbox.staging_path)
    result = archive_missing(settings, load_ids, max_share=1.0)
    assert result.archived == 0, result.message
    assert sorted(r["properties"][ID] for r in sandbox.records()) == ["a:1", "a:2", "b:1"]


def test_the_resource_can_be_extracted_again(tmp_path) -> None:
    # regression guard for the file-listing wrapper: dlt re-evaluates a resource on each run
    resource = csv_export.csv_courses(str(OULAD_CSV))
    assert len(list(resource)) == len(list(resource)) == 22
