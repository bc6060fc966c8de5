"""How the champion does on labeled rows that arrived after its training cutoff.

Labels land with the data here, so the champion can be scored on new rows instead of being
judged by drift alone. Point estimates on a few hundred rows are noisy: every figure that
decides anything comes with a bootstrap interval (scipy), over a weighted F1 vectorised across
resamples (sklearn's `f1_score`, called once per resample, made the interval take seconds).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

RESAMPLES = 2_000
# Resampled cells (resamples x rows) per vectorised call: a few tens of MB whatever the rows.
_CELLS_PER_BATCH = 4_000_000


@dataclass(frozen=True)
class Interval:
    """A point estimate and its bootstrap interval."""

    value: float
    low: float
    high: float

    def __str__(self) -> str:
        return f"{self.value:+.3f} [{self.low:+.3f}, {self.high:+.3f}]"


@dataclass(frozen=True)
class PerformanceEstimate:
    """The champion on new rows vs on its own test rows, and how much it has not seen."""

    new_rows: int
    test_rows: int
    trained_rows: int
    new_f1: Interval | None
    test_f1: Interval | None
    change: Interval | None  # new F1 - test F1

    @property
    def growth(self) -> float | None:
        """New labeled rows as a share of the rows the champion was trained on."""
        return self.new_rows / self.trained_rows if self.trained_rows else None


@dataclass(frozen=True)
class PeriodScore:
    period: str
    rows: int
    f1: Interval


def weighted_f1(truth: np.ndarray, predicted: np.ndarray, n_classes: int) -> np.ndarray:
    """Support-weighted F1 of integer-coded labels along the last axis, one value per leading
    row (sklearn's "weighted" average with zero_division=0)."""
    truth, predicted = np.atleast_2d(truth), np.atleast_2d(predicted)
    offsets = np.arange(truth.shape[0])[:, None] * n_classes

    def counts(codes: np.ndarray) -> np.ndarray:
        return np.bincount(codes, minlength=truth.shape[0] * n_classes).reshape(-1, n_classes)

    support = counts((truth + offsets).ravel())
    guessed = counts((predicted + offsets).ravel())
    hits = counts((truth + offsets)[truth == predicted])
    pairs = support + guessed
    per_class = np.divide(2 * hits, pairs, out=np.zeros(hits.shape), where=pairs > 0)
    total = support.sum(axis=1)
    weighted = (per_class * support).sum(axis=1)
    return np.divide(weighted, total, out=np.zeros(len(total)), where=total > 0)


def _coded(*labels: np.ndarray) -> tuple[list[np.ndarray], int]:
    """Integer codes over the union of the label arrays' values."""
    classes, codes = np.unique(
        np.concatenate([np.asarray(a, dtype=str) for a in labels]), return_inverse=True
    )
    return np.split(codes, np.cumsum([len(a) for a in labels])[:-1]), len(classes)


def f1_interval(
    truth: np.ndarray, predicted: np.ndarray, confidence: float, seed: int = 0
) -> Interval | None:
    """Weighted F1 and its percentile bootstrap interval; None without rows."""
    if len(truth) == 0:
        return None
    (t, p), n_classes = _coded(truth, predicted)
    value = float(weighted_f1(t, p, n_classes)[0])
    if len(t) < 2:
        return Interval(value, value, value)

    def statistic(rows: np.ndarray, axis: int = -1) -> np.ndarray:
        return weighted_f1(t[rows], p[rows], n_classes)

    return _interval(value, (np.arange(len(t)),), statistic, confidence, seed)


def f1_change_interval(
    new: tuple[np.ndarray, np.ndarray],
    test: tuple[np.ndarray, np.ndarray],
    confidence: float,
    seed: int = 0,
) -> Interval | None:
    """(new F1 - test F1) with an interval resampling both row sets independently."""
    if min(len(new[0]), len(test[0])) < 2:
        return None
    (nt, np_, tt, tp), n_classes = _coded(*new, *test)

    def statistic(new_rows: np.ndarray, test_rows: np.ndarray, axis: int = -1) -> np.ndarray:
        return weighted_f1(nt[new_rows], np_[new_rows], n_classes) - weighted_f1(
            tt[test_rows], tp[test_rows], n_classes
        )

    value = float(statistic(np.arange(len(nt)), np.arange(len(tt)))[0])
    samples = (np.arange(len(nt)), np.arange(len(tt)))
    return _interval(value, samples, statistic, confidence, seed)


def _interval(value, samples, statistic, confidence: float, seed: int) -> Interval:
    from scipy.stats import bootstrap  # scipy.stats takes a second to import

    result = bootstrap(
        samples,
        statistic,
        vectorized=True,
        paired=False,
        n_resamples=RESAMPLES,
        batch=max(1, _CELLS_PER_BATCH // max(len(sample) for sample in samples)),
        confidence_level=confidence,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    low, high = result.confidence_interval
    return Interval(value, float(low), float(high))


def estimate_performance(
    new: pd.DataFrame, test: pd.DataFrame, trained_rows: int, confidence: float, seed: int = 0
) -> PerformanceEstimate:
    """Frames with `tag` (truth) and `prediction`: rows after the cutoff, and the champion's
    own test rows."""
    new_pair = (new["tag"].to_numpy(), new["prediction"].to_numpy())
    test_pair = (test["tag"].to_numpy(), test["prediction"].to_numpy())
    return PerformanceEstimate(
        new_rows=len(new),
        test_rows=len(test),
        trained_rows=trained_rows,
        new_f1=f1_interval(*new_pair, confidence, seed),
        test_f1=f1_interval(*test_pair, confidence, seed),
        change=f1_change_interval(new_pair, test_pair, confidence, seed),
    )


def monthly_scores(
    new: pd.DataFrame, confidence: float, max_periods: int = 12, seed: int = 0
) -> list[PeriodScore]:
    """F1 with its interval per month of arrival, the newest `max_periods` months."""
    months = pd.to_datetime(new["created_on"]).dt.strftime("%Y-%m")
    scores = []
    for month in sorted(months.unique())[-max_periods:]:
        rows = new[months == month]
        interval = f1_interval(
            rows["tag"].to_numpy(), rows["prediction"].to_numpy(), confidence, seed
        )
        if interval is not None:
            scores.append(PeriodScore(month, len(rows), interval))
    return scores
