"""Optuna search over tagger pipelines, scored by cross-validation on training data only."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.metrics import f1_score
from sklearn.model_selection import StratifiedKFold
from threadpoolctl import threadpool_limits

from mlplatform.core.embeddings import sentence_encoder
from mlplatform.core.model import CALIBRATION_FOLDS, DEFAULT_PARAMS, build_pipeline
from mlplatform.core.splits import VALIDATED_SHARE, forward_chaining_folds
from mlplatform.core.tuning_config import TuningConfig

FINISHED = (
    optuna.trial.TrialState.COMPLETE,
    optuna.trial.TrialState.PRUNED,
    optuna.trial.TrialState.FAIL,
)


@dataclass(frozen=True)
class TrialRecord:
    number: int
    state: str
    value: float | None
    params: dict[str, Any]
    fold_f1: list[float] = field(default_factory=list)


@dataclass(frozen=True)
class TuningResult:
    study_name: str
    chosen_params: dict[str, Any]
    chosen_value: float  # the chosen configuration's mean fold F1
    best_value: float  # the best trial's, which the chosen one may trail (see chosen_trial)
    kept_default: bool  # the default configuration was not beaten beyond noise
    folds: str  # how trials were validated: "forward-chaining" or "stratified"
    trials: list[TrialRecord] = field(default_factory=list)


FALLBACK_CLASSIFIER = {"classifier": "logistic_regression"}
# Part of every study's name: a study of an older search space is not resumed with this one.
SEARCH_SPACE_VERSION = "s3"  # s3: vocabularies capped (VOCABULARY_CAP)


def suggest_params(trial: optuna.Trial, embeddings: bool = True) -> dict[str, Any]:
    """The search space: TF-IDF analyzers and n-grams, with or without sentence embeddings,
    three linear families, class weights."""
    params: dict[str, Any] = {
        "features": trial.suggest_categorical(
            "features", ["word", "char_wb", "char", "word+char_wb"]
        ),
        "embeddings": (
            trial.suggest_categorical("embeddings", [True, False]) if embeddings else False
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


Folds = list[tuple[np.ndarray, np.ndarray]]
# A block of newer rows scores a configuration; on fewer rows its F1 is mostly noise.
MIN_SCORED_ROWS = 30


def validation_folds(
    labels: np.ndarray, created_on: np.ndarray | None, config: TuningConfig
) -> tuple[str, Folds]:
    """Where rows have dates, forward-chaining folds (fit on older rows, score on the next newer
    block): the tagger is always used on projects newer than its training data. Otherwise, or
    when the newest rows are too few for two blocks of `MIN_SCORED_ROWS`, stratified shuffled
    folds. Returns the kind of folds and the folds."""
    blocks = min(config.cv_folds, int(len(labels) * VALIDATED_SHARE) // MIN_SCORED_ROWS)
    dated = created_on is not None and not pd.isna(created_on).any()
    if config.time_aware and dated and blocks >= 2:
        folds = forward_chaining_folds(pd.Series(created_on), blocks)
        return "forward-chaining", [(_fittable(fit, labels), score) for fit, score in folds]
    # Rare classes early in a project's life: fewer folds rather than no model.
    count = max(2, min(config.cv_folds, int(np.unique(labels, return_counts=True)[1].min())))
    splitter = StratifiedKFold(n_splits=count, shuffle=True, random_state=config.seed)
    return "stratified", list(splitter.split(labels, labels))


def _fittable(fit: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """`fit` without the rows of classes too rare in it to calibrate (a tag new in the data):
    every configuration then fails or succeeds on the same folds."""
    values, counts = np.unique(labels[fit], return_counts=True)
    rare = values[counts < CALIBRATION_FOLDS]
    return fit[~np.isin(labels[fit], rare)]


def cross_validated_f1(
    params: dict[str, Any],
    texts: np.ndarray,
    labels: np.ndarray,
    folds: Folds,
    seed: int,
    trial: optuna.Trial | None = None,
) -> list[float]:
    """Weighted F1 on each fold; the running mean is reported so a pruner can stop early."""
    scores: list[float] = []
    for step, (fit_index, score_index) in enumerate(folds):
        model = build_pipeline(params, seed=seed).fit(texts[fit_index], labels[fit_index])
        predicted = model.predict(texts[score_index])
        scores.append(float(f1_score(labels[score_index], predicted, average="weighted")))
        if trial is not None:
            trial.report(float(np.mean(scores)), step)
            if trial.should_prune():
                raise optuna.TrialPruned()
    return scores


def chosen_trial(
    trials: Sequence[optuna.trial.FrozenTrial], min_gain_standard_errors: float
) -> optuna.trial.FrozenTrial:
    """The best trial if it beats the default configuration beyond noise, else the default.

    Beyond noise: its mean fold-by-fold gain over the default exceeds `min_gain_standard_errors`
    standard errors of those gains. The best of many noisy trials is flattered by luck (on ~600
    rows one fold's F1 moves by ±0.03), and a configuration that won on the folds by luck loses
    on newer data; with more rows the noise shrinks and tuned configurations win on merit.
    """
    complete = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    if not complete:
        raise ValueError("no tuning trial completed: every configuration failed on this data")
    best = max(complete, key=lambda trial: trial.value)
    default = next((t for t in complete if t.user_attrs.get("default")), None)
    if default is None or best is default:
        return best
    gains = np.subtract(best.user_attrs["fold_f1"], default.user_attrs["fold_f1"])
    noise = gains.std(ddof=1) / np.sqrt(len(gains)) if len(gains) > 1 else 0.0
    return best if gains.mean() > min_gain_standard_errors * noise else default


def tune(
    texts: Sequence[str],
    labels: Sequence[str],
    config: TuningConfig,
    on_trial: Callable[[TrialRecord], None] | None = None,
    created_on: Sequence[Any] | None = None,
) -> TuningResult:
    """Run (or resume) the study until it holds `config.n_trials` finished trials.

    Trials are scored by mean F1 on `validation_folds` (forward-chaining where `created_on` is
    given); the result is the `chosen_trial`. With `config.workers > 1`, that many processes
    share the study through its storage (optuna's way to scale out); this process is worker 0
    and `on_trial` sees its trials only.
    """
    texts, labels = np.asarray(texts, dtype=object), np.asarray(labels, dtype=object)
    dates = None if created_on is None else pd.to_datetime(pd.Series(created_on)).to_numpy()
    if config.workers > 1 and config.storage is None:
        raise ValueError(
            f"TuningConfig(workers={config.workers}) needs a storage the workers share "
            "(e.g. MLPLATFORM_OPTUNA_STORAGE=postgresql+psycopg2://…)"
        )
    study = _study(config, worker=0)
    if not study.trials:
        # The default configuration is trial 0: the one to beat (see chosen_trial).
        study.enqueue_trial(_default_params(config), user_attrs={"default": True})
    kind, folds = validation_folds(labels, dates, config)
    if _remaining(study, config) > 0:
        _encode_once(texts, config)
        with _helper_workers(texts, labels, folds, config) as helpers:
            _optimize(study, texts, labels, folds, config, on_trial)
            helpers.wait()
    chosen = chosen_trial(study.trials, config.min_gain_standard_errors)
    return TuningResult(
        study_name=config.study_name,
        chosen_params={**_fixed_params(config), **chosen.params},
        chosen_value=float(chosen.value),
        best_value=float(study.best_value),
        kept_default=bool(chosen.user_attrs.get("default")),
        folds=kind,
        trials=[_record(trial) for trial in study.trials],
    )


def _fixed_params(config: TuningConfig) -> dict[str, Any]:
    """Parameters outside this study's search space."""
    return {} if config.embeddings else {"embeddings": False}


def _default_params(config: TuningConfig) -> dict[str, Any]:
    fixed = _fixed_params(config)
    return {key: value for key, value in DEFAULT_PARAMS.items() if key not in fixed}


def _encode_once(texts: np.ndarray, config: TuningConfig) -> None:
    """Sentence embeddings of every text before the trials, with all BLAS threads: each trial and
    fold then reads them from the encoder's cache instead of encoding under one thread."""
    if config.embeddings:
        sentence_encoder().encode(texts)


def _study(config: TuningConfig, worker: int) -> optuna.Study:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna.create_study(
        study_name=config.study_name,
        storage=config.storage,
        direction="maximize",
        # Each worker its own seed: with one seed they would all propose the same trials.
        sampler=optuna.samplers.TPESampler(seed=config.seed + worker),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=1),
        load_if_exists=True,
    )


def _optimize(
    study: optuna.Study,
    texts: np.ndarray,
    labels: np.ndarray,
    folds: Folds,
    config: TuningConfig,
    on_trial: Callable[[TrialRecord], None] | None = None,
    worker: int = 0,
) -> None:
    """Add trials until the study holds `n_trials` finished ones (a killed run resumes)."""
    remaining = _remaining(study, config)
    if remaining <= 0:
        return

    def objective(trial: optuna.Trial) -> float:
        trial.set_user_attr("worker", worker)
        params = suggest_params(trial, config.embeddings)
        scores = cross_validated_f1(params, texts, labels, folds, config.seed, trial)
        trial.set_user_attr("fold_f1", scores)
        return float(np.mean(scores))

    # The budget is the study's, shared by every worker: each stops once it is spent.
    callbacks: list[Callable] = [
        optuna.study.MaxTrialsCallback(config.n_trials, FINISHED),
        _fallback_after_failed_default,
    ]
    if on_trial:
        callbacks.append(lambda _, trial: on_trial(_record(trial)))
    # A configuration that cannot fit this data (e.g. calibration with a 2-example class) is a
    # failed trial, not a failed study.
    with threadpool_limits(limits=config.blas_threads):
        study.optimize(
            objective,
            n_trials=remaining,
            timeout=config.timeout_seconds,
            callbacks=callbacks,
            catch=(ValueError,),
        )


def _fallback_after_failed_default(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
    """When the default cannot fit this data (the linear SVM's calibration needs
    CALIBRATION_FOLDS rows of every class in each fit), try next the same features with
    logistic regression, which needs none, rather than leave a small budget to chance."""
    if trial.user_attrs.get("default") and trial.state == optuna.trial.TrialState.FAIL:
        fallback = {**trial.params, **FALLBACK_CLASSIFIER}
        study.enqueue_trial(fallback, user_attrs={"fallback": True})


def _remaining(study: optuna.Study, config: TuningConfig) -> int:
    return config.n_trials - len(study.get_trials(deepcopy=False, states=FINISHED))


class _Helpers:
    """Worker processes 1..n-1 of a study; `wait` raises if one of them failed."""

    def __init__(self, processes: list[subprocess.Popen], logs: list[Path]) -> None:
        self.processes, self.logs = processes, logs

    def wait(self) -> None:
        for process, log in zip(self.processes, self.logs, strict=True):
            if process.wait() != 0:
                error = log.read_text()[-3000:]
                raise RuntimeError(f"tuning worker failed (exit {process.returncode}):\n{error}")


@contextmanager
def _helper_workers(
    texts: np.ndarray, labels: np.ndarray, folds: Folds, config: TuningConfig
) -> Iterator[_Helpers]:
    """Start the helper workers as plain processes: a Celery or Dagster step may be daemonic,
    and daemonic processes cannot use multiprocessing. They get this process's folds, so every
    trial of the study is scored on the same rows, and its embeddings, so no text is encoded
    twice."""
    if config.workers <= 1:
        yield _Helpers([], [])
        return
    with tempfile.TemporaryDirectory(prefix="mlplatform-tuning-") as scratch:
        payload = Path(scratch) / "payload.json"
        payload.write_text(
            json.dumps(
                {
                    "texts": texts.tolist(),
                    "labels": labels.tolist(),
                    "folds": [[fit.tolist(), score.tolist()] for fit, score in folds],
                    "config": asdict(config),
                }
            )
        )
        if config.embeddings:  # already encoded (`_encode_once`): read from the cache
            np.save(Path(scratch) / EMBEDDINGS_FILE, sentence_encoder().encode(texts))
        workers = range(1, config.workers)
        logs = [Path(scratch) / f"worker-{worker}.log" for worker in workers]
        processes = [
            _start_helper([sys.executable, "-m", __name__, str(payload), str(worker)], log)
            for worker, log in zip(workers, logs, strict=True)
        ]
        try:
            yield _Helpers(processes, logs)
        finally:
            for process in processes:
                if process.poll() is None:
                    process.kill()
                    process.wait()


EMBEDDINGS_FILE = "embeddings.npy"


def _start_helper(command: list[str], log: Path) -> subprocess.Popen:
    with log.open("w") as stderr:
        return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr)


def _run_helper(payload: Path, worker: int) -> None:
    data = json.loads(payload.read_text())
    config = TuningConfig(**data["config"])
    texts = np.asarray(data["texts"], dtype=object)
    labels = np.asarray(data["labels"], dtype=object)
    folds = [(np.asarray(fit), np.asarray(score)) for fit, score in data["folds"]]
    if config.embeddings:
        sentence_encoder().remember(texts, np.load(payload.parent / EMBEDDINGS_FILE))
    _optimize(_study(config, worker), texts, labels, folds, config, worker=worker)


def fit_tagger(
    texts: Sequence[str], labels: Sequence[str], params: dict[str, Any], seed: int
) -> BaseEstimator:
    """The pipeline of `params`, fitted on all given rows."""
    texts, labels = np.asarray(texts, dtype=object), np.asarray(labels, dtype=object)
    return build_pipeline(params, seed=seed).fit(texts, labels)


def _record(trial: optuna.trial.FrozenTrial) -> TrialRecord:
    fold_f1 = list(trial.user_attrs.get("fold_f1", []))
    return TrialRecord(trial.number, trial.state.name, trial.value, dict(trial.params), fold_f1)


if __name__ == "__main__":
    _run_helper(Path(sys.argv[1]), int(sys.argv[2]))
