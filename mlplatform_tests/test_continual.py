import os
import time

import pandas as pd
import pytest
from dagster import (
    AssetKey,
    DagsterInstance,
    evaluate_automation_conditions,
)

from mlplatform.core.drift import DRIFT, NO_DRIFT, NOT_ENOUGH_DATA, drift_profile, measure_drift
from mlplatform.definitions import build_definitions
from mlplatform.defs.monitoring.sensors import RULES_TAG
from mlplatform.ingestion.builtin import source_change_sensor
from mlplatform.resources import build_model_registry
from mlplatform.resources.notifications import Notifier
from mlplatform.resources.policies import RetrainingPolicy
from mlplatform.resources.source import MadeWithMLSource
from mlplatform.settings import Settings
from mlplatform_tests.support.events import (
    REPORTED_MONTH,
    report_check,
    report_materialized,
    tick_sensor,
)
from mlplatform_tests.support.fixtures import make_projects_and_tags, write_source
from mlplatform_tests.support.standins.slack import slack_stand_in
from mlplatform_tests.support.synthetic import drifted_batch


def _profile(projects: pd.DataFrame, tags: pd.DataFrame) -> pd.DataFrame:
    frame = projects.merge(tags, on="id")
    return drift_profile(frame, frame["tag"])


def test_drift_needs_enough_rows_and_flags_a_shifted_batch(tmp_path) -> None:
    reference = _profile(*make_projects_and_tags(rows=200, seed=1))
    similar = _profile(*make_projects_and_tags(rows=80, seed=2))
    shifted = _profile(*drifted_batch(80, first_id=1000, start="2020-06-01", end="2020-07-01"))

    assert measure_drift(reference, similar.head(10)).status == NOT_ENOUGH_DATA
    calm = measure_drift(reference, similar)
    assert calm.status == NO_DRIFT, calm.tests
    drifted = measure_drift(reference, shifted, html_path=tmp_path / "report.html")
    assert drifted.status == DRIFT
    flagged = {t.name for t in drifted.tests if t.drifted}
    assert {"text_content", "label_distribution"} <= flagged
    assert "<html" in (tmp_path / "report.html").read_text()[:2000].lower()
    assert ("text_content", "abs_text_content_drift") in {(t.name, t.method) for t in drifted.tests}


def test_drift_on_projects_waiting_for_labels_needs_no_labels() -> None:
    """Projects are monitored when they arrive; their labels come later. Without labels the
    label test waits (a missing tag is never a category of its own) and the rest decide."""
    reference = _profile(*make_projects_and_tags(rows=200, seed=1))
    similar, similar_tags = make_projects_and_tags(rows=80, seed=2)
    half_labeled = _profile(
        similar, similar_tags.assign(tag=similar_tags["tag"].mask(similar_tags["id"] % 2 == 0))
    )
    calm = measure_drift(reference, half_labeled)
    assert calm.status == NO_DRIFT and "label_distribution" in {t.name for t in calm.tests}

    projects, tags = drifted_batch(80, first_id=1000, start="2020-06-01", end="2020-07-01")
    unlabeled = _profile(projects, tags.assign(tag=None))
    drifted = measure_drift(reference, unlabeled)
    assert drifted.status == DRIFT
    assert "label_distribution" not in {t.name for t in drifted.tests}
    assert {"text_content"} <= {t.name for t in drifted.tests if t.drifted}


def test_source_sensor_requests_ingestion_only_when_data_changes(tmp_path) -> None:
    instance = DagsterInstance.ephemeral()
    projects, tags = make_projects_and_tags(rows=40)
    source_dir = write_source(tmp_path, projects, tags)
    defs = build_definitions(Settings.from_env({"MLPLATFORM_HOME": str(tmp_path / "home")}))

    def tick(source: MadeWithMLSource, cursor: str | None):
        return tick_sensor(source_change_sensor, instance, cursor, defs, source=source)

    source = MadeWithMLSource(location=str(source_dir))
    first = tick(source, None)
    assert len(first.run_requests) == 3  # February, March, April
    unchanged = tick(source, first.cursor)
    assert not unchanged.run_requests and "unchanged" in unchanged.skip_message

    projects.loc[40] = [41, "2020-05-01 00:00:00", "New project", "Fresh description."]
    write_source(tmp_path, projects, tags)
    os.utime(tmp_path / "projects.csv", ns=(time.time_ns(), time.time_ns() + 10**9))
    changed = tick(source, first.cursor)
    assert [r.partition_key for r in changed.run_requests] == ["2020-05-01"]

    # Replaying arrival: a later as_of with no new rows is no change; one with rows is.
    early = MadeWithMLSource(location=str(source_dir), as_of="2020-02-10")
    same_rows = MadeWithMLSource(location=str(source_dir), as_of="2020-02-10 12:00")
    more_rows = MadeWithMLSource(location=str(source_dir), as_of="2020-02-20")
    cursor = tick(early, None).cursor
    assert not tick(same_rows, cursor).run_requests
    assert [r.partition_key for r in tick(more_rows, cursor).run_requests] == ["2020-02-01"]

    skipped = tick(MadeWithMLSource(location=str(tmp_path / "nowhere")), None)
    assert "not reachable" in skipped.skip_message


