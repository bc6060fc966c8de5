"""Reproducible splits with a held-out set that never moves between retrains."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import pandas as pd

HOLDOUT_SALT = "mlplatform-holdout-v1"
TEST_FRACTION = 0.2  # share of ids held out for the test set


@dataclass(frozen=True)
class Splits:
    train: pd.DataFrame
    validation: pd.DataFrame
    test: pd.DataFrame


def in_holdout(ids: pd.Series, fraction: float, salt: str = HOLDOUT_SALT) -> pd.Series:
    """Whether each id belongs to the held-out set: a hash of the id, not of the data around it.

    A row keeps its assignment however much data arrives later, so a champion is never scored
    on rows a later challenger was trained on (and vice versa).
    """
    buckets = ids.astype(str).map(
        lambda value: int(hashlib.sha256(f"{salt}:{value}".encode()).hexdigest()[:8], 16) % 10_000
    )
    return buckets < int(fraction * 10_000)


def split_dataset(
    frame: pd.DataFrame,
    seed: int,
    label: str = "tag",
    test_fraction: float = TEST_FRACTION,
    validation_fraction: float = 0.15,
) -> Splits:
    """Test by id hash (stable); train/validation stratified by label with `seed`."""
    from sklearn.model_selection import train_test_split  # this module's constants load light

    holdout = in_holdout(frame["id"], test_fraction)
    rest = frame[~holdout]
    stratify = rest[label] if rest[label].value_counts().min() >= 2 else None
    train, validation = train_test_split(
        rest, test_size=validation_fraction, stratify=stratify, random_state=seed
    )
    return Splits(
        train=train.reset_index(drop=True),
        validation=validation.reset_index(drop=True),
        test=frame[holdout].reset_index(drop=True),
    )


def stratified_sample(
    frame: pd.DataFrame, size: int | None, seed: int, label: str = "tag"
) -> pd.DataFrame:
    """At most about `size` rows of `frame`, each label keeping its share (at least one row);
    `frame` itself when it is not larger."""
    if size is None or len(frame) <= size:
        return frame
    share = size / len(frame)
    picked = [
        rows.sample(max(1, round(len(rows) * share)), random_state=seed).index
        for _, rows in frame.groupby(label)
    ]
    return frame[frame.index.isin(pd.Index([]).append(picked))]
