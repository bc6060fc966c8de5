"""Seconds per project of the sentence embeddings: our NumPy encoder, and sentence-transformers
when it is importable (it needs torch, which the project does not install; run this script with
a Python that has both to compare them in one run). Writes bench/results/embedding_speed.json.

    uv run python bench/embedding_speed.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from mlplatform.core.embeddings import MiniLMEncoder, model_dir
from mlplatform.core.sources import SHIPPED_DATA_DIR
from mlplatform.core.text import project_text

RESULTS = Path(__file__).resolve().parents[1] / "bench" / "results"


def timed(encode: Callable[[list[str]], np.ndarray], texts: list[str], repeats: int) -> dict:
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        encode(texts)
        seconds.append(time.perf_counter() - started)
    median = statistics.median(seconds)
    return {"seconds": seconds, "ms_per_text": 1000 * median / len(texts)}


def sentence_transformers_encode() -> Callable[[list[str]], np.ndarray] | None:
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError:
        return None
    model = SentenceTransformer(str(model_dir()), device="cpu")
    return lambda texts: model.encode(texts, normalize_embeddings=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    texts = list(project_text(pd.read_csv(SHIPPED_DATA_DIR / "projects.csv")))
    # A new encoder per repeat: its cache would otherwise answer every repeat after the first.
    result = {
        "texts": len(texts),
        "cores": os.cpu_count(),
        "numpy": timed(lambda batch: MiniLMEncoder(model_dir()).encode(batch), texts, args.repeats),
    }
    reference = sentence_transformers_encode()
    if reference is not None:
        result["sentence_transformers"] = timed(reference, texts, args.repeats)
        result["numpy_over_sentence_transformers"] = (
            result["numpy"]["ms_per_text"] / result["sentence_transformers"]["ms_per_text"]
        )
    RESULTS.joinpath("embedding_speed.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
