"""The monthly partitions shared by `projects`, `tags` and `labeled_projects`.

Assets in `defs/` and the ingestion backends declare `MONTHLY_PARTITIONS`, which starts at the
shipped data's first month; `mlplatform.definitions` moves every asset to the first month that
`MLPLATFORM_PARTITIONS_START` sets. The current month is a partition too (`end_offset=1`): rows
arriving during a month are ingested as they come, not a month late.
"""

from __future__ import annotations

from datetime import UTC, datetime

from dagster import (
    AssetExecutionContext,
    AssetSpec,
    BackfillPolicy,
    MonthlyPartitionsDefinition,
    ScheduleEvaluationContext,
    SensorEvaluationContext,
    TimeWindowPartitionsDefinition,
)
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)

from mlplatform.core.partitions import DEFAULT_FIRST_MONTH, MONTH_KEY_FORMAT, CreationWindow

PARTITIONS_TIMEZONE = "UTC"
# A range of months (a backfill, the README's main command) runs as one run: one read of the
# source, one dbt build, and one writer on DuckDB's file at a time.
ONE_RUN = BackfillPolicy.single_run()


def monthly_partitions(first_month: str) -> MonthlyPartitionsDefinition:
    return MonthlyPartitionsDefinition(
        start_date=first_month, timezone=PARTITIONS_TIMEZONE, end_offset=1
    )


MONTHLY_PARTITIONS = monthly_partitions(DEFAULT_FIRST_MONTH)


def run_window(context: AssetExecutionContext) -> CreationWindow | None:
    """The months this run covers (one month, or a backfill's range); None when unpartitioned."""
    if not (context.has_partition_key or context.has_partition_key_range):
        return None
    window = context.partition_time_window
    return CreationWindow.of(window.start, window.end)


def every_month(context: AssetExecutionContext) -> CreationWindow | None:
    """From the first month's start to the current month's end: what some partition holds."""
    partitions = context.assets_def.partitions_def
    if not isinstance(partitions, TimeWindowPartitionsDefinition):
        return None
    last = partitions.get_last_partition_window()
    return CreationWindow.of(partitions.start, last.end) if last else None


def starting_at(first_month: str):
    """A spec mapper that moves monthly-partitioned specs to start at `first_month`."""
    partitions = monthly_partitions(first_month)

    def moved(spec: AssetSpec) -> AssetSpec:
        if spec.partitions_def != MONTHLY_PARTITIONS or first_month == DEFAULT_FIRST_MONTH:
            return spec
        return spec.replace_attributes(partitions_def=partitions)

    return moved


def job_partition_keys(
    context: SensorEvaluationContext | ScheduleEvaluationContext, job: str
) -> list[str]:
    """The partition keys of `job` as the code location defines them (its first month moved by
    the settings); the defaults when the context has no definitions (a unit test)."""
    repository = context.repository_def
    partitions = repository.get_job(job).partitions_def if repository else MONTHLY_PARTITIONS
    return partitions.get_partition_keys()


def current_month(moment: datetime) -> str:
    """The partition key of the month `moment` falls in (UTC)."""
    return moment.astimezone(UTC).replace(day=1).strftime(MONTH_KEY_FORMAT)


def range_run_tags(first: str, last: str) -> dict[str, str]:
    """The tags of one run over the months `first`..`last`, as `--partition-range` starts it."""
    return {ASSET_PARTITION_RANGE_START_TAG: first, ASSET_PARTITION_RANGE_END_TAG: last}
