"""How a tagger is tuned: the one place its defaults are stated (light: no optuna import)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TuningConfig:
    n_trials: int = 50  # finished trials the study holds when tuning ends, over all workers
    # The budget is the trial count, so results do not depend on how busy the machine is; a
    # timeout is an optional ceiling on top (fewer trials when it strikes).
    timeout_seconds: float | None = None
    cv_folds: int = 5
    # Validate on newer rows than those fitted (forward-chaining folds, the newest rows for the
    # precision threshold) wherever rows have dates; shuffled stratified folds otherwise.
    time_aware: bool = True
    # The best trial replaces the default configuration only when its mean gain over the folds
    # exceeds this many standard errors (see tuning.chosen_trial).
    min_gain_standard_errors: float = 2.0
    # Trials score configurations on at most this many training rows (a stratified sample); the
    # final fit uses every row. Above the real data's size (~560 training rows), so a no-op there;
    # at scale it bounds a trial's cost, hence the count-bound budget's time (bench/scale.py).
    sample_rows: int | None = 2_000
    # Pretrained sentence embeddings as features (mlplatform.core.embeddings): they help most when
    # labels are few and cost ~10 ms per text on 2 cores, so above this many labeled rows the
    # tagger uses TF-IDF alone (about a minute of encoding at the bound; bench/scale.py).
    embeddings: bool = True
    embedding_max_rows: int | None = 5_000
    seed: int = 42  # seeds the splits, the sampler and the models
    storage: str | None = None  # any optuna RDB URL; None keeps the study in memory
    study_name: str = "project-tagger"
    workers: int = 1  # processes sharing the study; more than one needs a storage
    # BLAS/OpenMP threads per worker; None keeps the libraries' default (one per core). Trials are
    # small: one thread each is faster, and parallelism comes from workers (bench/parallel_tuning).
    blas_threads: int | None = 1
