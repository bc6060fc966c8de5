"""Drive the real sensors and automation conditions against an instance, without the daemon.

What the Dagster daemon does on each tick, done synchronously: evaluate a sensor with its
cursor, launch its run requests (once per run key), and evaluate the declarative automation
conditions until nothing more is requested. Used by the replay benchmark and the tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dagster import (
    AssetKey,
    DagsterInstance,
    Definitions,
    ExecuteInProcessResult,
    build_sensor_context,
    evaluate_automation_conditions,
)

from mlplatform.lib.partitions import range_run_tags


@dataclass
class TickOutcome:
    skip_reason: str | None = None
    runs: list[ExecuteInProcessResult] = field(default_factory=list)


@dataclass
class AutomationDriver:
    instance: DagsterInstance
    sensor_cursors: dict[str, str | None] = field(default_factory=dict)
    launched_run_keys: set[str] = field(default_factory=set)
    automation_cursor: object | None = None

    def tick_sensor(self, defs: Definitions, name: str) -> TickOutcome:
        """One evaluation of sensor `name`; its run requests are executed in process."""
        sensor = defs.resolve_sensor_def(name)
        with build_sensor_context(
            instance=self.instance,
            cursor=self.sensor_cursors.get(name),
            definitions=defs,
            sensor_name=name,
            resources=defs.resources,
        ) as context:
            data = sensor.evaluate_tick(context)
        self.sensor_cursors[name] = data.cursor if data.cursor is not None else context.cursor
        outcome = TickOutcome(skip_reason=data.skip_message)
        for request in data.run_requests or []:
            if request.run_key in self.launched_run_keys:
                continue  # the daemon launches one run per run key
            self.launched_run_keys.add(request.run_key)
            job = defs.resolve_job_def(request.job_name or sensor.job_name)
            tags = {
                **request.tags,
                **({"dagster/run_key": request.run_key} if request.run_key else {}),
            }
            outcome.runs.append(
                job.execute_in_process(
                    instance=self.instance,
                    tags=tags,
                    partition_key=request.partition_key,
                    raise_on_error=False,
                )
            )
        return outcome

    def prime_automation(self, defs: Definitions) -> None:
        """A first evaluation only records state, as the daemon's first tick would."""
        if self.automation_cursor is None:
            self.automation_cursor = evaluate_automation_conditions(
                defs=defs, instance=self.instance
            ).cursor

    def settle_automation(self, defs: Definitions, max_rounds: int = 10) -> list[AssetKey]:
        """Evaluate automation conditions and materialize what they request, until quiet."""
        materialized: list[AssetKey] = []
        job = defs.resolve_implicit_global_asset_job_def()
        keys = sorted(defs.resolve_asset_graph().get_all_asset_keys(), key=AssetKey.to_user_string)
        for _ in range(max_rounds):
            result = evaluate_automation_conditions(
                defs=defs, instance=self.instance, cursor=self.automation_cursor
            )
            self.automation_cursor = result.cursor
            requested = [key for key in keys if result.get_num_requested(key)]
            if not requested:
                return materialized
            # As the daemon launches them: the requested months of the partitioned assets in one
            # run (their backfill policy is a single run), the unpartitioned assets in another.
            months = {key: result.get_requested_partitions(key) - {None} for key in requested}
            partitioned = [key for key in requested if months[key]]
            if partitioned:
                span = sorted(set().union(*(months[key] for key in partitioned)))
                self._run(job, partitioned, range_run_tags(span[0], span[-1]))
            if unpartitioned := [key for key in requested if not months[key]]:
                self._run(job, unpartitioned, {})
            materialized.extend(requested)
        return materialized

    def _run(self, job, keys: list[AssetKey], tags: dict[str, str]) -> None:
        job.execute_in_process(
            instance=self.instance,
            asset_selection=keys,
            tags={"dagster/from_automation_condition": "true", **tags},
            raise_on_error=False,
        )


@dataclass
class StepOutcome:
    ingested: bool
    drift_reports: list[dict] = field(default_factory=list)
    retraining_runs: list[ExecuteInProcessResult] = field(default_factory=list)
    retraining_skip: str | None = None


@dataclass
class ContinualLoop:
    """One pass of the loop per call: new data → automation (labeled_projects, drift_report,
    champion_performance) → the retraining sensor → automation."""

    driver: AutomationDriver

    def step(self, defs: Definitions) -> StepOutcome:
        since = self._latest_drift_storage_id()
        self.driver.prime_automation(defs)
        ingestion = self.driver.tick_sensor(defs, "source_change_sensor")
        self.driver.settle_automation(defs)
        retraining = self.driver.tick_sensor(defs, "retraining_sensor")
        if retraining.runs:
            self.driver.settle_automation(defs)
        return StepOutcome(
            ingested=bool(ingestion.runs),
            drift_reports=self._drift_reports_after(since),
            retraining_runs=retraining.runs,
            retraining_skip=retraining.skip_reason,
        )

    def _latest_drift_storage_id(self) -> int:
        records = self.driver.instance.fetch_materializations(AssetKey("drift_report"), limit=1)
        return records.records[0].storage_id if records.records else -1

    def _drift_reports_after(self, storage_id: int) -> list[dict]:
        records = self.driver.instance.fetch_materializations(
            AssetKey("drift_report"), limit=20
        ).records
        return [
            {key: value.value for key, value in record.asset_materialization.metadata.items()}
            for record in sorted(records, key=lambda r: r.storage_id)
            if record.storage_id > storage_id
        ]
