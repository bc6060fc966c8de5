"""Platform-wide sensors (failed runs, declarative automation) and the cron fallback."""

from dagster import (
    AssetSelection,
    AutomationConditionSensorDefinition,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    RunFailureSensorContext,
    RunRequest,
    ScheduleEvaluationContext,
    run_failure_sensor,
    schedule,
)

from mlplatform.defs.automation.jobs import refresh_job
from mlplatform.lib.partitions import PARTITIONS_TIMEZONE, current_month
from mlplatform.resources.notifications import Notifier


@run_failure_sensor(
    default_status=DefaultSensorStatus.RUNNING,
    description="Sends a run_failed notification (Slack when configured) for every failed run.",
)
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
    description="Declarative automation: every 30 s, materializes the assets whose automation "
    "condition says they are out of date (labeled_projects and drift_report after new data; "
    "evaluation and promotion after a new trained_model).",
)


# A deployment without event triggers still moves: ingest, transform, measure drift daily.
@schedule(
    name="daily_refresh",
    job=refresh_job,
    cron_schedule="0 6 * * *",
    execution_timezone=PARTITIONS_TIMEZONE,
    default_status=DefaultScheduleStatus.STOPPED,
    description="Daily at 06:00 UTC (off by default): refresh_job ingests and transforms the "
    "current month and measures drift, for deployments where the sensors are turned off.",
)
def daily_refresh_schedule(context: ScheduleEvaluationContext) -> RunRequest:
    """The month the tick falls in: the month whose rows are still arriving."""
    month = current_month(context.scheduled_execution_time)
    return RunRequest(
        run_key=f"refresh-{context.scheduled_execution_time:%Y-%m-%d}", partition_key=month
    )
