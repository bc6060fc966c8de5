"""Reproducible splits with a held-out set that never moves between retrains."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import pandas as pd

HOLDOUT_SALT = "mlplatform-holdout-v1"
TEST_FRACTION = 0.2  # share of ids held out for the test set
VALIDATED_SHARE = 0.5  # forward-chaining folds score the newest half of the rows


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


def has_dates(frame: pd.DataFrame, column: str = "created_on") -> bool:
    """Whether every row has a creation date, so splits can respect time."""
    return column in frame and len(frame) > 0 and bool(frame[column].notna().all())


def split_dataset(
    frame: pd.DataFrame,
    seed: int,
    label: str = "tag",
    test_fraction: float = TEST_FRACTION,
    validation_fraction: float = 0.15,
    time_aware: bool = True,
) -> Splits:
    """Test by id hash (stable). Validation: the newest rows where the data has dates (a model is
    always used on projects newer than its training data); otherwise stratified with `seed`."""
    from sklearn.model_selection import train_test_split  # this module's constants load light

    holdout = in_holdout(frame["id"], test_fraction)
    rest = frame[~holdout]
    if time_aware and has_dates(rest):
        order = rest.iloc[_oldest_first(rest["created_on"])]
        newest = round(len(order) * validation_fraction)
        train, validation = order.iloc[: len(order) - newest], order.iloc[len(order) - newest :]
    else:
        stratify = rest[label] if rest[label].value_counts().min() >= 2 else None
        train, validation = train_test_split(
            rest, test_size=validation_fraction, stratify=stratify, random_state=seed
        )
    return Splits(
        train=train.reset_index(drop=True),
        validation=validation.reset_index(drop=True),
        test=frame[holdout].reset_index(drop=True),
    )


def forward_chaining_folds(
    created_on: pd.Series, folds: int, validated_share: float = VALIDATED_SHARE
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Folds that fit on every row up to a date and score on the next block of newer rows.

    The newest `validated_share` of the rows is cut into `folds` consecutive blocks; no fitted
    row is newer than a scored one. Positions refer to `created_on`'s order as given.
    """
    from sklearn.model_selection import TimeSeriesSplit

    order = _oldest_first(created_on)
    block = max(1, int(len(order) * validated_share / folds))
    splitter = TimeSeriesSplit(n_splits=folds, test_size=block)
    return [(order[fit], order[score]) for fit, score in splitter.split(order)]


def _oldest_first(created_on: pd.Series) -> np.ndarray:
    # A stable sort keeps equal timestamps in their given order: the same folds on every run.
    return np.argsort(pd.to_datetime(created_on).to_numpy(), kind="stable")


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
    return frame[frame.index.isin(np.concatenate([index.to_numpy() for index in picked]))]
