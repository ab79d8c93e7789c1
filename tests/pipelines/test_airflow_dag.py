"""The Airflow example (pipelines/orchestration/airflow_dag.py): the DAG file imports, and its
tasks, run in-process, sync a real sandbox and keep their state in a shared folder.

Skipped when Airflow is not installed: `make test` does not install it (about 2.5 minutes and
~100 packages more); run `pip install '.[airflow]'` to include these tests."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

pytest.importorskip("airflow.sdk", reason="the airflow extra is not installed: pip install '.[airflow]'")

from lms_support import names_by_key  # noqa: E402
from hubspot_courses_destination.hubspot.endpoints import Endpoints  # noqa: E402
from hubspot_courses_destination.sandbox import DEFAULT_TOKEN, Sandbox  # noqa: E402
from hubspot_courses_destination.settings import DEFAULT_API_VERSION  # noqa: E402

LIST_COURSES = Endpoints(DEFAULT_API_VERSION).path("list_objects", object_type="0-410")


@pytest.fixture
def airflow_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "airflow"
    (home / "dags").mkdir(parents=True)
    monkeypatch.setenv("AIRFLOW_HOME", str(home))
    monkeypatch.setenv("AIRFLOW__CORE__DAGS_FOLDER", str(home / "dags"))
    monkeypatch.setenv("AIRFLOW__CORE__LOAD_EXAMPLES", "false")
    return home


def test_the_dag_file_imports_with_one_task_per_source_in_order(airflow_home: Path, monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("LMS_TO_HUBSPOT_SOURCES", "sample,canvas")
    monkeypatch.setenv("LMS_TO_HUBSPOT_STATE_URL", str(tmp_path / "shared"))
    module = importlib.reload(importlib.import_module("pipelines.orchestration.airflow_dag"))
    dag = module.lms_to_hubspot
    assert dag.dag_id == "lms_to_hubspot" and dag.max_active_runs == 1
    ids = [t.task_id for t in dag.topological_sort()]
    assert ids == ["lms_to_hubspot.lms_to_hubspot_sample", "lms_to_hubspot.lms_to_hubspot_canvas"]


def test_its_tasks_sync_the_portal_and_a_second_dag_run_sends_nothing(airflow_home: Path, tmp_path) -> None:
    from pipelines.orchestration.airflow_dag import build_dag

    with Sandbox() as sb:
        dag = build_dag(["sample"], str(tmp_path / "shared"), dag_id="lms_test", use_task_logger=False,
                        access_token=DEFAULT_TOKEN, api_base_url=sb.url, create_missing_properties=True)
        (task,) = dag.tasks
        task.python_callable()  # what the worker runs, in this process
        assert len(names_by_key(sb.records())) == len(sb.records()) == 121
        stored = tmp_path / "shared" / "hubspot"
        assert (stored / "staging.duckdb").is_file() and (stored / "pipelines" / "lms_to_hubspot_sample.tar.gz").is_file()
        assert not (stored / "lock.json").exists()
        sb.reset_log()

        task.python_callable()  # the next DAG run: its local folder was wiped, the store kept the state
        assert sb.count_requests("POST", "/batch/upsert") == 0
        assert sb.count_requests("GET", LIST_COURSES) == 0  # restored from the store, not rebuilt
        assert len(sb.records()) == 121
