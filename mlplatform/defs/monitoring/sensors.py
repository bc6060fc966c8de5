"""Drift that asks for retraining: one retraining run per drift event, with a cool-down."""

from dagster import (
    AssetKey,
    DefaultSensorStatus,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from mlplatform.core.retraining import DriftEvent, RetrainingCursor, decide_retraining
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
    records = context.instance.fetch_materializations(DRIFT_REPORT, limit=1).records
    if not records:
        return SkipReason("no drift_report yet")
    event = latest_drift_event(records[0])
    cursor = RetrainingCursor.from_json(context.cursor)
    decision = decide_retraining(event, cursor, monitoring_policy.retraining_cooldown_seconds)
    if not decision.retrain:
        return SensorResult(skip_reason=decision.reason, cursor=decision.cursor.to_json())
    notifier.notify("retraining_started", decision.reason)
    request = RunRequest(
        run_key=f"drift-{event.storage_id}",
        tags={"mlplatform/drift_report_storage_id": str(event.storage_id)},
    )
    return SensorResult(run_requests=[request], cursor=decision.cursor.to_json())


def latest_drift_event(record) -> DriftEvent:
    """The verdict a drift_report materialization carries in its metadata."""
    metadata = record.asset_materialization.metadata
    drifted = "drift_detected" in metadata and bool(metadata["drift_detected"].value)
    status = metadata["status"].value if "status" in metadata else "unknown"
    return DriftEvent(record.storage_id, record.timestamp, drifted, str(status))
