"""Resources and IO managers: everything that touches the outside, built from `Settings`.

One implementation per backend sits behind each seam (`warehouses.WAREHOUSES` for the
warehouse); the choice is a setting, never an `if` in an asset. Secrets arrive in `Settings` as
`EnvVar`s and are passed on as they are.
"""

from __future__ import annotations

import shutil
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

from dagster import FilesystemIOManager
from dagster_dbt import DbtCliResource

from mlplatform.lib.dbt_project import dbt_project
from mlplatform.resources.great_expectations import GreatExpectationsResource
from mlplatform.resources.mlflow_tracking import MlflowTracking
from mlplatform.resources.model_io import MlflowModelIOManager
from mlplatform.resources.model_registry import MlflowModelRegistry
from mlplatform.resources.notifications import Notifier, ReportStore
from mlplatform.resources.policies import (
    IngestionPolicy,
    LabelingPolicy,
    MonitoringPolicy,
    PromotionPolicy,
    RetentionPolicy,
    RetrainingPolicy,
    TrainingPolicy,
)
from mlplatform.resources.source import MadeWithMLSource
from mlplatform.resources.warehouses import build_warehouse
from mlplatform.settings import GX_PROJECT_DIR, Settings, reveal


def build_resources(settings: Settings) -> dict[str, Any]:
    """The resources of one environment; nothing connects until a step uses them."""
    warehouse = build_warehouse(settings)
    registry = build_model_registry(settings)
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
        "reports": ReportStore(directory=str(settings.reports_dir)),
        "notifier": Notifier(slack_webhook_url=settings.slack_webhook_url),
        "training_policy": TrainingPolicy(**settings.tuning.as_fields()),
        "promotion_policy": PromotionPolicy(),
        "monitoring_policy": MonitoringPolicy(),
        "labeling_policy": LabelingPolicy(budget_share=settings.label_budget),
        "retraining_policy": RetrainingPolicy(),
        "retention_policy": RetentionPolicy(**asdict(settings.retention)),
    }


def build_model_registry(settings: Settings, reveal_secrets: bool = False) -> MlflowModelRegistry:
    """The registry over the tracking store of `settings`. Outside Dagster (the CLI) nothing
    resolves an `EnvVar`: `reveal_secrets` passes the URI's value instead."""
    uri = settings.mlflow_tracking_uri
    tracking = MlflowTracking(
        tracking_uri=reveal(uri) if reveal_secrets else uri,
        artifact_location=settings.mlflow_artifact_location,
        ui_url=settings.mlflow_ui_url,
    )
    return MlflowModelRegistry(tracking=tracking)


def _dbt_executable() -> str:
    """The dbt beside this interpreter, so it works without the venv on PATH."""
    beside = Path(sys.executable).parent / "dbt"
    return str(beside) if beside.exists() else shutil.which("dbt") or "dbt"
