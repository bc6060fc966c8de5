"""The ingestion job: whatever backend lands the raw tables, this job runs it."""

from dagster import AssetSelection, define_asset_job

from mlplatform.core.sources import RAW_TABLES

ingestion_job = define_asset_job(
    "ingestion",
    selection=AssetSelection.assets(*RAW_TABLES),
    description="Land projects and tags; declarative automation carries the rest downstream.",
)
