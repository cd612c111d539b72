"""BM25 over chunks (bm25s), with one tokenizer shared by indexing and querying."""

from __future__ import annotations

import logging
import re
from functools import lru_cache
from pathlib import Path

import bm25s
import numpy as np
import Stemmer
from bm25s.stopwords import STOPWORDS_EN

# bm25s sets its own logger to DEBUG and narrates every index build.
logging.getLogger("bm25s").setLevel(logging.WARNING)

# Underscores separate words too: "Super_Bowl_50" and snake_case names should match their parts.
_TOKEN = re.compile(r"[^\W_]{2,}|\d")
_STOPWORDS = frozenset(STOPWORDS_EN)
SETTINGS = {"library": "bm25s", "method": "lucene", "k1": 1.2, "b": 0.75, "stemmer": "snowball-english",
            "stopwords": "lucene-english", "token_pattern": _TOKEN.pattern}


@lru_cache(maxsize=1)
def _stemmer() -> Stemmer.Stemmer:
    return Stemmer.Stemmer("english")


def tokenize(text: str) -> list[str]:
    words = [w for w in _TOKEN.findall(text.lower()) if w not in _STOPWORDS]
    return _stemmer().stemWords(words)


def build_bm25(texts: list[str]) -> bm25s.BM25:
    model = bm25s.BM25(method=SETTINGS["method"], k1=SETTINGS["k1"], b=SETTINGS["b"])
    model.index([tokenize(t) for t in texts], show_progress=False)
    return model


def save_bm25(model: bm25s.BM25, folder: Path) -> None:
    model.save(str(folder), show_progress=False)


def load_bm25(folder: Path) -> bm25s.BM25:
    return bm25s.BM25.load(str(folder), mmap=True, show_progress=False, verbosity=0)


def bm25_scores(model: bm25s.BM25, query_tokens: list[str]) -> np.ndarray:
    """BM25 score of every chunk for the query (zeros when no query term is in the vocabulary)."""
    known = [t for t in query_tokens if t in model.vocab_dict]
    if not known:
        return np.zeros(model.scores["num_docs"], dtype=np.float32)
    return model.get_scores(known)
