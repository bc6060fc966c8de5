"""The cron fallback's job: ingest, transform and measure drift in one run."""

from dagster import AssetSelection, define_asset_job

refresh_job = define_asset_job(
    "refresh",
    selection=AssetSelection.assets("projects", "tags", "labeled_projects", "drift_report"),
    description="Ingest, transform and measure drift in one run (the cron fallback).",
)
