"""`trained_model`: an optuna study, the best pipeline fitted, all of it recorded in MLflow."""

import pandas as pd
from dagster import AssetExecutionContext, AssetKey, MetadataValue, Output, asset

from mlplatform.core.features import FEATURE_TABLE
from mlplatform.core.partitions import TRAINING_WINDOW_START_TAG, newest_months
from mlplatform.lib.features import stored_features
from mlplatform.lib.metadata import rounded
from mlplatform.lib.ownership import ML_OWNERS
from mlplatform.lib.partitions import ONE_RUN
from mlplatform.resources.mlflow_tracking import MlflowTracking
from mlplatform.resources.model_io import DAGSTER_RUN_TAG
from mlplatform.resources.model_registry import TaggerModel
from mlplatform.resources.policies import TrainingPolicy
from mlplatform.resources.warehouse import WAREHOUSE_POOL, Warehouse


@asset(
    group_name="training",
    owners=ML_OWNERS,
    io_manager_key="model_io_manager",
    kinds={"scikitlearn", "optuna", "mlflow"},
    deps=[AssetKey(FEATURE_TABLE)],
    pool=WAREHOUSE_POOL,
    backfill_policy=ONE_RUN,  # unpartitioned: in a range of months, it runs once
)
def trained_model(
    context: AssetExecutionContext,
    labeled_projects: pd.DataFrame,
    mlflow_tracking: MlflowTracking,
    training_policy: TrainingPolicy,
    warehouse: Warehouse,
) -> Output[TaggerModel]:
    """A project tagger tuned by optuna and fitted on labeled_projects; a new registry version."""
    # The ML stack loads when training runs, not when the code location loads.
    from mlplatform.core.sources import data_fingerprint
    from mlplatform.core.training import train_tagger, training_cutoff
    from mlplatform.core.tuning import SEARCH_SPACE_VERSION
    from mlplatform.lib.reporting import training_record

    labeled_projects, window_start = newest_months(labeled_projects, training_policy.window_months)
    if window_start:
        context.log.info(
            f"Training on the months from {window_start}: {len(labeled_projects)} rows"
        )
    fingerprint = data_fingerprint(labeled_projects)
    cutoff = training_cutoff(labeled_projects)
    tags = {
        "data_rows": str(fingerprint["rows"]),
        "data_sha256": fingerprint["sha256"],
        **({"training_cutoff": cutoff} if cutoff else {}),
        **({TRAINING_WINDOW_START_TAG: window_start} if window_start else {}),
        DAGSTER_RUN_TAG: context.run_id,
    }
    # One study per data version and seed: parallel workers on the same data share it.
    study_name = (
        f"project-tagger-{fingerprint['sha256'][:12]}-seed{training_policy.seed}"
        f"-{SEARCH_SPACE_VERSION}"
    )
    with (
        mlflow_tracking.training_run(f"trained_model-{context.run_id[:8]}", tags) as run_id,
        stored_features(context, warehouse, cutoff),
    ):
        outcome = train_tagger(
            labeled_projects,
            training_policy.tuning_config(study_name),
            training_policy.label_config(),
            on_trial=trial_logger(context, training_policy.n_trials),
        )
        mlflow_tracking.log_trials(run_id, outcome.tuning.trials)
        record = training_record(outcome)
        mlflow_tracking.log_summary(
            run_id, record["params"], record["metrics"], tags, record["artifacts"]
        )
    metrics = record["metrics"]
    return Output(
        TaggerModel(outcome.tagger, run_id, tags),
        metadata=rounded(
            {
                "cv_f1_weighted_chosen": metrics["cv_f1_weighted_chosen"],
                "cv_f1_weighted_best": metrics["cv_f1_weighted_best"],
                "validation_f1_weighted": metrics["validation_f1_weighted"],
                "test_f1_weighted": metrics["test_f1_weighted"],
                "precision_threshold": metrics["precision_threshold"],
                "trials": metrics["trials"],
                "trials_pruned": metrics["trials_pruned"],
                "chosen_params": MetadataValue.json(outcome.tuning.chosen_params),
                "kept_default": outcome.tuning.kept_default,
                "validation_folds": outcome.tuning.folds,
                "training_rows": outcome.rows,
                **{f"data/{k}": v for k, v in tags.items() if k != DAGSTER_RUN_TAG},
            }
        ),
    )


def trial_logger(context: AssetExecutionContext, n_trials: int):
    """Progress in the Dagster log: one line per finished trial, with the best score so far."""
    best = 0.0

    def log(trial) -> None:
        nonlocal best
        completed = trial.state == "COMPLETE"
        if completed:
            best = max(best, trial.value)
        score = f"cv F1 {trial.value:.3f}" if completed else trial.state.lower()
        context.log.info(f"trial {trial.number + 1}/{n_trials}: {score} (best {best:.3f})")

    return log
