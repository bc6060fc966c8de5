"""Time-aware model selection: forward-chaining folds, the newest rows for validation, and a
tuned configuration that must beat the default beyond noise."""

from dataclasses import replace

import numpy as np
import optuna
import pandas as pd
import pytest
from sklearn.pipeline import FeatureUnion

from mlplatform.core.model import DEFAULT_PARAMS
from mlplatform.core.splits import forward_chaining_folds, in_holdout, split_dataset
from mlplatform.core.text import project_text
from mlplatform.core.training import prepare_labeled, train_tagger
from mlplatform.core.tuning import FALLBACK_CLASSIFIER, chosen_trial, tune, validation_folds
from mlplatform.core.tuning_config import TuningConfig
from mlplatform_tests.support.fixtures import make_projects_and_tags


@pytest.fixture(scope="module")
def labeled() -> pd.DataFrame:
    projects, tags = make_projects_and_tags(rows=400, seed=2)
    frame = projects.merge(tags, on="id")
    frame["created_on"] = pd.to_datetime(frame["created_on"])
    # Rows in no particular order, as a warehouse returns them.
    return frame.sample(frac=1, random_state=0).reset_index(drop=True)


def random_dates(rows: int, seed: int) -> pd.Series:
    rng = np.random.default_rng(seed)
    seconds = rng.integers(0, 200 * 86_400, size=rows)
    seconds[:10] = seconds[10]  # some rows share a timestamp
    return pd.Series(pd.Timestamp("2020-02-01") + pd.to_timedelta(seconds, unit="s"))


@pytest.mark.parametrize("seed", range(5))
def test_forward_chaining_folds_never_fit_on_a_row_newer_than_one_they_score(seed) -> None:
    dates = random_dates(300, seed)
    folds = forward_chaining_folds(dates, folds=5)
    assert len(folds) == 5
    scored = np.concatenate([score for _, score in folds])
    assert len(scored) == len(set(scored)) == 150  # disjoint blocks: the newest half
    assert dates[scored].min() >= dates.drop(scored).max()
    for previous, (fit, score) in zip([None, *folds], folds, strict=False):
        assert dates[fit].max() <= dates[score].min()
        assert len(set(fit) & set(score)) == 0
        if previous is not None:  # each fold fits on everything the one before saw and scored
            assert set(previous[0]) | set(previous[1]) == set(fit)
    again = forward_chaining_folds(dates, folds=5)
    assert all(
        np.array_equal(a, b)
        for fold, other in zip(folds, again, strict=True)
        for a, b in zip(fold, other, strict=True)
    )


def test_time_aware_split_validates_on_the_newest_rows_and_keeps_the_holdout(labeled) -> None:
    splits = split_dataset(labeled, seed=0)
    assert splits.validation["created_on"].min() >= splits.train["created_on"].max()
    assert len(splits.validation) == round(0.15 * (len(splits.train) + len(splits.validation)))
    shuffled = split_dataset(labeled, seed=0, time_aware=False)
    assert set(shuffled.test["id"]) == set(splits.test["id"])
    assert set(splits.test["id"]) == set(labeled["id"][in_holdout(labeled["id"], 0.2)])
    assert shuffled.validation["created_on"].min() < shuffled.train["created_on"].max()
    undated = split_dataset(labeled.drop(columns="created_on"), seed=0)
    assert set(undated.validation["id"]) == set(shuffled.validation["id"])


def test_validation_folds_respect_time_only_where_rows_have_dates(labeled) -> None:
    labels = labeled["tag"].to_numpy(dtype=object)
    dates = labeled["created_on"].to_numpy()
    kind, folds = validation_folds(labels, dates, TuningConfig(cv_folds=4))
    assert kind == "forward-chaining" and len(folds) == 4
    assert all(dates[fit].max() <= dates[score].min() for fit, score in folds)
    assert validation_folds(labels, None, TuningConfig())[0] == "stratified"
    assert validation_folds(labels, dates, TuningConfig(time_aware=False))[0] == "stratified"
    with_gap = dates.copy()
    with_gap[0] = np.datetime64("NaT")
    assert validation_folds(labels, with_gap, TuningConfig())[0] == "stratified"
    # The newest half of 100 rows is too few for two blocks of 30: F1 on them is mostly noise.
    assert validation_folds(labels[:100], dates[:100], TuningConfig())[0] == "stratified"
    assert len(validation_folds(labels[:120], dates[:120], TuningConfig())[1]) == 2


