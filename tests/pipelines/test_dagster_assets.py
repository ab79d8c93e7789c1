"""The Dagster example (pipelines/orchestration/dagster_defs.py) materialised in-process
against a real sandbox over HTTP, its state kept in a shared folder between runs."""

from __future__ import annotations

import tarfile
from pathlib import Path

import pytest

pytest.importorskip("dagster_dlt", reason="the dagster extra is not installed: pip install '.[dagster]'")

from dagster import AssetKey, DagsterInstance, EnvVar, materialize  # noqa: E402
from dagster_dlt import DagsterDltResource  # noqa: E402

from lms_support import names_by_key  # noqa: E402
from hubspot_courses_destination.hubspot.endpoints import Endpoints  # noqa: E402
from hubspot_courses_destination.sandbox import DEFAULT_TOKEN, Sandbox  # noqa: E402
from hubspot_courses_destination.settings import DEFAULT_API_VERSION  # noqa: E402
from pipelines.sources.common import DEFAULT_LABELS  # noqa: E402
from pipelines.orchestration import dagster_defs  # noqa: E402
from pipelines.orchestration.dagster_defs import HubSpotPortals, Portal, lms_assets  # noqa: E402

LIST_COURSES = Endpoints(DEFAULT_API_VERSION).path("list_objects", object_type="0-410")


def _upserted(sb: Sandbox) -> int:
    return sum(e.n_inputs or 0 for e in sb.request_log if e.path.endswith("/batch/upsert"))


def test_the_sample_assets_sync_the_portal_and_a_second_materialisation_sends_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_PORTAL_TOKEN", DEFAULT_TOKEN)  # the token reaches the run through Dagster's EnvVar
    with Sandbox() as sb:
        for label in DEFAULT_LABELS:  # the portal's labels of the sample's enrollments
            sb.create_association_label(label)
        hubspot = HubSpotPortals(
            portals={"school": Portal(access_token=EnvVar("TEST_PORTAL_TOKEN"), api_base_url=sb.url)},
            state_url=str(tmp_path / "shared"), create_missing_properties=True,
        )
        assets = lms_assets("sample", ["school"])
        resources = {"dlt": DagsterDltResource(), "hubspot": hubspot}
        instance = DagsterInstance.ephemeral()

        first = materialize([assets], resources=resources, partition_key="school", instance=instance)
        assert first.success
        keys = {m.asset_key for m in first.asset_materializations_for_node("lms_to_hubspot_sample")}
        assert keys == {AssetKey("dlt_sample_sloan_courses"), AssetKey("dlt_sample_oulad_courses"),
                        AssetKey("dlt_sample_sample_enrollments")}
        names = names_by_key(sb.records())
        assert len(names) == len(sb.records()) == 121  # one record per course, no duplicate
        assert names["oulad:AAA-2013J"] == "AAA 2013J"
        assert _upserted(sb) == 121 + 70  # the courses, then the sample's 70 people as contacts
        assert len(sb.contacts()) == 70 and len(sb.associations()) == 363  # routed as enrollments
        stored = tmp_path / "shared" / "school" / "hubspot"
        assert (stored / "staging.duckdb").is_file() and (stored / "pipelines" / "lms_to_hubspot_sample.tar.gz").is_file()
        assert not (stored / "lock.json").exists()

        sb.reset_log()  # a new run on a new worker: only the shared folder carries state
        second = materialize([assets], resources=resources, partition_key="school", instance=instance)
        assert second.success
        assert _upserted(sb) == 0 and sb.count_requests("POST", "/batch/upsert") == 0
        assert sb.count_requests("POST", "/batch/create") == 0  # no association sent again
        assert sb.count_requests("GET", LIST_COURSES) == 0  # state restored from the folder, not rebuilt
        assert len(sb.records()) == 121


def test_the_module_loads_definitions_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LMS_TO_HUBSPOT_PORTALS", "default,staging")
    monkeypatch.setenv("LMS_TO_HUBSPOT_STATE_URL", str(tmp_path))
    defs = dagster_defs._definitions_from_environment()
    job = defs.resolve_implicit_global_asset_job_def()
    assert job.partitions_def.get_partition_keys() == ["default", "staging"]
    assert {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()} >= {
        "dlt_sample_sloan_courses", "dlt_sample_oulad_courses"}


def test_a_failed_materialisation_keeps_its_pending_package_and_the_next_one_loads_it(
        tmp_path: Path, moodle_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The failed run's state (with its pending package) is copied back to the store, and the
    next materialisation, on a fresh worker, delivers every course: none is lost to the
    Moodle cursor that moved during the failed run's extract."""
    monkeypatch.setenv("SOURCES__MOODLE__CREDENTIALS", moodle_url)
    with Sandbox() as sb:
        sb.create_property("lms_course_key", label="LMS course key", has_unique_value=True)

        def portals(create: bool) -> HubSpotPortals:
            return HubSpotPortals(portals={"school": Portal(access_token=DEFAULT_TOKEN, api_base_url=sb.url)},
                                  state_url=str(tmp_path / "shared"), create_missing_properties=create)

        assets = lms_assets("moodle", ["school"])
        instance = DagsterInstance.ephemeral()
        # the portal lacks the course_* properties and may not create them: the load fails
        failed = materialize([assets], resources={"dlt": DagsterDltResource(), "hubspot": portals(False)},
                             partition_key="school", instance=instance, raise_on_error=False)
        assert not failed.success and sb.records() == []
        with tarfile.open(tmp_path / "shared" / "school" / "hubspot" / "pipelines" / "lms_to_hubspot_moodle.tar.gz") as tar:
            assert any("/load/normalized/" in name for name in tar.getnames())  # the pending package was kept

        fixed = materialize([assets], resources={"dlt": DagsterDltResource(), "hubspot": portals(True)},
                            partition_key="school", instance=instance)
        assert fixed.success
        assert set(names_by_key(sb.records())) == {"moodle:2", "moodle:3", "moodle:4"}
