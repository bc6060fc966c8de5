"""Run the platform's own definitions in-process on a temporary warehouse and read what it
stored."""

from __future__ import annotations

import pandas as pd
from dagster import (
    AssetKey,
    AssetSelection,
    DagsterInstance,
    Definitions,
    ExecuteInProcessResult,
    materialize,
)

from mlplatform.definitions import build_definitions
from mlplatform.lib.partitions import range_run_tags
from mlplatform.resources import build_warehouse
from mlplatform.settings import Settings

Selection = AssetSelection | str | list[str]
DATAOPS = AssetSelection.groups("ingestion", "transformation")


def materialize_selection(
    defs: Definitions,
    selection: Selection,
    instance: DagsterInstance | None = None,
    months: tuple[str, str] | None = None,
) -> ExecuteInProcessResult:
    """Materialize `selection` (and the checks of what it selects) of `defs`, in process: the
    partitioned assets for the months `months` spans (first, last), all of them by default, in
    one run, as the README's main command does."""
    return materialize(
        [*defs.assets, *(defs.asset_checks or [])],
        resources=defs.resources,
        selection=selection,
        instance=instance,
        raise_on_error=False,
        tags=month_range_tags(defs, selection, months),
    )


def month_range_tags(
    defs: Definitions, selection: Selection, months: tuple[str, str] | None = None
) -> dict[str, str]:
    """The run tags of a single-run backfill over `months` (every month when None), when the
    selection holds a partitioned asset."""
    graph = defs.resolve_asset_graph()
    selected = AssetSelection.from_coercible(selection).resolve(graph)
    partitioned = [
        graph.get(key).partitions_def for key in selected if graph.get(key).partitions_def
    ]
    if not partitioned:
        return {}
    first, last = months or (
        partitioned[0].get_first_partition_key(),
        partitioned[0].get_last_partition_key(),
    )
    return range_run_tags(first, last)


def materialize_dataops(
    settings: Settings,
    instance: DagsterInstance | None = None,
    selection: Selection = DATAOPS,
) -> ExecuteInProcessResult:
    return materialize_selection(build_definitions(settings), selection, instance)


def read_warehouse_table(settings: Settings, table: str) -> pd.DataFrame:
    return build_warehouse(settings).read_table(table)


def materialized_keys(result: ExecuteInProcessResult) -> set[str]:
    return {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}


def check_evaluations(result: ExecuteInProcessResult) -> dict[str, object]:
    """Check evaluations keyed by 'asset:check'."""
    return {
        f"{e.asset_key.to_user_string()}:{e.check_name}": e
        for e in result.get_asset_check_evaluations()
    }


LABELED_PROJECTS = AssetKey("labeled_projects")
