"""The champion's predictions as data: a row per project, and what people label and review.

`project_predictions` keeps, per project, the tag, its probability, the precision-mode tag, every
class's probability (a JSON object, since classes differ between versions) and the version that
predicted. From them, per month: `labeling_queue` (active learning: the unlabeled projects the
champion is least sure of, within the month's label budget, no topic filling it while others wait)
and `label_review` (label QA: labels a confident champion disagrees with, kept for a person).
"""

from __future__ import annotations

import json
import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd
import pyarrow as pa

from mlplatform.core.partitions import PARTITION_COLUMN, month_key

if TYPE_CHECKING:  # scikit-learn: not at definitions' load
    from mlplatform.core.training import Prediction

PREDICTIONS_TABLE = "project_predictions"
LABELING_QUEUE_TABLE = "labeling_queue"
LABEL_REVIEW_TABLE = "label_review"
_TEXT = pd.ArrowDtype(pa.string())
# Typed even when empty, so the table a first (empty) month creates fits every later month.
PREDICTION_TYPES = {
    "id": "int64",
    PARTITION_COLUMN: "datetime64[us]",
    "tag": _TEXT,
    "probability": "float64",
    "precision_mode_tag": _TEXT,
    "probabilities": _TEXT,
    "model_version": _TEXT,
}
QUEUE_TYPES = {**PREDICTION_TYPES, "title": _TEXT, "description": _TEXT, "rank": "int64"}
REVIEW_TYPES = {**PREDICTION_TYPES, "title": _TEXT, "description": _TEXT, "label": _TEXT}


@dataclass(frozen=True)
class LabelingConfig:
    """How much of a month people label, how the queue spends it, and when a label is reviewed.

    `budget_share`: the share of a month's projects that gets labeled (labels already there count
    against it). `max_tag_share`: the most of a queue one predicted tag takes while others wait.
    `review_confidence`: a champion at least this sure of another tag sends a label to review.
    """

    budget_share: float = 0.3
    max_tag_share: float = 0.5
    review_confidence: float = 0.9

    def __post_init__(self) -> None:
        for name in ("budget_share", "max_tag_share", "review_confidence"):
            if not 0 < (value := getattr(self, name)) <= 1:
                raise ValueError(f"labeling {name} must be in (0, 1], got {value!r}")


def prediction_rows(
    projects: pd.DataFrame, predictions: Sequence[Prediction], version: str
) -> pd.DataFrame:
    """A row per project of `projects` (in order) from its `predictions` by `version`."""
    frame = pd.DataFrame(
        {
            "id": projects["id"].to_numpy(),
            PARTITION_COLUMN: pd.to_datetime(projects[PARTITION_COLUMN], format="ISO8601"),
            "tag": [p.tag for p in predictions],
            "probability": [p.probability for p in predictions],
            "precision_mode_tag": [p.precision_mode_tag for p in predictions],
            "probabilities": [json.dumps(p.probabilities, sort_keys=True) for p in predictions],
            "model_version": version,
        },
        columns=list(PREDICTION_TYPES),
    )
    return frame.astype(PREDICTION_TYPES)


def tag_distribution(rows: pd.DataFrame) -> dict[str, int]:
    """How many projects each tag was predicted for, most frequent first."""
    return {str(tag): int(n) for tag, n in rows["tag"].value_counts().items()}


def labeling_queue_rows(
    predictions: pd.DataFrame,
    projects: pd.DataFrame,
    labeled_ids: Collection[int],
    config: LabelingConfig = LabelingConfig(),
) -> pd.DataFrame:
    """Per month, the unlabeled projects to label first, ranked from 1: the least confident
    predictions (ties by id), as many as the month's budget has left, with `diverse_first`'s
    guard; with the project's text for whoever labels it."""
    texts = projects[["id", "title", "description"]]
    months = month_key(predictions[PARTITION_COLUMN]) if len(predictions) else predictions["id"]
    labeled = predictions["id"].isin(set(labeled_ids))
    queued = []
    for _, rows in predictions.groupby(months.to_numpy(), sort=True):
        budget = math.ceil(config.budget_share * len(rows)) - int(labeled.loc[rows.index].sum())
        candidates = rows[~labeled.loc[rows.index]].sort_values(["probability", "id"])
        picked = diverse_first(candidates, budget, config.max_tag_share)
        queued.append(picked.assign(rank=range(1, len(picked) + 1)))
    queue = pd.concat(queued) if queued else predictions.assign(rank=0).iloc[:0]
    queue = queue.merge(texts, on="id", how="left")
    return queue[list(QUEUE_TYPES)].astype(QUEUE_TYPES)


def diverse_first(candidates: pd.DataFrame, size: int, max_tag_share: float) -> pd.DataFrame:
    """The first `size` of `candidates` (in priority order) taking at most `max_tag_share` of
    `size` from one predicted tag; places no other tag can fill go to the skipped, in order."""
    if size <= 0:
        return candidates.iloc[:0]
    cap = max(1, math.floor(max_tag_share * size))
    within_cap = candidates.groupby("tag", sort=False).cumcount() < cap
    first = candidates[within_cap].head(size)
    rest = candidates[~within_cap].head(size - len(first))
    return pd.concat([first, rest])


def label_disagreements(
    predictions: pd.DataFrame,
    labeled: pd.DataFrame,
    other: str,
    config: LabelingConfig = LabelingConfig(),
) -> pd.DataFrame:
    """Labeled projects whose label a champion at least `review_confidence` sure disagrees with
    (a label outside the champion's classes counts as `other`), most confident first."""
    rows = predictions.merge(
        labeled[["id", "title", "description", "tag"]].rename(columns={"tag": "label"}), on="id"
    )
    classes = rows["probabilities"].map(lambda value: set(json.loads(value)))
    label = rows["label"].astype(str)
    folded = label.where([lab in known for lab, known in zip(label, classes, strict=True)], other)
    sure = (rows["probability"] >= config.review_confidence) & (rows["tag"] != folded)
    review = rows[sure].sort_values(["probability", "id"], ascending=[False, True])
    return review[list(REVIEW_TYPES)].astype(REVIEW_TYPES).reset_index(drop=True)
