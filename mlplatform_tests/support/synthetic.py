"""Synthetic batches for drift experiments: projects from a shifted topic mix."""

from __future__ import annotations

import numpy as np
import pandas as pd

# Mostly topics that fold into `other`, in vocabulary the 2020 data rarely uses.
DRIFTED_TOPICS: dict[str, tuple[float, list[str]]] = {
    "graph-learning": (
        0.3,
        [
            "graph neural networks",
            "molecule property prediction",
            "protein interaction graphs",
            "knowledge graph embeddings",
        ],
    ),
    "time-series": (
        0.3,
        [
            "energy demand forecasting",
            "sensor stream anomalies",
            "seasonal sales forecasting",
            "satellite telemetry",
        ],
    ),
    "reinforcement-learning": (
        0.2,
        [
            "robot arm control",
            "multi-agent bidding",
            "reward shaping for logistics",
            "quantum circuit control",
        ],
    ),
    "mlops": (
        0.2,
        [
            "federated learning on phones",
            "tinyml microcontrollers",
            "on-device model compression",
            "edge inference scheduling",
        ],
    ),
}
_METHODS = [
    "spiking networks",
    "neural odes",
    "bayesian optimisation",
    "contrastive pretraining",
    "hypernetworks",
    "mixture of experts",
]
_SETTINGS = ["hospitals", "wind farms", "warehouses", "smart grids", "drones", "greenhouses"]


def drifted_batch(
    rows: int, first_id: int, start: str, end: str, seed: int = 0
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """`rows` projects (unique ids, titles and descriptions) created between start and end."""
    rng = np.random.default_rng(seed)
    names = list(DRIFTED_TOPICS)
    weights = np.array([DRIFTED_TOPICS[name][0] for name in names])
    tags = rng.choice(names, size=rows, p=weights / weights.sum())
    times = pd.to_datetime(rng.uniform(pd.Timestamp(start).value, pd.Timestamp(end).value, rows))
    titles, descriptions = [], []
    for i, tag in enumerate(tags):
        topic = rng.choice(DRIFTED_TOPICS[tag][1])
        method, setting = rng.choice(_METHODS), rng.choice(_SETTINGS)
        titles.append(f"{topic.capitalize()} with {method} ({first_id + i})")
        descriptions.append(f"Applying {method} to {topic} in {setting}; benchmark {i} included.")
    ids = np.arange(first_id, first_id + rows)
    projects = pd.DataFrame(
        {
            "id": ids,
            "created_on": times.strftime("%Y-%m-%d %H:%M:%S"),
            "title": titles,
            "description": descriptions,
        }
    )
    return projects.sort_values("created_on").reset_index(drop=True), pd.DataFrame(
        {"id": ids, "tag": tags}
    )
