"""Platform-wide sensors (failed runs, declarative automation) and the cron fallback."""

from dagster import (
    AssetSelection,
    AutomationConditionSensorDefinition,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    RunFailureSensorContext,
    ScheduleDefinition,
    run_failure_sensor,
)

from mlplatform.defs.automation.jobs import refresh_job
from mlplatform.resources.notifications import Notifier


@run_failure_sensor(default_status=DefaultSensorStatus.RUNNING)
def notify_on_run_failure(context: RunFailureSensorContext, notifier: Notifier) -> None:
    run = context.dagster_run
    notifier.notify(
        "run_failed",
        f"run {run.run_id} of job {run.job_name} failed: {context.failure_event.message}",
    )


# Dagster's default automation sensor starts STOPPED under `dagster dev`: this one runs.
automation_sensor = AutomationConditionSensorDefinition(
    "automation_sensor",
    target=AssetSelection.all(),
    default_status=DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
)

# A deployment without event triggers still moves: ingest, transform, measure drift daily.
daily_refresh_schedule = ScheduleDefinition(
    name="daily_refresh",
    job=refresh_job,
    cron_schedule="0 6 * * *",
    default_status=DefaultScheduleStatus.STOPPED,
)
