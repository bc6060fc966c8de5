"""The retraining job: a challenger trained, evaluated by the gate, promoted if better."""

from dagster import AssetSelection, define_asset_job

retraining_job = define_asset_job(
    "retraining",
    selection=AssetSelection.assets("trained_model", "model_evaluation", "champion_model"),
    description="Tune and train a challenger, evaluate it against the champion, promote if better.",
)
