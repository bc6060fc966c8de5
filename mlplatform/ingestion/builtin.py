"""The built-in loader: `projects` and `tags` read from CSV files, validated, then landed.

Write-audit-publish, per batch: both files are read, each goes through its GX suite and the volume
guard in memory, and both tables are written, in one transaction, only when every check passed.
A bad batch never overwrites what the warehouse holds, and a failure or a kill while writing
leaves both tables as they were: the two raw tables always come from the same batch.
New data is noticed by `source_change_sensor`, which fingerprints the files.
"""

from collections.abc import Callable, Iterator

import pandas as pd
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

from mlplatform.core.sources import RAW_TABLES, SourceError, data_fingerprint, shown
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
from mlplatform.lib.retries import SOURCE_RETRY_POLICY
from mlplatform.resources.great_expectations import GreatExpectationsResource
from mlplatform.resources.policies import IngestionPolicy
from mlplatform.resources.source import MadeWithMLSource
from mlplatform.resources.warehouse import WAREHOUSE_POOL, WAREHOUSE_TABLE_TAG, Warehouse


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
)
def raw_tables(
    context: AssetExecutionContext,
    source: MadeWithMLSource,
    great_expectations: GreatExpectationsResource,
    warehouse: Warehouse,
    ingestion_policy: IngestionPolicy,
) -> Iterator[MaterializeResult | AssetCheckResult]:
    """Read, audit and publish `projects` and `tags` together, in one transaction."""
    frames = {
        name: read_from_source(context, lambda name=name: source.read(name), source.uri(name))
        for name in RAW_TABLES
    }
    audits = {
        name: (
            great_expectations.validate(frame, name),
            check_volume(
                name, len(frame), warehouse.row_count(name), ingestion_policy.volume_config()
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
            f"Batch rejected ({'; '.join(rejected)}): neither table is published, "
            "the stored tables are unchanged."
        )
        return
    # Both tables or neither: a failure (or a kill) part-way leaves both as they were.
    warehouse.publish_batch(frames)
    for name, frame in frames.items():
        # Identical rows keep their data version, so re-ingesting unchanged data marks nothing
        # downstream stale.
        yield MaterializeResult(
            asset_key=name,
            metadata=frame_metadata(frame),
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


def read_from_source(
    context: AssetExecutionContext, read: Callable[[], pd.DataFrame], uri: str
) -> pd.DataFrame:
    """Read a table; transient errors are retried by the policy, the rest fail at once."""
    context.log.info(f"Reading {shown(uri)}")
    try:
        return read()
    except SourceError as error:
        if error.retryable:
            context.log.warning(f"Transient source error, will retry: {error}")
            raise
        raise Failure(description=str(error), allow_retries=False) from error


@sensor(
    job=ingestion_job,
    minimum_interval_seconds=300,
    default_status=DefaultSensorStatus.RUNNING,
    description="Every 5 minutes: launches ingestion_job when the source files change "
    "(their fingerprint is the run key, so one change is ingested once).",
)
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


def builtin_definitions() -> Definitions:
    return Definitions(assets=[raw_tables], sensors=[source_change_sensor], jobs=[ingestion_job])
