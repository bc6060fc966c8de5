"""The platform's decisions, each pinned at its boundary: the promotion gate, the drift rule,
the retraining cool-down, precision mode, slices, automation, sensor defaults, the model IO
manager's choice of version and the `as_of` cut. These are the fast tests mutation testing
runs (`bench/mutation.py`)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from dagster import (
    AssetCheckResult,
    AssetKey,
    AssetMaterialization,
    DagsterInstance,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    Definitions,
    Failure,
    asset,
    asset_check,
    build_input_context,
    build_output_context,
    build_run_status_sensor_context,
    evaluate_automation_conditions,
    job,
    op,
)

from mlplatform.core.drift import (
    DRIFT,
    NO_DRIFT,
    NOT_ENOUGH_DATA,
    PROFILE_COLUMNS,
    DriftConfig,
    DriftResult,
    DriftTest,
    drift_profile,
    drift_specs,
    judge_tests,
    measure_drift,
    verdict,
)
from mlplatform.core.evaluation import (
    apply_threshold,
    classification_metrics,
    precision_threshold,
    short_text,
    slice_metrics,
)
from mlplatform.core.gate import (
    BELOW_MINIMUM,
    FIRST_MODEL,
    IMPROVED,
    REGRESSION,
    WITHIN_TOLERANCE,
    GateConfig,
    decide,
)
from mlplatform.core.labels import LabelConfig
from mlplatform.core.scores import ClassScores, ConfusionMatrix, Metrics, SliceScores, TaggerScores
from mlplatform.core.sources import parse_as_of, tags_visible_as_of, visible_as_of
from mlplatform.core.training import rows_after, rows_until
from mlplatform.definitions import build_definitions
from mlplatform.defs.automation.sensors import notify_on_run_failure
from mlplatform.lib.automation import fresh_when_parents_update
from mlplatform.resources.model_io import MlflowModelIOManager
from mlplatform.resources.model_registry import TaggerModel
from mlplatform.resources.notifications import Notifier
from mlplatform_tests.support.events import report_check, report_materialized
from mlplatform_tests.support.fixtures import make_projects_and_tags
from mlplatform_tests.support.standins.slack import slack_stand_in

# --- the promotion gate ---------------------------------------------------------------------


def _scores(
    f1: float,
    classes: dict[str, tuple[float, int]] | None = None,
    slices: dict[str, tuple[int, float | None]] | None = None,
) -> TaggerScores:
    """Scores with weighted F1 `f1`, per-class (F1, support) and per-slice (rows, F1)."""
    per_class = {
        label: ClassScores(score, score, score, support)
        for label, (score, support) in (classes or {"mlops": (f1, 10)}).items()
    }
    overall = Metrics(10, f1, f1, f1, per_class, ConfusionMatrix(tuple(per_class), ()))
    slice_scores = {
        name: SliceScores(rows, score, score, score)
        for name, (rows, score) in (slices or {}).items()
    }
    return TaggerScores(overall, overall, slice_scores)


GATE = GateConfig()


def test_first_model_needs_the_minimum_quality_exactly() -> None:
    at_minimum = decide(_scores(GATE.min_f1), None)
    assert (at_minimum.promote, at_minimum.verdict) == (True, FIRST_MODEL)
    assert at_minimum.reasons == (
        f"no champion to compare with: weighted F1 {GATE.min_f1:.3f} >= minimum {GATE.min_f1}",
    )
    below = decide(_scores(GATE.min_f1 - 1e-9), None)
    assert (below.promote, below.verdict) == (False, BELOW_MINIMUM)
    assert below.reasons == (
        f"no champion to compare with: weighted F1 {GATE.min_f1:.3f} < minimum {GATE.min_f1}",
    )


def test_overall_f1_may_drop_by_the_tolerance_and_no_more() -> None:
    champion = _scores(0.8)
    at_tolerance = decide(_scores(0.8 - GATE.f1_tolerance), champion)
    assert (at_tolerance.promote, at_tolerance.verdict) == (True, WITHIN_TOLERANCE)
    assert at_tolerance.reasons == (
        "weighted F1 0.790 vs champion 0.800; no class or slice collapsed",
    )
    beyond = decide(_scores(0.8 - GATE.f1_tolerance - 1e-9), champion)
    assert (beyond.promote, beyond.verdict) == (False, REGRESSION)
    assert beyond.reasons == (
        f"weighted F1 0.790 is worse than the champion's 0.800 by more than {GATE.f1_tolerance}",
    )
    assert decide(_scores(0.8), champion).verdict == WITHIN_TOLERANCE  # a tie is no improvement
    assert decide(_scores(0.8 + 1e-9), champion).verdict == IMPROVED


def test_a_class_may_drop_by_the_collapse_tolerance_and_no_more() -> None:
    champion = _scores(0.8, classes={"mlops": (0.8, 10), "computer-vision": (0.8, 10)})
    edge = 0.8 - GATE.collapse_tolerance

    def challenger(class_f1: float) -> TaggerScores:
        return _scores(0.8, classes={"mlops": (0.8, 10), "computer-vision": (class_f1, 10)})

    assert decide(challenger(edge), champion).promote
    refused = decide(challenger(edge - 1e-9), champion)
    assert not refused.promote
    assert refused.reasons == ("class 'computer-vision' collapsed: F1 0.800 -> 0.650",)


def test_a_class_the_challenger_lacks_scores_zero_and_one_without_support_is_ignored() -> None:
    champion = _scores(0.8, classes={"mlops": (0.8, 10), "mlops-tools": (0.9, 0)})
    missing = decide(_scores(0.8, classes={"mlops-tools": (0.9, 0)}), champion)
    assert missing.reasons == ("class 'mlops' collapsed: F1 0.800 -> 0.000",)
    unsupported = _scores(0.8, classes={"mlops": (0.8, 10), "mlops-tools": (0.0, 0)})
    assert decide(unsupported, champion).promote


def test_slices_decide_from_min_slice_rows_and_only_when_both_were_scored() -> None:
    edge = 0.8 - GATE.collapse_tolerance
    champion = _scores(
        0.8,
        slices={
            "tiny": (GATE.min_slice_rows - 1, 0.9),
            "unscored": (GATE.min_slice_rows, None),
            "gone": (GATE.min_slice_rows, 0.9),
            "short_text": (GATE.min_slice_rows, 0.8),
        },
    )

    def challenger(short_text_f1: float) -> TaggerScores:
        slices = {"tiny": (1, 0.0), "unscored": (5, 0.0), "short_text": (5, short_text_f1)}
        return _scores(0.8, slices=slices)

    # Slices that cannot decide come first: the ones after them are still judged.
    assert decide(challenger(edge), champion).promote
    refused = decide(challenger(edge - 1e-9), champion)
    assert refused.reasons == ("slice 'short_text' collapsed: F1 0.800 -> 0.650",)


def test_every_failed_rule_is_a_reason() -> None:
    champion = _scores(0.8, slices={"short_text": (10, 0.8)})
    worse = _scores(0.5, classes={"mlops": (0.5, 10)}, slices={"short_text": (10, 0.5)})
    assert len(decide(worse, champion).reasons) == 3


# --- the drift rule -------------------------------------------------------------------------

DRIFT_CONFIG = DriftConfig()


def _tests(*drifted: str) -> tuple[DriftTest, ...]:
    names = [name for name, *_ in drift_specs(DRIFT_CONFIG)]
    return tuple(DriftTest(n, "c", "m", 0.0, 0.0, n in drifted) for n in names)


@pytest.mark.parametrize(
    ("drifted", "status"),
    [
        ((), NO_DRIFT),
        (("label_distribution",), NO_DRIFT),
        (("text_content",), NO_DRIFT),
        (("label_distribution", "text_length", "prediction_distribution"), NO_DRIFT),
        (("text_content", "label_distribution"), DRIFT),
        (("text_content", "text_length"), DRIFT),
        (("text_content", "prediction_distribution"), DRIFT),
        (("text_content", "label_distribution", "text_length", "prediction_distribution"), DRIFT),
    ],
)
def test_drift_needs_text_content_and_one_other_test(drifted, status) -> None:
    assert verdict(_tests(*drifted), DRIFT_CONFIG) == status


def test_the_required_tests_alone_confirm_when_one_test_is_enough() -> None:
    alone = DriftConfig(min_drifted_tests=1)
    assert verdict(_tests("text_content"), alone) == DRIFT
    assert verdict(_tests("label_distribution"), alone) == NO_DRIFT
    assert alone.rule == "drift is confirmed when `text_content` shifts"


def test_each_drift_threshold_is_pinned_at_its_boundary() -> None:
    config = DriftConfig(
        label_p_value=0.02, length_p_value=0.03, content_auc=0.6, prediction_distance=0.2
    )
    specs = drift_specs(config)
    assert [(name, column, method, threshold) for name, column, method, threshold in specs] == [
        ("label_distribution", "tag", "chisquare", 0.02),
        ("text_length", "n_words", "ks", 0.03),
        ("text_content", "text", "abs_text_content_drift", 0.6),
        ("prediction_distribution", "prediction", "jensenshannon", 0.2),
    ]
    thresholds = [threshold for *_, threshold in specs]

    def drifted(values: list[float]) -> list[bool]:
        return [test.drifted for test in judge_tests(specs, values)]

    # p-values drift strictly below their threshold; distances and AUC at or above theirs.
    assert drifted(thresholds) == [False, False, True, True]
    assert drifted([t - 1e-9 for t in thresholds]) == [True, True, False, False]
    tests = judge_tests(specs, thresholds)
    assert [t.rule for t in tests] == ["< 0.02", "< 0.03", ">= 0.6", ">= 0.2"]
    assert tests[0] == DriftTest("label_distribution", "tag", "chisquare", 0.02, 0.02, False)
    with pytest.raises(ValueError):  # a statistic missing is an error, not a shorter report
        judge_tests(specs, thresholds[:3])
    assert DRIFT_CONFIG.rule == (
        "drift is confirmed when `text_content` shifts and at least 1 other test"
    )


@pytest.fixture(scope="module")
def reference_profile() -> pd.DataFrame:
    projects, tags = make_projects_and_tags(rows=120, seed=1)
    frame = projects.merge(tags, on="id")
    return drift_profile(frame, frame["tag"])


def test_drift_is_measured_from_min_rows_on(reference_profile, tmp_path) -> None:
    projects, tags = make_projects_and_tags(rows=DRIFT_CONFIG.min_rows, seed=2)
    frame = projects.merge(tags, on="id")
    current = drift_profile(frame, frame["tag"])
    lenient = DriftConfig(min_drifted_tests=1)  # a result states the rule it was judged by
    too_few = measure_drift(reference_profile, current.iloc[1:], lenient)
    assert too_few == DriftResult(NOT_ENOUGH_DATA, 120, 29, (), lenient.rule)
    html = tmp_path / "reports" / "new" / "drift.html"  # parents created
    measured = measure_drift(reference_profile, current, html_path=html)
    again = measure_drift(reference_profile, current, lenient, html_path=html)  # same place
    assert again.rule == lenient.rule
    assert "<html" in html.read_text()[:2000].lower()
    assert measured.status == NO_DRIFT and measured.rule == DRIFT_CONFIG.rule
    assert [t.name for t in measured.tests] == [n for n, *_ in drift_specs(DRIFT_CONFIG)]
    assert (measured.reference_rows, measured.new_rows) == (120, 30)
    content = measured.tests[2]
    as_dict = measured.as_dict()
    assert {key: value for key, value in as_dict.items() if key != "tests"} == {
        "status": NO_DRIFT,
        "drift_detected": False,
        "reference_rows": 120,
        "new_rows": 30,
    }
    assert list(as_dict["tests"]) == [t.name for t in measured.tests]
    assert as_dict["tests"]["text_content"] == {
        "column": "text",
        "method": "abs_text_content_drift",
        "statistic": content.statistic,
        "threshold": DRIFT_CONFIG.content_auc,
        "drifted": False,
    }
    assert 0.0 <= content.statistic < DRIFT_CONFIG.content_auc


def test_drift_profile_holds_the_columns_drift_is_measured_on() -> None:
    projects, tags = make_projects_and_tags(rows=3)
    frame = projects.merge(tags, on="id")
    profile = drift_profile(frame, [1, 2, 3])
    assert list(profile.columns) == PROFILE_COLUMNS
    assert profile["id"].tolist() == [1, 2, 3]
    assert profile["created_on"].tolist() == pd.to_datetime(frame["created_on"]).tolist()
    assert profile["prediction"].tolist() == ["1", "2", "3"]
    assert profile["tag"].tolist() == frame["tag"].tolist()
    assert profile["n_words"].tolist() == [len(text.split()) for text in profile["text"]]


def test_only_the_tags_shifting_is_label_drift_alone(reference_profile) -> None:
    shifted = reference_profile.copy()
    shifted["tag"] = np.where(shifted.index % 4 == 0, "mlops", "computer-vision")
    result = measure_drift(reference_profile, shifted)
    flagged = {t.name for t in result.tests if t.drifted}
    assert flagged == {"label_distribution"}
    assert result.status == NO_DRIFT


def test_run_failed_notification_names_the_run_job_and_error() -> None:
    @op
    def breaks() -> None:
        raise Failure("warehouse unreachable")

    @job
    def fragile() -> None:
        breaks()

    instance = DagsterInstance.ephemeral()
    result = fragile.execute_in_process(instance=instance, raise_on_error=False)
    failure = result.get_run_failure_event()
    with slack_stand_in() as slack:
        context = build_run_status_sensor_context(
            sensor_name="notify_on_run_failure",
            dagster_event=failure,
            dagster_instance=instance,
            dagster_run=result.dagster_run,
            resources={"notifier": Notifier(slack_webhook_url=slack.url)},
        ).for_run_failure()
        notify_on_run_failure(context)
    [message] = slack.messages("run_failed")
    assert message.startswith(f"run {result.run_id} of job fragile failed: ")
    assert "breaks" in message


# --- precision mode, metrics and slices -----------------------------------------------------


def test_precision_threshold_is_the_quantile_of_correct_predictions_only() -> None:
    classes = ["a", "b"]
    top = [0.9, 0.8, 0.7, 0.6, 0.55]  # correct predictions' top probabilities
    wrong = [0.99, 0.98, 0.51]  # confident and unsure mistakes: never part of the threshold
    probabilities = np.array([[p, 1 - p] for p in top + wrong])
    y_true = ["a"] * len(top) + ["b"] * len(wrong)
    expected = float(np.quantile(top, 0.25))
    assert precision_threshold(probabilities, y_true, classes) == pytest.approx(expected)
    assert precision_threshold(probabilities, y_true, classes, quantile=0.5) == 0.7
    assert precision_threshold(probabilities[5:], y_true[5:], classes) == 0.0  # none correct


def test_apply_threshold_keeps_predictions_at_the_threshold() -> None:
    probabilities = np.array([[0.6, 0.4], [0.59, 0.41], [0.2, 0.8]])
    assert apply_threshold(probabilities, ["a", "b"], 0.6).tolist() == ["a", "other", "b"]
    assert apply_threshold(probabilities, ["a", "b"], 0.6, other="?").tolist()[1] == "?"


def test_classification_metrics_score_unpredicted_classes_zero_quietly() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # zero division is expected here, never a warning
        metrics = classification_metrics(["a", "a", "b", "c"], ["a"] * 4, ["c", "a", "b"])
    assert metrics.rows == 4
    assert metrics.per_class["b"] == ClassScores(0.0, 0.0, 0.0, 1)
    assert metrics.per_class["a"] == ClassScores(0.5, 1.0, pytest.approx(2 / 3), 2)
    # Weighted by support: precision 2/4 * 0.5, recall 2/4 * 1.0, F1 2/4 * 2/3.
    assert (metrics.precision, metrics.recall) == (0.25, 0.5)
    assert metrics.f1 == pytest.approx(1 / 3)
    assert metrics.confusion.labels == ("c", "a", "b")  # in the order given
    assert metrics.confusion.matrix == ((0, 1, 0), (0, 2, 0), (0, 1, 0))


def test_short_text_is_fewer_than_eight_clean_words_and_empty_slices_have_no_scores() -> None:
    frame = pd.DataFrame(
        {
            "title": ["alpha beta gamma delta", "alpha beta gamma delta"],
            "description": ["epsilon zeta eta", "epsilon zeta eta theta"],
            "tag": ["mlops", "mlops"],
        }
    )
    assert short_text(frame).tolist() == [True, False]  # 7 words, 8 words
    reindexed = frame.set_axis([10, 11])
    assert short_text(reindexed).index.tolist() == [10, 11]  # aligned with the frame
    scores = slice_metrics(frame, ["mlops", "other"], ["mlops", "other"])
    assert scores["short_text"] == SliceScores(1, 1.0, 1.0, 1.0)
    assert scores["nlp_cnn"] == SliceScores(0, None, None, None)


# --- which rows count: as_of, training cutoff, holdout --------------------------------------


def test_as_of_includes_its_own_instant_and_tags_follow_their_projects() -> None:
    projects = pd.DataFrame(
        {"id": [1, 2, 3], "created_on": pd.to_datetime(["2020-01-01", "2020-01-02", "2020-01-03"])}
    )
    tags = pd.DataFrame({"id": [1, 2, 3], "tag": ["a", "b", "c"]})
    visible = visible_as_of(projects, parse_as_of("2020-01-02"))
    assert visible["id"].tolist() == [1, 2]
    assert tags_visible_as_of(tags, visible)["id"].tolist() == [1, 2]
    assert len(visible_as_of(projects, None)) == 3
    assert parse_as_of("") is None
    with pytest.raises(ValueError, match=r"MLPLATFORM_SOURCE_AS_OF='soon' is not a timestamp"):
        parse_as_of("soon")


def test_rows_at_the_cutoff_were_seen_and_rows_after_it_are_new() -> None:
    projects, tags = make_projects_and_tags(rows=60, freq="1D")
    frame = projects.merge(tags, on="id")
    cutoff = frame["created_on"].iloc[29]
    seen, new = rows_until(frame, cutoff, LabelConfig(test_fraction=0.0)), rows_after(frame, cutoff)
    assert (len(seen), len(new)) == (30, 30)
    assert seen["id"].max() == 30 and new["id"].min() == 31
    # The window counts back from the newest row, exclusively.
    assert len(rows_after(frame, cutoff, window_days=10)) == 10
    # Projects still waiting for a label are new rows too: drift is measured on them at once.
    waiting = frame.assign(tag=frame["tag"].mask(frame["id"] % 2 == 0))
    new = rows_after(waiting, cutoff)
    assert new["id"].tolist() == list(range(31, 61)) and new["tag"].isna().sum() == 15


# --- automation and the defaults a deployment starts with -----------------------------------


def test_new_data_alone_does_not_rerun_evaluation_or_promotion(settings_for, source_dir) -> None:
    defs = build_definitions(settings_for(source_dir))
    instance = DagsterInstance.ephemeral()
    everything = [key.to_user_string() for key in defs.resolve_asset_graph().get_all_asset_keys()]
    report_materialized(instance, defs, *everything)
    cursor = evaluate_automation_conditions(defs=defs, instance=instance).cursor
    downstream = [AssetKey("model_evaluation"), AssetKey("champion_model")]

    report_materialized(instance, defs, "labeled_projects")
    new_data = evaluate_automation_conditions(defs=defs, instance=instance, cursor=cursor)
    assert [new_data.get_num_requested(key) for key in downstream] == [0, 0]
    assert new_data.get_num_requested(AssetKey("drift_report")) == 1

    report_materialized(instance, defs, "drift_report", "trained_model")
    new_model = evaluate_automation_conditions(defs=defs, instance=instance, cursor=new_data.cursor)
    assert new_model.get_num_requested(AssetKey("model_evaluation")) == 1


def test_performance_is_measured_before_any_champion_and_drift_waits_for_one(
    settings_for, source_dir
) -> None:
    defs = build_definitions(settings_for(source_dir))
    instance = DagsterInstance.ephemeral()
    cursor = evaluate_automation_conditions(defs=defs, instance=instance).cursor
    report_materialized(instance, defs, "projects", "tags", "labeled_projects")
    result = evaluate_automation_conditions(defs=defs, instance=instance, cursor=cursor)
    assert result.get_num_requested(AssetKey("champion_performance")) == 1
    assert result.get_num_requested(AssetKey("drift_report")) == 0  # no champion to compare

    report_materialized(instance, defs, "champion_performance")
    measured = evaluate_automation_conditions(defs=defs, instance=instance, cursor=result.cursor)
    assert measured.get_num_requested(AssetKey("champion_performance")) == 0
    report_materialized(instance, defs, "champion_model")
    promoted = evaluate_automation_conditions(defs=defs, instance=instance, cursor=measured.cursor)
    # A new champion does not re-measure past months; the month that waited for a champion to
    # compare with is measured now.
    assert promoted.get_num_requested(AssetKey("champion_performance")) == 0
    assert promoted.get_num_requested(AssetKey("drift_report")) == 1


def test_fresh_when_parents_update_runs_without_a_parent_that_may_be_missing() -> None:
    @asset
    def data() -> None: ...

    @asset
    def model() -> None: ...

    @asset(
        deps=[data, model],
        automation_condition=fresh_when_parents_update(may_be_missing=["model"]),
    )
    def counts() -> None: ...

    @asset(deps=[data, model], automation_condition=fresh_when_parents_update())
    def scores() -> None: ...

    defs = Definitions(assets=[data, model, counts, scores])
    instance = DagsterInstance.ephemeral()
    cursor = evaluate_automation_conditions(defs=defs, instance=instance).cursor
    report_materialized(instance, defs, "data")
    result = evaluate_automation_conditions(defs=defs, instance=instance, cursor=cursor)
    assert [result.get_num_requested(AssetKey(k)) for k in ("counts", "scores")] == [1, 0]


def test_fresh_when_parents_update_waits_for_checks_and_ignores_what_it_is_told() -> None:
    @asset
    def data() -> None: ...

    @asset_check(asset=data, blocking=True)
    def data_valid() -> AssetCheckResult:
        return AssetCheckResult(passed=True)

    @asset
    def model() -> None: ...

    @asset(deps=[data], automation_condition=fresh_when_parents_update())
    def report() -> None: ...

    @asset(deps=[data, model], automation_condition=fresh_when_parents_update(ignore=["data"]))
    def verdict_on_model() -> None: ...

    defs = Definitions(assets=[data, model, report, verdict_on_model], asset_checks=[data_valid])
    instance = DagsterInstance.ephemeral()
    report_materialized(instance, defs, "data", "model", "report", "verdict_on_model")
    cursor = evaluate_automation_conditions(defs=defs, instance=instance).cursor

    def requested(cursor, *changed: str, data_passes: bool = True):
        report_materialized(instance, defs, *changed)
        if "data" in changed and not data_passes:
            report_check(instance, "data", passed=False, name="data_valid")
        result = evaluate_automation_conditions(defs=defs, instance=instance, cursor=cursor)
        counts = [result.get_num_requested(AssetKey(k)) for k in ("report", "verdict_on_model")]
        return counts, result.cursor

    counts, cursor = requested(cursor, "data", data_passes=False)
    assert counts == [0, 0]  # a failed blocking check holds everything downstream
    counts, cursor = requested(cursor, "data")
    assert counts == [1, 0]  # the ignored parent alone moves nothing
    counts, cursor = requested(cursor, "report", "model")
    assert counts == [0, 1]
    assert fresh_when_parents_update().get_label() == "eager, blocking checks passed"


def test_every_sensor_and_schedule_starts_as_documented(settings_for, source_dir) -> None:
    defs = build_definitions(settings_for(source_dir))
    sensors = {s.name: s.default_status for s in defs.sensors}
    schedules = {s.name: s.default_status for s in defs.schedules}
    assert sensors == {
        "source_change_sensor": DefaultSensorStatus.RUNNING,
        "retraining_sensor": DefaultSensorStatus.RUNNING,
        "automation_sensor": DefaultSensorStatus.RUNNING,
        "notify_on_run_failure": DefaultSensorStatus.RUNNING,
    }
    assert schedules == {
        "daily_refresh": DefaultScheduleStatus.STOPPED,
        "daily_prune": DefaultScheduleStatus.RUNNING,
    }


# --- the model IO manager picks the version its run produced --------------------------------


def test_model_io_manager_loads_the_version_of_the_upstream_run(settings_for, source_dir) -> None:
    from mlplatform_tests.support.mlops import register_tagger, registry_for

    registry = registry_for(settings_for(source_dir))
    io_manager = MlflowModelIOManager(registry=registry)
    nothing = (
        r"^no materialization of trained_model records a version of project-tagger: "
        r"materialize trained_model first$"
    )
    with pytest.raises(LookupError, match=nothing):
        io_manager.load_input(build_input_context(upstream_output=build_output_context()))

    projects, tags = make_projects_and_tags(rows=60)
    version = register_tagger(registry, projects.merge(tags, on="id"))
    tagger = registry.load(version).tagger
    for run_id in ("run-a", "run-b", "run-c"):
        with registry.tracking.training_run(run_id, {}) as mlflow_run:
            model = TaggerModel(tagger, mlflow_run, {"produced_by": run_id})
            context = build_output_context(run_id=run_id)
            io_manager.handle_output(context, model)
    metadata = {key: value.value for key, value in context.get_logged_metadata().items()}
    assert metadata == {
        "registered_model": registry.registered_model_name,
        "model_version": "4",
        "mlflow_run_id": mlflow_run,
        "mlflow_run": registry.tracking.run_url(mlflow_run),
    }
    instance = DagsterInstance.ephemeral()

    def load(run_id: str | None, upstream_asset: str | None = "trained_model") -> TaggerModel:
        key = {"asset_key": AssetKey(upstream_asset)} if upstream_asset else {}
        upstream = build_output_context(run_id=run_id, **key)
        return io_manager.load_input(
            build_input_context(upstream_output=upstream, instance=instance)
        )

    with pytest.raises(LookupError, match=nothing):  # nothing materialized: never "the newest"
        load("run-from-elsewhere")
    instance.report_runless_asset_event(AssetMaterialization("trained_model"))
    with pytest.raises(LookupError, match=nothing):  # a materialization that records no version
        load("run-from-elsewhere")
    # trained_model's latest materialization recorded v3; v4 is the newest registered; another
    # asset's newer materialization says nothing about trained_model.
    for materialized, recorded in (("trained_model", "3"), ("another_model", "1")):
        instance.report_runless_asset_event(
            AssetMaterialization(materialized, metadata={"model_version": recorded})
        )

    assert (load("run-b").version, load("run-b").tags["produced_by"]) == ("3", "run-b")
    assert load("run-a").version == "2"
    # Not registered by that run: the version trained_model's materialization recorded.
    assert load("run-from-elsewhere").version == "3"
    with pytest.raises(LookupError, match=nothing):  # no upstream asset to look up
        load("elsewhere", upstream_asset=None)
    with pytest.raises(LookupError, match=nothing):  # no instance
        io_manager.load_input(
            build_input_context(upstream_output=build_output_context(run_id="elsewhere"))
        )
