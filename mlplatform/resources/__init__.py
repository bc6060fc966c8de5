"""Resources and IO managers: everything that touches the outside, built from `Settings`."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any

from dagster import FilesystemIOManager
from dagster_dbt import DbtCliResource

from mlplatform.resources.great_expectations import GreatExpectationsResource
from mlplatform.resources.mlflow_tracking import MlflowTracking
from mlplatform.resources.model_io import MlflowModelIOManager
from mlplatform.resources.notifications import Notifier, ReportStore
from mlplatform.resources.policies import MonitoringPolicy, PromotionPolicy, TrainingPolicy
from mlplatform.resources.source import MadeWithMLSource
from mlplatform.resources.warehouse import DuckDBWarehouse, WarehouseIOManager
from mlplatform.settings import GX_PROJECT_DIR, Settings
from mlplatform.transformation.project import dbt_project


def build_resources(settings: Settings) -> dict[str, Any]:
    """The resources of one environment; nothing connects until a step uses them."""
    database, schema = str(settings.duckdb_path), settings.warehouse_schema
    mlflow = MlflowTracking(
        tracking_uri=settings.mlflow_tracking_uri,
        artifact_location=settings.mlflow_artifact_location,
    )
    return {
        "mlflow": mlflow,
        "model_io_manager": MlflowModelIOManager(mlflow=mlflow),
        "fs_io_manager": FilesystemIOManager(base_dir=str(settings.home / "storage")),
        "training": TrainingPolicy(
            n_trials=settings.tuning_trials,
            timeout_seconds=settings.tuning_timeout_seconds,
            seed=settings.seed,
            optuna_storage=settings.optuna_storage,
        ),
        "promotion": PromotionPolicy(),
        "monitoring": MonitoringPolicy(),
        "notifier": Notifier(slack_webhook_url=settings.slack_webhook_url),
        "reports": ReportStore(directory=str(settings.home / "reports")),
        "io_manager": WarehouseIOManager(database=database, schema=schema),
        "warehouse": DuckDBWarehouse(database=database, schema_name=schema),
        "source": MadeWithMLSource(location=settings.source, as_of=settings.source_as_of),
        "great_expectations": GreatExpectationsResource(project_dir=str(GX_PROJECT_DIR)),
        "dbt": DbtCliResource(
            project_dir=dbt_project, target=settings.dbt_target, dbt_executable=_dbt_executable()
        ),
    }


def _dbt_executable() -> str:
    """The dbt beside this interpreter, so it works without the venv on PATH."""
    beside = Path(sys.executable).parent / "dbt"
    return str(beside) if beside.exists() else shutil.which("dbt") or "dbt"
