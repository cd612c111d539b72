"""Highlights, the answer sentence and the no-answer decision."""

from __future__ import annotations

import re

import numpy as np

_WORD = re.compile(r"\w+")
# Function words carry no evidence that a sentence answers anything.
STOPWORDS = frozenset(
    "a an and are as at be by for from has have how in is it its of on or that the this to was were what when "
    "where which who whom whose why will with did do does can could should would which there their they them "
    "he she his her you your we our i me my not no".split()
)


def content_terms(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in STOPWORDS}


def sentence_scores(query_vector: np.ndarray, sentence_vectors: np.ndarray, sentence_texts: list[str],
                    query_terms: set[str], lexical_weight: float) -> np.ndarray:
    """Semantic similarity in the chunk's context plus the share of the question's content words present."""
    semantic = sentence_vectors @ query_vector
    if not query_terms or lexical_weight == 0:
        return semantic
    lexical = np.array([len(query_terms & content_terms(text)) / len(query_terms) for text in sentence_texts])
    return semantic + lexical_weight * lexical
