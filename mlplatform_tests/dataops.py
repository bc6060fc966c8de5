"""Run the DataOps graph in-process on a temporary warehouse and read what it stored."""

from __future__ import annotations

import duckdb
import pandas as pd
from dagster import AssetKey, DagsterInstance, ExecuteInProcessResult, materialize

from mlplatform.ingestion.assets import projects, tags
from mlplatform.quality.checks import labeled_projects_gx_suite
from mlplatform.resources import build_resources
from mlplatform.settings import Settings
from mlplatform.transformation.assets import madewithml_dbt_models

DATAOPS_DEFINITIONS = [projects, tags, madewithml_dbt_models, labeled_projects_gx_suite]


def materialize_dataops(
    settings: Settings, instance: DagsterInstance | None = None, selection: str | None = None
) -> ExecuteInProcessResult:
    return materialize(
        DATAOPS_DEFINITIONS,
        resources=build_resources(settings),
        instance=instance,
        selection=selection,
        raise_on_error=False,
    )


def read_warehouse_table(settings: Settings, table: str) -> pd.DataFrame:
    with duckdb.connect(str(settings.duckdb_path), read_only=True) as connection:
        return connection.sql(f'select * from "{settings.warehouse_schema}"."{table}"').df()


def materialized_keys(result: ExecuteInProcessResult) -> set[str]:
    return {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}


def check_evaluations(result: ExecuteInProcessResult) -> dict[str, object]:
    """Check evaluations keyed by 'asset:check'."""
    return {
        f"{e.asset_key.to_user_string()}:{e.check_name}": e
        for e in result.get_asset_check_evaluations()
    }


LABELED_PROJECTS = AssetKey("labeled_projects")
