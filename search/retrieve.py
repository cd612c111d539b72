"""Candidate retrieval over chunks: dense (the index's vector store), BM25 (bm25s), and their fusion."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from askdocs.index.lexical import bm25_scores
from askdocs.index.store import StoredIndex
from askdocs.index.vectors import Selection, top_rows

from .tracing import span


@dataclass(frozen=True)
class FusionSettings:
    method: str = "zscore"  # zscore | minmax | rrf
    dense_weight: float = 0.5
    rrf_k: int = 60
    candidates: int = 100


@dataclass
class Ranked:
    rows: np.ndarray  # chunk rows, best first
    scores: np.ndarray  # the mode's own score for each row
    dense: np.ndarray  # cosine of each row to the question, whatever the mode


def dense_cosines(stored: StoredIndex, query_vector: np.ndarray, rows: np.ndarray) -> np.ndarray:
    if len(rows) == 0:
        return np.zeros(0, np.float32)
    return stored.vectors.get(rows.astype(np.int64)) @ query_vector


def dense(stored: StoredIndex, query_vector: np.ndarray, k: int, only: Selection | None = None) -> Ranked:
    """Top-k by cosine (vectors are normalised, so inner product), restricted to ``only`` if given.

    Exact on a flat index; approximate on an IVF index (``search.filters`` says what a filter keeps exact there).
    """
    hits = stored.vectors.search(query_vector.reshape(1, -1), k, only)[0]
    return Ranked(hits.ids, hits.scores, hits.scores)


def _lexical(stored: StoredIndex, query_tokens: list[str], only: Selection | None) -> np.ndarray:
    scores = bm25_scores(stored.bm25, query_tokens)
    if only is not None:
        scores = np.where(only.mask, scores, 0.0)
    return scores


def bm25(stored: StoredIndex, query_vector: np.ndarray, query_tokens: list[str], k: int,
         only: Selection | None = None) -> Ranked:
    scores = _lexical(stored, query_tokens, only)
    rows = _lexical_hits(scores, k)
    return Ranked(rows, scores[rows], dense_cosines(stored, query_vector, rows))


def _lexical_hits(scores: np.ndarray, k: int) -> np.ndarray:
    """The k best-scored chunks that share a word with the question (a chunk with score 0 is not a BM25 hit).

    Ranked among the non-zero scores only: most chunks share no word with a question, and partitioning every
    chunk's score cost more than finding the non-zero ones. The ties go to the lower row as in ``top_rows``."""
    hits = np.flatnonzero(scores > 0)
    return hits[top_rows(scores[hits], k)]


def hybrid(stored: StoredIndex, query_vector: np.ndarray, query_tokens: list[str], k: int,
           fusion: FusionSettings, only: Selection | None = None) -> Ranked:
    """Mix dense and BM25 over the union of both candidate lists, each score normalised per question."""
    n = max(k, fusion.candidates)
    dense_hits = dense(stored, query_vector, n, only)
    lexical_all = _lexical(stored, query_tokens, only)
    lexical_rows = _lexical_hits(lexical_all, n)
    pool = np.union1d(dense_hits.rows, lexical_rows)
    if len(pool) == 0:
        return dense_hits
    with span("fuse", method=fusion.method, candidates=len(pool)):
        cosine = dense_cosines(stored, query_vector, pool)
        lexical = lexical_all[pool]
        w = fusion.dense_weight
        if fusion.method == "rrf":
            fused = w * _rrf(cosine, fusion.rrf_k) + (1 - w) * (_rrf(lexical, fusion.rrf_k) if lexical.any() else 0)
        else:
            normalise = _zscore if fusion.method == "zscore" else _minmax
            fused = w * normalise(cosine) + (1 - w) * normalise(lexical)
        order = np.lexsort((pool, -fused))[:k]
        return Ranked(pool[order], fused[order], cosine[order])


def _zscore(scores: np.ndarray) -> np.ndarray:
    std = scores.std()
    return (scores - scores.mean()) / std if std > 1e-9 else np.zeros_like(scores)


def _minmax(scores: np.ndarray) -> np.ndarray:
    spread = scores.max() - scores.min()
    return (scores - scores.min()) / spread if spread > 1e-9 else np.zeros_like(scores)


def _rrf(scores: np.ndarray, k: int) -> np.ndarray:
    ranks = np.empty(len(scores))
    ranks[np.argsort(-scores, kind="stable")] = np.arange(1, len(scores) + 1)
    return 1.0 / (k + ranks)
