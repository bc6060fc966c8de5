"""Scores as frozen data: what evaluation produces and the gate, reports and registry read.

Plain dataclasses (no scikit-learn import), so modules that only read scores load light.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class ClassScores:
    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True)
class ConfusionMatrix:
    labels: tuple[str, ...]
    matrix: tuple[tuple[int, ...], ...]  # rows: true label, columns: predicted


@dataclass(frozen=True)
class Metrics:
    """Weighted scores over `rows` rows, per-class scores and the confusion matrix."""

    rows: int
    precision: float
    recall: float
    f1: float
    per_class: Mapping[str, ClassScores]
    confusion: ConfusionMatrix


@dataclass(frozen=True)
class SliceScores:
    """Weighted scores on a slice; None where the slice has no rows."""

    rows: int
    precision: float | None
    recall: float | None
    f1: float | None


@dataclass(frozen=True)
class TaggerScores:
    """A tagger scored on labeled rows: argmax, precision mode, and per slice."""

    overall: Metrics
    precision_mode: Metrics
    slices: Mapping[str, SliceScores]
