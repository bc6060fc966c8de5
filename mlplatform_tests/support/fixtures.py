"""Small generated Made With ML sources, so most tests need nothing from ../shared."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

TOPICS = {
    "natural-language-processing": ["transformer", "text", "language", "bert", "sentiment"],
    "computer-vision": ["image", "detection", "segmentation", "cnn", "pixels"],
    "mlops": ["deployment", "monitoring", "pipeline", "serving", "kubernetes"],
    "reinforcement-learning": ["agent", "reward", "policy", "environment", "q-learning"],
}


def make_projects_and_tags(
    rows: int = 40, seed: int = 0, start: str = "2020-02-01", freq: str = "2D"
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Projects with unique titles and descriptions, and one tag each."""
    rng = np.random.default_rng(seed)
    tags = rng.choice(list(TOPICS), size=rows)
    words = [rng.choice(TOPICS[tag], size=3) for tag in tags]
    projects = pd.DataFrame(
        {
            "id": np.arange(1, rows + 1),
            "created_on": pd.date_range(start, periods=rows, freq=freq).strftime(
                "%Y-%m-%d %H:%M:%S"
            ),
            "title": [f"Project {i}: {' '.join(w[:2])}" for i, w in enumerate(words, start=1)],
            "description": [
                f"A study of {' and '.join(w)} number {i}." for i, w in enumerate(words)
            ],
        }
    )
    return projects, pd.DataFrame({"id": projects["id"], "tag": tags})


def write_source(directory: Path, projects: pd.DataFrame, tags: pd.DataFrame) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    projects.to_csv(directory / "projects.csv", index=False)
    tags.to_csv(directory / "tags.csv", index=False)
    return directory
