"""Resources and IO managers: everything that touches the outside, built from `Settings`.

One implementation per backend sits behind each seam (`WAREHOUSES` for the warehouse); the
choice is a setting, never an `if` in an asset.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dagster import EnvVar, FilesystemIOManager
from dagster_dbt import DbtCliResource

from mlplatform.lib.dbt_project import dbt_project
from mlplatform.resources.duckdb_warehouse import DuckDBWarehouse
from mlplatform.resources.great_expectations import GreatExpectationsResource
from mlplatform.resources.mlflow_tracking import MlflowTracking
from mlplatform.resources.model_io import MlflowModelIOManager
from mlplatform.resources.model_registry import MlflowModelRegistry
from mlplatform.resources.notifications import Notifier, ReportStore
from mlplatform.resources.policies import (
    IngestionPolicy,
    MonitoringPolicy,
    PromotionPolicy,
    RetrainingPolicy,
    TrainingPolicy,
)
from mlplatform.resources.source import MadeWithMLSource
from mlplatform.resources.warehouse import Warehouse
from mlplatform.settings import (
    BIGQUERY_CREDENTIALS_VAR,
    GX_PROJECT_DIR,
    OPTUNA_STORAGE_VAR,
    SLACK_WEBHOOK_VAR,
    TRACKING_URI_VAR,
    Settings,
)


def _duckdb_warehouse(settings: Settings) -> Warehouse:
    return DuckDBWarehouse(
        database=str(settings.duckdb_path),
        schema_name=settings.warehouse_schema,
        lock_timeout_seconds=settings.warehouse_lock_timeout_seconds,
    )


def _bigquery_warehouse(settings: Settings) -> Warehouse:
    # Imported here: google-cloud-bigquery takes seconds to import, and DuckDB users never need it.
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
        gcp_credentials=as_env_var(BIGQUERY_CREDENTIALS_VAR, settings.bigquery_credentials),
    )


WAREHOUSES: dict[str, Callable[[Settings], Warehouse]] = {
    "duckdb": _duckdb_warehouse,
    "bigquery": _bigquery_warehouse,
}


def build_resources(settings: Settings) -> dict[str, Any]:
    """The resources of one environment; nothing connects until a step uses them."""
    warehouse = build_warehouse(settings)
    registry = build_model_registry(settings, secrets_as_env_vars=True)
    return {
        "warehouse": warehouse,
        "io_manager": warehouse.io_manager(),
        "dbt": DbtCliResource(
            project_dir=dbt_project,
            target=warehouse.dbt_target,
            dbt_executable=settings.dbt_executable or _dbt_executable(),
        ),
        "source": MadeWithMLSource(location=settings.source, as_of=settings.source_as_of),
        "great_expectations": GreatExpectationsResource(project_dir=str(GX_PROJECT_DIR)),
        "ingestion_policy": IngestionPolicy(accept_shrink=settings.accept_shrink),
        "mlflow_tracking": registry.tracking,
        "model_registry": registry,
        "model_io_manager": MlflowModelIOManager(registry=registry),
        "fs_io_manager": FilesystemIOManager(base_dir=str(settings.home / "storage")),
        "reports": ReportStore(directory=str(settings.home / "reports")),
        "notifier": Notifier(
            slack_webhook_url=as_env_var(SLACK_WEBHOOK_VAR, settings.slack_webhook_url)
        ),
        "training_policy": TrainingPolicy(
            n_trials=settings.tuning_trials,
            timeout_seconds=settings.tuning_timeout_seconds,
            tuning_workers=settings.tuning_workers,
            seed=settings.seed,
            optuna_storage=as_env_var(OPTUNA_STORAGE_VAR, settings.optuna_storage),
        ),
        "promotion_policy": PromotionPolicy(),
        "monitoring_policy": MonitoringPolicy(),
        "retraining_policy": RetrainingPolicy(),
        **INGESTION_RESOURCES[settings.ingestion](settings),
    }


def _airbyte_resources(settings: Settings) -> dict[str, Any]:
    from mlplatform.resources.airbyte import build_airbyte_workspace

    return {"airbyte": build_airbyte_workspace(settings.airbyte, secrets_as_env_vars=True)}


# What each ingestion backend needs beside the shared resources.
INGESTION_RESOURCES: dict[str, Callable[[Settings], dict[str, Any]]] = {
    "builtin": lambda settings: {},
    "airbyte": _airbyte_resources,
}


def build_warehouse(settings: Settings) -> Warehouse:
    return WAREHOUSES[settings.warehouse](settings)


def build_model_registry(
    settings: Settings, secrets_as_env_vars: bool = False
) -> MlflowModelRegistry:
    """The registry over the tracking store of `settings`; outside Dagster (the CLI) the URI
    is used as a plain value."""
    uri = settings.mlflow_tracking_uri
    tracking = MlflowTracking(
        tracking_uri=as_env_var(TRACKING_URI_VAR, uri) if secrets_as_env_vars else uri,
        artifact_location=settings.mlflow_artifact_location,
        ui_url=settings.mlflow_ui_url,
    )
    return MlflowModelRegistry(tracking=tracking)


def as_env_var(name: str, value: Any) -> Any:
    """A value the environment variable `name` set reaches the resource as `EnvVar(name)`.

    URLs may hold credentials: as an EnvVar the resource's config in the UI shows the variable's
    name, never its value.
    """
    return EnvVar(name) if value is not None and os.environ.get(name) == value else value


def _dbt_executable() -> str:
    """The dbt beside this interpreter, so it works without the venv on PATH."""
    beside = Path(sys.executable).parent / "dbt"
    return str(beside) if beside.exists() else shutil.which("dbt") or "dbt"
