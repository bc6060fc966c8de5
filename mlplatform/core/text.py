"""The course's text preparation: title + description, lowercased, without stopwords or URLs."""

from __future__ import annotations

import re
from collections.abc import Iterable

import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

# scikit-learn's list stands in for NLTK's, which needs a download at run time.
STOPWORDS: frozenset[str] = frozenset(ENGLISH_STOP_WORDS)

_URL = re.compile(r"https?://\S+|www\.\S+")
_NON_ALPHANUMERIC = re.compile(r"[^a-z0-9]+")


def clean_text(text: str, stopwords: Iterable[str] = STOPWORDS) -> str:
    """Lowercase, drop URLs, turn punctuation into spaces and remove stopwords."""
    stopwords = stopwords if isinstance(stopwords, (set, frozenset)) else set(stopwords)
    text = _URL.sub(" ", str(text).lower())
    words = _NON_ALPHANUMERIC.sub(" ", text).split()
    return " ".join(word for word in words if word not in stopwords)


def one_project_text(title: str, description: str) -> str:
    """`project_text` of one project, without a frame (a request's path)."""
    return f"{title} {description}"


def project_text(frame: pd.DataFrame) -> pd.Series:
    """The model's input: title + " " + description (missing parts count as empty)."""
    return frame["title"].fillna("").astype(str) + " " + frame["description"].fillna("").astype(str)


def clean_texts(texts: Iterable[str]) -> np.ndarray:
    """Vectorised `clean_text`, usable as the first step of a scikit-learn pipeline."""
    return np.array([clean_text(text) for text in np.asarray(texts, dtype=object).ravel()])