def test_a_class_too_rare_to_calibrate_is_left_out_of_that_folds_fit(labeled) -> None:
    labels = labeled["tag"].to_numpy(dtype=object).copy()
    dates = labeled["created_on"].to_numpy()
    oldest = np.argsort(dates)
    labels[oldest[:2]] = "new-tag"  # only two rows, both in the first fold's fit rows
    _, folds = validation_folds(labels, dates, TuningConfig(cv_folds=4))
    first_fit, _ = folds[0]
    assert "new-tag" not in set(labels[first_fit])
    assert len(first_fit) == len(labels) - 4 * int(len(labels) * 0.5 / 4) - 2


def test_a_default_that_cannot_fit_is_followed_by_its_logistic_fallback(labeled) -> None:
    """A tag seen once: the calibrated SVM of the default fails on every fold, and the next
    trial is the same features with logistic regression, whatever the sampler would pick."""
    frame = labeled.drop(columns="created_on").copy()
    frame.loc[0, "tag"] = "new-tag"
    config = TuningConfig(n_trials=2, cv_folds=3, study_name="fallback")
    result = tune(project_text(frame), frame["tag"], config)
    default, fallback = result.trials
    assert default.state == "FAIL" and default.params["classifier"] == "linear_svc"
    assert fallback.state == "COMPLETE"
    assert fallback.params == {**default.params, **FALLBACK_CLASSIFIER}
    assert result.chosen_params["classifier"] == "logistic_regression"


def _trial(number: int, folds: list[float], default: bool = False) -> optuna.trial.FrozenTrial:
    return optuna.trial.create_trial(
        params={"C": float(number + 1)},
        distributions={"C": optuna.distributions.FloatDistribution(0.1, 100)},
        value=float(np.mean(folds)),
        user_attrs={"fold_f1": folds, "default": default},
    )


def test_the_default_stays_unless_the_best_beats_it_beyond_noise() -> None:
    default = _trial(0, [0.80, 0.82, 0.84, 0.86, 0.88], default=True)
    lucky = _trial(1, [0.90, 0.80, 0.86, 0.84, 0.90])  # +0.02 on average, -0.02..+0.10 per fold
    steady = _trial(2, [0.83, 0.85, 0.87, 0.89, 0.91])  # +0.03 on every fold
    worse = _trial(3, [0.70, 0.70, 0.70, 0.70, 0.70])
    assert chosen_trial([default, lucky, worse], 1.0) is default
    assert chosen_trial([default, lucky, worse], 0.5) is lucky  # a lower bar lets luck through
    assert chosen_trial([default, lucky, steady], 2.0) is steady
    assert chosen_trial([lucky, worse], 2.0) is lucky  # no default trial: the best one
    with pytest.raises(ValueError, match="no tuning trial completed"):
        chosen_trial([], 2.0)


def test_tuning_starts_from_the_default_and_spends_exactly_its_trial_count(labeled) -> None:
    config = TuningConfig(n_trials=5, cv_folds=3, study_name="count")
    assert config.timeout_seconds is None  # the budget is the count
    result = tune(project_text(labeled), labeled["tag"], config, created_on=labeled["created_on"])
    assert len(result.trials) == 5 and result.folds == "forward-chaining"
    assert result.trials[0].params == {
        k: v for k, v in DEFAULT_PARAMS.items() if k in result.trials[0].params
    }
    assert all(len(trial.fold_f1) == 3 for trial in result.trials if trial.state == "COMPLETE")
    assert result.chosen_value <= result.best_value


def test_training_selects_on_newer_rows_where_the_data_has_dates(labeled) -> None:
    outcome = train_tagger(labeled, TuningConfig(n_trials=3, cv_folds=3))
    assert outcome.tuning.folds == "forward-chaining"
    undated = train_tagger(labeled.drop(columns="created_on"), TuningConfig(n_trials=3, cv_folds=3))
    assert undated.tuning.folds == "stratified"


def test_sentence_embeddings_leave_the_search_above_their_row_bound(labeled) -> None:
    rows = len(prepare_labeled(labeled))
    above = TuningConfig(n_trials=3, cv_folds=3, embedding_max_rows=rows - 1)
    outcome = train_tagger(labeled, above)
    assert outcome.tuning.chosen_params["embeddings"] is False
    assert all("embeddings" not in trial.params for trial in outcome.tuning.trials)
    assert not isinstance(outcome.tagger.estimator.named_steps["features"], FeatureUnion)
    at_bound = train_tagger(labeled, replace(above, embedding_max_rows=rows))
    assert at_bound.tuning.trials[0].params["embeddings"] is True  # the default has them
    if at_bound.tuning.kept_default:
        assert isinstance(at_bound.tagger.estimator.named_steps["features"], FeatureUnion)
