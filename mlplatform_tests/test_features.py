"""The offline feature table: each project encoded once, its rows checked, read as of a cut-off."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from dagster import AssetKey, AssetSelection, DagsterInstance

from mlplatform.core.embeddings import sentence_encoder
from mlplatform.core.features import (
    EMBEDDING_DIMENSIONS,
    FEATURE_COLUMNS,
    FEATURE_TABLE,
    FEATURE_VERSION,
    feature_problems,
    featurize,
    month_features,
    to_featurize,
)
from mlplatform.core.partitions import CreationWindow
from mlplatform.core.text import project_text
from mlplatform.definitions import build_definitions
from mlplatform.resources import build_warehouse
from mlplatform.resources.policies import TrainingPolicy
from mlplatform_tests.support.dataops import materialize_selection
from mlplatform_tests.support.fixtures import make_projects_and_tags, write_source
from mlplatform_tests.support.mlops import QUICK_TRAINING

FEATURES = AssetSelection.assets("projects", "tags", FEATURE_TABLE)
FEBRUARY = ("2020-02-01", "2020-02-01")


def _unit(rows: int, seed: int = 0) -> np.ndarray:
    vectors = np.random.default_rng(seed).normal(size=(rows, EMBEDDING_DIMENSIONS))
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_only_new_changed_or_outdated_projects_are_featurized() -> None:
    projects, _ = make_projects_and_tags(rows=4)
    stored = featurize(projects, lambda texts: _unit(len(texts)))
    edited = projects.assign(description=projects["description"].where(projects["id"] != 2, "x"))
    stored.loc[stored["id"] == 3, "feature_version"] = "0"
    stored = stored[stored["id"] != 4]
    todo = to_featurize(edited, stored)
    assert todo["id"].tolist() == [2, 3, 4]  # edited text, older definition, new project
    computed = featurize(todo, lambda texts: _unit(len(texts), seed=1))
    month = month_features(edited, stored, computed)
    assert sorted(month["id"]) == [1, 2, 3, 4]
    assert (month["feature_version"] == FEATURE_VERSION).all()
    assert month.set_index("id").loc[2, "text"] == project_text(edited.iloc[[1]]).iloc[0]
    assert feature_problems(month) == []


def test_text_features_without_embeddings_when_none_are_asked_for() -> None:
    projects, _ = make_projects_and_tags(rows=3)
    features = featurize(projects, None)
    assert features["embedding"].isna().all()
    assert (features["word_count"] > 0).all() and (features["char_count"] > 0).all()
    assert not {"a", "of", "and"} & set(features["clean_text"].iloc[0].split())  # stopwords
    assert feature_problems(features) == []


def _first_embedding(vector: list[float]):
    return lambda f: f.assign(embedding=[vector, *f["embedding"][1:]])


@pytest.mark.parametrize(
    ("corrupt", "rule"),
    [
        (lambda f: pd.concat([f, f.iloc[[0]]]), "more than one row per project"),
        (_first_embedding([0.5] * 10), "dimension"),
        (_first_embedding([np.nan] * EMBEDDING_DIMENSIONS), "non-finite"),
        (_first_embedding([1.0] * EMBEDDING_DIMENSIONS), "unit norm"),
    ],
)
def test_each_broken_rule_is_named_with_the_project(corrupt, rule: str) -> None:
    projects, _ = make_projects_and_tags(rows=3)
    features = featurize(projects, lambda texts: _unit(len(texts)))
    (problem,) = feature_problems(corrupt(features))
    assert rule in str(problem) and problem.ids[0] == 1


def test_each_project_is_encoded_once_over_the_graph_and_a_retraining(
    settings_for, tmp_path: Path
) -> None:
    """Each stage starts with an empty encoder, as a step of the multiprocess executor does:
    only `project_features` encodes; training, the gate, monitoring and a retraining read."""
    projects, tags = make_projects_and_tags(rows=160)
    settings = settings_for(write_source(tmp_path / "source", projects, tags))
    instance = DagsterInstance.ephemeral()
    defs = build_definitions(settings, training_policy=QUICK_TRAINING)
    retraining = TrainingPolicy(**{**QUICK_TRAINING.model_dump(), "seed": 7})
    stages = [
        (defs, AssetSelection.groups("ingestion", "transformation") | FEATURES),
        (defs, "trained_model"),
        (defs, ["model_evaluation", "champion_model"]),
        (defs, ["drift_report", "champion_performance"]),
        (build_definitions(settings, training_policy=retraining), "trained_model"),
        (defs, ["model_evaluation"]),
    ]
    encoded = []
    for stage_defs, selection in stages:
        sentence_encoder.cache_clear()
        assert materialize_selection(stage_defs, selection, instance).success, selection
        encoded.append(sentence_encoder().encoded_texts)
    assert encoded == [project_text(projects).nunique(), 0, 0, 0, 0, 0]
    stored = build_warehouse(settings).read_table(FEATURE_TABLE)
    assert sorted(stored["id"]) == sorted(projects["id"])


def test_a_month_again_encodes_only_its_changed_project(settings_for, tmp_path: Path) -> None:
    projects, tags = make_projects_and_tags(rows=10)
    source = tmp_path / "source"
    settings = settings_for(write_source(source, projects, tags))
    instance = DagsterInstance.ephemeral()
    assert materialize_selection(build_definitions(settings), FEATURES, instance, FEBRUARY).success
    edited = projects.assign(
        description=projects["description"].where(projects["id"] != 3, "Edited: image pixels")
    )
    write_source(source, edited, tags)
    result = materialize_selection(build_definitions(settings), FEATURES, instance, FEBRUARY)
    assert result.success
    (event,) = [
        e
        for e in result.get_asset_materialization_events()
        if e.asset_key == AssetKey(FEATURE_TABLE)
    ]
    metadata = event.materialization.metadata
    assert (metadata["featurized"].value, metadata["reused"].value) == (1, 9)
    stored = build_warehouse(settings).read_table(FEATURE_TABLE).set_index("id")
    new_text = project_text(edited[edited["id"] == 3]).iloc[0]
    assert stored.loc[3, "text"] == new_text
    np.testing.assert_allclose(
        np.asarray(stored.loc[3, "embedding"]), sentence_encoder().encode([new_text])[0], atol=1e-6
    )


def test_features_are_read_as_of_a_cut_off(settings_for, tmp_path: Path) -> None:
    projects, tags = make_projects_and_tags(rows=10)
    settings = settings_for(write_source(tmp_path / "source", projects, tags))
    defs = build_definitions(settings)
    assert materialize_selection(defs, FEATURES, DagsterInstance.ephemeral(), FEBRUARY).success
    warehouse = build_warehouse(settings)
    texts = project_text(projects).tolist()
    cutoff = projects.loc[4, "created_on"]  # the fifth project's creation
    assert sorted(warehouse.read_features(texts, as_of=cutoff)["id"]) == [1, 2, 3, 4, 5]
    assert len(warehouse.read_features(texts)) == 10
    found = warehouse.embedding_lookup(cutoff)(texts)
    assert sorted(found) == sorted(texts[:5])
    assert all(vector.shape == (EMBEDDING_DIMENSIONS,) for vector in found.values())


def test_a_first_month_without_rows_or_embeddings_creates_a_table_later_months_fit(
    settings_for, tmp_path: Path
) -> None:
    """The table takes its column types from the first month published: an empty month, or one
    above the embedding bound, must not leave columns later embeddings cannot go into."""
    projects, _ = make_projects_and_tags(rows=40, freq="D")  # February and March 2020
    projects["created_on"] = pd.to_datetime(projects["created_on"])
    warehouse = build_warehouse(settings_for(tmp_path / "unused"))
    february, march = (CreationWindow.of(f"2020-0{m}-01", f"2020-0{m + 1}-01") for m in (2, 3))
    in_march = projects["created_on"] >= march.start
    warehouse.publish_batch({FEATURE_TABLE: featurize(projects[:0], None)}, february)
    warehouse.publish_batch({FEATURE_TABLE: featurize(projects[~in_march], None)}, february)
    march_rows = featurize(projects[in_march], lambda texts: _unit(len(texts)))
    warehouse.publish_batch({FEATURE_TABLE: march_rows}, march)
    stored = warehouse.read_table(FEATURE_TABLE)
    assert list(stored.columns) == list(FEATURE_COLUMNS) and len(stored) == 40
    embedded = stored[stored["embedding"].notna()]
    assert sorted(embedded["id"]) == sorted(projects.loc[in_march, "id"])
    assert feature_problems(stored) == []
