"""The cron fallback's job: ingest, transform, featurize and measure the champion in one run."""

from dagster import AssetSelection, define_asset_job

from mlplatform.core.features import FEATURE_TABLE
from mlplatform.core.sources import RAW_TABLES

refresh_job = define_asset_job(
    "refresh",
    selection=AssetSelection.assets(
        *RAW_TABLES, "labeled_projects", FEATURE_TABLE, "drift_report", "champion_performance"
    ),
    description="Ingest, transform, featurize, measure drift and the champion's performance on "
    "new rows in one run (the cron fallback).",
)
