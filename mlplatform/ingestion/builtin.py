"""The built-in loader: `projects` and `tags` read from CSV files, validated, then landed, a
month at a time.

Write-audit-publish, per partition: the month's rows of both files (projects created in it and
their tags) go through their GX suites and the volume guard (against the same month as stored),
and both tables' rows of that month are replaced, in one transaction, only when every check
passed. A bad month never overwrites what the warehouse holds (that month or any other), and a
failure or a kill while writing leaves both tables as they were. A backfill of many months runs
as one run (`ONE_RUN`) and audits and publishes them as one batch.
New data is noticed by `source_change_sensor`, which fingerprints each month of the files and
asks for the months that changed.
"""

import json
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import TypeVar

from dagster import (
    AssetCheckResult,
    AssetExecutionContext,
    AssetSpec,
    DataVersion,
    DefaultSensorStatus,
    Definitions,
    Failure,
    MaterializeResult,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    multi_asset,
    sensor,
)

from mlplatform.core.partitions import changed_months
from mlplatform.core.sources import RAW_TABLES, TAGS, SourceError, data_fingerprint, shown
from mlplatform.core.validation import SuiteOutcome
from mlplatform.core.volume import VolumeVerdict, check_volume
from mlplatform.ingestion.jobs import ingestion_job
from mlplatform.lib.checks import (
    gx_check_spec,
    suite_check_result,
    volume_check_result,
    volume_check_spec,
)
from mlplatform.lib.metadata import frame_metadata
from mlplatform.lib.ownership import DATA_OWNERS
from mlplatform.lib.partitions import (
    MONTHLY_PARTITIONS,
    ONE_RUN,
    every_month,
    job_partition_keys,
    run_window,
)
from mlplatform.lib.retries import SOURCE_RETRY_POLICY
from mlplatform.resources.great_expectations import GreatExpectationsResource
from mlplatform.resources.policies import IngestionPolicy
from mlplatform.resources.source import MadeWithMLSource
from mlplatform.resources.warehouse import WAREHOUSE_POOL, WAREHOUSE_TABLE_TAG, Warehouse

T = TypeVar("T")


def raw_table_spec(name: str) -> AssetSpec:
    return AssetSpec(
        name,
        description=RAW_TABLES[name].description,
        group_name="ingestion",
        owners=DATA_OWNERS,
        kinds={"pandas"},
        tags={WAREHOUSE_TABLE_TAG: ""},
        skippable=True,  # a rejected batch publishes nothing
    )


@multi_asset(
    name="raw_tables",
    specs=[raw_table_spec(name) for name in RAW_TABLES],
    check_specs=[spec(name) for name in RAW_TABLES for spec in (gx_check_spec, volume_check_spec)],
    can_subset=False,  # one batch: both tables or neither
    retry_policy=SOURCE_RETRY_POLICY,
    pool=WAREHOUSE_POOL,
    partitions_def=MONTHLY_PARTITIONS,
    backfill_policy=ONE_RUN,
)
def raw_tables(
    context: AssetExecutionContext,
    source: MadeWithMLSource,
    great_expectations: GreatExpectationsResource,
    warehouse: Warehouse,
    ingestion_policy: IngestionPolicy,
) -> Iterator[MaterializeResult | AssetCheckResult]:
    """Read, audit and publish the month's (or the backfill's months') `projects` and `tags`
    together, in one transaction."""
    window = run_window(context)
    context.log.info(f"Reading {', '.join(shown(source.uri(name)) for name in RAW_TABLES)}")
    batch = read_from_source(context, lambda: source.read_batch(window, every_month(context)))
    if batch.unplaced_rows:
        context.log.warning(
            f"{shown(source.uri('projects'))}: {batch.unplaced_rows} projects were created before "
            "the first month (MLPLATFORM_PARTITIONS_START) or after the current one: no "
            "partition holds them, they are not ingested."
        )
    frames = batch.frames
    audits = {
        name: (
            great_expectations.validate(frame, name),
            check_volume(
                name,
                len(frame),
                warehouse.row_count(name, window),
                ingestion_policy.volume_config(),
                may_arrive_later=name == TAGS.name,  # a month's labels come after its projects
            ),
        )
        for name, frame in frames.items()
    }
    for suite, volume in audits.values():
        yield suite_check_result(suite)
        yield volume_check_result(volume)
    rejected = rejection_reasons({shown(source.uri(name)): audit for name, audit in audits.items()})
    if rejected:
        context.log.error(
            f"Batch {window} rejected ({'; '.join(rejected)}): neither table is published, "
            "the stored tables are unchanged."
        )
        return
    # Both tables or neither: a failure (or a kill) part-way leaves both as they were.
    warehouse.publish_batch(frames, window)
    context.log.info(
        f"Published {window}: " + ", ".join(f"{n} {len(f)} rows" for n, f in frames.items())
    )
    for name, frame in frames.items():
        # Identical rows keep their data version, so re-ingesting an unchanged month marks
        # nothing downstream stale.
        yield MaterializeResult(
            asset_key=name,
            metadata={**frame_metadata(frame), "window": str(window)},
            data_version=DataVersion(data_fingerprint(frame)["sha256"]),
        )


