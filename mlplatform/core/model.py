"""The tagger: a scikit-learn pipeline from raw text to class probabilities."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from sklearn.base import ClassifierMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.svm import LinearSVC

from mlplatform.core.embeddings import SentenceEmbeddings
from mlplatform.core.text import clean_texts

FEATURES = ("word", "char_wb", "char", "word+char_wb")
CLASSIFIERS = ("sgd", "logistic_regression", "linear_svc")
# The n-grams each TF-IDF vectorizer keeps (the most frequent). Above the real data's vocabularies
# (11 000 word and 68 000 char n-grams), so a no-op there; at 100x history an uncapped vocabulary
# held 542 000 n-grams and made a 500 MB model.
VOCABULARY_CAP = 100_000
CALIBRATION_FOLDS = 3  # the linear SVC's probabilities: so each class needs this many rows
# Types in our pipelines beyond those skops trusts by default: a saved tagger loads only with them
# trusted. Stated rather than read off a dump of each model (a dump at 100x takes ~24 s).
SKOPS_TRUSTED_TYPES = (
    "mlplatform.core.embeddings.SentenceEmbeddings",
    "mlplatform.core.project_tagger.ProjectTagger",
    "mlplatform.core.text.clean_texts",
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
)

# Chosen by forward-chaining cross-validation on dataset_2023.csv alone
# (bench/default_selection.py).
DEFAULT_PARAMS: dict[str, Any] = {
    "features": "word",
    "embeddings": True,
    "word_ngram_max": 2,
    "char_ngram_min": 2,
    "char_ngram_max": 5,
    "min_df": 1,
    "sublinear_tf": True,
    "classifier": "linear_svc",
    "C": 1.0,
    "class_weight": "balanced",
}


def build_pipeline(params: Mapping[str, Any] | None, seed: int) -> Pipeline:
    """TF-IDF of the cleaned text (with the raw text's MiniLM sentence embedding beside it when
    `embeddings`) → a linear classifier with `predict_proba`."""
    params = {**DEFAULT_PARAMS, **(params or {})}
    tfidf = Pipeline([("clean", FunctionTransformer(clean_texts)), ("tfidf", _tfidf(params))])
    features = (
        FeatureUnion([("tfidf", tfidf), ("embeddings", SentenceEmbeddings())])
        if params["embeddings"]
        else tfidf
    )
    return Pipeline([("features", features), ("classifier", _classifier(params, seed))])


def _tfidf(params: Mapping[str, Any]) -> TfidfVectorizer | FeatureUnion:
    def vectorizer(analyzer: str) -> TfidfVectorizer:
        if analyzer == "word":
            ngrams = (1, params["word_ngram_max"])
        else:
            ngrams = (params["char_ngram_min"], params["char_ngram_max"])
        return TfidfVectorizer(
            analyzer=analyzer,
            ngram_range=ngrams,
            min_df=params["min_df"],
            sublinear_tf=params["sublinear_tf"],
            max_features=VOCABULARY_CAP,
            dtype=np.float64,
        )

    features = params["features"]
    if "+" not in features:
        return vectorizer(features)
    return FeatureUnion([(analyzer, vectorizer(analyzer)) for analyzer in features.split("+")])


def _classifier(params: Mapping[str, Any], seed: int) -> ClassifierMixin:
    kind, class_weight = params["classifier"], params["class_weight"]
    if kind == "sgd":
        return SGDClassifier(
            loss="log_loss",
            alpha=params["alpha"],
            penalty="l2",
            class_weight=class_weight,
            max_iter=50,
            tol=None,
            random_state=seed,
        )
    if kind == "logistic_regression":
        return LogisticRegression(C=params["C"], class_weight=class_weight, max_iter=2000)
    if kind == "linear_svc":
        return CalibratedClassifierCV(
            LinearSVC(C=params["C"], class_weight=class_weight, random_state=seed),
            cv=CALIBRATION_FOLDS,
        )
    raise ValueError(f"unknown classifier {kind!r}: expected one of {CLASSIFIERS}")


def compact_vocabularies(pipeline: Pipeline) -> Pipeline:
    """`pipeline` with each fitted vocabulary held as an array of its terms (the vectorizer's
    `vocabulary` parameter; scikit-learn rebuilds the mapping on first use). skops writes a
    mapping as indented JSON, ~1 KB per n-gram; an array is a few bytes per character."""
    for step in pipeline.get_params(deep=True).values():
        if isinstance(step, TfidfVectorizer) and hasattr(step, "vocabulary_"):
            terms = sorted(step.vocabulary_, key=step.vocabulary_.__getitem__)
            step.vocabulary = np.array(terms, dtype=str)
            del step.vocabulary_
    return pipeline
