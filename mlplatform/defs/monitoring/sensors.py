"""Retraining: one policy over drift, performance decay, data growth and the first model."""

from dagster import (
    AssetKey,
    DefaultSensorStatus,
    EventLogRecord,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from mlplatform.core.retraining import (
    DriftEvent,
    PerformanceEvent,
    RetrainingCursor,
    decide_retraining,
)
from mlplatform.defs.training.jobs import retraining_job
from mlplatform.resources.notifications import Notifier
from mlplatform.resources.policies import RetrainingPolicy

DRIFT_REPORT, CHAMPION_PERFORMANCE = AssetKey("drift_report"), AssetKey("champion_performance")
RULES_TAG, REASON_TAG = "mlplatform/retraining_rules", "mlplatform/retraining_reason"
RULES_SEPARATOR = "+"  # in the rules tag and the run key: "drift+decay"
REASON_TAG_CHARS = 1_000  # the run page shows why it was launched; the full text is in the log


@sensor(
    job=retraining_job,
    minimum_interval_seconds=60,
    default_status=DefaultSensorStatus.RUNNING,
    description="Launches retraining_job when drift is confirmed, the champion decays on new "
    "labeled rows, the data has grown enough, or there is no champion yet; at most once per "
    "cool-down. The promotion gate still decides whether the new model is used.",
)
def retraining_sensor(
    context: SensorEvaluationContext, retraining_policy: RetrainingPolicy, notifier: Notifier
) -> SensorResult | SkipReason:
    """One retraining per new monitoring event on which a rule of the policy fires."""
    drift_record = _latest(context, DRIFT_REPORT)
    performance_record = _latest(context, CHAMPION_PERFORMANCE)
    decision = decide_retraining(
        drift_event(drift_record) if drift_record else None,
        performance_event(performance_record) if performance_record else None,
        RetrainingCursor.from_json(context.cursor),
        retraining_policy.retraining_config(),
    )
    cursor = decision.cursor
    if not decision.retrain:
        return SensorResult(skip_reason=decision.reason, cursor=cursor.to_json())
    context.log.info(decision.reason)
    notifier.notify("retraining_started", decision.reason)
    rules = RULES_SEPARATOR.join(decision.rules)
    request = RunRequest(
        run_key=f"{rules}-d{cursor.drift_storage_id}-p{cursor.performance_storage_id}",
        tags={
            RULES_TAG: rules,
            REASON_TAG: decision.reason[:REASON_TAG_CHARS],
            "mlplatform/drift_report_storage_id": str(cursor.drift_storage_id),
            "mlplatform/champion_performance_storage_id": str(cursor.performance_storage_id),
        },
    )
    return SensorResult(run_requests=[request], cursor=cursor.to_json())


def _latest(context: SensorEvaluationContext, key: AssetKey) -> EventLogRecord | None:
    records = context.instance.fetch_materializations(key, limit=1).records
    return records[0] if records else None


def drift_event(record: EventLogRecord) -> DriftEvent:
    """The verdict a drift_report materialization carries in its metadata."""
    metadata = record.asset_materialization.metadata
    drifted = "drift_detected" in metadata and bool(metadata["drift_detected"].value)
    status = metadata["status"].value if "status" in metadata else "unknown"
    return DriftEvent(record.storage_id, record.timestamp, drifted, str(status))


def performance_event(record: EventLogRecord) -> PerformanceEvent:
    """The numbers a champion_performance materialization carries in its metadata."""
    metadata = record.asset_materialization.metadata
    stored = {key: value.value for key, value in metadata.items()}
    return PerformanceEvent.from_stored(record.storage_id, record.timestamp, stored)
