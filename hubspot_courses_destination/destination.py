"""The dlt destination ``hubspot_courses``: glue between dlt and ``sync.sync_batch``.

Decorator choices, each deliberate (dlt 1.31 behaviour):

- ``batch_size=5000``: one call = fifty HubSpot requests sent concurrently behind the shared
  rate limiter; dlt records its resume offset after every call, and upsert is idempotent,
  so re-sending the last batch after a crash is safe. A call ends only when its slowest
  request is answered, so the client's pool drains at the end of every call and idles
  while the next batch is mapped; with 1000 rows (ten requests) per call that capped a
  pipeline at ~15 requests/s at 250 ms latency, 74 % of a 190/10 s portal's ceiling
  (benchmarks/bench_pipeline.py); fifty requests per call keep the pool busy (95 %).
- ``typed-jsonl``: rows arrive as dicts with real ``date``/``datetime``/``Decimal`` values,
  which the mapper coerces by HubSpot property type.
- ``max_table_nesting=0`` and ``naming_convention="direct"``: column names must match
  HubSpot property names as written, and lists stay in one row (multi-select values).
- ``loader_parallelism_strategy="table-sequential"``: two load jobs of one table (dlt's
  file rotation) could send two versions of a key at once and record them in the other
  order; one job per table at a time keeps ``sync_state`` equal to what HubSpot holds.
  Throughput is unaffected: the concurrency is inside a batch (the client's thread pool).
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional

import dlt
from dlt.common.schema import TTableSchema
from dlt.common.typing import TDataItems, TSecretStrValue
from dlt.common.utils import simple_repr, without_none

from .config import (
    COURSES_OBJECT_TYPE,
    DEFAULT_API_BASE_URL,
    DEFAULT_PROPERTY_GROUP,
    DEFAULT_STAGING_PATH,
    DestinationSettings,
)
from .sync import sync_batch

__all__ = ["hubspot_courses", "BATCH_SIZE"]

BATCH_SIZE = 5000
"""Rows per call of the destination function (up to fifty 100-input upsert requests)."""


@dlt.destination(
    name="hubspot_courses",
    batch_size=BATCH_SIZE,
    loader_file_format="typed-jsonl",
    naming_convention="direct",
    max_table_nesting=0,
    skip_dlt_columns_and_tables=True,
    loader_parallelism_strategy="table-sequential",
)
def hubspot_courses(
    items: TDataItems,
    table: TTableSchema,
    access_token: TSecretStrValue = dlt.secrets.value,
    id_property: str = dlt.config.value,
    api_base_url: str = DEFAULT_API_BASE_URL,
    object_type: str = COURSES_OBJECT_TYPE,
    staging_path: str = DEFAULT_STAGING_PATH,
    property_map: Optional[Dict[str, str]] = None,
    exclude_columns: Optional[List[str]] = None,
    requests_per_10s: int = 100,
    max_concurrency: int = 8,
    create_missing_properties: bool = False,
    property_group: str = DEFAULT_PROPERTY_GROUP,
    full_resync: bool = False,
    dry_run: bool = False,
    rebuild_state: bool = True,
    clear_nulls: bool = False,
) -> None:
    """Upsert course rows into HubSpot; every row ends synced, unchanged or in ``rejected_rows``.

    Settings resolve from arguments, ``DESTINATION__HUBSPOT_COURSES__*`` environment
    variables and the ``[destination.hubspot_courses]`` section of ``.dlt/*.toml``.
    """
    settings = DestinationSettings.from_values(
        access_token=access_token,
        id_property=id_property,
        api_base_url=api_base_url,
        object_type=object_type,
        staging_path=staging_path,
        property_map=property_map,
        exclude_columns=exclude_columns,
        requests_per_10s=requests_per_10s,
        max_concurrency=max_concurrency,
        create_missing_properties=create_missing_properties,
        property_group=property_group,
        full_resync=full_resync,
        dry_run=dry_run,
        rebuild_state=rebuild_state,
        clear_nulls=clear_nulls,
    )
    load_id = dlt.current.load_package_state()["load_id"]
    sync_batch(_rows(items), table, load_id, settings)


def _repr_without_secrets(self: Any) -> str:
    """dlt's Destination repr prints explicit arguments, the access token included."""
    params = {**self.spec(), **self.config_params}
    params["access_token"] = "***" if params.get("access_token") else None
    return simple_repr(self.destination_type, **without_none(params))


# the class dlt synthesised for this destination; instances are what users print or log
hubspot_courses._factory.__repr__ = _repr_without_secrets  # type: ignore[attr-defined]


def _rows(items: TDataItems) -> List[Dict[str, Any]]:
    """typed-jsonl delivers a list of dicts; anything else means the format was overridden."""
    if isinstance(items, list):
        return items
    raise TypeError(
        "hubspot_courses expects typed-jsonl batches (lists of rows); do not set "
        "loader_file_format or batch_size=0 for this destination"
    )
