"""Great Expectations checks on assets that are built outside Python (dbt models)."""

import pandas as pd
from dagster import AssetCheckResult, AssetKey, asset_check

from mlplatform.lib.checks import GX_CHECK_NAME, gx_check_description, suite_check_result
from mlplatform.lib.partitions import MONTHLY_PARTITIONS
from mlplatform.resources.great_expectations import GreatExpectationsResource
from mlplatform.resources.warehouse import WAREHOUSE_POOL


@asset_check(
    asset=AssetKey("labeled_projects"),
    name=GX_CHECK_NAME,
    blocking=True,
    pool=WAREHOUSE_POOL,
    description=gx_check_description("labeled_projects"),
    # The run's months, not the whole table: a month's check costs the month.
    partitions_def=MONTHLY_PARTITIONS,
)
def labeled_projects_gx_suite(
    labeled_projects: pd.DataFrame, great_expectations: GreatExpectationsResource
) -> AssetCheckResult:
    return suite_check_result(great_expectations.validate(labeled_projects, "labeled_projects"))