def test_automation_waits_for_parents_and_blocking_checks(settings_for, source_dir) -> None:
    defs = build_definitions(settings_for(source_dir))
    instance = DagsterInstance.ephemeral()
    labeled, drift = AssetKey("labeled_projects"), AssetKey("drift_report")

    cursor = evaluate_automation_conditions(defs=defs, instance=instance).cursor
    report_materialized(instance, defs, "projects", "tags")
    result = evaluate_automation_conditions(defs=defs, instance=instance, cursor=cursor)
    assert result.get_num_requested(labeled) == 1
    assert result.get_num_requested(AssetKey("trained_model")) == 0  # drift decides retraining

    report_materialized(instance, defs, "labeled_projects", "champion_model")
    report_check(instance, "labeled_projects", passed=False, partition=REPORTED_MONTH)
    blocked = evaluate_automation_conditions(defs=defs, instance=instance, cursor=result.cursor)
    assert blocked.get_num_requested(drift) == 0

    report_materialized(instance, defs, "labeled_projects")
    freed = evaluate_automation_conditions(defs=defs, instance=instance, cursor=blocked.cursor)
    assert freed.get_num_requested(drift) == 1


@pytest.mark.slow
def test_the_loop_trains_its_first_model_once_then_retrains_on_injected_drift(
    settings_for, tmp_path
) -> None:
    from mlplatform_tests.support.driver import AutomationDriver, ContinualLoop
    from mlplatform_tests.support.mlops import QUICK_TRAINING

    projects, tags = make_projects_and_tags(rows=200, start="2020-02-01", freq="1D")
    shifted_projects, shifted_tags = drifted_batch(
        60, first_id=5000, start="2020-09-01", end="2020-09-20"
    )
    source = write_source(
        tmp_path / "source",
        pd.concat([projects, shifted_projects]),
        pd.concat([tags, shifted_tags]),
    )
    # Growth off: this test isolates the first-training and drift rules.
    policy = RetrainingPolicy(cooldown_seconds=0, first_training_rows=50, growth_ratio=None)
    with slack_stand_in() as slack:
        overrides = {
            "training_policy": QUICK_TRAINING,
            "retraining_policy": policy,
            "notifier": Notifier(slack_webhook_url=slack.url),
        }
        loop = ContinualLoop(AutomationDriver(DagsterInstance.ephemeral()))
        instance = loop.driver.instance

        early_settings = settings_for(source, source_as_of="2020-06-01")
        early = build_definitions(early_settings, **overrides)
        first = loop.step(early)
        assert first.ingested and len(first.retraining_runs) == 1
        assert first.retraining_runs[0].dagster_run.tags[RULES_TAG] == "first_training"
        assert build_model_registry(early_settings).alias_version("champion") == "1"
        idle = loop.step(early)  # the same data, a champion now: nothing to do
        assert not idle.ingested and not idle.retraining_runs
        assert idle.retraining_skip.startswith("no rule fired: drift_report ")
        assert len(instance.fetch_materializations(AssetKey("trained_model"), limit=5).records) == 1
        assert not slack.messages("drift_detected")

        later = build_definitions(settings_for(source, source_as_of="2020-09-30"), **overrides)
        second = loop.step(later)
        assert second.ingested
        verdict = second.drift_reports[0]
        assert verdict["status"] == DRIFT and verdict["text_content/drifted"]
        records = instance.fetch_materializations(AssetKey("champion_performance"), limit=5)
        measured = next(  # the newest measure of champion v1, before any retraining
            r.asset_materialization.metadata
            for r in records.records
            if getattr(r.asset_materialization.metadata.get("champion_version"), "value", None)
            == "1"
        )
        assert measured["status"].value == "measured" and measured["new_rows"].value >= 100
        assert 0 <= measured["new_f1_low"].value <= measured["new_f1"].value <= 1
        assert next(r.dagster_run.tags[RULES_TAG] for r in second.retraining_runs).startswith(
            "drift"
        )
        [retraining] = second.retraining_runs
        gate = [
            e for e in retraining.get_asset_check_evaluations() if e.check_name == "promotion_gate"
        ]
        assert len(gate) == 1  # the gate decided, whichever way
        assert not loop.driver.tick_sensor(later, "retraining_sensor").runs

    [drifted] = slack.messages("drift_detected")
    assert drifted.startswith(f"{verdict['new_rows']} new rows drifted from champion v1's ")
    assert "text_content" in drifted
    started = slack.messages("retraining_started")
    assert len(started) == 2
    assert started[0].startswith("retraining requested: no champion yet: ")
    assert started[0].endswith(" labeled training rows >= 50")
    assert started[1].startswith("retraining requested: drift_report ")
