"""`trained_model`: an optuna study, the best pipeline fitted, all of it recorded in MLflow."""

import pandas as pd
from dagster import AssetExecutionContext, MetadataValue, Output, asset

from mlplatform.resources.mlflow_tracking import MlflowTracking
from mlplatform.resources.model_io import TrainedModel
from mlplatform.resources.policies import TrainingPolicy


@asset(
    group_name="training",
    io_manager_key="model_io_manager",
    kinds={"scikitlearn", "optuna", "mlflow"},
)
def trained_model(
    context: AssetExecutionContext,
    labeled_projects: pd.DataFrame,
    mlflow: MlflowTracking,
    training: TrainingPolicy,
) -> Output[TrainedModel]:
    """A project tagger tuned by optuna and fitted on labeled_projects; a new registry version."""
    # The ML stack loads when training runs, not when the code location loads.
    from mlplatform.core.reporting import training_record
    from mlplatform.core.training import data_fingerprint, train_tagger, training_cutoff

    fingerprint = data_fingerprint(labeled_projects)
    cutoff = training_cutoff(labeled_projects)
    tags = {
        "data_rows": str(fingerprint["rows"]),
        "data_sha256": fingerprint["sha256"],
        **({"training_cutoff": cutoff} if cutoff else {}),
        "dagster_run_id": context.run_id,
    }
    # One study per data version and seed: parallel workers on the same data share it.
    study_name = f"project-tagger-{fingerprint['sha256'][:12]}-seed{training.seed}"
    with mlflow.training_run(f"trained_model-{context.run_id[:8]}", tags) as run_id:
        outcome = train_tagger(
            labeled_projects,
            training.tuning_config(study_name),
            training.label_config(),
            training.test_fraction,
            on_trial=trial_logger(context, training.n_trials),
        )
        mlflow.log_trials(run_id, outcome.tuning.trials)
        record = training_record(outcome)
        mlflow.log_summary(run_id, record["params"], record["metrics"], tags, record["artifacts"])
    metrics = record["metrics"]
    return Output(
        TrainedModel(outcome.tagger, run_id, tags),
        metadata={
            "cv_f1_weighted_best": metrics["cv_f1_weighted_best"],
            "validation_f1_weighted": metrics["validation_f1_weighted"],
            "test_f1_weighted": metrics["test_f1_weighted"],
            "precision_threshold": metrics["precision_threshold"],
            "trials": metrics["trials"],
            "trials_pruned": metrics["trials_pruned"],
            "best_params": MetadataValue.json(outcome.tuning.best_params),
            "training_rows": outcome.rows,
            **{f"data/{k}": v for k, v in tags.items() if k != "dagster_run_id"},
        },
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
