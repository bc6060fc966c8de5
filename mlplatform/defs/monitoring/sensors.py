"""Drift that asks for retraining: one retraining run per drift event, with a cool-down."""

import json

from dagster import (
    AssetKey,
    DefaultSensorStatus,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from mlplatform.defs.training.jobs import retraining_job
from mlplatform.resources.notifications import Notifier
from mlplatform.resources.policies import MonitoringPolicy

DRIFT_REPORT = AssetKey("drift_report")


@sensor(
    job=retraining_job,
    minimum_interval_seconds=60,
    default_status=DefaultSensorStatus.RUNNING,
    description="Launches retraining_job when a drift_report confirms drift, at most once per "
    "cool-down; the promotion gate still decides whether the new model is used.",
)
def drift_retraining_sensor(
    context: SensorEvaluationContext, monitoring_policy: MonitoringPolicy, notifier: Notifier
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
    if (
        last_trigger
        and record.timestamp - last_trigger < monitoring_policy.retraining_cooldown_seconds
    ):
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
