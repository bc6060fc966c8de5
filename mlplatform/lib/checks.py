"""Turn a Great Expectations suite outcome into a Dagster asset check result."""

from __future__ import annotations

from dagster import AssetCheckResult, AssetCheckSeverity, AssetCheckSpec, AssetKey, MetadataValue

from mlplatform.core.validation import SuiteOutcome
from mlplatform.core.volume import VolumeVerdict
from mlplatform.lib.metadata import table_value

GX_CHECK_NAME = "gx_suite"
RESULT_COLUMNS = {"expectation": "string", "column": "string", "passed": "bool", "detail": "string"}


def gx_check_spec(asset: str) -> AssetCheckSpec:
    """The blocking check that runs `gx/expectations/<asset>.json` on the asset's data."""
    return AssetCheckSpec(
        GX_CHECK_NAME,
        asset=AssetKey(asset),
        blocking=True,
        description=gx_check_description(asset),
    )


def gx_check_description(asset: str) -> str:
    return f"Great Expectations suite gx/expectations/{asset}.json (blocks downstream)."


def suite_check_result(outcome: SuiteOutcome) -> AssetCheckResult:
    """A failed suite is an ERROR: with a blocking spec it stops everything downstream."""
    failures = outcome.failures
    metadata = {
        "suite": outcome.suite,
        "rows_validated": outcome.rows,
        "expectations_evaluated": len(outcome.expectations),
        "expectations_failed": len(failures),
        "results": table_value(
            [
                {
                    "expectation": o.expectation,
                    "column": o.column_label,
                    "passed": o.success,
                    "detail": "" if o.success else o.describe(),
                }
                for o in outcome.expectations
            ],
            RESULT_COLUMNS,
        ),
    }
    if failures:
        metadata["failed_expectations"] = MetadataValue.json(
            [
                {
                    "expectation": f.expectation,
                    "column": f.column_label,
                    "unexpected_count": f.unexpected_count,
                    "sample": list(f.sample),
                    "observed": f.observed,
                    "error": f.error,
                }
                for f in failures
            ]
        )
    return AssetCheckResult(
        asset_key=AssetKey(outcome.suite),  # suites are named after their asset
        check_name=GX_CHECK_NAME,
        passed=outcome.success,
        severity=AssetCheckSeverity.ERROR,
        description=outcome.summary(),
        metadata=metadata,
    )


VOLUME_CHECK_NAME = "row_volume"


def volume_check_spec(asset: str) -> AssetCheckSpec:
    """The blocking check that refuses an empty batch or one much smaller than the stored table."""
    return AssetCheckSpec(
        VOLUME_CHECK_NAME,
        asset=AssetKey(asset),
        blocking=True,
        description="Refuses an empty batch, or one that shrinks the stored table beyond the "
        "ingestion policy's max_drop_fraction unless accept_shrink is set (blocks downstream).",
    )


def volume_check_result(verdict: VolumeVerdict) -> AssetCheckResult:
    return AssetCheckResult(
        asset_key=AssetKey(verdict.table),
        check_name=VOLUME_CHECK_NAME,
        passed=verdict.passed,
        severity=AssetCheckSeverity.ERROR,
        description=verdict.reason,
        metadata={
            "rows": verdict.rows,
            "stored_rows": verdict.stored_rows,
            "drop_fraction": verdict.drop_fraction,
        },
    )
