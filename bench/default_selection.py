"""How the tagger's default configuration was chosen: on the training file alone.

Each candidate is scored by the platform's own forward-chaining folds (`validation_folds`) over
dataset_2023.csv: fit on older rows, score the next newer block. holdout_2023.csv and the
temporal cuts of bench/model_quality.py are not read. The pick is the candidate with the highest
lower bound, mean fold F1 minus one standard error: a configuration that is steady across folds
beats one with a slightly higher but noisier mean (issue #13). Writes
bench/results/default_selection.{json,md}.

    uv run python bench/default_selection.py
"""

from __future__ import annotations

import itertools
import json
import statistics
import time
from pathlib import Path

import numpy as np
import pandas as pd

from mlplatform.core.model import DEFAULT_PARAMS
from mlplatform.core.sources import SHIPPED_DATA_DIR
from mlplatform.core.text import project_text
from mlplatform.core.training import prepare_labeled
from mlplatform.core.tuning import cross_validated_f1, validation_folds
from mlplatform.core.tuning_config import TuningConfig

RESULTS = Path(__file__).resolve().parents[1] / "bench" / "results"
GRID = {
    "features": ["word", "word+char_wb"],
    "embeddings": [False, True],
    "C": [0.5, 1.0],
}


def candidates() -> list[dict]:
    """The grid over the linear SVC default; everything else as in DEFAULT_PARAMS."""
    keys = list(GRID)
    return [
        {**DEFAULT_PARAMS, **dict(zip(keys, values, strict=True))}
        for values in itertools.product(*GRID.values())
    ]


def lower_bound(scores: list[float]) -> float:
    return statistics.mean(scores) - statistics.stdev(scores) / np.sqrt(len(scores))


def main() -> None:
    data = prepare_labeled(pd.read_csv(SHIPPED_DATA_DIR / "dataset_2023.csv"))
    config = TuningConfig()
    texts = project_text(data).to_numpy(dtype=object)
    labels = data["tag"].to_numpy(dtype=object)
    kind, folds = validation_folds(labels, pd.to_datetime(data["created_on"]).to_numpy(), config)
    rows = []
    for params in candidates():
        started = time.perf_counter()
        scores = cross_validated_f1(params, texts, labels, folds, config.seed)
        rows.append(
            {
                **{key: params[key] for key in GRID},
                "fold_f1": scores,
                "mean": statistics.mean(scores),
                "lower_bound": lower_bound(scores),
                "seconds": time.perf_counter() - started,
            }
        )
        print(json.dumps({k: v for k, v in rows[-1].items() if k != "fold_f1"}), flush=True)
    chosen = max(rows, key=lambda row: row["lower_bound"])
    result = {
        "data": "dataset_2023.csv",
        "folds": kind,
        "scored_rows_per_fold": [len(score) for _, score in folds],
        "rule": "highest mean fold F1 minus one standard error",
        "chosen": {key: chosen[key] for key in GRID},
        "candidates": rows,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "default_selection.json").write_text(json.dumps(result, indent=2) + "\n")
    (RESULTS / "default_selection.md").write_text(markdown(rows, chosen))
    print(json.dumps(result["chosen"]))


def markdown(rows: list[dict], chosen: dict) -> str:
    lines = [
        "| features | embeddings | C | mean fold F1 | mean - 1 SE | |",
        "|---|---|---|---|---|---|",
    ]
    for row in sorted(rows, key=lambda row: -row["lower_bound"]):
        mark = "**chosen**" if row is chosen else ""
        lines.append(
            f"| {row['features']} | {row['embeddings']} | {row['C']} | {row['mean']:.3f} "
            f"| {row['lower_bound']:.3f} | {mark} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
