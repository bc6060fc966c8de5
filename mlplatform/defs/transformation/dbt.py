"""dbt models as assets; dbt tests become asset checks."""

import json
from collections.abc import Iterator, Mapping
from typing import Any

from dagster import AssetExecutionContext, AssetKey, AutomationCondition, Output
from dagster_dbt import (
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtCliResource,
    dbt_assets,
)

from mlplatform.lib.automation import fresh_when_parents_update
from mlplatform.lib.dbt_project import dbt_project
from mlplatform.lib.metadata import PREVIEW_ROWS, table_metadata
from mlplatform.lib.ownership import DATA_OWNERS
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


dbt_translator = MadeWithMLDbtTranslator(
    settings=DagsterDbtTranslatorSettings(enable_asset_checks=True)
)


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    dagster_dbt_translator=dbt_translator,
    pool=WAREHOUSE_POOL,
)
def madewithml_dbt_models(
    context: AssetExecutionContext, dbt: DbtCliResource, warehouse: Warehouse
) -> Iterator[Any]:
    """`dbt build`: models and their tests, with row counts and previews read afterwards."""
    invocation = dbt.cli(
        ["build", "--vars", json.dumps(warehouse.dbt_vars())], context=context, raise_on_error=False
    )
    # DuckDB allows one writer: profile the tables only once dbt has let go of the file.
    events = list(invocation.stream())
    for event in events:
        if isinstance(event, Output):
            table = context.asset_key_for_output(event.output_name).path[-1]
            profile = warehouse.profile_table(table, PREVIEW_ROWS)
            event = event.with_metadata(
                {
                    **event.metadata,
                    **table_metadata(profile.row_count, profile.columns, profile.preview),
                }
            )
        yield event
    if not invocation.is_successful():
        raise invocation.get_error() or RuntimeError("dbt build failed")
