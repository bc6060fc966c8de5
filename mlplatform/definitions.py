"""The code location: one `Definitions`, built from settings. Nothing heavy runs here."""

from typing import Any

from dagster import Definitions, load_assets_from_modules

from mlplatform.automation import sensors
from mlplatform.automation.jobs import ingestion_job, refresh_job, retraining_job
from mlplatform.deployment import assets as deployment_assets
from mlplatform.ingestion import assets as ingestion_assets
from mlplatform.lib.execution import executor_for
from mlplatform.monitoring import assets as monitoring_assets
from mlplatform.quality.checks import labeled_projects_gx_suite
from mlplatform.resources import build_resources
from mlplatform.settings import Settings
from mlplatform.training import assets as training_assets
from mlplatform.transformation import assets as transformation_assets


def build_definitions(settings: Settings, **resource_overrides: Any) -> Definitions:
    return Definitions(
        assets=load_assets_from_modules(
            [
                ingestion_assets,
                transformation_assets,
                training_assets,
                deployment_assets,
                monitoring_assets,
            ]
        ),
        asset_checks=[labeled_projects_gx_suite, deployment_assets.promotion_gate],
        jobs=[ingestion_job, retraining_job, refresh_job],
        sensors=[
            sensors.source_change_sensor,
            sensors.drift_retraining_sensor,
            sensors.notify_on_run_failure,
            sensors.automation_sensor,
        ],
        schedules=[sensors.daily_refresh_schedule],
        resources={**build_resources(settings), **resource_overrides},
        executor=executor_for(settings.executor),
    )


defs = build_definitions(Settings.from_env())
