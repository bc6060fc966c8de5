import numpy as np
import pandas as pd
import pytest

from mlplatform.core.evaluation import (
    apply_threshold,
    nlp_mentioning_cnn,
    precision_threshold,
    short_text,
)
from mlplatform.core.gate import GateConfig, decide
from mlplatform.core.labels import fold_tags
from mlplatform.core.model import CLASSIFIERS, build_pipeline
from mlplatform.core.scores import ClassScores, ConfusionMatrix, Metrics, SliceScores, TaggerScores
from mlplatform.core.sources import data_fingerprint
from mlplatform.core.splits import in_holdout, split_dataset, stratified_sample
from mlplatform.core.text import clean_text, project_text
from mlplatform.core.training import (
    prepare_labeled,
    score_tagger,
    train_tagger,
    training_cutoff,
)
from mlplatform.core.tuning import fit_tagger, tune
from mlplatform.core.tuning_config import TuningConfig
from mlplatform_tests.support.fixtures import make_projects_and_tags


@pytest.fixture(scope="module")
def labeled() -> pd.DataFrame:
    projects, tags = make_projects_and_tags(rows=160, seed=1)
    frame = projects.merge(tags, on="id")
    frame["created_on"] = pd.to_datetime(frame["created_on"])
    return frame


def test_clean_text_follows_the_course() -> None:
    text = "The BEST model, see https://example.com/x!! It's state-of-the-art (CNN)."
    assert clean_text(text) == "best model s state art cnn"


def test_fold_tags_keeps_accepted_and_common_tags() -> None:
    tags = pd.Series(["mlops", "time-series", "computer-vision", "computer-vision"])
    assert fold_tags(tags).tolist() == ["mlops", "other", "computer-vision", "computer-vision"]
    assert fold_tags(tags, accepted=None, min_count=2).tolist() == [
        "other",
        "other",
        "computer-vision",
        "computer-vision",
    ]


def test_holdout_assignment_is_stable_as_data_grows(labeled) -> None:
    small, grown = labeled["id"][:80], labeled["id"]
    assert in_holdout(small, 0.2).tolist() == in_holdout(grown, 0.2)[:80].tolist()
    assert 0.1 < in_holdout(grown, 0.2).mean() < 0.3


def test_split_is_reproducible_and_disjoint(labeled) -> None:
    first, again = split_dataset(labeled, seed=7), split_dataset(labeled, seed=7)
    pd.testing.assert_frame_equal(first.train, again.train)
    ids = [set(part["id"]) for part in (first.train, first.validation, first.test)]
    assert not (ids[0] & ids[1] or ids[0] & ids[2] or ids[1] & ids[2])
    assert sum(map(len, ids)) == len(labeled)
    assert set(first.test["id"]) == set(labeled["id"][in_holdout(labeled["id"], 0.2)])


@pytest.mark.parametrize("classifier", CLASSIFIERS)
def test_every_classifier_family_gives_probabilities(labeled, classifier) -> None:
    params = {"classifier": classifier, "C": 1.0, "alpha": 1e-4, "features": "word"}
    model = build_pipeline(params, seed=0).fit(project_text(labeled), labeled["tag"])
    probabilities = model.predict_proba(project_text(labeled[:5]))
    assert probabilities.shape == (5, labeled["tag"].nunique())
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0)


def test_tuning_is_seeded_and_its_budget_is_the_studys(labeled, tmp_path) -> None:
    texts, labels = project_text(labeled), labeled["tag"]
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    config = TuningConfig(
        n_trials=4, cv_folds=3, seed=3, storage=storage, study_name="a", timeout_seconds=None
    )
    first = tune(texts, labels, config)
    again = tune(texts, labels, TuningConfig(**{**config.__dict__, "study_name": "b"}))
    assert [t.params for t in first.trials] == [t.params for t in again.trials]
    # Same study: a finished budget adds nothing; a larger one (or a killed run) continues it.
    assert len(tune(texts, labels, config).trials) == 4
    grown = tune(texts, labels, TuningConfig(**{**config.__dict__, "n_trials": 6}))
    assert [t.number for t in grown.trials] == list(range(6))
    assert grown.trials[:4] == first.trials


def test_parallel_tuning_needs_a_shared_storage(labeled) -> None:
    config = TuningConfig(n_trials=2, workers=2, storage=None)
    with pytest.raises(ValueError, match=r"workers=2.*needs a storage"):
        tune(project_text(labeled), labeled["tag"], config)


def test_precision_mode_answers_other_when_unsure() -> None:
    probabilities = np.array([[0.9, 0.1], [0.55, 0.45], [0.2, 0.8]])
    threshold = precision_threshold(probabilities, ["a", "a", "b"], ["a", "b"], quantile=0.0)
    assert threshold == pytest.approx(0.55)
    assert apply_threshold(probabilities, ["a", "b"], 0.6).tolist() == ["a", "other", "b"]


def test_slices_select_the_documented_rows() -> None:
    frame = pd.DataFrame(
        {
            "title": ["Short one", "Text CNN", "Image CNN"],
            "description": [
                "",
                "A convolutional network classifying sentences, words and long legal documents",
                "Residual convolutional network detecting objects in aerial satellite pictures",
            ],
            "tag": ["mlops", "natural-language-processing", "computer-vision"],
        }
    )
    assert short_text(frame).tolist() == [True, False, False]
    assert nlp_mentioning_cnn(frame).tolist() == [False, True, False]


