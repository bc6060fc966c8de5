"""Helpers for MLOps tests: a warehouse with fixture data, MLflow in a temporary SQLite store."""

from __future__ import annotations

import pandas as pd
from dagster import ExecuteInProcessResult, materialize

from mlplatform.core.training import Tagger
from mlplatform.core.tuning import fit_tagger
from mlplatform.deployment.assets import champion_model, model_evaluation, promotion_gate
from mlplatform.resources import build_resources
from mlplatform.resources.mlflow_tracking import MlflowTracking
from mlplatform.resources.policies import PromotionPolicy, TrainingPolicy
from mlplatform.settings import Settings
from mlplatform.training.assets import trained_model
from mlplatform_tests.dataops import DATAOPS_DEFINITIONS

ALL_DEFINITIONS = [
    *DATAOPS_DEFINITIONS,
    trained_model,
    model_evaluation,
    promotion_gate,
    champion_model,
]
QUICK_TRAINING = TrainingPolicy(n_trials=3, cv_folds=3, timeout_seconds=None)


def resources_for(settings: Settings, **overrides) -> dict:
    return {**build_resources(settings), "training": QUICK_TRAINING, **overrides}


def materialize_all(settings: Settings, selection=None, **overrides) -> ExecuteInProcessResult:
    return materialize(
        ALL_DEFINITIONS,
        resources=resources_for(settings, **overrides),
        selection=selection,
        raise_on_error=False,
    )


def evaluate_and_promote(settings: Settings, **overrides) -> ExecuteInProcessResult:
    """Run the gate on the newest registered version, as after a training run."""
    return materialize_all(settings, selection=["model_evaluation", "champion_model"], **overrides)


def mlflow_for(settings: Settings) -> MlflowTracking:
    return build_resources(settings)["mlflow"]


def register_tagger(
    mlflow: MlflowTracking, frame: pd.DataFrame, shuffle_labels: bool = False
) -> str:
    """Fit a tagger on `frame` (labels shuffled for a deliberately bad one) and register it."""
    labels = (
        frame["tag"].sample(frac=1, random_state=0).to_numpy() if shuffle_labels else frame["tag"]
    )
    texts = frame["title"] + " " + frame["description"]
    params = {"features": "word", "classifier": "logistic_regression", "C": 10.0}
    tagger = Tagger(fit_tagger(texts, labels, [params], seed=0), threshold=0.3)
    with mlflow.training_run("test-registration", {}) as run_id:
        return mlflow.log_tagger(run_id, tagger, {})


def with_promotion(settings: Settings, **policy) -> dict:
    return {"promotion": PromotionPolicy(**policy)}
