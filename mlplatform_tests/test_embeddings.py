"""The NumPy MiniLM encoder against sentence-transformers' own output, its cache, and the
pipeline step that carries it into a saved model."""

import json
from pathlib import Path

import numpy as np
import pytest
import skops.io

from mlplatform.core.embeddings import MAX_TOKENS, SentenceEmbeddings, sentence_encoder
from mlplatform.core.model import CLASSIFIERS, SKOPS_TRUSTED_TYPES, build_pipeline
from mlplatform.core.project_tagger import ProjectTagger

# Written by sentence-transformers with torch (which this project does not install); how, in the
# file's `produced_by`.
REFERENCE = Path(__file__).parent / "references" / "minilm_embeddings.json"


def test_encoder_matches_sentence_transformers():
    reference = json.loads(REFERENCE.read_text())
    expected = np.array(reference["embeddings"])
    actual = sentence_encoder().encode(reference["texts"])
    assert actual.shape == expected.shape == (len(reference["texts"]), 384)
    # The texts include an empty one, non-ASCII and one longer than MAX_TOKENS (truncated alike).
    assert np.abs(actual - expected).max() < 1e-5
    assert np.allclose(np.linalg.norm(actual, axis=1), 1.0, atol=1e-5)


def test_long_text_is_truncated_not_refused():
    encoder = sentence_encoder()
    words = "gradient boosting for tabular data " * 200
    assert len(encoder.tokenizer.encode(words).ids) == MAX_TOKENS
    longer = encoder.encode([words, words + " and even more words at the end"])
    # Beyond MAX_TOKENS nothing is read, so both texts have the same embedding.
    assert np.abs(longer[0] - longer[1]).max() < 1e-5


def test_cache_returns_rows_in_order_with_duplicates():
    encoder = sentence_encoder()
    texts = ["graph neural networks", "object detection", "graph neural networks"]
    first = encoder.encode(texts)
    assert np.allclose(first[0], first[2])
    assert not np.allclose(first[0], first[1])
    again = encoder.encode(list(reversed(texts)))
    assert np.array_equal(again, first[::-1])
    # Encoded alone or in a batch of different lengths (other padding), the same vector.
    alone = encoder.encode(["object detection"])
    assert np.abs(alone[0] - first[1]).max() < 1e-5
    assert encoder.encode([]).shape == (0, 384)


def test_pipeline_step_scales_and_needs_no_fit():
    step = SentenceEmbeddings(weight=2.0)
    texts = np.array(["speech recognition", "image segmentation"], dtype=object)
    assert np.allclose(step.transform(texts), 2.0 * sentence_encoder().encode(texts))
    assert step.fit(texts) is step


@pytest.mark.parametrize("embeddings", [True, False])
def test_every_pipeline_loads_with_the_stated_trusted_types(embeddings):
    """The registry trusts SKOPS_TRUSTED_TYPES instead of reading each model's dump: every
    family of the search space must need no other type."""
    texts = np.array(
        [f"{topic} project {i}" for i in range(4) for topic in ("vision", "language", "ops")],
        dtype=object,
    )
    labels = np.array([tag for _ in range(4) for tag in ("cv", "nlp", "mlops")], dtype=object)
    for classifier in CLASSIFIERS:
        params = {"classifier": classifier, "embeddings": embeddings, "alpha": 1e-4, "C": 1.0}
        for features in ("word", "char", "word+char_wb"):
            model = build_pipeline({**params, "features": features}, seed=0).fit(texts, labels)
            dump = skops.io.dumps(ProjectTagger(model, threshold=0.5))  # what is registered
            assert set(skops.io.get_untrusted_types(data=dump)) <= set(SKOPS_TRUSTED_TYPES)
            loaded = skops.io.loads(dump, trusted=list(SKOPS_TRUSTED_TYPES)).pipeline
            assert np.allclose(loaded.predict_proba(texts), model.predict_proba(texts))
