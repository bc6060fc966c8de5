"""Model quality in two views, tuned tagger beside untuned baselines, in one run.

- **temporal**: for each cut date, train on the rows of dataset_2023.csv created before it and
  score on the rows created after it: how the tagger is used (on projects newer than its data).
- **holdout**: train on dataset_2023.csv, score on holdout_2023.csv (a random split): the view the
  course's anchors (BERT, GPT-4) were measured on.

Tuning sees only the training rows (folds and the precision threshold come from them); the rows
scored are touched once per seed and model. "tuned" is the platform's `train_tagger` with its
defaults; "tuned_stratified" the same with shuffled folds (`time_aware=False`), to show what
time-aware selection changes; "tuned_tfidf_only" the same without sentence embeddings
(`embeddings=False`), the platform's model before them. Writes
bench/results/model_quality.{json,md}.

    uv run python bench/model_quality.py [--seeds 0 1 2] [--views temporal holdout]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from dataclasses import replace
from pathlib import Path

import pandas as pd
from sklearn.dummy import DummyClassifier
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import SGDClassifier
from sklearn.metrics import f1_score
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.svm import LinearSVC

from mlplatform.core.labels import LabelConfig
from mlplatform.core.sources import SHIPPED_DATA_DIR
from mlplatform.core.text import clean_texts, project_text
from mlplatform.core.training import prepare_labeled, score_tagger, train_tagger
from mlplatform.core.tuning_config import TuningConfig

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
ANCHORS = {"bert_finetuned": 0.905, "gpt4_few_shot": 0.930, "course_tfidf_sgd": [0.874, 0.906]}
CUTS = ("2020-05-01", "2020-06-01", "2020-07-01", "2020-08-01")
TUNED = {
    "tuned": TuningConfig(),
    "tuned_stratified": TuningConfig(time_aware=False),
    "tuned_tfidf_only": TuningConfig(embeddings=False),
}


def baselines(seed: int) -> dict[str, Pipeline]:
    """Untuned: scikit-learn's defaults on the course's cleaned text, and a majority floor."""

    def tfidf(classifier) -> Pipeline:
        return make_pipeline(FunctionTransformer(clean_texts), TfidfVectorizer(), classifier)

    return {
        "tfidf_sgd": tfidf(SGDClassifier(random_state=seed)),
        "tfidf_linear_svc": tfidf(LinearSVC(random_state=seed)),
        "majority": make_pipeline(DummyClassifier(strategy="most_frequent")),
    }


def score_models(train: pd.DataFrame, scored: pd.DataFrame, seed: int) -> dict[str, dict]:
    """Weighted F1 on `scored` of every model trained on `train` with `seed`."""
    result = {}
    for name, config in TUNED.items():
        started = time.perf_counter()
        outcome = train_tagger(
            train,
            replace(config, seed=seed, study_name=f"{name}-{seed}"),
            LabelConfig(test_fraction=0.0),
        )
        scores = score_tagger(outcome.tagger, scored)
        result[name] = {
            "f1": scores.overall.f1,
            "precision_mode_precision": scores.precision_mode.precision,
            "seconds": time.perf_counter() - started,
            "trials": len(outcome.tuning.trials),
            "kept_default": outcome.tuning.kept_default,
            "chosen_params": outcome.tuning.chosen_params,
        }
    texts = project_text(train).to_numpy()
    for name, model in baselines(seed).items():
        predicted = model.fit(texts, train["tag"]).predict(project_text(scored).to_numpy())
        result[name] = {"f1": float(f1_score(scored["tag"], predicted, average="weighted"))}
    return result


def summarize(runs: list[dict[str, dict]]) -> dict[str, dict]:
    """Per model: mean, min, max and stdev of F1 over seeds."""
    summary = {}
    for name in runs[0]:
        f1 = [run[name]["f1"] for run in runs]
        summary[name] = {
            "f1_mean": statistics.mean(f1),
            "f1_min": min(f1),
            "f1_max": max(f1),
            "f1_stdev": statistics.stdev(f1) if len(f1) > 1 else 0.0,
        }
        seconds = [run[name]["seconds"] for run in runs if "seconds" in run[name]]
        if seconds:
            summary[name]["seconds_mean"] = statistics.mean(seconds)
            summary[name]["kept_default"] = sum(run[name]["kept_default"] for run in runs)
    return summary


def over_seeds(
    seeds: list[int], train: pd.DataFrame, scored: pd.DataFrame, label: str
) -> dict[str, object]:
    runs = []
    for seed in seeds:
        runs.append(score_models(train, scored, seed))
        report = {name: round(scores["f1"], 4) for name, scores in runs[-1].items()}
        print(json.dumps({"view": label, "seed": seed, **report}), flush=True)
    return {"rows_train": len(train), "rows_scored": len(scored), **summarize(runs), "seeds": runs}


def temporal(seeds: list[int], data: pd.DataFrame) -> dict[str, object]:
    created = pd.to_datetime(data["created_on"])
    return {
        cut: over_seeds(seeds, data[created < cut], data[created >= cut], f"cut {cut}")
        for cut in CUTS
    }


def markdown(result: dict) -> str:
    models = [*TUNED, *baselines(0)]
    lines = ["| view | rows train / scored | " + " | ".join(models) + " |"]
    lines.append("|---" * (len(models) + 2) + "|")
    views = {f"cut {cut}": scores for cut, scores in result.get("temporal", {}).items()}
    if "holdout" in result:
        views["holdout_2023"] = result["holdout"]
    for label, scores in views.items():
        cells = [
            f"{scores[m]['f1_mean']:.3f} ± {scores[m]['f1_stdev']:.3f}"
            if m != "majority"
            else f"{scores[m]['f1_mean']:.3f}"
            for m in models
        ]
        rows = f"{scores['rows_train']} / {scores['rows_scored']}"
        lines.append(f"| {label} | {rows} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def read_labeled(name: str) -> pd.DataFrame:
    return prepare_labeled(pd.read_csv(SHIPPED_DATA_DIR / name, parse_dates=["created_on"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--views", nargs="+", default=["temporal", "holdout"])
    args = parser.parse_args()
    train, holdout = read_labeled("dataset_2023.csv"), read_labeled("holdout_2023.csv")
    config = TuningConfig()
    result: dict[str, object] = {
        "what": (
            "temporal: train on dataset_2023.csv rows before each cut, score on the rows after; "
            "holdout: train on dataset_2023.csv, score on holdout_2023.csv"
        ),
        "cores": os.cpu_count(),
        "tuning": {
            "trials": config.n_trials,
            "cv_folds": config.cv_folds,
            "timeout_seconds": config.timeout_seconds,
        },
        "anchors": ANCHORS,
    }
    if "temporal" in args.views:
        result["temporal"] = temporal(args.seeds, train)
    if "holdout" in args.views:
        result["holdout"] = over_seeds(args.seeds, train, holdout, "holdout_2023")
    RESULTS.joinpath("model_quality.json").write_text(json.dumps(result, indent=2) + "\n")
    table = markdown(result)
    RESULTS.joinpath("model_quality.md").write_text(table)
    print(table)


if __name__ == "__main__":
    main()
