"""The dlt destination ``hubspot_courses``: glue between dlt and the routes.

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

from typing import Any, Dict, List

import dlt
from dlt.common.schema import TTableSchema
from dlt.common.typing import TDataItems
from dlt.common.utils import simple_repr, without_none

from .routes import sync_batch
from .session import session_for
from .settings import DESTINATION_NAME, HubSpotCoursesConfiguration

__all__ = ["hubspot_courses", "BATCH_SIZE"]

BATCH_SIZE = 5000
"""Rows per call of the destination function (up to fifty 100-input upsert requests)."""


@dlt.destination(
    name=DESTINATION_NAME,
    spec=HubSpotCoursesConfiguration,
    batch_size=BATCH_SIZE,
    loader_file_format="typed-jsonl",
    naming_convention="direct",
    max_table_nesting=0,
    skip_dlt_columns_and_tables=True,
    loader_parallelism_strategy="table-sequential",
)
def hubspot_courses(items: TDataItems, table: TTableSchema, config: HubSpotCoursesConfiguration = None) -> None:
    """Upsert course rows into HubSpot; every row ends synced, unchanged or in ``rejected_rows``.

    Every setting is a field of :class:`~.settings.HubSpotCoursesConfiguration`, resolved and
    checked by dlt (arguments, ``DESTINATION__HUBSPOT_COURSES__*``, ``.dlt/*.toml``).
    """
    load_id = dlt.current.load_package_state()["load_id"]
    sync_batch(_rows(items), table, load_id, session_for(config))


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
