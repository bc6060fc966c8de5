"""Model quality on the 2023 holdout: train on dataset_2023.csv, score on holdout_2023.csv.

Tuning sees only splits of the training file (cross-validation on its train part, the precision
threshold on its validation part); the holdout is touched once per seed, for the score.
Writes bench/results/model_quality.json.

    uv run python bench/model_quality.py [--seeds 0 1 2] [--trials 50]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import pandas as pd

from mlplatform.core.sources import SHIPPED_DATA_DIR
from mlplatform.core.training import prepare_labeled, score_tagger, train_tagger
from mlplatform.core.tuning_config import TuningConfig

ROOT = Path(__file__).resolve().parents[1]
ANCHORS = {"bert_finetuned": 0.905, "gpt4_few_shot": 0.930, "course_tfidf_sgd": [0.874, 0.906]}


def run_seed(train: pd.DataFrame, holdout: pd.DataFrame, seed: int, trials: int) -> dict:
    started = time.perf_counter()
    outcome = train_tagger(
        train,
        TuningConfig(n_trials=trials, seed=seed, study_name=f"bench-{seed}"),
        test_fraction=0.0,
    )
    seconds = time.perf_counter() - started
    scores = score_tagger(outcome.tagger, holdout)
    return {
        "seed": seed,
        "f1_weighted": scores.overall.f1,
        "precision_mode_precision": scores.precision_mode.precision,
        "precision_mode_f1": scores.precision_mode.f1,
        "cv_f1_weighted": outcome.tuning.best_value,
        "threshold": outcome.tagger.threshold,
        "trials": len(outcome.tuning.trials),
        "trials_pruned": sum(t.state == "PRUNED" for t in outcome.tuning.trials),
        "tuning_seconds": outcome.tuning_seconds,
        "fit_seconds": outcome.fit_seconds,
        "seconds": seconds,
        "best_params": outcome.tuning.best_params,
        "per_class_f1": {k: v.f1 for k, v in scores.overall.per_class.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--trials", type=int, default=TuningConfig().n_trials)
    args = parser.parse_args()
    train = pd.read_csv(SHIPPED_DATA_DIR / "dataset_2023.csv", parse_dates=["created_on"])
    holdout = prepare_labeled(
        pd.read_csv(SHIPPED_DATA_DIR / "holdout_2023.csv", parse_dates=["created_on"])
    )
    rows = []
    for seed in args.seeds:
        rows.append(run_seed(train, holdout, seed, args.trials))
        print(json.dumps({k: rows[-1][k] for k in ("seed", "f1_weighted", "seconds")}), flush=True)
    f1 = [r["f1_weighted"] for r in rows]
    result = {
        "what": "train on dataset_2023.csv (764 rows), score on holdout_2023.csv (191 rows)",
        "cores": os.cpu_count(),
        "tuning": {
            "trials": args.trials,
            "cv_folds": TuningConfig().cv_folds,
            "timeout_seconds": TuningConfig().timeout_seconds,
        },
        "anchors": ANCHORS,
        "f1_weighted_mean": statistics.mean(f1),
        "f1_weighted_min": min(f1),
        "f1_weighted_max": max(f1),
        "f1_weighted_stdev": statistics.stdev(f1) if len(f1) > 1 else 0.0,
        "precision_mode_precision_mean": statistics.mean(
            r["precision_mode_precision"] for r in rows
        ),
        "seconds_mean": statistics.mean(r["seconds"] for r in rows),
        "seeds": rows,
    }
    out = ROOT / "bench" / "results" / "model_quality.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "seeds"}, indent=2))


if __name__ == "__main__":
    main()
