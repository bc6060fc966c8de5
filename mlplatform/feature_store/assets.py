"""`online_features`: the month's `project_features` exported to Feast's offline files and loaded
into its online store."""

import time

from dagster import AssetExecutionContext, AssetKey, Definitions, MaterializeResult, asset

from mlplatform.core.features import FEATURE_TABLE
from mlplatform.lib.automation import fresh_when_parents_update
from mlplatform.lib.ownership import ML_OWNERS
from mlplatform.lib.partitions import MONTHLY_PARTITIONS, ONE_RUN, run_window
from mlplatform.resources.feast_store import FeastFeatureStore
from mlplatform.resources.warehouse import WAREHOUSE_POOL, Warehouse


@asset(
    group_name="features",
    owners=ML_OWNERS,
    kinds={"feast"},
    deps=[AssetKey(FEATURE_TABLE)],
    automation_condition=fresh_when_parents_update(),
    pool=WAREHOUSE_POOL,
    partitions_def=MONTHLY_PARTITIONS,
    backfill_policy=ONE_RUN,
)
def online_features(
    context: AssetExecutionContext, warehouse: Warehouse, feast: FeastFeatureStore
) -> MaterializeResult:
    """The month's feature rows as Feast's offline files (one per month, replaced), registered
    with `feast apply` and materialized into the online store: a month costs the month."""
    window = run_window(context)
    rows = warehouse.feature_rows(window)
    written = feast.export_months(rows, context.partition_keys)
    started = time.perf_counter()
    how = feast.materialize(window)
    context.log.info(f"{window}: {len(rows)} rows into Feast's {feast.online_store_type}: {how}")
    return MaterializeResult(
        metadata={
            "window": str(window),
            "rows": len(rows),
            "rows_per_month": written,
            "online_store": feast.online_store_type,
            "materialized": how,
            "materialize_seconds": round(time.perf_counter() - started, 2),
            "repository": feast.repo_path,
        }
    )


def feast_definitions() -> Definitions:
    return Definitions(assets=[online_features])
