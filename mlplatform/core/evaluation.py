"""Metrics as plain data: weighted and per-class scores, confusion matrix, slices."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

from mlplatform.core.scores import ClassScores, ConfusionMatrix, Metrics, SliceScores
from mlplatform.core.text import clean_texts, project_text

SliceFunction = Callable[[pd.DataFrame], pd.Series]


def short_text(frame: pd.DataFrame) -> pd.Series:
    """Projects whose cleaned title + description has fewer than 8 words."""
    return pd.Series([len(t.split()) < 8 for t in clean_texts(project_text(frame))], frame.index)


def nlp_mentioning_cnn(frame: pd.DataFrame) -> pd.Series:
    """NLP projects that mention CNNs: easy to mistake for computer vision."""
    text = project_text(frame).str.lower()
    mentions = text.str.contains(r"\bcnns?\b|convolutional")
    return (frame["tag"] == "natural-language-processing") & mentions


SLICES: dict[str, SliceFunction] = {"short_text": short_text, "nlp_cnn": nlp_mentioning_cnn}


def classification_metrics(
    y_true: Sequence[str], y_pred: Sequence[str], labels: Sequence[str]
) -> Metrics:
    """Weighted and per-class precision/recall/F1 plus the confusion matrix."""
    labels = list(labels)
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=0
    )
    weighted = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, average="weighted", zero_division=0
    )
    matrix = confusion_matrix(y_true, y_pred, labels=labels)
    return Metrics(
        rows=len(y_true),
        precision=float(weighted[0]),
        recall=float(weighted[1]),
        f1=float(weighted[2]),
        per_class={
            label: ClassScores(float(precision[i]), float(recall[i]), float(f1[i]), int(support[i]))
            for i, label in enumerate(labels)
        },
        confusion=ConfusionMatrix(tuple(labels), tuple(tuple(map(int, r)) for r in matrix)),
    )


def slice_metrics(
    frame: pd.DataFrame,
    y_pred: Sequence[str],
    labels: Sequence[str],
    slices: Mapping[str, SliceFunction] = SLICES,
) -> dict[str, SliceScores]:
    """Weighted metrics on each slice of `frame` (rows where the slice function is true)."""
    predicted = np.asarray(list(y_pred))
    result = {}
    for name, select in slices.items():
        mask = select(frame).to_numpy()
        if not mask.any():
            result[name] = SliceScores(0, None, None, None)
            continue
        scores = classification_metrics(frame["tag"][mask], predicted[mask], labels)
        result[name] = SliceScores(scores.rows, scores.precision, scores.recall, scores.f1)
    return result


def precision_threshold(
    probabilities: np.ndarray, y_true: Sequence[str], classes: Sequence[str], quantile: float = 0.25
) -> float:
    """The course's precision mode: a low quantile of the top probability of correct predictions."""
    predicted = np.asarray(classes)[probabilities.argmax(axis=1)]
    correct = predicted == np.asarray(y_true)
    top = probabilities.max(axis=1)
    return float(np.quantile(top[correct], quantile)) if correct.any() else 0.0


def apply_threshold(
    probabilities: np.ndarray, classes: Sequence[str], threshold: float, other: str = "other"
) -> np.ndarray:
    """Argmax, except `other` where the top probability is under `threshold`."""
    predicted = np.asarray(classes)[probabilities.argmax(axis=1)]
    return np.where(probabilities.max(axis=1) < threshold, other, predicted)
