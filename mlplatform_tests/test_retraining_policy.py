"""The retraining policy: performance on new rows, its rules, the sensor, the first model."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from dagster import AssetKey, DagsterInstance
from sklearn.metrics import f1_score

from mlplatform.core.drift import DRIFT, NO_DRIFT
from mlplatform.core.performance import (
    Interval,
    _coded,
    estimate_performance,
    f1_change_interval,
    f1_interval,
    monthly_scores,
    weighted_f1,
)
from mlplatform.core.retraining import (
    DECAY,
    FIRST_TRAINING,
    GROWTH,
    DriftEvent,
    PerformanceEvent,
    RetrainingConfig,
    RetrainingCursor,
    decide_retraining,
)
from mlplatform.core.splits import TEST_FRACTION, in_holdout
from mlplatform.core.training import rows_at_cutoff, rows_until
from mlplatform.defs.monitoring.sensors import (
    MAX_RETRIES,
    REASON_TAG,
    RULES_TAG,
    retraining_sensor,
)
from mlplatform.resources.notifications import Notifier
from mlplatform.resources.policies import RetrainingPolicy
from mlplatform_tests.support.events import report_drift, report_performance, tick_sensor
from mlplatform_tests.support.fixtures import make_projects_and_tags
from mlplatform_tests.support.standins.slack import slack_stand_in

HOUR = 3600.0
NO_COOLDOWN = RetrainingConfig(cooldown_seconds=0)
FRESH = RetrainingCursor()


def _labels(rng: np.random.Generator, rows: int, accuracy: float) -> tuple[np.ndarray, np.ndarray]:
    truth = rng.choice(["cv", "nlp", "mlops", "other"], rows, p=[0.4, 0.3, 0.2, 0.1])
    wrong = rng.choice(["cv", "nlp", "mlops", "other", "rl"], rows)
    return truth, np.where(rng.random(rows) < accuracy, truth, wrong)


# --- performance on new rows -----------------------------------------------------------------


@pytest.mark.parametrize("rows", [1, 7, 300])
def test_weighted_f1_is_sklearns_for_one_and_for_many_resamples(rows: int) -> None:
    rng = np.random.default_rng(rows)
    truth, predicted = _labels(rng, rows, 0.7)
    (t, p), n_classes = _coded(truth, predicted)
    expected = f1_score(truth, predicted, average="weighted", zero_division=0)
    assert weighted_f1(t, p, n_classes)[0] == pytest.approx(expected)
    resamples = rng.integers(0, rows, size=(5, rows))
    batched = weighted_f1(t[resamples], p[resamples], n_classes)
    one_by_one = [
        f1_score(truth[r], predicted[r], average="weighted", zero_division=0) for r in resamples
    ]
    assert batched == pytest.approx(one_by_one)


def test_the_change_interval_separates_a_real_drop_from_noise() -> None:
    rng = np.random.default_rng(0)
    test = _labels(rng, 80, 0.95)
    dropped = f1_change_interval(_labels(rng, 200, 0.6), test, confidence=0.95)
    assert dropped.high < -0.1 and dropped.low < dropped.value < dropped.high
    steady = f1_change_interval(_labels(rng, 200, 0.95), test, confidence=0.95)
    assert steady.low < 0 < steady.high
    narrow = f1_change_interval(_labels(rng, 200, 0.95), test, confidence=0.5)
    assert narrow.high - narrow.low < steady.high - steady.low
    assert f1_change_interval(test, _labels(rng, 1, 0.9), 0.95) is None  # one row: no interval
    again = f1_change_interval(_labels(np.random.default_rng(3), 200, 0.6), test, 0.95, seed=4)
    assert again == f1_change_interval(_labels(np.random.default_rng(3), 200, 0.6), test, 0.95, 4)


def test_rows_at_cutoff_splits_trained_test_and_new_rows() -> None:
    projects, tags = make_projects_and_tags(rows=300, start="2020-01-01", freq="1D")
    frame = projects.merge(tags, on="id")
    cutoff = "2020-06-30"
    rows = rows_at_cutoff(frame, cutoff)
    after = pd.Timestamp(cutoff)
    assert (pd.to_datetime(rows.trained["created_on"]) <= after).all()
    assert (pd.to_datetime(rows.test["created_on"]) <= after).all()
    assert (pd.to_datetime(rows.new["created_on"]) > after).all()
    assert in_holdout(rows.test["id"], TEST_FRACTION).all()
    assert not in_holdout(pd.concat([rows.trained["id"], rows.new["id"]]), TEST_FRACTION).any()
    held_out_later = in_holdout(frame["id"], TEST_FRACTION) & (
        pd.to_datetime(frame["created_on"]) > after
    )
    assert len(rows.trained) + len(rows.test) + len(rows.new) + held_out_later.sum() == 300
    assert rows.training_rows == len(rows.trained) + len(rows.new)
    assert rows.trained["id"].tolist() == rows_until(frame, cutoff)["id"].tolist()
    undated = rows_at_cutoff(frame, None)
    assert undated.new.empty and len(undated.trained) == rows.training_rows


def test_estimate_and_monthly_scores_on_new_rows() -> None:
    rng = np.random.default_rng(1)
    truth, predicted = _labels(rng, 120, 0.8)
    new = pd.DataFrame(
        {
            "tag": truth,
            "prediction": predicted,
            "created_on": pd.date_range("2020-03-01", periods=120, freq="1D"),
        }
    )
    test = pd.DataFrame(dict(zip(("tag", "prediction"), _labels(rng, 40, 0.9), strict=True)))
    estimate = estimate_performance(new, test, trained_rows=240, confidence=0.95)
    assert (estimate.new_rows, estimate.test_rows, estimate.growth) == (120, 40, 0.5)
    assert estimate.new_f1.value == pytest.approx(
        f1_score(truth, predicted, average="weighted", zero_division=0)
    )
    assert estimate.change.value == pytest.approx(estimate.new_f1.value - estimate.test_f1.value)
    months = monthly_scores(new, 0.95, max_periods=3)
    assert [m.period for m in months] == ["2020-04", "2020-05", "2020-06"]
    assert [m.rows for m in months] == [30, 31, 28]
    assert all(m.f1.low <= m.f1.value <= m.f1.high for m in months)


# --- the policy's rules, on constructed events ---------------------------------------------


def _performance(storage_id: int = 1, timestamp: float = 1000.0, **numbers) -> PerformanceEvent:
    defaults = dict(
        champion_version="3",
        training_rows=500,
        trained_rows=400,
        new_rows=100,
        new_f1=0.85,
        test_f1=0.86,
        change_high=0.05,
    )
    return PerformanceEvent(storage_id, timestamp, **{**defaults, **numbers})


def _decide(performance=None, drift=None, cursor=FRESH, config=NO_COOLDOWN):
    return decide_retraining(drift, performance, cursor, config)


def test_the_first_training_starts_itself_once_there_are_enough_rows() -> None:
    few = _performance(champion_version=None, training_rows=99, trained_rows=99, new_rows=0)
    skipped = _decide(few)
    assert not skipped.retrain
    assert skipped.reason == "no rule fired: no champion yet: 99 labeled training rows < 100"
    enough = _decide(_performance(champion_version=None, training_rows=100, new_rows=0))
    assert enough.retrain and enough.rules == (FIRST_TRAINING,)
    assert (
        enough.reason == "retraining requested: no champion yet: 100 labeled training rows >= 100"
    )
    off = RetrainingConfig(cooldown_seconds=0, first_training_rows=None)
    assert not _decide(_performance(champion_version=None), config=off).retrain


def test_decay_fires_only_when_the_whole_interval_is_below_the_margin() -> None:
    decayed = _decide(_performance(new_f1=0.70, test_f1=0.88, change_high=-0.021))
    assert decayed.retrain and decayed.rules == (DECAY,)
    assert "decay confirmed: v3 F1 0.700 on 100 new rows vs 0.880 on its test rows" in (
        decayed.reason
    )
    assert "tops out at -0.021 < -0.02" in decayed.reason
    within = _decide(_performance(new_f1=0.70, test_f1=0.88, change_high=-0.019))
    assert not within.retrain and "no decay:" in within.reason
    few_rows = _decide(_performance(new_rows=29, change_high=-0.5, trained_rows=1000))
    assert not few_rows.retrain and "decay: 29 new rows < 30" in few_rows.reason
    untested = _decide(_performance(new_rows=100, trained_rows=1000, change_high=None))
    assert untested.retrain is False
    assert untested.reason.startswith(
        "no rule fired: decay: not measured (fewer than 2 test rows up to the cutoff); growth: "
    )
    off = RetrainingConfig(cooldown_seconds=0, decay_margin=None)
    assert not _decide(_performance(change_high=-0.5), config=off).retrain


def test_growth_fires_at_the_ratio_and_the_row_floor() -> None:
    grown = _decide(_performance(new_rows=200, trained_rows=400))
    assert grown.retrain and grown.rules == (GROWTH,)
    assert "data grew: 200 new labeled rows since v3's cutoff = 50.0% of the 400" in grown.reason
    short = _decide(_performance(new_rows=199, trained_rows=400))
    assert not short.retrain and "= 49.8% of the 400" in short.reason
    assert "growth: 199 new labeled rows" in short.reason and "(needs 50% and 30 rows)" in (
        short.reason
    )
    tiny = _decide(_performance(new_rows=29, trained_rows=10))
    assert not tiny.retrain
    off = RetrainingConfig(cooldown_seconds=0, growth_ratio=None)
    assert not _decide(_performance(new_rows=1000, trained_rows=10), config=off).retrain


def test_decay_and_growth_count_labels_as_they_arrive_and_say_what_waits() -> None:
    """Projects arrive labeled later and partly: decay and growth use the labeled rows (the
    event's counts) and their messages say how many newer projects wait for a label."""
    waiting = _decide(_performance(new_rows=150, trained_rows=400, waiting_rows=250))
    assert not waiting.retrain  # 150 labeled is 37.5 %: the 250 waiting do not count yet
    assert "growth: 150 new labeled rows" in waiting.reason
    assert waiting.reason.count("(250 newer projects wait for labels: not counted yet)") == 2
    arrived = _decide(_performance(new_rows=400, trained_rows=400, waiting_rows=0))
    assert arrived.retrain and "wait for labels" not in arrived.reason
    first = PerformanceEvent(1, 1000.0, 60, 60, 0, waiting_rows=90)
    assert "60 labeled training rows < 100 (90 newer projects wait" in _decide(first).reason


def test_drift_fires_on_a_confirmed_report_and_every_rule_is_named() -> None:
    drift = DriftEvent(5, 1000.0, True, DRIFT)
    both = _decide(_performance(new_rows=300, trained_rows=400), drift)
    assert both.retrain and both.rules == ("drift", GROWTH)
    assert both.reason.startswith("retraining requested: drift_report 5 confirmed drift; data grew")
    calm = _decide(_performance(), DriftEvent(5, 1000.0, False, NO_DRIFT))
    assert not calm.retrain
    assert calm.reason.startswith("no rule fired: drift_report 5: no_drift; no decay: v3 F1 0.850")
    assert "growth: 100 new labeled rows since v3's cutoff = 25.0% of the 400" in calm.reason
    off = RetrainingConfig(cooldown_seconds=0, on_drift=False)
    assert not _decide(drift=drift, config=off).retrain


def test_each_event_is_handled_once_and_the_cool_down_uses_event_time() -> None:
    config = RetrainingConfig(cooldown_seconds=HOUR)
    grown = _performance(storage_id=4, new_rows=300)
    first = _decide(grown, config=config)
    assert first.retrain and first.cursor == RetrainingCursor(-1, 4, 1000.0)
    again = _decide(grown, cursor=first.cursor, config=config)
    assert not again.retrain and again.cursor == first.cursor
    assert again.reason == "champion_performance 4 already handled"
    inside = _decide(
        _performance(storage_id=6, timestamp=1000.0 + HOUR - 1, new_rows=300),
        DriftEvent(5, 1000.0 + HOUR - 1, True, DRIFT),
        first.cursor,
        config,
    )
    assert not inside.retrain and inside.rules == ("drift", GROWTH)
    assert inside.reason.endswith(
        "but inside the retraining cool-down: 3599 s since the last trigger < 3600 s"
    )
    assert inside.cursor == RetrainingCursor(5, 6, 1000.0)  # handled; the trigger time is kept
    later = _performance(storage_id=7, timestamp=1000.0 + HOUR, new_rows=300)
    assert _decide(later, cursor=inside.cursor, config=config).retrain
    assert _decide(cursor=RetrainingCursor()).reason == (
        "no drift_report or champion_performance yet"
    )


def test_the_cursor_round_trips_and_forgets_an_older_sensors_keys() -> None:
    cursor = RetrainingCursor(12, 13, 34.5)
    assert RetrainingCursor.from_json(cursor.to_json()) == cursor
    assert RetrainingCursor.from_json(None) == RetrainingCursor()
    legacy = '{"storage_id": 9, "triggered_at": 1.0}'
    assert RetrainingCursor.from_json(legacy) == RetrainingCursor(triggered_at=1.0)


def test_performance_events_round_trip_through_stored_metadata() -> None:
    event = _performance(storage_id=3, timestamp=5.0)
    assert PerformanceEvent.from_stored(3, 5.0, {**event.stored_fields(), "rules": "x"}) == event
    first = PerformanceEvent(3, 5.0, 120, 120, 0, waiting_rows=7)
    assert "champion_version" not in first.stored_fields()
    assert PerformanceEvent.from_stored(3, 5.0, first.stored_fields()) == first


# --- the sensor -----------------------------------------------------------------------------


def test_the_sensor_requests_one_run_per_event_and_says_which_rule_fired() -> None:
    instance = DagsterInstance.ephemeral()
    policy = RetrainingPolicy(cooldown_seconds=0)
    with slack_stand_in() as slack:
        resources = {"retraining_policy": policy, "notifier": Notifier(slack_webhook_url=slack.url)}
        nothing = tick_sensor(retraining_sensor, instance, None, **resources)
        assert nothing.skip_message == "no drift_report or champion_performance yet"

        report_performance(instance, _performance(new_rows=50, trained_rows=400))
        quiet = tick_sensor(retraining_sensor, instance, None, **resources)
        assert not quiet.run_requests and quiet.skip_message.startswith("no rule fired:")

        report_performance(instance, _performance(new_rows=250, trained_rows=400))
        grown = tick_sensor(retraining_sensor, instance, quiet.cursor, **resources)
        [request] = grown.run_requests
        assert request.tags[RULES_TAG] == GROWTH and request.run_key.startswith("growth-d-1-p")
        assert request.tags[REASON_TAG].startswith("retraining requested: data grew: 250 new")
        again = tick_sensor(retraining_sensor, instance, grown.cursor, **resources)
        assert not again.run_requests and "already handled" in again.skip_message

        report_drift(instance, drifted=True)
        drifted = tick_sensor(retraining_sensor, instance, again.cursor, **resources)
        [second] = drifted.run_requests
        assert second.tags[RULES_TAG] == "drift" and second.run_key != request.run_key

        cooled = {**resources, "retraining_policy": RetrainingPolicy(cooldown_seconds=HOUR)}
        report_drift(instance, drifted=True)
        blocked = tick_sensor(retraining_sensor, instance, drifted.cursor, **cooled)
        assert not blocked.run_requests and "cool-down" in blocked.skip_message
    messages = slack.messages("retraining_started")
    assert len(messages) == 2
    assert messages[0].startswith("retraining requested: data grew: 250 new labeled rows")
    assert messages[1].startswith("retraining requested: drift_report ")


@pytest.fixture
def slack():
    with slack_stand_in() as standin:
        yield standin


def attempt_key(run_key: str, retries: int) -> str:
    """The run key of a retraining after `retries` retries."""
    return f"{run_key}-retry{retries}" if retries else run_key


def test_a_retraining_that_failed_before_the_gate_is_asked_for_again(slack) -> None:
    """A retraining run that failed before model_evaluation materialized (an outage, a killed
    worker) is requested again, at most MAX_RETRIES times; one the gate decided is not."""
    from dagster import asset, materialize

    instance = DagsterInstance.ephemeral()
    notifier = Notifier(slack_webhook_url=slack.url)
    resources = {"retraining_policy": RetrainingPolicy(cooldown_seconds=0), "notifier": notifier}

    def run_as(request, decided: bool) -> None:
        """The run the daemon would launch for `request`, failing before or after the gate."""

        @asset(name="model_evaluation")
        def evaluation() -> int:
            return 1

        @asset(deps=[evaluation])
        def after_the_gate() -> None:
            raise RuntimeError("champion_model failed")

        @asset
        def before_the_gate() -> None:
            raise RuntimeError("the registry is down")

        @asset(name="model_evaluation", deps=[before_the_gate])
        def planned_evaluation() -> int:  # planned in the run, never materialized
            return 1

        assets = [evaluation, after_the_gate] if decided else [before_the_gate, planned_evaluation]
        tags = {**request.tags, "dagster/run_key": request.run_key}
        assert not materialize(assets, instance=instance, tags=tags, raise_on_error=False).success
        # A newer run of something else, without the key, must not be taken for it.
        assert materialize([unrelated], instance=instance).success

    @asset
    def unrelated() -> int:
        return 1

    report_performance(instance, _performance(new_rows=250, trained_rows=400))
    tick = tick_sensor(retraining_sensor, instance, None, **resources)
    [request] = tick.run_requests
    for attempt in range(1, MAX_RETRIES + 1):
        run_as(tick.run_requests[0], decided=False)
        tick = tick_sensor(retraining_sensor, instance, tick.cursor, **resources)
        [retry] = tick.run_requests
        assert retry.run_key == f"{request.run_key}-retry{attempt}"
        assert retry.tags[RULES_TAG] == request.tags[RULES_TAG] == GROWTH
        failed = retry.tags["mlplatform/retry_of"]
        assert slack.messages("retraining_started")[-1] == (
            f"retraining asked for again (attempt {attempt + 1}): run {failed} "
            f"({attempt_key(request.run_key, attempt - 1)}) failed before the gate decided"
        )
    run_as(retry, decided=False)
    spent = tick_sensor(retraining_sensor, instance, tick.cursor, **resources)
    assert not spent.run_requests and "already handled" in spent.skip_message

    report_drift(instance, drifted=True)
    drifted = tick_sensor(retraining_sensor, instance, spent.cursor, **resources)
    [decided] = drifted.run_requests
    run_as(decided, decided=True)
    after = tick_sensor(retraining_sensor, instance, drifted.cursor, **resources)
    assert not after.run_requests  # the gate decided: nothing to retry


def test_a_drift_report_without_a_verdict_is_not_drift() -> None:
    from dagster import AssetMaterialization

    instance = DagsterInstance.ephemeral()
    instance.report_runless_asset_event(AssetMaterialization("drift_report"))
    [record] = instance.fetch_materializations(AssetKey("drift_report"), limit=1).records
    policy, notifier = RetrainingPolicy(), Notifier()
    result = tick_sensor(
        retraining_sensor, instance, None, retraining_policy=policy, notifier=notifier
    )
    assert not result.run_requests
    assert result.skip_message == f"no rule fired: drift_report {record.storage_id}: unknown"


def test_rule_boundaries_and_the_words_for_a_rule_switched_off() -> None:
    at_floor = _decide(_performance(new_rows=30, trained_rows=60, change_high=-0.03))
    assert at_floor.retrain is True and at_floor.rules == (DECAY, GROWTH)
    at_margin = _decide(_performance(change_high=-0.02))
    assert at_margin.retrain is False and "no decay:" in at_margin.reason
    nothing_trained = _decide(_performance(new_rows=30, trained_rows=0))
    assert nothing_trained.rules == (GROWTH,) and "= inf% of the 0" in nothing_trained.reason
    everything_off = RetrainingConfig(
        cooldown_seconds=0, decay_margin=None, growth_ratio=None, first_training_rows=None
    )
    quiet = _decide(_performance(), config=everything_off)
    assert quiet.reason == "no rule fired: decay rule off; growth rule off"
    no_first = _decide(_performance(champion_version=None), config=everything_off)
    assert no_first.reason == (
        "no rule fired: no champion, and the first training is left to people"
    )


def test_an_event_as_old_as_the_cursor_is_handled_and_both_are_named() -> None:
    cursor = RetrainingCursor(5, 4, None)
    seen = _decide(_performance(storage_id=4), DriftEvent(5, 1.0, True, DRIFT), cursor)
    assert seen.retrain is False and seen.cursor == cursor
    assert seen.reason == "drift_report 5 and champion_performance 4 already handled"
    held = _decide(
        _performance(storage_id=6, timestamp=10.0, new_rows=300),
        DriftEvent(7, 10.0, True, DRIFT),
        RetrainingCursor(5, 4, 0.0),
        RetrainingConfig(cooldown_seconds=HOUR),
    )
    assert held.retrain is False
    assert held.reason.startswith("drift_report 7 confirmed drift; data grew: 300 new")


def test_the_sensor_reads_a_calm_verdict_and_event_times() -> None:
    instance = DagsterInstance.ephemeral()
    resources = {"retraining_policy": RetrainingPolicy(cooldown_seconds=HOUR)}
    report_drift(instance, drifted=False)
    calm = tick_sensor(retraining_sensor, instance, None, notifier=Notifier(), **resources)
    assert calm.skip_message.endswith(": no_drift")
    start = pd.Timestamp.now().timestamp() - 2 * 24 * HOUR
    report_performance(instance, _performance(new_rows=300), timestamp=start)
    first = tick_sensor(retraining_sensor, instance, calm.cursor, notifier=Notifier(), **resources)
    assert len(first.run_requests) == 1
    # Two days of wall clock later, but 30 minutes of event time: still inside the cool-down.
    report_performance(instance, _performance(new_rows=300), timestamp=start + HOUR / 2)
    inside = tick_sensor(
        retraining_sensor, instance, first.cursor, notifier=Notifier(), **resources
    )
    assert not inside.run_requests and "inside the retraining cool-down: 1800 s" in (
        inside.skip_message
    )


def test_every_interval_uses_the_confidence_and_seed_it_is_given() -> None:
    rng = np.random.default_rng(5)
    new = _labels(rng, 150, 0.8)
    test = _labels(rng, 60, 0.9)
    frame = {"tag": new[0], "prediction": new[1]}
    dates = pd.date_range("2020-01-01", periods=150, freq="3D")
    new_frame = pd.DataFrame({**frame, "created_on": dates})
    test_frame = pd.DataFrame(dict(zip(("tag", "prediction"), test, strict=True)))
    estimate = estimate_performance(new_frame, test_frame, 300, confidence=0.5, seed=3)
    assert estimate.new_f1 == f1_interval(*new, 0.5, 3)
    assert estimate.test_f1 == f1_interval(*test, 0.5, 3)
    assert estimate.change == f1_change_interval(new, test, 0.5, 3)
    assert estimate.new_f1 != f1_interval(*new, 0.95, 3)
    months = monthly_scores(new_frame, 0.5)
    assert len(months) == 12  # 15 months of rows, the newest 12 by default
    newest = new_frame[dates.strftime("%Y-%m") == months[-1].period]
    assert months[-1].f1 == f1_interval(newest["tag"], newest["prediction"], 0.5, 0)


def test_intervals_need_two_rows_and_one_row_is_its_own_interval() -> None:
    assert f1_interval(np.array([]), np.array([]), 0.95) is None
    one = f1_interval(np.array(["cv"]), np.array(["nlp"]), 0.95)
    assert one == Interval(0.0, 0.0, 0.0)
    two = f1_interval(np.array(["cv", "nlp"]), np.array(["cv", "cv"]), 0.95)
    assert two.low < two.high
    pair = (np.array(["cv", "nlp"]), np.array(["cv", "cv"]))
    assert f1_change_interval(pair, pair, 0.95) is not None
    assert weighted_f1(np.empty((2, 0), dtype=int), np.empty((2, 0), dtype=int), 3).tolist() == [
        0.0,
        0.0,
    ]
