"""Airflow DAG: the job's sources through dlt's ``PipelineTasksGroup``, state in a StateStore.

    pip install '.[airflow]'       # tested: apache-airflow 3.3.2, apache-airflow-task-sdk 1.3.2
    # put this file (or a symlink) into Airflow's dags folder; the project root on PYTHONPATH

Settings (environment of the scheduler and the workers):

* ``LMS_TO_HUBSPOT_SOURCES``: the job's sources to sync, in order (default ``sample``);
  ``csv``/``moodle``/``canvas`` read their settings from dlt config and secrets as the job does.
* ``LMS_TO_HUBSPOT_STATE_URL``: where the state is kept between tasks (required on a real
  deployment): a directory on a shared volume or an fsspec URL such as ``s3://bucket/lms-state``.
* ``LMS_TO_HUBSPOT_LOCK_WAIT_S``: how long a task waits for another worker's lock (default 0).
* ``DESTINATION__HUBSPOT_COURSES__ACCESS_TOKEN``: the token (an Airflow secret exposed as env,
  or ``.dlt/secrets.toml`` in the dags folder: the helper makes that folder dlt's project dir).

Why a subclass: dlt's helper drops each pipeline's local state when a task starts and wipes
its folder when it ends. That suits destinations dlt restores state from; this one keeps none
(its state is dlt's pipeline dir and the staging DuckDB file), so every task would re-read
every source in full and rebuild staging from HubSpot, and a pending load package would be
wiped rather than finished. :class:`StatefulPipelineTasksGroup` copies the state in after the drop, loads
a pending package first, and copies the state back before the wipe, under the StateStore lock.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import dlt
import pendulum
from airflow.sdk import dag
from dlt.common.known_env import DLT_DATA_DIR
from dlt.helpers.airflow_helper import PipelineTasksGroup

from hubspot_courses_destination import close_sessions
from pipelines.job.state_store import StateStore
from pipelines.orchestration.common import (
    course_pipeline, course_source, enrollments_table, finish_pending, pipeline_name,
)

TARGET = "hubspot"


class StatefulPipelineTasksGroup(PipelineTasksGroup):
    """``PipelineTasksGroup`` whose tasks check the state out of a :class:`StateStore`.

    Create it before the pipelines: dlt's helper gives each worker a fresh random data folder
    (``DLT_DATA_DIR``) and insists that pipelines live there. That folder is this worker's
    copy of the state: ``pipelines/<name>`` and ``staging.duckdb`` (``course_pipeline`` with
    :meth:`pipelines_dir` and :meth:`staging_path`)."""

    def __init__(self, group_id: str, *, state_url: str, lock_wait_s: float = 0.0, **kwargs: Any) -> None:
        super().__init__(group_id, wipe_local_data=False, **kwargs)  # wiped after the copy back
        self.state_url, self.lock_wait_s = state_url, lock_wait_s
        self.state_dir = Path(os.environ[DLT_DATA_DIR])

    @property
    def pipelines_dir(self) -> Path:
        return self.state_dir / "pipelines"

    @property
    def staging_path(self) -> Path:
        return self.state_dir / "staging.duckdb"

    def _run(self, pipeline: dlt.Pipeline, data: Any, on_before_run: Optional[Callable[[], None]] = None,
             **kwargs: Any) -> None:
        store = StateStore(self.state_url, wait_s=self.lock_wait_s)
        staging = self.staging_path
        with store.locked(TARGET) as (mine, _):
            def restore() -> None:  # called by the helper after its drop of the local state
                for leftover in (staging, Path(f"{staging}.wal")):
                    leftover.unlink(missing_ok=True)
                store.download(TARGET, pipeline.pipeline_name, self.state_dir)
                finish_pending(pipeline)
                if on_before_run is not None:
                    on_before_run()

            try:
                super()._run(pipeline, data, on_before_run=restore, **kwargs)
            finally:
                close_sessions(str(staging))
                store.upload(TARGET, pipeline.pipeline_name, self.state_dir, mine)
                shutil.rmtree(self.state_dir, ignore_errors=True)


def _names(variable: str, default: str) -> list[str]:
    return [n.strip() for n in os.environ.get(variable, default).split(",") if n.strip()]


def build_dag(sources: Sequence[str], state_url: str, *, dag_id: str = "lms_to_hubspot",
              schedule: Optional[str] = "17 3 * * *", use_task_logger: bool = True, **destination: Any) -> Any:
    """One task per source, one after the other (they share the portal's staging file)."""
    @dag(dag_id=dag_id, schedule=schedule, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False,
         max_active_runs=1, tags=["dlt", "hubspot"])
    def lms_to_hubspot() -> None:
        group = StatefulPipelineTasksGroup(
            "lms_to_hubspot", state_url=state_url,
            lock_wait_s=float(os.environ.get("LMS_TO_HUBSPOT_LOCK_WAIT_S", "0")), use_task_logger=use_task_logger,
        )
        previous = None
        for source in sources:
            pipeline = course_pipeline(pipeline_name(source), group.pipelines_dir, group.staging_path,
                                       enrollments_table=enrollments_table(source), **destination)
            # a callable: the source (a Moodle connection, a CSV listing) is built when the task runs
            (task,) = group.add_run(pipeline, lambda s=source: course_source(s), decompose="none")
            if previous is not None:
                previous >> task
            previous = task

    return lms_to_hubspot()


lms_to_hubspot = build_dag(
    _names("LMS_TO_HUBSPOT_SOURCES", "sample"),
    os.environ.get("LMS_TO_HUBSPOT_STATE_URL", str(Path(tempfile.gettempdir()) / "lms_to_hubspot-airflow-state")),
)
