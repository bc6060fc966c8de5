"""How a tagger is tuned: the one place its defaults are stated (light: no optuna import)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TuningConfig:
    n_trials: int = 50  # finished trials the study holds when tuning ends, over all workers
    timeout_seconds: float | None = 100.0
    cv_folds: int = 5
    # Trials score configurations on at most this many training rows (a stratified sample); the
    # final fit uses every row. Above the real data's size (~650 training rows), so a no-op there.
    sample_rows: int | None = 20_000
    seed: int = 42  # seeds the splits, the sampler and the models
    storage: str | None = None  # any optuna RDB URL; None keeps the study in memory
    study_name: str = "project-tagger"
    workers: int = 1  # processes sharing the study; more than one needs a storage
    # BLAS/OpenMP threads per worker; None keeps the libraries' default (one per core). Trials are
    # small: one thread each is faster, and parallelism comes from workers (bench/parallel_tuning).
    blas_threads: int | None = 1
