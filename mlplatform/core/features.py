"""The offline feature table `project_features`: each project's features, computed once.

A row per project: its event time (`created_on`), the model's input text and its SHA-256, the
cleaned text, text statistics and the MiniLM sentence embedding, with the feature definition's
version. A project is featurized again only when its text or the definition changes. Readers
look embeddings up by text (`text_sha256`) as of a cut-off, so a step never encodes a text the
table holds (`mlplatform.core.embeddings.stored_embeddings`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from mlplatform.core.partitions import PARTITION_COLUMN

FEATURE_TABLE = "project_features"
# Bumped whenever a feature's definition changes: every stored row of an older version is redone.
FEATURE_VERSION = "1"
EMBEDDING_DIMENSIONS = 384  # all-MiniLM-L6-v2
UNIT_NORM_TOLERANCE = 1e-3
_TEXT = pd.ArrowDtype(pa.string())
# Typed even when empty or without embeddings, so the table a first month creates has the types
# every later month needs (an empty object column would become DuckDB's NULL type).
_ARROW_TYPES = {
    "text": _TEXT,
    "text_sha256": _TEXT,
    "clean_text": _TEXT,
    "feature_version": _TEXT,
    "embedding": pd.ArrowDtype(pa.list_(pa.float32())),
}
FEATURE_COLUMNS = (
    "id",
    PARTITION_COLUMN,
    "text",
    "text_sha256",
    "clean_text",
    "char_count",
    "word_count",
    "embedding",
    "feature_version",
)


def text_sha256(texts: pd.Series) -> pd.Series:
    return texts.map(lambda text: hashlib.sha256(str(text).encode()).hexdigest())


def to_featurize(projects: pd.DataFrame, stored: pd.DataFrame) -> pd.DataFrame:
    """The projects without a current feature row: new ones, and those whose text or feature
    version changed since their row was computed."""
    from mlplatform.core.text import project_text  # scikit-learn: not at definitions' load

    hashes = text_sha256(project_text(projects))
    current = pd.DataFrame({"id": projects["id"], "text_sha256": hashes})
    if len(stored):
        kept = stored.loc[stored["feature_version"] == FEATURE_VERSION, ["id", "text_sha256"]]
        current = current.merge(kept, how="left", indicator=True)
        return projects[(current["_merge"] == "left_only").to_numpy()]
    return projects


def featurize(
    projects: pd.DataFrame, encode: Callable[[list[str]], np.ndarray] | None
) -> pd.DataFrame:
    """The feature rows of `projects`; embeddings by `encode` (each distinct text once), or none
    when `encode` is None."""
    from mlplatform.core.text import clean_texts, project_text

    texts = project_text(projects).reset_index(drop=True)
    cleaned = pd.Series(clean_texts(texts), dtype=object)
    embeddings: list[list[float] | None] = [None] * len(texts)
    if encode is not None and len(texts):
        embeddings = [row.tolist() for row in np.asarray(encode(texts.tolist()), dtype=np.float32)]
    frame = pd.DataFrame(
        {
            "id": projects["id"].to_numpy(),
            PARTITION_COLUMN: projects[PARTITION_COLUMN].to_numpy(),
            "text": texts,
            "text_sha256": text_sha256(texts),
            "clean_text": cleaned,
            "char_count": texts.str.len().astype("int64"),
            "word_count": cleaned.str.split().str.len().astype("int64"),
            "embedding": pd.Series(embeddings, dtype=object),
            "feature_version": FEATURE_VERSION,
        },
        columns=list(FEATURE_COLUMNS),
    )
    return frame.astype(_ARROW_TYPES)


def month_features(
    projects: pd.DataFrame, stored: pd.DataFrame, computed: pd.DataFrame
) -> pd.DataFrame:
    """A month's feature rows: the stored rows still current for its projects, and `computed`."""
    if not len(stored):
        return computed.reset_index(drop=True)
    kept = stored[stored["id"].isin(projects["id"]) & ~stored["id"].isin(computed["id"])]
    kept = kept[kept["feature_version"] == FEATURE_VERSION]
    return pd.concat([kept[list(FEATURE_COLUMNS)], computed], ignore_index=True)


@dataclass(frozen=True)
class FeatureProblem:
    """A rule the feature rows break, with the first offending project ids."""

    rule: str
    ids: tuple[int, ...]

    def __str__(self) -> str:
        examples = ", ".join(map(str, self.ids[:5]))
        return f"{self.rule}: {len(self.ids)} project(s), e.g. id {examples}"


def feature_problems(features: pd.DataFrame) -> list[FeatureProblem]:
    """One row per project; every stored embedding of EMBEDDING_DIMENSIONS finite values with
    unit norm."""
    problems = []
    duplicated = features.loc[features["id"].duplicated(keep=False), "id"]
    if len(duplicated):
        problems.append(FeatureProblem("more than one row per project", _ids(duplicated)))
    present = features[features["embedding"].notna()]
    sizes = present["embedding"].map(len)
    wrong_size = present.loc[sizes != EMBEDDING_DIMENSIONS, "id"]
    if len(wrong_size):
        rule = f"embedding dimension is not {EMBEDDING_DIMENSIONS}"
        problems.append(FeatureProblem(rule, _ids(wrong_size)))
    sized = present[sizes == EMBEDDING_DIMENSIONS]
    if len(sized):
        matrix = np.stack([np.asarray(row, dtype=np.float64) for row in sized["embedding"]])
        finite = np.isfinite(matrix).all(axis=1)
        if not finite.all():
            rule = "embedding has non-finite values"
            problems.append(FeatureProblem(rule, _ids(sized["id"][~finite])))
        norms = np.linalg.norm(np.where(np.isfinite(matrix), matrix, 0.0), axis=1)
        off = finite & (np.abs(norms - 1.0) > UNIT_NORM_TOLERANCE)
        if off.any():
            problems.append(FeatureProblem("embedding is not of unit norm", _ids(sized["id"][off])))
    return problems


def _ids(ids: pd.Series) -> tuple[int, ...]:
    return tuple(int(i) for i in dict.fromkeys(ids.tolist()))


def embeddings_by_text(stored: pd.DataFrame) -> Mapping[str, np.ndarray]:
    """Stored feature rows (`text`, `embedding`) as the encoder's lookup answers them."""
    present = stored[stored["embedding"].notna()]
    return {
        str(text): np.asarray(embedding, dtype=np.float32)
        for text, embedding in zip(present["text"], present["embedding"], strict=True)
    }
