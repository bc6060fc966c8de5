"""The champion's predictions as data: a row per project, and the labeling queue drawn from them.

`project_predictions` keeps, per project, the tag, its probability, the precision-mode tag, every
class's probability (a JSON object, since classes differ between versions) and the version that
predicted. `labeling_queue` is the course's active-learning start: a month's least confident
predictions, for people to label first.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd
import pyarrow as pa

from mlplatform.core.partitions import PARTITION_COLUMN, month_key

if TYPE_CHECKING:  # scikit-learn: not at definitions' load
    from mlplatform.core.training import Prediction

PREDICTIONS_TABLE = "project_predictions"
LABELING_QUEUE_TABLE = "labeling_queue"
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


@dataclass(frozen=True)
class LabelingConfig:
    """How many of a month's projects the labeling queue offers."""

    queue_size: int = 50


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


def least_confident(
    predictions: pd.DataFrame, projects: pd.DataFrame, config: LabelingConfig = LabelingConfig()
) -> pd.DataFrame:
    """Each month's `queue_size` predictions with the lowest probability (ties by id), ranked
    from 1 within the month, with the project's text for whoever labels it."""
    texts = projects[["id", "title", "description"]]
    ordered = predictions.sort_values(["probability", "id"]).reset_index(drop=True)
    months = month_key(ordered[PARTITION_COLUMN]) if len(ordered) else ordered["id"]
    ranked = ordered.groupby(months.to_numpy(), sort=False).head(config.queue_size)
    month = months.loc[ranked.index].to_numpy()
    ranked = ranked.assign(rank=ranked.groupby(month, sort=False).cumcount() + 1, month=month)
    queue = ranked.sort_values(["month", "rank"]).merge(texts, on="id", how="left")
    return queue[list(QUEUE_TYPES)].astype(QUEUE_TYPES)
