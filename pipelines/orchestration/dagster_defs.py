"""Dagster definitions: one ``dagster-dlt`` asset group per LMS source, partitioned by portal.

    pip install '.[dagster]'
    LMS_TO_HUBSPOT_SOURCES=sample,moodle LMS_TO_HUBSPOT_STATE_URL=s3://bucket/lms-state \\
        dagster dev -m pipelines.orchestration.dagster_defs      # from the project root

* **Assets**: ``@dlt_assets`` per source named in ``LMS_TO_HUBSPOT_SOURCES`` (default
  ``sample``; ``csv``, ``moodle``, ``canvas`` read their settings from dlt config/secrets as
  the job does), one asset per dlt resource (the HubSpot table it writes).
* **Partitions**: static, one per HubSpot portal in ``LMS_TO_HUBSPOT_PORTALS`` (default
  ``default``). Each portal has its own token and its own state; a portal's runs never touch
  another's staging file.
* **Secrets**: the :class:`HubSpotPortals` resource; each token is an ``EnvVar``:
  ``DESTINATION__HUBSPOT_COURSES__ACCESS_TOKEN`` for ``default`` (the job's own variable),
  ``HUBSPOT_ACCESS_TOKEN__<PORTAL>`` for the others (and ``HUBSPOT_API_BASE_URL__<PORTAL>``).
* **State**: each materialisation checks the portal's state out of
  ``<state_url>/<portal>/hubspot/`` under a lock (``pipelines.job.state_store``), runs in a
  temporary folder, and copies the state back, also after a failure. Runs of several sources
  of one portal take turns on its lock (``lock_wait_s``); give the job a Dagster concurrency
  pool of 1 per portal to queue them instead of failing.
"""


import os
import tempfile
from pathlib import Path
from typing import Any, Iterator, Optional, Sequence

from dagster import AssetExecutionContext, AssetsDefinition, Config, ConfigurableResource, Definitions, EnvVar
from dagster import StaticPartitionsDefinition
from dagster_dlt import DagsterDltResource, dlt_assets

from hubspot_courses_destination import close_sessions
from pipelines.job.state_store import StateStore
from pipelines.sources.common import DEFAULT_ID_PROPERTY
from .common import course_pipeline, course_source, enrollments_table, finish_pending, pipeline_name

DEFAULT_API = "https://api.hubapi.com"


class Portal(Config):
    """One HubSpot portal: where a partition writes."""

    access_token: str
    api_base_url: str = DEFAULT_API


class HubSpotPortals(ConfigurableResource):
    """The portals (one partition each), the shared state location, destination settings."""

    portals: dict[str, Portal]
    state_url: str  # a directory on a shared volume, or an fsspec URL (s3://bucket/prefix)
    id_property: str = DEFAULT_ID_PROPERTY
    create_missing_properties: Optional[bool] = None  # None: dlt config decides, as in the job
    lock_wait_s: float = 0.0

    def store(self, portal: str) -> StateStore:
        return StateStore(f"{self.state_url.rstrip('/')}/{portal}", wait_s=self.lock_wait_s)


def lms_assets(source: str, portals: Sequence[str], id_property: str = DEFAULT_ID_PROPERTY) -> AssetsDefinition:
    """The dagster-dlt assets of one job source, partitioned by portal."""
    name = pipeline_name(source)
    # for the asset specs only (names of the tables); every run builds its own pipeline
    spec_pipeline = course_pipeline(name, Path(tempfile.gettempdir()) / "lms_to_hubspot-specs",
                                    Path(tempfile.gettempdir()) / "lms_to_hubspot-specs.duckdb")

    @dlt_assets(
        dlt_source=course_source(source, id_property),
        dlt_pipeline=spec_pipeline,
        name=f"lms_to_hubspot_{source}",
        group_name="lms_to_hubspot",
        partitions_def=StaticPartitionsDefinition(list(portals)),
    )
    def sync(context: AssetExecutionContext, dlt: DagsterDltResource, hubspot: HubSpotPortals) -> Iterator[Any]:
        portal = hubspot.portals[context.partition_key]
        with tempfile.TemporaryDirectory(prefix="lms_to_hubspot-") as local, \
                hubspot.store(context.partition_key).checkout("hubspot", name, Path(local)) as state:
            context.log.info(f"state of portal {context.partition_key!r}: restored {state.restored or 'nothing'}"
                             + (f"; took over a stale lock of {state.took_over.host}" if state.took_over else ""))
            pipeline = course_pipeline(
                name, state.pipelines_dir, state.staging_path, access_token=portal.access_token,
                api_base_url=portal.api_base_url, id_property=hubspot.id_property,
                create_missing_properties=hubspot.create_missing_properties,
                enrollments_table=enrollments_table(source),
            )
            try:
                finish_pending(pipeline)
                yield from dlt.run(context=context, dlt_pipeline=pipeline, dlt_source=course_source(source, hubspot.id_property))
            finally:
                close_sessions(str(state.staging_path))  # closed before the copy back

    return sync


def portal_resource(names: Sequence[str], state_url: str) -> HubSpotPortals:
    """Tokens from the environment, read by Dagster when a run starts (never stored in config)."""
    portals = {}
    for name in names:
        if name == "default":
            portals[name] = Portal(access_token=EnvVar("DESTINATION__HUBSPOT_COURSES__ACCESS_TOKEN"))
        else:
            upper = name.upper()
            portals[name] = Portal(access_token=EnvVar(f"HUBSPOT_ACCESS_TOKEN__{upper}"),
                                   api_base_url=os.environ.get(f"HUBSPOT_API_BASE_URL__{upper}", DEFAULT_API))
    return HubSpotPortals(portals=portals, state_url=state_url)


def build_definitions(sources: Sequence[str], portals: Sequence[str], hubspot: HubSpotPortals) -> Definitions:
    return Definitions(
        assets=[lms_assets(source, portals, hubspot.id_property) for source in sources],
        resources={"dlt": DagsterDltResource(), "hubspot": hubspot},
    )


def _names(variable: str, default: str) -> list[str]:
    return [n.strip() for n in os.environ.get(variable, default).split(",") if n.strip()]


def _definitions_from_environment() -> Definitions:
    portals = _names("LMS_TO_HUBSPOT_PORTALS", "default")
    state_url = os.environ.get("LMS_TO_HUBSPOT_STATE_URL", str(Path.cwd() / ".state" / "dagster"))
    return build_definitions(_names("LMS_TO_HUBSPOT_SOURCES", "sample"), portals, portal_resource(portals, state_url))


defs = _definitions_from_environment()
