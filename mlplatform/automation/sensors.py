"""Sensors: new data at the source, drift that asks for retraining, failed runs, and the
declarative automation sensor; plus a cron fallback."""

import json

from dagster import (
    AssetKey,
    AssetSelection,
    AutomationConditionSensorDefinition,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    RunFailureSensorContext,
    RunRequest,
    ScheduleDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    run_failure_sensor,
    sensor,
)

from mlplatform.automation.jobs import ingestion_job, refresh_job, retraining_job
from mlplatform.core.sources import SourceError
from mlplatform.resources.notifications import Notifier
from mlplatform.resources.policies import MonitoringPolicy
from mlplatform.resources.source import MadeWithMLSource

DRIFT_REPORT = AssetKey("drift_report")


@sensor(job=ingestion_job, minimum_interval_seconds=300, default_status=DefaultSensorStatus.RUNNING)
def source_change_sensor(
    context: SensorEvaluationContext, source: MadeWithMLSource
) -> SensorResult | SkipReason:
    """Ingest when the source's fingerprint changes; the run key is the fingerprint."""
    try:
        fingerprint = source.fingerprint()
    except SourceError as error:
        return SkipReason(f"source not reachable, will look again: {error}")
    if fingerprint == context.cursor:
        return SkipReason(f"source unchanged ({fingerprint[:12]})")
    return SensorResult(
        run_requests=[
            RunRequest(
                run_key=f"source-{fingerprint}", tags={"mlplatform/source_fingerprint": fingerprint}
            )
        ],
        cursor=fingerprint,
    )


@sensor(job=retraining_job, minimum_interval_seconds=60, default_status=DefaultSensorStatus.RUNNING)
def drift_retraining_sensor(
    context: SensorEvaluationContext, monitoring: MonitoringPolicy, notifier: Notifier
) -> SensorResult | SkipReason:
    """Retrain once per drift_report materialization that confirms drift, with a cool-down."""
    cursor = json.loads(context.cursor) if context.cursor else {}
    records = context.instance.fetch_materializations(DRIFT_REPORT, limit=1).records
    if not records:
        return SkipReason("no drift_report yet")
    record = records[0]
    if record.storage_id <= cursor.get("storage_id", -1):
        return SkipReason(f"drift_report {record.storage_id} already handled")
    metadata = record.asset_materialization.metadata
    drifted = bool(metadata.get("drift_detected") and metadata["drift_detected"].value)
    last_trigger = cursor.get("triggered_at")
    next_cursor = json.dumps({"storage_id": record.storage_id, "triggered_at": last_trigger})
    if not drifted:
        status = metadata["status"].value if "status" in metadata else "unknown"
        return SensorResult(skip_reason=f"latest drift_report: {status}", cursor=next_cursor)
    # The cool-down compares event times, never the clock of this tick.
    if last_trigger and record.timestamp - last_trigger < monitoring.retraining_cooldown_seconds:
        return SensorResult(
            skip_reason="drift confirmed, but inside the retraining cool-down", cursor=next_cursor
        )
    notifier.notify(
        "retraining_started",
        f"drift_report {record.storage_id} confirmed drift: retraining requested",
    )
    return SensorResult(
        run_requests=[
            RunRequest(
                run_key=f"drift-{record.storage_id}",
                tags={"mlplatform/drift_report_storage_id": str(record.storage_id)},
            )
        ],
        cursor=json.dumps({"storage_id": record.storage_id, "triggered_at": record.timestamp}),
    )


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
