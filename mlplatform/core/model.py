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

from mlplatform.core.text import clean_texts

FEATURES = ("word", "char_wb", "char", "word+char_wb")
CLASSIFIERS = ("sgd", "logistic_regression", "linear_svc")
CALIBRATION_FOLDS = 3  # the linear SVC's probabilities: so each class needs this many rows

DEFAULT_PARAMS: dict[str, Any] = {
    "features": "word+char_wb",
    "word_ngram_max": 2,
    "char_ngram_min": 2,
    "char_ngram_max": 5,
    "min_df": 1,
    "sublinear_tf": True,
    "classifier": "linear_svc",
    "C": 0.5,
    "class_weight": "balanced",
}


def build_pipeline(params: Mapping[str, Any] | None, seed: int) -> Pipeline:
    """Cleaning → TF-IDF features → a linear classifier with `predict_proba`."""
    params = {**DEFAULT_PARAMS, **(params or {})}
    return Pipeline(
        [
            ("clean", FunctionTransformer(clean_texts)),
            ("features", _features(params)),
            ("classifier", _classifier(params, seed)),
        ]
    )


def _features(params: Mapping[str, Any]) -> TfidfVectorizer | FeatureUnion:
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
