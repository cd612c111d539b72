"""Candidate retrieval over chunks: dense (FAISS), BM25 (bm25s), and their fusion."""

from __future__ import annotations

from dataclasses import dataclass

import faiss
import numpy as np

from index.lexical import bm25_scores
from index.store import StoredIndex

from .filters import DIRECT_SCORING_LIMIT, ChunkFilter, document_selection
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


def _top(scores: np.ndarray, k: int) -> np.ndarray:
    """Rows of the k highest scores, best first; equal scores go to the lower row, so results never wobble."""
    k = min(k, len(scores))
    if k <= 0:
        return np.zeros(0, np.int64)
    if k < len(scores):
        kth = np.partition(scores, len(scores) - k)[len(scores) - k]
        above = np.flatnonzero(scores > kth)
        top = np.concatenate([above, np.flatnonzero(scores == kth)[: k - len(above)]])
    else:
        top = np.arange(len(scores))
    return top[np.lexsort((top, -scores[top]))]


def dense_cosines(stored: StoredIndex, query_vector: np.ndarray, rows: np.ndarray) -> np.ndarray:
    if len(rows) == 0:
        return np.zeros(0, np.float32)
    vectors = stored.vectors.reconstruct_batch(rows.astype(np.int64))
    return vectors @ query_vector


def dense(stored: StoredIndex, query_vector: np.ndarray, k: int, only: ChunkFilter | None = None) -> Ranked:
    """Top-k by cosine (vectors are normalised, so inner product), restricted to ``only`` if given.

    Exact on a flat index; on an IVF index the ``stored.nprobe`` nearest lists are searched (see
    ``search.filters`` for what a filter keeps exact there).
    """
    k = min(k, stored.n_chunks if only is None else only.count)
    if k <= 0:
        empty = np.zeros(0, np.float32)
        return Ranked(np.zeros(0, np.int64), empty, empty)
    top_k = getattr(stored.vectors, "top_k", None)
    if top_k is not None:
        # Vectors in Milvus (index/milvus_store.py): the filter travels as the documents it selects.
        rows, scores = top_k(query_vector, k, *document_selection(stored, only))
        return Ranked(rows, scores, scores)
    if only is not None and only.count <= DIRECT_SCORING_LIMIT:
        scores = dense_cosines(stored, query_vector, only.rows)
        top = _top(scores, k)
        return Ranked(only.rows[top], scores[top], scores[top])
    if only is not None:
        params = only.faiss_params(stored.nprobe, getattr(stored.vectors, "nlist", 0))
    else:
        params = faiss.SearchParametersIVF(nprobe=stored.nprobe) if stored.approximate else None
    # One question scans the vectors once; OpenMP threads for that cost more than they save: measured 0.8 ms
    # with one thread against 19 ms with two on a busy 2-core machine (SciFact, 12k chunks). The setting is
    # per calling thread in OpenMP, and requests arrive on a thread pool, so it is made here, every time.
    faiss.omp_set_num_threads(1)
    scores, rows = stored.vectors.search(query_vector.reshape(1, -1).astype(np.float32), k, params=params)
    keep = rows[0] >= 0
    return Ranked(rows[0][keep], scores[0][keep], scores[0][keep])


def _lexical(stored: StoredIndex, query_tokens: list[str], only: ChunkFilter | None) -> np.ndarray:
    scores = bm25_scores(stored.bm25, query_tokens)
    if only is not None:
        scores = np.where(only.mask, scores, 0.0)
    return scores


def bm25(stored: StoredIndex, query_vector: np.ndarray, query_tokens: list[str], k: int,
         only: ChunkFilter | None = None) -> Ranked:
    scores = _lexical(stored, query_tokens, only)
    rows = _top(scores, k)
    rows = rows[scores[rows] > 0]  # a chunk sharing no word with the question is not a BM25 hit
    return Ranked(rows, scores[rows], dense_cosines(stored, query_vector, rows))


def hybrid(stored: StoredIndex, query_vector: np.ndarray, query_tokens: list[str], k: int,
           fusion: FusionSettings, only: ChunkFilter | None = None) -> Ranked:
    """Mix dense and BM25 over the union of both candidate lists, each score normalised per question."""
    n = max(k, fusion.candidates)
    dense_hits = dense(stored, query_vector, n, only)
    lexical_all = _lexical(stored, query_tokens, only)
    lexical_rows = _top(lexical_all, n)
    lexical_rows = lexical_rows[lexical_all[lexical_rows] > 0]
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
