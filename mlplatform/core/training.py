"""Training end to end as one pure function: labels, splits, tuning, threshold, final fit."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from mlplatform.core.evaluation import (
    apply_threshold,
    classification_metrics,
    precision_threshold,
    slice_metrics,
)
from mlplatform.core.labels import OTHER, LabelConfig, fold_tags
from mlplatform.core.scores import Metrics, TaggerScores
from mlplatform.core.splits import in_holdout, split_dataset, stratified_sample
from mlplatform.core.text import one_project_text, project_text
from mlplatform.core.tuning import TrialRecord, TuningResult, fit_tagger, tune
from mlplatform.core.tuning_config import TuningConfig


@dataclass(frozen=True)
class Prediction:
    """A project's tag, the probability of it, every class's, and the precision-mode tag."""

    tag: str
    probability: float
    probabilities: dict[str, float]
    precision_mode_tag: str


@dataclass
class Tagger:
    """A fitted estimator plus the precision-mode threshold learned on validation."""

    estimator: Any
    threshold: float | None = None
    other: str = OTHER

    @property
    def classes(self) -> list[str]:
        return [str(c) for c in self.estimator.classes_]

    def probabilities(self, texts: Iterable[str]) -> np.ndarray:
        texts = np.asarray(list(texts), dtype=object)
        if len(texts) == 0:
            return np.empty((0, len(self.classes)))
        return self.estimator.predict_proba(texts)

    def predict(self, texts: Iterable[str], precision_mode: bool = False) -> np.ndarray:
        probabilities = self.probabilities(texts)
        if precision_mode and self.threshold is not None:
            return apply_threshold(probabilities, self.classes, self.threshold, self.other)
        return np.asarray(self.classes, dtype=object)[probabilities.argmax(axis=1)]

    def predictions(self, texts: Iterable[str]) -> list[Prediction]:
        """Every answer for each text, from one `predict_proba`."""
        probabilities = self.probabilities(texts)
        if not len(probabilities):
            return []
        classes = self.classes
        tags = np.asarray(classes, dtype=object)[probabilities.argmax(axis=1)]
        precise = (
            tags
            if self.threshold is None
            else apply_threshold(probabilities, classes, self.threshold, self.other)
        )
        return [
            Prediction(
                str(tag), float(row.max()), dict(zip(classes, map(float, row), strict=True)), str(p)
            )
            for tag, row, p in zip(tags, probabilities, precise, strict=True)
        ]

    def predict_project(
        self, title: str, description: str, precision_mode: bool = False
    ) -> dict[str, Any]:
        """The tag of one project and the model's probability for its top class."""
        (answer,) = self.predictions([one_project_text(title, description)])
        tag = answer.precision_mode_tag if precision_mode else answer.tag
        return {"tag": tag, "probability": answer.probability}


@dataclass
class TrainingOutcome:
    tagger: Tagger
    tuning: TuningResult
    validation: Metrics
    test: TaggerScores | None
    rows: dict[str, int]
    tuning_seconds: float
    fit_seconds: float


def prepare_labeled(frame: pd.DataFrame, config: LabelConfig = LabelConfig()) -> pd.DataFrame:
    """Rows with a tag, folded into the model's classes."""
    labeled = frame[frame["tag"].notna()].copy()
    labeled["tag"] = fold_tags(
        labeled["tag"].astype(str), config.accepted, config.min_count, config.other
    )
    return labeled.reset_index(drop=True)


def train_tagger(
    frame: pd.DataFrame,
    tuning_config: TuningConfig = TuningConfig(),
    label_config: LabelConfig = LabelConfig(),
    on_trial: Callable[[TrialRecord], None] | None = None,
) -> TrainingOutcome:
    """Tune on train (CV), learn the threshold on validation, refit on train + validation.

    Where rows have dates (and `tuning_config.time_aware`), validation is always on newer rows
    than those fitted: forward-chaining folds for tuning, the newest rows for the threshold.
    """
    labeled = prepare_labeled(frame, label_config)
    tuning_config = with_embedding_bound(tuning_config, len(labeled))
    splits = split_dataset(
        labeled,
        test_fraction=label_config.test_fraction,
        seed=tuning_config.seed,
        time_aware=tuning_config.time_aware,
    )
    train_texts, train_labels = project_text(splits.train), splits.train["tag"]
    sample = stratified_sample(splits.train, tuning_config.sample_rows, tuning_config.seed)

    started = time.perf_counter()
    tuning = tune(
        project_text(sample), sample["tag"], tuning_config, on_trial, sample.get("created_on")
    )
    tuning_seconds = time.perf_counter() - started

    started = time.perf_counter()
    chosen = tuning.chosen_params
    on_train = Tagger(fit_tagger(train_texts, train_labels, chosen, tuning_config.seed))
    validation_probabilities = on_train.probabilities(project_text(splits.validation))
    threshold = precision_threshold(
        validation_probabilities, splits.validation["tag"], on_train.classes
    )
    validation = classification_metrics(
        splits.validation["tag"],
        on_train.predict(project_text(splits.validation)),
        on_train.classes,
    )
    seen = pd.concat([splits.train, splits.validation])
    tagger = Tagger(
        fit_tagger(project_text(seen), seen["tag"], chosen, tuning_config.seed),
        threshold=threshold,
        other=label_config.other,
    )
    fit_seconds = time.perf_counter() - started
    return TrainingOutcome(
        tagger=tagger,
        tuning=tuning,
        validation=validation,
        test=score_tagger(tagger, splits.test) if len(splits.test) else None,
        rows={
            "train": len(splits.train),
            "validation": len(splits.validation),
            "test": len(splits.test),
            "tuning_sample": len(sample),
        },
        tuning_seconds=tuning_seconds,
        fit_seconds=fit_seconds,
    )


