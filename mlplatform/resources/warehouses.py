"""The warehouses `MLPLATFORM_WAREHOUSE` chooses from: register a new `Warehouse` here.

Each builder imports its backend when called: choosing DuckDB never imports BigQuery's client.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from mlplatform.choices import Registry

if TYPE_CHECKING:
    from mlplatform.resources.warehouse import Warehouse
    from mlplatform.settings import Settings


def duckdb_warehouse(settings: Settings) -> Warehouse:
    from mlplatform.resources.duckdb_warehouse import DuckDBWarehouse

    return DuckDBWarehouse(
        database=str(settings.duckdb_path),
        schema_name=settings.warehouse_schema,
        lock_timeout_seconds=settings.warehouse_lock_timeout_seconds,
    )


def bigquery_warehouse(settings: Settings) -> Warehouse:
    # google-cloud-bigquery takes seconds to import, and DuckDB users never need it.
    from mlplatform.resources.bigquery_warehouse import BigQueryWarehouse

    if not settings.bigquery_project:
        raise ValueError(
            "MLPLATFORM_WAREHOUSE=bigquery needs a project: set MLPLATFORM_BIGQUERY_PROJECT "
            "(or GOOGLE_CLOUD_PROJECT)"
        )
    return BigQueryWarehouse(
        project=settings.bigquery_project,
        location=settings.bigquery_location,
        schema_name=settings.warehouse_schema,
        gcp_credentials=settings.bigquery_credentials,
    )


WAREHOUSES: Registry[Callable[[Settings], Warehouse]] = Registry(
    "MLPLATFORM_WAREHOUSE", {"duckdb": duckdb_warehouse, "bigquery": bigquery_warehouse}
)


def build_warehouse(settings: Settings) -> Warehouse:
    return WAREHOUSES[settings.warehouse](settings)