def _evaluation(f1: float, class_f1: float = 0.9, slice_f1: float = 0.9) -> TaggerScores:
    overall = Metrics(
        rows=10,
        precision=f1,
        recall=f1,
        f1=f1,
        per_class={"mlops": ClassScores(class_f1, class_f1, class_f1, 10)},
        confusion=ConfusionMatrix(("mlops",), ((10,),)),
    )
    return TaggerScores(overall, overall, {"short_text": SliceScores(10, 0.9, 0.9, slice_f1)})


@pytest.mark.parametrize(
    ("challenger", "champion", "promote"),
    [
        (_evaluation(0.80), None, True),
        (_evaluation(0.40), None, False),
        (_evaluation(0.90), _evaluation(0.85), True),
        (_evaluation(0.845), _evaluation(0.85), True),  # within tolerance
        (_evaluation(0.80), _evaluation(0.85), False),
        (_evaluation(0.90, class_f1=0.5), _evaluation(0.85), False),  # a class collapsed
        (_evaluation(0.90, slice_f1=0.5), _evaluation(0.85), False),  # a slice collapsed
    ],
)
def test_gate(challenger, champion, promote) -> None:
    decision = decide(challenger, champion, GateConfig(f1_tolerance=0.01))
    assert decision.promote is promote
    assert decision.reasons


def test_training_records_fingerprint_and_scores(labeled) -> None:
    outcome = train_tagger(labeled, TuningConfig(n_trials=3, cv_folds=3, timeout_seconds=None))
    assert outcome.test is not None and outcome.test.overall.f1 > 0.8
    assert 0 < outcome.tagger.threshold < 1
    assert set(outcome.tagger.classes) == set(prepare_labeled(labeled)["tag"])
    scores = score_tagger(outcome.tagger, prepare_labeled(labeled))
    assert set(scores.slices) == {"short_text", "nlp_cnn"}
    assert scores.overall.rows == scores.precision_mode.rows == len(prepare_labeled(labeled))
    changed = labeled.copy()
    changed.loc[0, "title"] = "changed"
    assert data_fingerprint(labeled) == data_fingerprint(labeled.sample(frac=1, random_state=1))
    assert data_fingerprint(labeled) != data_fingerprint(changed)
    assert training_cutoff(labeled) == labeled["created_on"].max().isoformat()


def test_rows_after_cutoff_keep_only_the_newest_window(labeled) -> None:
    from mlplatform.core.training import rows_after

    cutoff = labeled["created_on"].sort_values().iloc[40].isoformat()
    unseen = rows_after(labeled, cutoff)
    assert len(unseen) == 119
    newest = rows_after(labeled, cutoff, window_days=30)
    assert newest["created_on"].min() > labeled["created_on"].max() - pd.Timedelta(days=30)
    assert 0 < len(newest) < len(unseen)
    assert rows_after(labeled, None).empty


def test_tuning_sample_keeps_each_tags_share_and_is_a_no_op_below_its_size() -> None:
    frame = pd.DataFrame({"id": range(1000), "tag": ["a"] * 900 + ["b"] * 99 + ["c"]})
    sample = stratified_sample(frame, 100, seed=0)
    assert sample["tag"].value_counts().to_dict() == {"a": 90, "b": 10, "c": 1}
    assert sample["id"].is_unique and sample["id"].is_monotonic_increasing  # rows keep their order
    pd.testing.assert_frame_equal(sample, stratified_sample(frame, 100, seed=0))  # reproducible
    assert stratified_sample(frame, 1000, seed=0) is frame
    assert stratified_sample(frame, None, seed=0) is frame


def test_a_capped_vocabulary_keeps_the_most_frequent_ngrams_and_saves_compactly(
    monkeypatch,
) -> None:
    import skops.io

    import mlplatform.core.model as model

    texts = [f"image pixels detection unique{i} words{i}" for i in range(60)]
    texts += [f"text language transformer unique{i} tokens{i}" for i in range(60)]
    labels = ["computer-vision"] * 60 + ["natural-language-processing"] * 60
    params = {"embeddings": False, "classifier": "logistic_regression"}
    whole = fit_tagger(texts, labels, params, seed=0)
    monkeypatch.setattr(model, "VOCABULARY_CAP", 20)
    capped = fit_tagger(texts, labels, params, seed=0)
    vocabulary = capped.named_steps["features"].named_steps["tfidf"].vocabulary_
    assert len(vocabulary) == 20
    # The frequent n-grams stay (in all 60 texts of a tag); the rarest (in one text) never get
    # in. Which of the 60 `uniqueN` (in two texts) fill the rest is a tie sklearn breaks.
    assert {"image", "pixels", "detection", "text", "language", "transformer"} <= set(vocabulary)
    assert not [term for term in vocabulary if term.startswith(("words", "tokens"))]

    expected = whole.predict_proba(texts)
    mapping_bytes = len(skops.io.dumps(whole))
    saved = skops.io.dumps(model.compact_vocabularies(whole))
    assert len(saved) < mapping_bytes / 3
    loaded = skops.io.loads(saved, trusted=skops.io.get_untrusted_types(data=saved))
    np.testing.assert_array_equal(loaded.predict_proba(texts), expected)
