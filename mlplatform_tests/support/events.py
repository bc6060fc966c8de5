"""Asset events written straight into an instance, as runs would have stored them, and sensor
ticks evaluated against it."""

from __future__ import annotations

from dagster import (
    AssetCheckEvaluation,
    AssetCheckSeverity,
    AssetKey,
    AssetMaterialization,
    AssetRecordsFilter,
    DagsterInstance,
    Definitions,
    SensorDefinition,
    build_sensor_context,
)

from mlplatform.core.drift import DRIFT, NO_DRIFT
from mlplatform.core.retraining import PerformanceEvent

# The month runless events of partitioned assets stand for.
REPORTED_MONTH = "2020-03-01"


def report_materialized(instance: DagsterInstance, defs: Definitions, *keys: str) -> None:
    """As a good run would: the materialization (of `REPORTED_MONTH` for a partitioned asset),
    then every check of the asset passing."""
    graph = defs.resolve_asset_graph()
    for key in keys:
        month = REPORTED_MONTH if graph.get(AssetKey(key)).partitions_def else None
        instance.report_runless_asset_event(AssetMaterialization(key, partition=month))
        for check in graph.asset_check_keys:
            if check.asset_key == AssetKey(key):
                report_check(instance, key, passed=True, name=check.name, partition=month)


def report_check(
    instance: DagsterInstance,
    key: str,
    passed: bool,
    name: str = "gx_suite",
    partition: str | None = None,
) -> None:
    """A blocking check's evaluation of the latest materialization, as its own run would record
    it (Dagster keys check executions by check, run and partition: two runless reports of one
    partition would clash, and a partition's check counts only for the materialization it
    targets)."""
    from dagster._core.definitions.asset_checks.asset_check_evaluation import (
        AssetCheckEvaluationTargetMaterializationData,
    )
    from dagster._core.events import DagsterEvent, DagsterEventType
    from dagster._core.instance.utils import RUNLESS_JOB_NAME
    from dagster._core.utils import make_new_run_id

    records = instance.fetch_materializations(
        AssetRecordsFilter(AssetKey(key), asset_partitions=[partition] if partition else None),
        limit=1,
    ).records
    target = (
        AssetCheckEvaluationTargetMaterializationData(
            storage_id=records[0].storage_id,
            run_id=records[0].run_id,
            timestamp=records[0].timestamp,
        )
        if records
        else None
    )
    evaluation = AssetCheckEvaluation(
        asset_key=AssetKey(key),
        check_name=name,
        passed=passed,
        severity=AssetCheckSeverity.ERROR,
        partition=partition,
        target_materialization_data=target,
    )
    event = DagsterEvent(
        event_type_value=DagsterEventType.ASSET_CHECK_EVALUATION.value,
        job_name=RUNLESS_JOB_NAME,
        event_specific_data=evaluation,
    )
    instance.report_dagster_event(event, run_id=make_new_run_id())


def report_drift(instance: DagsterInstance, drifted: bool, timestamp: float | None = None) -> None:
    """A drift_report materialization; `timestamp` sets its event time (default: now)."""
    status = DRIFT if drifted else NO_DRIFT
    report_at(instance, "drift_report", {"drift_detected": drifted, "status": status}, timestamp)


def report_performance(
    instance: DagsterInstance, event: PerformanceEvent, timestamp: float | None = None
) -> None:
    """A champion_performance materialization carrying `event`'s numbers."""
    report_at(instance, "champion_performance", event.stored_fields(), timestamp)


def report_at(
    instance: DagsterInstance, key: str, metadata: dict, timestamp: float | None = None
) -> None:
    """A materialization of `key` stored with event time `timestamp` (default: now)."""
    from dagster._core.events import DagsterEvent, DagsterEventType, StepMaterializationData
    from dagster._core.instance.utils import RUNLESS_JOB_NAME, RUNLESS_RUN_ID

    event = DagsterEvent(
        event_type_value=DagsterEventType.ASSET_MATERIALIZATION.value,
        job_name=RUNLESS_JOB_NAME,
        event_specific_data=StepMaterializationData(AssetMaterialization(key, metadata=metadata)),
    )
    instance.report_dagster_event(event, run_id=RUNLESS_RUN_ID, timestamp=timestamp)


def tick_sensor(
    sensor: SensorDefinition,
    instance: DagsterInstance,
    cursor: str | None,
    definitions: Definitions | None = None,
    **resources,
):
    """One evaluation of `sensor` with `cursor` and `resources`, as the daemon would tick it
    (a sensor asking for partitions needs the `definitions` that define them)."""
    context = build_sensor_context(
        instance=instance, cursor=cursor, definitions=definitions, resources=resources
    )
    return sensor.evaluate_tick(context)