def unlabeled(frame: pd.DataFrame) -> int:
    """How many projects of `frame` still wait for a label."""
    return int(frame["tag"].isna().sum())


def with_embedding_bound(config: TuningConfig, rows: int) -> TuningConfig:
    """`config` without sentence embeddings when `rows` exceed its `embedding_max_rows`."""
    bound = config.embedding_max_rows
    if config.embeddings and bound is not None and rows > bound:
        return replace(config, embeddings=False)
    return config


def score_tagger(tagger: Tagger, frame: pd.DataFrame) -> TaggerScores:
    """Overall (argmax), precision-mode and per-slice metrics of a tagger on labeled rows."""
    texts, labels = project_text(frame), sorted(set(tagger.classes) | set(frame["tag"]))
    predicted = tagger.predict(texts)
    return TaggerScores(
        overall=classification_metrics(frame["tag"], predicted, labels),
        precision_mode=classification_metrics(
            frame["tag"], tagger.predict(texts, precision_mode=True), labels
        ),
        slices=slice_metrics(frame, predicted, labels),
    )


def training_cutoff(frame: pd.DataFrame) -> str | None:
    """The latest created_on the model saw."""
    if "created_on" not in frame or frame["created_on"].isna().all():
        return None
    return pd.Timestamp(frame["created_on"].max()).isoformat()


def holdout_rows(
    frame: pd.DataFrame,
    label_config: LabelConfig = LabelConfig(),
) -> pd.DataFrame:
    """The held-out rows of `frame` (the same ids every time), with folded labels."""
    labeled = prepare_labeled(frame, label_config)
    return labeled[in_holdout(labeled["id"], label_config.test_fraction)].reset_index(drop=True)


def rows_until(
    frame: pd.DataFrame,
    cutoff: str | None,
    label_config: LabelConfig = LabelConfig(),
) -> pd.DataFrame:
    """The rows a model trained up to `cutoff` learned from (held-out rows excluded)."""
    return rows_at_cutoff(frame, cutoff, label_config).trained


@dataclass(frozen=True)
class RowsAtCutoff:
    """Labeled rows as a model with this training cutoff sees them."""

    trained: pd.DataFrame  # outside the holdout ids, up to the cutoff
    test: pd.DataFrame  # the holdout ids up to the cutoff: the model's own test rows
    new: pd.DataFrame  # outside the holdout ids, after the cutoff

    @property
    def training_rows(self) -> int:
        return len(self.trained) + len(self.new)


def rows_at_cutoff(
    frame: pd.DataFrame,
    cutoff: str | None,
    label_config: LabelConfig = LabelConfig(),
) -> RowsAtCutoff:
    """Without a cutoff (dates unknown) every row counts as trained on."""
    labeled = prepare_labeled(frame, label_config)
    held_out = in_holdout(labeled["id"], label_config.test_fraction)
    seen = pd.Series(True, index=labeled.index)
    if cutoff:
        seen = pd.to_datetime(labeled["created_on"]) <= pd.Timestamp(cutoff)

    def pick(mask: pd.Series) -> pd.DataFrame:
        return labeled[mask].reset_index(drop=True)

    return RowsAtCutoff(pick(~held_out & seen), pick(held_out & seen), pick(~held_out & ~seen))


def rows_after(
    frame: pd.DataFrame,
    cutoff: str | None,
    label_config: LabelConfig = LabelConfig(),
    window_days: float | None = None,
) -> pd.DataFrame:
    """Projects that arrived after a model's training cutoff, labeled or not (tags folded where
    there is one: drift needs no labels); with `window_days`, only the newest.

    Without a window, months of unseen rows pile up and dilute a sudden shift in the latest one.
    """
    waiting = frame[frame["tag"].isna()]
    rows = pd.concat([prepare_labeled(frame, label_config), waiting], ignore_index=True)
    if not cutoff:
        return rows.iloc[0:0]
    created = pd.to_datetime(rows["created_on"])
    keep = created > pd.Timestamp(cutoff)
    if window_days and keep.any():
        keep &= created > created[keep].max() - pd.Timedelta(days=window_days)
    return rows[keep].sort_values(["created_on", "id"]).reset_index(drop=True)
