"""Highlights, the answer sentence and the no-answer decision.

A sentence is scored with the same two kinds of evidence that rank passages: its vector (pooled
in its chunk's context at build time) against the question's, and the idf-weighted share of the
question's BM25 terms it contains.
"""

from __future__ import annotations

import math

import numpy as np

from index.lexical import tokenize

# How a question is asked says nothing about whether a passage answers it. Without this list "who" would
# carry the largest idf of a small corpus that never uses the word, and sink every "who ..." question.
QUESTION_WORDS = frozenset(tokenize(
    "who whom whose what which when where why how does did do is are was were can could would should will "
    "tell me please explain describe list give"
))


def idf_weights(bm25, query_tokens: list[str]) -> dict[str, float]:
    """BM25 idf of each content term of the question; a term the corpus never uses gets the largest idf."""
    n_docs = bm25.scores["num_docs"]
    indptr = bm25.scores["indptr"]
    weights = {}
    for token in set(query_tokens) - QUESTION_WORDS:
        token_id = bm25.vocab_dict.get(token)
        df = int(indptr[token_id + 1] - indptr[token_id]) if token_id is not None else 0
        weights[token] = math.log(1 + (n_docs - df + 0.5) / (df + 0.5))
    return weights


def coverage(weights: dict[str, float], text: str) -> float:
    """Share of the question's idf mass whose terms occur in ``text``."""
    total = sum(weights.values())
    if total == 0:
        return 0.0
    present = set(tokenize(text))
    return sum(w for t, w in weights.items() if t in present) / total


def sentence_scores(query_vector: np.ndarray, sentence_vectors: np.ndarray, sentence_texts: list[str],
                    weights: dict[str, float], lexical_weight: float) -> np.ndarray:
    semantic = sentence_vectors @ query_vector
    if not weights or lexical_weight == 0:
        return semantic
    lexical = np.array([coverage(weights, text) for text in sentence_texts])
    return semantic + lexical_weight * lexical
