"""Asset events written straight into an instance, as runs would have stored them, and sensor
ticks evaluated against it."""

from __future__ import annotations

from dagster import (
    AssetCheckEvaluation,
    AssetCheckSeverity,
    AssetKey,
    AssetMaterialization,
    DagsterInstance,
    Definitions,
    SensorDefinition,
    build_sensor_context,
)

from mlplatform.core.drift import DRIFT, NO_DRIFT
from mlplatform.core.retraining import PerformanceEvent


def report_materialized(instance: DagsterInstance, defs: Definitions, *keys: str) -> None:
    """As a good run would: the materialization, then every check of the asset passing."""
    check_keys = defs.resolve_asset_graph().asset_check_keys
    for key in keys:
        instance.report_runless_asset_event(AssetMaterialization(key))
        for check in check_keys:
            if check.asset_key == AssetKey(key):
                report_check(instance, key, passed=True, name=check.name)


def report_check(instance: DagsterInstance, key: str, passed: bool, name: str = "gx_suite") -> None:
    instance.report_runless_asset_event(
        AssetCheckEvaluation(
            asset_key=AssetKey(key),
            check_name=name,
            passed=passed,
            severity=AssetCheckSeverity.ERROR,
        )
    )


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
    sensor: SensorDefinition, instance: DagsterInstance, cursor: str | None, **resources
):
    """One evaluation of `sensor` with `cursor` and `resources`, as the daemon would tick it."""
    context = build_sensor_context(instance=instance, cursor=cursor, resources=resources)
    return sensor.evaluate_tick(context)
