"""The code location, and the one place the environment comes in.

`build_definitions(settings)` merges the environment-free `defs/` folder with what `settings`
choose: the ingestion backend and the feature store (their definitions and resources), the
resources of every other seam, the executor and the first monthly partition. `dagster`, `dg`
and the tests all load `defs` from here. Nothing heavy runs at import: no dbt parse, no
network, no database connection.
"""

import warnings
from typing import Any

from dagster import AssetSelection, BetaWarning, ComponentTree, Definitions, PreviewWarning

from mlplatform import defs as defs_folder
from mlplatform.feature_store import FEATURE_STORES
from mlplatform.ingestion import INGESTIONS
from mlplatform.lib.dbt_project import require_manifest
from mlplatform.lib.execution import EXECUTORS, recording_host
from mlplatform.lib.partitions import starting_at
from mlplatform.resources import build_resources
from mlplatform.resources.warehouse import WAREHOUSE_TABLE_TAG
from mlplatform.settings import PROJECT_ROOT, Settings


def build_definitions(settings: Settings, **resource_overrides: Any) -> Definitions:
    """Everything under `mlplatform/defs/` plus the ingestion backend, feature store, resources
    and executor that `settings` choose; `resource_overrides` replace resources by key (tests)."""
    backends = [INGESTIONS[settings.ingestion], FEATURE_STORES[settings.feature_store]]
    resources = build_resources(settings)
    for backend in backends:
        resources |= backend.resources(settings)
    resources |= resource_overrides
    environment = Definitions(
        resources=resources, executor=recording_host(EXECUTORS[settings.executor](settings))
    )
    chosen = [backend.definitions(settings) for backend in backends]
    merged = Definitions.merge(load_defs_folder(), *chosen, environment)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PreviewWarning)  # map_resolved_asset_specs
        described = merged.map_resolved_asset_specs(
            func=resources["warehouse"].describe,
            selection=AssetSelection.tag(WAREHOUSE_TABLE_TAG, ""),
        )
        return described.map_resolved_asset_specs(func=starting_at(settings.partitions_start))


def load_defs_folder() -> Definitions:
    """The definitions under `mlplatform/defs/`, as `dg.load_from_defs_folder` finds them.

    The same component tree, built at the defs module: `load_from_defs_folder` also re-reads
    pyproject.toml and attaches a JSON catalog of every installed component type for the UI's
    component library, which costs 0.2 to 0.5 s per import and which we do not use (no components of
    our own); bench/import_time.py measures it.
    """
    require_manifest()
    tree = ComponentTree.from_module(defs_module=defs_folder, project_root=PROJECT_ROOT)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PreviewWarning)  # load_definitions_from_modules
        warnings.simplefilter("ignore", BetaWarning)  # backfill_policy on unpartitioned assets
        return tree.build_defs(tree.defs_module_path)


defs = build_definitions(Settings.from_env())
