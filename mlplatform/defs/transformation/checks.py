"""Great Expectations checks on assets that are built outside Python (dbt models)."""

from dagster import AssetCheckExecutionContext, AssetCheckResult, AssetKey, asset_check

from mlplatform.lib.checks import GX_CHECK_NAME, gx_check_description, suite_check_result
from mlplatform.lib.partitions import run_window
from mlplatform.resources.great_expectations import GreatExpectationsResource
from mlplatform.resources.warehouse import WAREHOUSE_POOL, Warehouse


@asset_check(
    asset=AssetKey("labeled_projects"),
    name=GX_CHECK_NAME,
    blocking=True,
    pool=WAREHOUSE_POOL,
    description=gx_check_description("labeled_projects"),
)
def labeled_projects_gx_suite(
    context: AssetCheckExecutionContext,
    warehouse: Warehouse,
    great_expectations: GreatExpectationsResource,
) -> AssetCheckResult:
    """The published rows of the run's months (every row in a run without months)."""
    window = run_window(context.op_execution_context)
    context.log.info(f"Validating labeled_projects {window or 'every month'}")
    rows = warehouse.read_table("labeled_projects", window)
    return suite_check_result(great_expectations.validate(rows, "labeled_projects"))
