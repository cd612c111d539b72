"""Candidate retrieval over chunks."""

from __future__ import annotations

import numpy as np

from index.store import StoredIndex


def dense(stored: StoredIndex, query_vector: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-k chunk rows by cosine similarity (vectors are normalised, so inner product), best first."""
    k = min(k, stored.n_chunks)
    if k <= 0:
        return np.zeros(0, np.int64), np.zeros(0, np.float32)
    scores, rows = stored.vectors.search(query_vector.reshape(1, -1).astype(np.float32), k)
    keep = rows[0] >= 0
    return rows[0][keep], scores[0][keep]
