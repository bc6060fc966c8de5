"""Fold raw tags into the classes the model learns."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import pandas as pd

from mlplatform.core.splits import TEST_FRACTION

OTHER = "other"
ACCEPTED_TAGS: tuple[str, ...] = ("natural-language-processing", "computer-vision", "mlops")


def fold_tags(
    tags: pd.Series,
    accepted: Iterable[str] | None = ACCEPTED_TAGS,
    min_count: int = 0,
    other: str = OTHER,
) -> pd.Series:
    """Tags outside `accepted` (None keeps all) or rarer than `min_count` become `other`."""
    keep = set(tags.unique()) if accepted is None else set(accepted)
    counts = tags.value_counts()
    keep &= set(counts[counts >= min_count].index)
    return tags.where(tags.isin(keep), other)


@dataclass(frozen=True)
class LabelConfig:
    """Which labeled rows a model learns from: how raw tags fold into classes, and the share of
    ids held out for testing (the same ids every time, see `splits.in_holdout`)."""

    accepted: tuple[str, ...] | None = ACCEPTED_TAGS
    min_count: int = 0
    other: str = OTHER
    test_fraction: float = TEST_FRACTION
