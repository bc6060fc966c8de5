"""Batch inference: `project_predictions` holds the champion's answers for every project (by
the service's code) and follows the champion; `labeling_queue` ranks the least confident."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from dagster import AssetKey, DagsterInstance, evaluate_automation_conditions

from mlplatform.core.partitions import month_key
from mlplatform.core.predictions import (
    LABELING_QUEUE_TABLE,
    PREDICTION_TYPES,
    PREDICTIONS_TABLE,
    LabelingConfig,
    least_confident,
    prediction_rows,
    tag_distribution,
)
from mlplatform.core.text import project_text
from mlplatform.core.training import Prediction
from mlplatform.definitions import build_definitions
from mlplatform.resources import build_warehouse
from mlplatform.resources.model_registry import CHAMPION
from mlplatform.resources.policies import LabelingPolicy
from mlplatform_tests.support.dataops import check_evaluations, materialized_keys
from mlplatform_tests.support.events import report_materialized
from mlplatform_tests.support.fixtures import make_projects_and_tags
from mlplatform_tests.support.mlops import materialize_all, register_tagger, registry_for


def _prediction(probability: float, tag: str = "mlops") -> Prediction:
    return Prediction(tag, probability, {tag: probability, "other": 1 - probability}, tag)


def test_rows_are_typed_and_the_queue_ranks_the_least_confident_first() -> None:
    projects, _ = make_projects_and_tags(rows=5)
    rows = prediction_rows(projects, [_prediction(p) for p in (0.9, 0.4, 0.6, 0.4, 0.8)], "7")
    assert rows.dtypes.to_dict() == {
        k: pd.Series(dtype=v).dtype for k, v in PREDICTION_TYPES.items()
    }
    assert json.loads(rows["probabilities"].iloc[1]) == {"mlops": 0.4, "other": 0.6}
    assert set(rows["model_version"]) == {"7"}
    queue = least_confident(rows, projects, LabelingConfig(queue_size=3))
    assert queue["id"].tolist() == [2, 4, 3]  # lowest probability first, ties by id
    assert queue["rank"].tolist() == [1, 2, 3]
    assert queue["title"].tolist() == projects.set_index("id").loc[[2, 4, 3], "title"].tolist()
    assert tag_distribution(rows) == {"mlops": 5}
    # A run over several months queues each month's least confident, ranked within the month.
    months, _ = make_projects_and_tags(rows=30, freq="2D")  # February and March 2020
    spread = prediction_rows(months, [_prediction(1 - i / 100) for i in range(30)], "7")
    queue = least_confident(spread, months, LabelingConfig(queue_size=3))
    assert queue["id"].tolist() == [15, 14, 13, 30, 29, 28]
    assert queue["rank"].tolist() == [1, 2, 3, 1, 2, 3]
    empty = prediction_rows(projects.iloc[:0], [], "7")
    assert empty.dtypes.equals(rows.dtypes) and least_confident(empty, projects).empty


@pytest.mark.slow
def test_every_project_is_predicted_by_the_champion_and_rescored_when_it_changes(
    settings_for, source_dir
) -> None:
    settings = settings_for(source_dir)
    instance = DagsterInstance.ephemeral()
    result = materialize_all(
        settings, instance=instance, labeling_policy=LabelingPolicy(queue_size=10)
    )
    assert {PREDICTIONS_TABLE, LABELING_QUEUE_TABLE} <= materialized_keys(result)
    warehouse = build_warehouse(settings)
    registry = registry_for(settings)
    champion = registry.alias_version(CHAMPION)
    projects = warehouse.read_table("projects").sort_values("id")
    stored = warehouse.read_table(PREDICTIONS_TABLE).sort_values("id")
    assert stored["id"].tolist() == projects["id"].tolist()
    assert set(stored["model_version"]) == {champion}
    expected = registry.load(champion).tagger.predictions(project_text(projects))
    assert stored["tag"].tolist() == [p.tag for p in expected]
    assert stored["probability"].tolist() == pytest.approx([p.probability for p in expected])

    # Each month's 10 least confident (or all of a smaller month), ranked within the month.
    queue = warehouse.read_table(LABELING_QUEUE_TABLE)
    month_of = dict(zip(stored["id"], month_key(stored["created_on"]), strict=True))
    for month, predicted in stored.groupby(month_key(stored["created_on"])):
        queued = queue[queue["id"].map(month_of) == month].sort_values("rank")
        assert len(queued) == min(10, len(predicted))
        assert queued["rank"].tolist() == list(range(1, len(queued) + 1))
        assert queued["probability"].is_monotonic_increasing
        unqueued = predicted[~predicted["id"].isin(queued["id"])]
        assert unqueued.empty or unqueued["probability"].min() >= queued["probability"].max()
    assert len(queue) < len(stored)
    metadata = instance.get_latest_materialization_event(
        AssetKey(PREDICTIONS_TABLE)
    ).asset_materialization.metadata
    assert sum(metadata["predicted_tags"].value.values()) == len(stored)
    assert all(check_evaluations(result).values())

    # A new champion: the predictions are re-scored by it.
    labeled = projects.merge(warehouse.read_table("tags"), on="id")
    newer = register_tagger(registry, labeled)
    registry.promote(newer, expected_champion=champion)
    materialize_all(settings, selection=[PREDICTIONS_TABLE], instance=instance)
    assert set(warehouse.read_table(PREDICTIONS_TABLE)["model_version"]) == {newer}


def test_a_new_champion_or_month_requests_predictions_then_the_queue(
    settings_for, source_dir
) -> None:
    defs = build_definitions(settings_for(source_dir))
    instance = DagsterInstance.ephemeral()
    everything = [key.to_user_string() for key in defs.resolve_asset_graph().get_all_asset_keys()]
    report_materialized(instance, defs, *everything)
    cursor = evaluate_automation_conditions(defs=defs, instance=instance).cursor
    predictions, queue = AssetKey(PREDICTIONS_TABLE), AssetKey(LABELING_QUEUE_TABLE)

    # A promotion re-scores the month, and the queue follows in the same run.
    report_materialized(instance, defs, "champion_model")
    promoted = evaluate_automation_conditions(defs=defs, instance=instance, cursor=cursor)
    assert [promoted.get_num_requested(key) for key in (predictions, queue)] == [1, 1]

    report_materialized(instance, defs, PREDICTIONS_TABLE, LABELING_QUEUE_TABLE)
    quiet = evaluate_automation_conditions(defs=defs, instance=instance, cursor=promoted.cursor)
    assert [quiet.get_num_requested(key) for key in (predictions, queue)] == [0, 0]

    report_materialized(instance, defs, "projects", "tags")  # the month's data changed
    landed = evaluate_automation_conditions(defs=defs, instance=instance, cursor=quiet.cursor)
    assert [landed.get_num_requested(key) for key in (predictions, queue)] == [1, 1]