def rejection_reasons(audits: dict[str, tuple[SuiteOutcome, VolumeVerdict]]) -> list[str]:
    """Why each file of the batch (keyed by its URI) was refused."""
    reasons = []
    for uri, (suite, volume) in audits.items():
        if not suite.success:
            reasons.append(f"{uri}: {suite.summary()}")
        if not volume.passed:
            reasons.append(f"{uri}: {volume.reason}")
    return reasons


def read_from_source(context: AssetExecutionContext, read: Callable[[], T]) -> T:
    """Read from the source; transient errors are retried by the policy, the rest fail at once."""
    try:
        return read()
    except SourceError as error:
        if error.retryable:
            context.log.warning(f"Transient source error, will retry: {error}")
            raise
        raise Failure(description=str(error), allow_retries=False) from error


@dataclass(frozen=True)
class SourceCursor:
    """What the sensor saw last: the files' cheap fingerprint and each month's content hash."""

    files: str = ""
    months: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_json(cls, text: str | None) -> "SourceCursor":
        # A cursor from before partitions held the files' fingerprint alone.
        if not text or not text.startswith("{"):
            return cls()
        return cls(**json.loads(text))

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


@sensor(
    job=ingestion_job,
    minimum_interval_seconds=300,
    default_status=DefaultSensorStatus.RUNNING,
    description="Every 5 minutes: when the source files change, launches ingestion_job for each "
    "month whose rows changed (a content hash per month; the run key names the month and its "
    "hash, so one change is ingested once).",
)
def source_change_sensor(
    context: SensorEvaluationContext, source: MadeWithMLSource
) -> SensorResult | SkipReason:
    """Ingest the months whose rows changed since the last look."""
    cursor = SourceCursor.from_json(context.cursor)
    try:
        files = source.fingerprint()
        if files == cursor.files:
            return SkipReason(f"source unchanged ({files[:12]})")
        months = source.monthly_fingerprints()
    except SourceError as error:
        return SkipReason(f"source not reachable or not readable, will look again: {error}")
    partitions = set(job_partition_keys(context, ingestion_job.name))
    changed = changed_months(months, cursor.months)
    if unplaced := [month for month in changed if month not in partitions]:
        context.log.warning(
            f"Rows created in {', '.join(unplaced)} belong to no partition (before "
            "MLPLATFORM_PARTITIONS_START or in the future): they are not ingested."
        )
    requests = [
        RunRequest(
            run_key=f"source-{month}-{months.get(month, 'empty')[:16]}",
            partition_key=month,
            tags={"mlplatform/month_fingerprint": months.get(month, "empty")},
        )
        for month in changed
        if month in partitions
    ]
    cursor = SourceCursor(files, months)
    if not requests:
        return SensorResult(
            skip_reason="source files changed, no month's rows did", cursor=cursor.to_json()
        )
    context.log.info(
        f"Months with new or changed rows: {', '.join(r.partition_key for r in requests)}"
    )
    return SensorResult(run_requests=requests, cursor=cursor.to_json())


def builtin_definitions() -> Definitions:
    return Definitions(assets=[raw_tables], sensors=[source_change_sensor], jobs=[ingestion_job])
