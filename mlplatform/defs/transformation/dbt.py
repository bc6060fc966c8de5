"""dbt models as assets, built with write-audit-publish a month at a time; dbt tests become
asset checks.

Each run builds the months it covers: dbt's `--vars` carry the window (`window_start`,
`window_end`), the model selects the projects created in it into the staging schema, the dbt
tests, GX suite and volume guard audit that staged window, and publishing deletes the window's
rows and inserts the staged ones in one transaction (`delete+insert`). dbt's own incremental
materialization would write straight into the published table, before any audit; here dbt
builds and tests, and the warehouse seam publishes.
"""

import json
from collections.abc import Iterator, Mapping
from typing import Any

from dagster import AssetExecutionContext, AssetKey, AutomationCondition, Failure, Output
from dagster_dbt import (
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtCliResource,
    dbt_assets,
)

from mlplatform.core.partitions import PARTITION_COLUMN, CreationWindow
from mlplatform.core.volume import VolumeConfig, check_volume
from mlplatform.lib.automation import fresh_when_parents_update
from mlplatform.lib.checks import suite_check_result
from mlplatform.lib.dbt_project import dbt_project
from mlplatform.lib.metadata import PREVIEW_ROWS, table_metadata
from mlplatform.lib.ownership import DATA_OWNERS
from mlplatform.lib.partitions import MONTHLY_PARTITIONS, ONE_RUN, run_window
from mlplatform.resources.great_expectations import GreatExpectationsResource
from mlplatform.resources.policies import IngestionPolicy
from mlplatform.resources.warehouse import WAREHOUSE_POOL, WAREHOUSE_TABLE_TAG, Warehouse


class MadeWithMLDbtTranslator(DagsterDbtTranslator):
    """dbt sources map onto the raw assets that land them (`projects`, `tags`)."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            return AssetKey(dbt_resource_props["name"])
        return super().get_asset_key(dbt_resource_props)

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        return "transformation"

    def get_tags(self, dbt_resource_props: Mapping[str, Any]) -> Mapping[str, str]:
        return {**super().get_tags(dbt_resource_props), WAREHOUSE_TABLE_TAG: ""}

    def get_owners(self, dbt_resource_props: Mapping[str, Any]) -> list[str]:
        return DATA_OWNERS

    def get_automation_condition(
        self, dbt_resource_props: Mapping[str, Any]
    ) -> AutomationCondition | None:
        return fresh_when_parents_update()

    def get_metadata(self, dbt_resource_props: Mapping[str, Any]) -> Mapping[str, Any]:
        # The IO manager loads a month (or the months a reader needs) by this column.
        return {**super().get_metadata(dbt_resource_props), "partition_expr": PARTITION_COLUMN}


dbt_translator = MadeWithMLDbtTranslator(
    settings=DagsterDbtTranslatorSettings(enable_asset_checks=True)
)


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    dagster_dbt_translator=dbt_translator,
    pool=WAREHOUSE_POOL,
    partitions_def=MONTHLY_PARTITIONS,
    backfill_policy=ONE_RUN,
)
def madewithml_dbt_models(
    context: AssetExecutionContext,
    dbt: DbtCliResource,
    warehouse: Warehouse,
    great_expectations: GreatExpectationsResource,
    ingestion_policy: IngestionPolicy,
) -> Iterator[Any]:
    """Write-audit-publish: `dbt build` into the staging schema (models and their tests), each
    model's GX suite and volume guard on its staged table, and only then the tables published,
    with metadata."""
    window = run_window(context)
    context.log.info(f"Building the months {window}")
    with warehouse.exclusive():
        yield from _build_audit_publish(
            context, dbt, warehouse, great_expectations, ingestion_policy.volume_config(), window
        )


def dbt_vars(warehouse: Warehouse, window: CreationWindow | None) -> dict[str, str]:
    """The warehouse's variables, and the window the models select (none: every row)."""
    if window is None:
        return warehouse.dbt_vars()
    bounds = {"window_start": str(window.start), "window_end": str(window.end)}
    return {**warehouse.dbt_vars(), **bounds}


def _build_audit_publish(
    context: AssetExecutionContext,
    dbt: DbtCliResource,
    warehouse: Warehouse,
    great_expectations: GreatExpectationsResource,
    volume: VolumeConfig,
    window: CreationWindow | None,
) -> Iterator[Any]:
    invocation = dbt.cli(
        ["build", "--vars", json.dumps(dbt_vars(warehouse, window))],
        context=context,
        raise_on_error=False,
    )
    # DuckDB allows one writer: read the staged tables only once dbt has let go of the file.
    events = list(invocation.stream())
    outputs = [event for event in events if isinstance(event, Output)]
    yield from (event for event in events if not isinstance(event, Output))  # the dbt tests
    if not invocation.is_successful():
        error = invocation.get_error()
        raise Failure(f"dbt build failed; nothing was published: {error}") from error
    tables = [context.asset_key_for_output(output.output_name).path[-1] for output in outputs]
    audit_staged(warehouse, great_expectations, tables, volume, window)
    for table, output in zip(tables, outputs, strict=True):
        warehouse.publish(table, window)
        profile = warehouse.profile_table(table, PREVIEW_ROWS)
        yield output.with_metadata(
            {
                **output.metadata,
                **table_metadata(profile.row_count, profile.columns, profile.preview),
            }
        )


def audit_staged(
    warehouse: Warehouse,
    great_expectations: GreatExpectationsResource,
    tables: list[str],
    volume: VolumeConfig = VolumeConfig(),
    window: CreationWindow | None = None,
) -> None:
    """Every staged table must pass its suite (`gx/expectations/<table>.json`) and the volume
    guard against the same months as stored (an empty table passes every suite) before any
    table is published."""
    for table in tables:
        staged = warehouse.read_staged(table)
        verdict = check_volume(table, len(staged), warehouse.row_count(table, window), volume)
        if not verdict.passed:
            raise Failure(
                f"{verdict.reason}; {table} was not published",
                metadata={"rows": verdict.rows, "stored_rows": verdict.stored_rows or 0},
            )
        outcome = great_expectations.validate(staged, table)
        if not outcome.success:
            raise Failure(
                f"{outcome.summary()}; {table} was not published, the stored table is unchanged",
                metadata={"results": suite_check_result(outcome).metadata["results"]},
            )
