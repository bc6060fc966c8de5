"""Retraining: one policy over drift, performance decay, data growth and the first model."""

from dataclasses import replace

from dagster import (
    AssetKey,
    DagsterEventType,
    DagsterInstance,
    DagsterRunStatus,
    DefaultSensorStatus,
    EventLogRecord,
    RunRequest,
    RunsFilter,
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
MODEL_EVALUATION = AssetKey("model_evaluation")
MAX_RETRIES = 2  # a retraining that keeps failing before the gate needs a person
RUN_KEY_TAG = "dagster/run_key"  # where Dagster records the run key of a sensor's run
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
    """One retraining per new monitoring event on which a rule of the policy fires; a retraining
    that failed before the gate decided is asked for again (at most `MAX_RETRIES` times)."""
    cursor = RetrainingCursor.from_json(context.cursor)
    if retry := retry_of_failed_retraining(context, cursor, notifier):
        return retry
    drift_record = _latest(context, DRIFT_REPORT)
    performance_record = _latest(context, CHAMPION_PERFORMANCE)
    decision = decide_retraining(
        drift_event(drift_record) if drift_record else None,
        performance_event(performance_record) if performance_record else None,
        cursor,
        retraining_policy.retraining_config(),
    )
    cursor = decision.cursor
    if not decision.retrain:
        return SensorResult(skip_reason=decision.reason, cursor=cursor.to_json())
    context.log.info(decision.reason)
    notifier.notify("retraining_started", decision.reason)
    rules = RULES_SEPARATOR.join(decision.rules)
    run_key = f"{rules}-d{cursor.drift_storage_id}-p{cursor.performance_storage_id}"
    request = RunRequest(
        run_key=run_key,
        tags={
            RULES_TAG: rules,
            REASON_TAG: decision.reason[:REASON_TAG_CHARS],
            "mlplatform/drift_report_storage_id": str(cursor.drift_storage_id),
            "mlplatform/champion_performance_storage_id": str(cursor.performance_storage_id),
        },
    )
    cursor = replace(cursor, requested_run_key=run_key, retries=0)
    return SensorResult(run_requests=[request], cursor=cursor.to_json())


def retry_of_failed_retraining(
    context: SensorEvaluationContext, cursor: RetrainingCursor, notifier: Notifier
) -> SensorResult | None:
    """The last requested retraining again, when its run failed before `model_evaluation`
    materialized (an outage, a killed worker): its decision still stands. A run the gate
    refused reached its decision and is not retried."""
    key = cursor.attempt_run_key
    runs = context.instance.get_runs(RunsFilter(tags={RUN_KEY_TAG: key}), limit=1) if key else []
    if not runs or runs[0].status not in (DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED):
        return None
    failed = runs[0]
    if _materialized_in(context.instance, failed.run_id, MODEL_EVALUATION):
        return None
    if cursor.retries >= MAX_RETRIES:
        context.log.warning(f"retraining run {failed.run_id} failed; {MAX_RETRIES} retries spent")
        return None
    cursor = replace(cursor, retries=cursor.retries + 1)
    reason = (
        f"retraining asked for again (attempt {cursor.retries + 1}): run {failed.run_id} "
        f"({key}) failed before the gate decided"
    )
    notifier.notify("retraining_started", reason)
    tags = {k: v for k, v in failed.tags.items() if k.startswith("mlplatform/")}
    request = RunRequest(
        run_key=cursor.attempt_run_key, tags={**tags, "mlplatform/retry_of": failed.run_id}
    )
    return SensorResult(run_requests=[request], cursor=cursor.to_json())


def _materialized_in(instance: DagsterInstance, run_id: str, key: AssetKey) -> bool:
    records = instance.get_records_for_run(
        run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION
    ).records
    return any(record.asset_key == key for record in records)


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
