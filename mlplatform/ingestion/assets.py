"""Raw assets `projects` and `tags`: read from the source, validated, then landed.

Write-audit-publish: the GX suite runs on the batch in memory and the table is written only
when it passes, so a bad batch never overwrites what the warehouse already holds.
"""

from collections.abc import Callable, Iterator

import pandas as pd
from dagster import (
    AssetCheckResult,
    AssetExecutionContext,
    Backoff,
    Failure,
    Jitter,
    Output,
    RetryPolicy,
    asset,
)

from mlplatform.core.sources import SourceError
from mlplatform.lib.checks import gx_check_spec, suite_check_result
from mlplatform.lib.execution import WAREHOUSE_POOL
from mlplatform.lib.metadata import frame_metadata
from mlplatform.resources.great_expectations import GreatExpectationsResource
from mlplatform.resources.source import MadeWithMLSource

SOURCE_RETRY_POLICY = RetryPolicy(
    max_retries=3, delay=1, backoff=Backoff.EXPONENTIAL, jitter=Jitter.PLUS_MINUS
)
RAW_ASSET_OPTIONS = dict(
    group_name="ingestion",
    kinds={"pandas", "duckdb"},
    output_required=False,
    retry_policy=SOURCE_RETRY_POLICY,
    pool=WAREHOUSE_POOL,
)


@asset(check_specs=[gx_check_spec("projects")], **RAW_ASSET_OPTIONS)
def projects(
    context: AssetExecutionContext,
    source: MadeWithMLSource,
    great_expectations: GreatExpectationsResource,
) -> Iterator[Output | AssetCheckResult]:
    """Made With ML projects: id, created_on, title, description."""
    frame = read_from_source(context, source.read_projects, source.uri("projects"))
    yield from land_if_valid(context, frame, great_expectations, "projects")


@asset(check_specs=[gx_check_spec("tags")], **RAW_ASSET_OPTIONS)
def tags(
    context: AssetExecutionContext,
    source: MadeWithMLSource,
    great_expectations: GreatExpectationsResource,
) -> Iterator[Output | AssetCheckResult]:
    """The tag of each project: id, tag."""
    frame = read_from_source(context, source.read_tags, source.uri("tags"))
    yield from land_if_valid(context, frame, great_expectations, "tags")


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
        yield Output(frame, metadata=frame_metadata(frame))
    else:
        context.log.error(f"{outcome.summary()}. Batch rejected: the stored table is unchanged.")
