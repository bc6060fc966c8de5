"""Batch inference: `project_predictions` holds the champion's answers for every project (by
the service's code) and follows the champion; `labeling_queue` spends the month's label budget on
the unlabeled it is least sure of, no topic crowding out the rest; `label_review` keeps the labels
a confident champion disagrees with."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest
from dagster import AssetKey, DagsterInstance, evaluate_automation_conditions

from mlplatform.core.partitions import month_key
from mlplatform.core.predictions import (
    LABEL_REVIEW_TABLE,
    LABELING_QUEUE_TABLE,
    PREDICTION_TYPES,
    PREDICTIONS_TABLE,
    LabelingConfig,
    label_disagreements,
    labeling_queue_rows,
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
from mlplatform_tests.support.fixtures import make_projects_and_tags, write_source
from mlplatform_tests.support.mlops import materialize_all, register_tagger, registry_for


def _prediction(probability: float, tag: str = "mlops") -> Prediction:
    return Prediction(tag, probability, {tag: probability, "other": 1 - probability}, tag)


def test_rows_are_typed_and_the_queue_ranks_the_unlabeled_least_confident_first() -> None:
    projects, _ = make_projects_and_tags(rows=10)  # all in February 2020
    probabilities = (0.9, 0.4, 0.6, 0.4, 0.8, 0.3, 0.95, 0.5, 0.7, 0.2)
    rows = prediction_rows(projects, [_prediction(p) for p in probabilities], "7")
    assert rows.dtypes.to_dict() == {
        k: pd.Series(dtype=v).dtype for k, v in PREDICTION_TYPES.items()
    }
    assert json.loads(rows["probabilities"].iloc[1]) == {"mlops": 0.4, "other": 0.6}
    assert set(rows["model_version"]) == {"7"}
    assert tag_distribution(rows) == {"mlops": 10}
    # A budget of half the month (5 labels), 1 spent: the 4 least sure of the unlabeled.
    half = LabelingConfig(budget_share=0.5, max_tag_share=1.0)
    queue = labeling_queue_rows(rows, projects, labeled_ids=[10], config=half)
    assert queue["id"].tolist() == [6, 2, 4, 8]  # 10 is labeled; ties (2, 4) by id
    assert queue["rank"].tolist() == [1, 2, 3, 4]
    assert queue["title"].tolist() == projects.set_index("id").loc[[6, 2, 4, 8], "title"].tolist()
    assert labeling_queue_rows(rows, projects, range(1, 6), half).empty  # budget spent
    # The 30 % default rounds up per month, each month ranked on its own.
    months, _ = make_projects_and_tags(rows=30, freq="2D")  # 15 in February, 15 in March 2020
    spread = prediction_rows(months, [_prediction(1 - i / 100) for i in range(30)], "7")
    queue = labeling_queue_rows(spread, months, labeled_ids=[])
    assert queue["id"].tolist() == [15, 14, 13, 12, 11, 30, 29, 28, 27, 26]
    assert queue["rank"].tolist() == [1, 2, 3, 4, 5] * 2
    empty = prediction_rows(projects.iloc[:0], [], "7")
    assert empty.dtypes.equals(rows.dtypes) and labeling_queue_rows(empty, projects, []).empty


def test_one_topic_takes_at_most_its_share_of_the_queue_while_others_wait() -> None:
    projects, _ = make_projects_and_tags(rows=10)
    # The 6 least sure are all "mlops"; two "vision" projects are a little surer.
    answers = [_prediction(0.3 + i / 100, "mlops") for i in range(6)]
    answers += [_prediction(0.5, "vision"), _prediction(0.6, "vision")]
    answers += [_prediction(0.9, "nlp"), _prediction(0.95, "nlp")]
    rows = prediction_rows(projects, answers, "7")
    config = LabelingConfig(budget_share=0.4, max_tag_share=0.5)  # 4 labels, 2 per tag
    assert labeling_queue_rows(rows, projects, [], config)["tag"].tolist() == [
        "mlops",
        "mlops",
        "vision",
        "vision",
    ]
    # Places no other tag can take are not wasted: they go to the skipped, in order.
    config = LabelingConfig(budget_share=0.8, max_tag_share=0.25)  # 8 labels, 2 per tag
    queue = labeling_queue_rows(rows, projects, [], config)
    assert queue["id"].tolist() == [1, 2, 7, 8, 9, 10, 3, 4]
    assert queue["tag"].value_counts().to_dict() == {"mlops": 4, "vision": 2, "nlp": 2}
    with pytest.raises(ValueError, match="max_tag_share must be in"):
        LabelingConfig(max_tag_share=0)


def test_a_label_a_confident_champion_disagrees_with_goes_to_review() -> None:
    projects, _ = make_projects_and_tags(rows=5)
    answers = [
        Prediction("mlops", 0.97, {"mlops": 0.97, "other": 0.03}, "mlops"),  # sure, disagrees
        Prediction("mlops", 0.6, {"mlops": 0.6, "other": 0.4}, "mlops"),  # unsure
        Prediction("mlops", 0.99, {"mlops": 0.99, "other": 0.01}, "mlops"),  # sure, agrees
        Prediction("other", 0.95, {"mlops": 0.05, "other": 0.95}, "other"),  # unknown = other
        Prediction("mlops", 0.92, {"mlops": 0.92, "other": 0.08}, "mlops"),  # sure, disagrees
    ]
    rows = prediction_rows(projects, answers, "7")
    labels = ["computer-vision", "computer-vision", "mlops", "time-series", "other"]
    labeled = projects.assign(tag=labels)
    review = label_disagreements(rows, labeled, other="other", config=LabelingConfig())
    assert review["id"].tolist() == [1, 5]  # most confident first
    assert review["label"].tolist() == ["computer-vision", "other"]
    assert review["tag"].tolist() == ["mlops", "mlops"]
    assert review["title"].tolist() == projects.set_index("id").loc[[1, 5], "title"].tolist()
    stricter = label_disagreements(rows, labeled, "other", LabelingConfig(review_confidence=0.95))
    assert stricter["id"].tolist() == [1]
    assert label_disagreements(rows.iloc[:0], labeled, "other").empty


@pytest.mark.slow
def test_every_project_is_predicted_the_unlabeled_are_queued_and_it_follows_the_champion(
    settings_for, tmp_path
) -> None:
    projects, tags = make_projects_and_tags(rows=60)  # February to May 2020
    tags = tags[tags["id"] % 5 != 0]  # a fifth not labeled yet
    settings = settings_for(write_source(tmp_path / "partly", projects, tags))
    instance = DagsterInstance.ephemeral()
    budget = 0.9  # of each month's projects, 0.8 of which are labeled
    policy = LabelingPolicy(budget_share=budget, max_tag_share=1.0)
    result = materialize_all(settings, instance=instance, labeling_policy=policy)
    assert {PREDICTIONS_TABLE, LABELING_QUEUE_TABLE, LABEL_REVIEW_TABLE} <= materialized_keys(
        result
    )
    warehouse = build_warehouse(settings)
    registry = registry_for(settings)
    champion = registry.alias_version(CHAMPION)
    projects = warehouse.read_table("projects").sort_values("id")
    stored = warehouse.read_table(PREDICTIONS_TABLE).sort_values("id")
    assert stored["id"].tolist() == projects["id"].tolist()  # labeled or not
    assert set(stored["model_version"]) == {champion}
    expected = registry.load(champion).tagger.predictions(project_text(projects))
    assert stored["tag"].tolist() == [p.tag for p in expected]
    assert stored["probability"].tolist() == pytest.approx([p.probability for p in expected])

    # Each month: the unlabeled the champion is least sure of, as many as the budget leaves
    # after the month's labels, ranked within the month.
    queue = warehouse.read_table(LABELING_QUEUE_TABLE)
    assert not queue["id"].isin(tags["id"]).any() and len(queue)
    for _, predicted in stored.groupby(month_key(stored["created_on"])):
        queued = queue[queue["id"].isin(predicted["id"])].sort_values("rank")
        unlabeled = predicted[~predicted["id"].isin(tags["id"])]
        left = math.ceil(budget * len(predicted)) - (len(predicted) - len(unlabeled))
        assert len(queued) == max(0, min(left, len(unlabeled)))
        assert queued["rank"].tolist() == list(range(1, len(queued) + 1))
        assert queued["probability"].is_monotonic_increasing
        waiting = unlabeled[~unlabeled["id"].isin(queued["id"])]
        assert (
            waiting.empty
            or queued.empty
            or waiting["probability"].min() >= queued["probability"].max()
        )
    metadata = instance.get_latest_materialization_event(
        AssetKey(PREDICTIONS_TABLE)
    ).asset_materialization.metadata
    assert sum(metadata["predicted_tags"].value.values()) == len(stored)

    # Label QA: what the table holds is what the rule finds; the check warns exactly then.
    review = warehouse.read_table(LABEL_REVIEW_TABLE)
    labeled = warehouse.read_table("labeled_projects")
    expected_review = label_disagreements(stored, labeled, other="other")
    assert sorted(review["id"]) == sorted(expected_review["id"])
    evaluations = check_evaluations(result)
    assert evaluations.pop(f"{LABEL_REVIEW_TABLE}:no_confident_disagreements").passed == (
        review.empty
    )
    assert not evaluations.pop("labeled_projects:not_null_labeled_projects_tag").passed  # warns
    assert [name for name, e in evaluations.items() if not e.passed] == []

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
    downstream = [
        AssetKey(t) for t in (PREDICTIONS_TABLE, LABELING_QUEUE_TABLE, LABEL_REVIEW_TABLE)
    ]

    # A promotion re-scores the month; the queue and the review follow in the same run.
    report_materialized(instance, defs, "champion_model")
    promoted = evaluate_automation_conditions(defs=defs, instance=instance, cursor=cursor)
    assert [promoted.get_num_requested(key) for key in downstream] == [1, 1, 1]

    report_materialized(instance, defs, PREDICTIONS_TABLE, LABELING_QUEUE_TABLE, LABEL_REVIEW_TABLE)
    quiet = evaluate_automation_conditions(defs=defs, instance=instance, cursor=promoted.cursor)
    assert [quiet.get_num_requested(key) for key in downstream] == [0, 0, 0]

    report_materialized(instance, defs, "projects", "tags")  # the month's data changed
    landed = evaluate_automation_conditions(defs=defs, instance=instance, cursor=quiet.cursor)
    assert [landed.get_num_requested(key) for key in downstream] == [1, 1, 1]
