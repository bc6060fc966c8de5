"""Parallel tuning: 1 vs 2 optuna workers sharing one study in Postgres, at equal wall time.

Three variants: 1 worker with the BLAS libraries' default threads (one per core), 1 worker with
one thread, and 2 workers with one thread each (the platform's default is one thread per worker).

Each run tunes the tagger on the train split of the shipped dataset_2023.csv with the same time
budget per worker and an unbounded trial count, in a fresh Postgres database. Reports trials per
minute and the best cross-validated F1 reached by given wall times. Variants alternate so
machine noise hits each. Needs PostgreSQL at 127.0.0.1:5432 (trust auth).
Writes bench/results/parallel_tuning.json.

    uv run python bench/parallel_tuning.py [--seconds 60] [--repeats 2]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import optuna
import pandas as pd

from mlplatform.core.sources import SHIPPED_DATA_DIR
from mlplatform.core.splits import split_dataset
from mlplatform.core.text import project_text
from mlplatform.core.training import prepare_labeled
from mlplatform.core.tuning import tune
from mlplatform.core.tuning_config import TuningConfig
from mlplatform_tests.support.services import postgres_database

ROOT = Path(__file__).resolve().parents[1]
# (workers, BLAS threads per worker): the default of one thread each, and one worker with the
# libraries' own default (a thread per core) to show why the default is one.
VARIANTS = ((1, None), (1, 1), (2, 1))


def train_split(seed: int) -> tuple[list[str], list[str]]:
    labeled = prepare_labeled(pd.read_csv(SHIPPED_DATA_DIR / "dataset_2023.csv"))
    train = split_dataset(labeled, seed=seed).train
    return list(project_text(train)), list(train["tag"])


def tuning_run(
    workers: int, threads: int | None, seconds: float, seed: int, checkpoints: list[float]
) -> dict:
    texts, labels = train_split(seed)
    with postgres_database("mlp_bench_tuning") as storage:
        config = TuningConfig(
            n_trials=100_000,  # unbounded: the time budget ends the study
            timeout_seconds=seconds,
            seed=seed,
            storage=storage,
            study_name="bench",
            workers=workers,
            blas_threads=threads,
        )
        started = time.time()
        tune(texts, labels, config)
        wall = time.time() - started
        trials = optuna.load_study(study_name="bench", storage=storage).trials
    completed = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    finished = sum(t.datetime_complete is not None for t in trials)
    return {
        "variant": _variant(workers, threads),
        "seed": seed,
        "wall_seconds": round(wall, 1),
        "trials_finished": finished,
        "trials_per_minute": round(finished / wall * 60, 1),
        "best_cv_f1": round(max(t.value for t in completed), 4),
        "best_cv_f1_by_seconds": {
            str(int(at)): _best_by(completed, started + at) for at in checkpoints
        },
    }


def _best_by(trials: list[optuna.trial.FrozenTrial], moment: float) -> float | None:
    values = [t.value for t in trials if t.datetime_complete.timestamp() <= moment]
    return round(max(values), 4) if values else None


def _variant(workers: int, threads: int | None) -> str:
    return f"{workers} worker{'s' * (workers > 1)}, {threads or 'default'} BLAS thread(s)"


def summary(runs: list[dict], checkpoints: list[float]) -> dict:
    by_variant = {}
    for variant in (_variant(*v) for v in VARIANTS):
        mine = [run for run in runs if run["variant"] == variant]
        by_variant[variant] = {
            "trials_per_minute": round(statistics.mean(r["trials_per_minute"] for r in mine), 1),
            "best_cv_f1": round(statistics.mean(r["best_cv_f1"] for r in mine), 4),
            "best_cv_f1_by_seconds": {
                str(int(at)): _mean([r["best_cv_f1_by_seconds"][str(int(at))] for r in mine])
                for at in checkpoints
            },
        }
    one, two = by_variant[_variant(1, 1)], by_variant[_variant(2, 1)]
    default = by_variant[_variant(1, None)]
    return {
        "by_variant": by_variant,
        "speedup_2_vs_1_worker": round(two["trials_per_minute"] / one["trials_per_minute"], 2),
        "speedup_1_thread_vs_default": round(
            one["trials_per_minute"] / default["trials_per_minute"], 2
        ),
    }


def _mean(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return round(statistics.mean(present), 4) if present else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/parallel_tuning.json")
    args = parser.parse_args()
    checkpoints = [args.seconds / 4, args.seconds / 2, args.seconds]
    runs = []
    for repeat in range(args.repeats):
        for workers, threads in VARIANTS:
            run = tuning_run(workers, threads, args.seconds, 42 + repeat, checkpoints)
            print(json.dumps(run), flush=True)
            runs.append(run)
    result = {
        "machine": {"cpus": os.cpu_count()},
        "storage": "PostgreSQL (one fresh database per run)",
        "seconds_per_worker": args.seconds,
        "data": "train split of dataset_2023.csv",
        **summary(runs, checkpoints),
        "runs": runs,
    }
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "runs"}, indent=2))


if __name__ == "__main__":
    main()
