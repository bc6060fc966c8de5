"""How a tagger is tuned: the one place its defaults are stated (light: no optuna import)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TuningConfig:
    n_trials: int = 50
    timeout_seconds: float | None = 100.0
    cv_folds: int = 5
    seed: int = 42  # seeds the splits, the sampler and the models
    storage: str | None = None  # any optuna RDB URL; None keeps the study in memory
    study_name: str = "project-tagger"
