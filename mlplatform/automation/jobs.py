"""Jobs that sensors and schedules launch."""

from dagster import AssetSelection, define_asset_job

ingestion_job = define_asset_job(
    "ingestion",
    selection=AssetSelection.assets("projects", "tags"),
    description="Land projects and tags; declarative automation carries the rest downstream.",
)
retraining_job = define_asset_job(
    "retraining",
    selection=AssetSelection.assets("trained_model", "model_evaluation", "champion_model"),
    description="Tune and train a challenger, evaluate it against the champion, promote if better.",
)
refresh_job = define_asset_job(
    "refresh",
    selection=AssetSelection.assets("projects", "tags", "labeled_projects", "drift_report"),
    description="Ingest, transform and measure drift in one run (the cron fallback).",
)
