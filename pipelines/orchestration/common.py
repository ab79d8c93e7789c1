"""What both orchestrator examples share: the job's sources by name, and one run's pipeline."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import dlt
from dlt.extract import DltSource

from hubspot_courses_destination import hubspot_courses
from pipelines.job.common import PIPELINE_PREFIX, conf
from pipelines.sources.common import DEFAULT_ID_PROPERTY, enrollments_table_name

WITH_ENROLLMENTS = ("sample", "canvas", "moodle")
"""Sources whose examples sync enrollments too (CSV inputs here are course files only)."""


def enrollments_table(source: str) -> Optional[str]:
    """The enrollments table the source's rows arrive in, named as the job names it, or None
    (a CSV input, or a Moodle database without the enrolment tables: courses only, as the job).

    The destination must be told (``enrollments_table``): otherwise those rows would be read
    as courses."""
    if source not in WITH_ENROLLMENTS or (source == "moodle" and _moodle_lacks_enrolments()):
        return None
    return enrollments_table_name(source)


def _moodle_lacks_enrolments() -> bool:
    from pipelines.job.inputs import check_moodle_connection

    return bool(check_moodle_connection(_required("sources.moodle.credentials", secret=True),
                                        conf(None, "sources.moodle.table_prefix", "mdl_")))


def course_source(source: str, id_property: str = DEFAULT_ID_PROPERTY) -> DltSource:
    """The job's source ``source`` ("sample", "csv", "moodle", "canvas") as a dlt source, its
    settings read from dlt's config and secrets the way the job reads them; with its
    enrollments where the source has them (see :func:`enrollments_table`)."""
    if source == "sample":
        from pipelines.sources.sample import sample_source

        return sample_source(id_property=id_property, enrollments=True)
    if source == "canvas":
        from pipelines.sources.canvas import canvas_source

        return canvas_source(id_property=id_property, enrollments=True)
    if source == "csv":
        from pipelines.sources.csv_export import csv_courses

        return _as_source("csv", csv_courses(_required("sources.csv.path"), id_property=id_property))
    if source == "moodle":
        from pipelines.sources.moodle import moodle_courses, moodle_enrollments

        url = _required("sources.moodle.credentials", secret=True)
        prefix = conf(None, "sources.moodle.table_prefix", "mdl_")
        courses = moodle_courses(url, table_prefix=prefix, id_property=id_property,
                                 site_url=conf(None, "sources.moodle.site_url"))
        if enrollments_table("moodle") is None:
            return _as_source("moodle", courses)
        return _as_source("moodle", courses, moodle_enrollments(url, table_prefix=prefix, id_property=id_property))
    raise ValueError(f"unknown source {source!r}: choose sample, csv, moodle or canvas")


def pipeline_name(source: str) -> str:
    """The job's pipeline name for the source, so a worker and the command line share state."""
    if source == "csv":
        from pipelines.sources.csv_export import csv_table_name

        return f"{PIPELINE_PREFIX}_{csv_table_name(_required('sources.csv.path'))}"
    return f"{PIPELINE_PREFIX}_{source}"


def course_pipeline(name: str, pipelines_dir: Path, staging_path: Path, *,
                    id_property: str = DEFAULT_ID_PROPERTY, **settings: Any) -> dlt.Pipeline:
    """A pipeline into HubSpot whose state lives in the worker's checked-out copy.

    ``restore_from_destination`` is off: this destination keeps no dlt state, and dagster-dlt
    drops a pipeline's local state before each run when it is on (incremental cursors lost)."""
    pipeline = dlt.pipeline(
        pipeline_name=name,
        destination=hubspot_courses(staging_path=str(staging_path), id_property=id_property,
                                    **{k: v for k, v in settings.items() if v is not None}),
        pipelines_dir=str(pipelines_dir),
        dev_mode=False,
    )
    pipeline.config.restore_from_destination = False
    return pipeline


def finish_pending(pipeline: dlt.Pipeline) -> None:
    """Load what an earlier failed run left pending before this run's data, as the job does.

    dagster-dlt aborts pending packages before each run instead; dlt 1.31 then rolls the
    pipeline state (the incremental cursor) back and the rows are extracted again, so nothing
    is lost either way, but loading them keeps a worker's run the same as the job's run."""
    if pipeline.has_pending_data:
        pipeline.run()


def _as_source(name: str, *resources: Any) -> DltSource:
    @dlt.source(name=name)
    def tables() -> Any:
        return list(resources)

    return tables()


def _required(key: str, secret: bool = False) -> Any:
    value: Optional[Any] = conf(None, key, None, secret=secret)
    if value in (None, ""):
        raise ValueError(f"{key} is not configured (dlt config/secrets, or env {key.upper().replace('.', '__')})")
    return value
