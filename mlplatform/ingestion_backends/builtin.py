"""The built-in loader: `projects` and `tags` read from CSV files, validated, then landed.

Write-audit-publish: the GX suite runs on the batch in memory and the table is written only
when it passes, so a bad batch never overwrites what the warehouse already holds. New data is
noticed by `source_change_sensor`, which fingerprints the files.
"""

import warnings
from collections.abc import Callable, Iterator

import pandas as pd
from dagster import (
    AssetCheckResult,
    AssetExecutionContext,
    Backoff,
    BetaWarning,
    DataVersion,
    DefaultSensorStatus,
    Definitions,
    Failure,
    Jitter,
    Output,
    RetryPolicy,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    asset,
    sensor,
)

from mlplatform.core.sources import SourceError, data_fingerprint
from mlplatform.defs.ingestion.jobs import ingestion_job
from mlplatform.lib.checks import gx_check_spec, suite_check_result
from mlplatform.lib.metadata import frame_metadata
from mlplatform.lib.ownership import DATA_OWNERS
from mlplatform.resources.great_expectations import GreatExpectationsResource
from mlplatform.resources.source import MadeWithMLSource
from mlplatform.resources.warehouse import WAREHOUSE_POOL, WAREHOUSE_TABLE_TAG

SOURCE_RETRY_POLICY = RetryPolicy(
    max_retries=3, delay=1, backoff=Backoff.EXPONENTIAL, jitter=Jitter.PLUS_MINUS
)
RAW_ASSET_OPTIONS = dict(
    group_name="ingestion",
    owners=DATA_OWNERS,
    kinds={"pandas"},
    tags={WAREHOUSE_TABLE_TAG: ""},
    output_required=False,
    retry_policy=SOURCE_RETRY_POLICY,
    pool=WAREHOUSE_POOL,
)


def raw_table(name: str, description: str):
    """The asset that reads `<name>.csv` from the source and lands it if its suite passes."""

    @asset(
        name=name,
        description=description,
        check_specs=[gx_check_spec(name)],
        **RAW_ASSET_OPTIONS,
    )
    def land(
        context: AssetExecutionContext,
        source: MadeWithMLSource,
        great_expectations: GreatExpectationsResource,
    ) -> Iterator[Output | AssetCheckResult]:
        frame = read_from_source(context, lambda: source.read(name), source.uri(name))
        yield from land_if_valid(context, frame, great_expectations, name)

    return land


projects = raw_table("projects", "Made With ML projects: id, created_on, title, description.")
tags = raw_table("tags", "The tag of each project: id, tag.")


def read_from_source(
    context: AssetExecutionContext, read: Callable[[], pd.DataFrame], uri: str
) -> pd.DataFrame:
    """Read a table; transient errors are retried by the policy, the rest fail at once."""
    context.log.info(f"Reading {uri}")
    try:
        return read()
    except SourceError as error:
        if error.retryable:
            context.log.warning(f"Transient source error, will retry: {error}")
            raise
        raise Failure(description=str(error), allow_retries=False) from error


def land_if_valid(
    context: AssetExecutionContext,
    frame: pd.DataFrame,
    great_expectations: GreatExpectationsResource,
    suite: str,
) -> Iterator[Output | AssetCheckResult]:
    outcome = great_expectations.validate(frame, suite)
    yield suite_check_result(outcome)
    if outcome.success:
        # Identical rows keep their data version, so re-ingesting unchanged data marks nothing
        # downstream stale.
        version = DataVersion(data_fingerprint(frame)["sha256"])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", BetaWarning)  # Output(data_version=...)
            yield Output(frame, metadata=frame_metadata(frame), data_version=version)
    else:
        context.log.error(f"{outcome.summary()}. Batch rejected: the stored table is unchanged.")


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


def builtin_ingestion() -> Definitions:
    return Definitions(assets=[projects, tags], sensors=[source_change_sensor])
