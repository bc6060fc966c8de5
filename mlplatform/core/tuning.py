"""Optuna search over tagger pipelines, scored by cross-validation on training data only."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import optuna
from sklearn.base import BaseEstimator
from sklearn.metrics import f1_score
from sklearn.model_selection import StratifiedKFold

from mlplatform.core.model import build_pipeline
from mlplatform.core.tuning_config import TuningConfig


@dataclass(frozen=True)
class TrialRecord:
    number: int
    state: str
    value: float | None
    params: dict[str, Any]


@dataclass(frozen=True)
class TuningResult:
    study_name: str
    best_value: float
    best_params: dict[str, Any]
    trials: list[TrialRecord] = field(default_factory=list)


def suggest_params(trial: optuna.Trial) -> dict[str, Any]:
    """The search space: TF-IDF analyzers and n-grams, three linear families, class weights."""
    params: dict[str, Any] = {
        "features": trial.suggest_categorical(
            "features", ["word", "char_wb", "char", "word+char_wb"]
        ),
        "sublinear_tf": trial.suggest_categorical("sublinear_tf", [True, False]),
        "min_df": trial.suggest_int("min_df", 1, 3),
        "classifier": trial.suggest_categorical(
            "classifier", ["sgd", "logistic_regression", "linear_svc"]
        ),
        "class_weight": trial.suggest_categorical("class_weight", ["balanced", None]),
    }
    if "word" in params["features"]:
        params["word_ngram_max"] = trial.suggest_int("word_ngram_max", 1, 3)
    if "char" in params["features"]:
        params["char_ngram_min"] = trial.suggest_int("char_ngram_min", 1, 3)
        params["char_ngram_max"] = trial.suggest_int("char_ngram_max", 4, 6)
    if params["classifier"] == "sgd":
        params["alpha"] = trial.suggest_float("alpha", 1e-6, 1e-2, log=True)
    else:
        params["C"] = trial.suggest_float("C", 1e-2, 1e2, log=True)
    return params


def cross_validated_f1(
    params: dict[str, Any],
    texts: np.ndarray,
    labels: np.ndarray,
    folds: int,
    seed: int,
    trial: optuna.Trial | None = None,
) -> float:
    """Mean weighted F1 over stratified folds; reported per fold so a pruner can stop early."""
    scores = []
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for step, (fit_index, score_index) in enumerate(splitter.split(texts, labels)):
        model = build_pipeline(params, seed=seed).fit(texts[fit_index], labels[fit_index])
        predicted = model.predict(texts[score_index])
        scores.append(f1_score(labels[score_index], predicted, average="weighted"))
        if trial is not None:
            trial.report(float(np.mean(scores)), step)
            if trial.should_prune():
                raise optuna.TrialPruned()
    return float(np.mean(scores))


def tune(
    texts: Sequence[str],
    labels: Sequence[str],
    config: TuningConfig,
    on_trial: Callable[[TrialRecord], None] | None = None,
) -> TuningResult:
    """Run (or resume) the study; `on_trial` sees each finished trial (for logging)."""
    texts, labels = np.asarray(texts, dtype=object), np.asarray(labels, dtype=object)
    # Rare classes early in a project's life: fewer folds rather than no model.
    folds = max(2, min(config.cv_folds, int(np.unique(labels, return_counts=True)[1].min())))
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        study_name=config.study_name,
        storage=config.storage,
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=config.seed),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=1),
        load_if_exists=True,
    )

    def objective(trial: optuna.Trial) -> float:
        return cross_validated_f1(suggest_params(trial), texts, labels, folds, config.seed, trial)

    callbacks = [lambda _, trial: on_trial(_record(trial))] if on_trial else []
    # A configuration that cannot fit this data (e.g. calibration with a 2-example class) is a
    # failed trial, not a failed study.
    study.optimize(
        objective,
        n_trials=config.n_trials,
        timeout=config.timeout_seconds,
        callbacks=callbacks,
        catch=(ValueError,),
    )
    return TuningResult(
        study_name=config.study_name,
        best_value=float(study.best_value),
        best_params=dict(study.best_trial.params),
        trials=[_record(trial) for trial in study.trials],
    )


def fit_tagger(
    texts: Sequence[str], labels: Sequence[str], params: dict[str, Any], seed: int
) -> BaseEstimator:
    """The pipeline of `params`, fitted on all given rows."""
    texts, labels = np.asarray(texts, dtype=object), np.asarray(labels, dtype=object)
    return build_pipeline(params, seed=seed).fit(texts, labels)


def _record(trial: optuna.trial.FrozenTrial) -> TrialRecord:
    return TrialRecord(trial.number, trial.state.name, trial.value, dict(trial.params))
