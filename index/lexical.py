"""BM25 over chunks (bm25s), with one tokenizer shared by indexing and querying.

The index is built here from every chunk's token ids with numpy (the same scores bm25s computes, see
tests/test_retrieval.py) and each chunk's token ids are saved with it: an incremental build takes the
unchanged chunks' tokens from the previous generation and tokenises only the new text, so a one-file sync
does not re-tokenise the whole folder.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
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
CHUNK_TOKENS = "chunk_tokens.npz"  # in the bm25 folder, next to what bm25s saves


@lru_cache(maxsize=1)
def _stemmer() -> Stemmer.Stemmer:
    return Stemmer.Stemmer("english")


def tokenize(text: str) -> list[str]:
    words = [w for w in _TOKEN.findall(text.lower()) if w not in _STOPWORDS]
    return _stemmer().stemWords(words)


@dataclass(frozen=True)
class ChunkTokens:
    """Every chunk's tokens as ids into ``vocab``: chunk ``i``'s are ``ids[indptr[i]:indptr[i + 1]]``."""

    ids: np.ndarray  # int64
    indptr: np.ndarray  # int64, one more than there are chunks
    vocab: list[str]

    def __len__(self) -> int:
        return len(self.indptr) - 1


class ChunkBM25(bm25s.BM25):
    """A bm25s index that keeps the token ids it was built from, so the next build can take them over."""

    tokens: ChunkTokens


def chunk_tokens(texts: list[str | None], previous_rows: list[int] | None = None,
                 previous: ChunkTokens | None = None) -> ChunkTokens:
    """The tokens of every chunk: ``texts[i]`` tokenised, or where it is None, the tokens of chunk
    ``previous_rows[i]`` of ``previous``. The vocabulary is in order of first occurrence, so the result does
    not depend on which chunks came from ``previous``."""
    known: dict[str, int] = {token: i for i, token in enumerate(previous.vocab)} if previous is not None else {}
    pieces = []
    for i, text in enumerate(texts):
        if text is None:
            row = previous_rows[i]
            pieces.append(previous.ids[previous.indptr[row]: previous.indptr[row + 1]])
        else:
            pieces.append(np.array([known.setdefault(t, len(known)) for t in tokenize(text)], dtype=np.int64))
    lengths = np.array([len(p) for p in pieces], dtype=np.int64)
    flat = np.concatenate(pieces).astype(np.int64, copy=False) if pieces else np.zeros(0, np.int64)
    present, first = np.unique(flat, return_index=True)
    order = present[np.argsort(first, kind="stable")]
    renumber = np.full(len(known), -1, dtype=np.int64)
    renumber[order] = np.arange(len(order))
    spelled = list(known)
    return ChunkTokens(renumber[flat], np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
                       [spelled[i] for i in order])


def bm25_from_tokens(tokens: ChunkTokens) -> ChunkBM25:
    """bm25s's lucene BM25 over ``tokens``, computed with numpy instead of a Python loop per chunk."""
    k1, b = SETTINGS["k1"], SETTINGS["b"]
    model = ChunkBM25(method=SETTINGS["method"], k1=k1, b=b)
    n_docs, n_vocab = len(tokens), len(tokens.vocab)
    lengths = np.diff(tokens.indptr)
    doc_of = np.repeat(np.arange(n_docs, dtype=np.int64), lengths)
    # Keyed term-major, so the one sort np.unique does already gives bm25s's CSC order (chunks in order within a
    # term): a second sort by term cost a one-file sync of SciFact ~0.08 s.
    pairs, tf = np.unique(tokens.ids * max(n_docs, 1) + doc_of, return_counts=True)
    term, doc = pairs // max(n_docs, 1), pairs % max(n_docs, 1)
    df = np.bincount(term, minlength=n_vocab)
    # As bm25s: idf kept in float32, the tf part in float64, the product stored in float32.
    idf = np.log(1 + (n_docs - df + 0.5) / (df + 0.5)).astype(np.float32)
    average = lengths.mean() if n_docs else 0.0
    tf32 = tf.astype(np.float32)
    tfc = tf32 / (k1 * ((1 - b) + b * lengths[doc] / average) + tf32)
    scores = (idf[term] * tfc).astype(np.float32)
    vocab = {token: i for i, token in enumerate(tokens.vocab)}
    vocab.setdefault("", len(vocab))  # bm25s's empty token, which scores chunks without any token
    counts = np.bincount(term, minlength=len(vocab))
    model.scores = {"data": scores, "indices": doc.astype(np.int32),
                    "indptr": np.concatenate([[0], np.cumsum(counts)]).astype(np.int64), "num_docs": n_docs}
    model.vocab_dict = vocab
    model.unique_token_ids_set = set(vocab.values())
    model.nonoccurrence_array = None
    model.tokens = tokens
    return model


def build_bm25(texts: list[str]) -> ChunkBM25:
    return bm25_from_tokens(chunk_tokens(texts))


def save_bm25(model: bm25s.BM25, folder: Path) -> None:
    model.save(str(folder), show_progress=False)
    if isinstance(model, ChunkBM25):
        with open(folder / CHUNK_TOKENS, "wb") as handle:
            np.savez(handle, ids=model.tokens.ids.astype(np.int32), indptr=model.tokens.indptr)


def load_bm25(folder: Path) -> bm25s.BM25:
    return bm25s.BM25.load(str(folder), mmap=True, show_progress=False, verbosity=0)


def load_chunk_tokens(folder: Path, model: bm25s.BM25) -> ChunkTokens | None:
    """The chunk tokens saved with ``model``; None for an index saved without them (tokenise again)."""
    try:
        with np.load(folder / CHUNK_TOKENS) as saved:
            ids, indptr = saved["ids"].astype(np.int64), saved["indptr"].astype(np.int64)
    except FileNotFoundError:
        return None
    vocab = [""] * len(model.vocab_dict)
    for token, i in model.vocab_dict.items():
        vocab[i] = token
    if len(indptr) != model.scores["num_docs"] + 1 or (len(ids) and ids.max() >= len(vocab)):
        return None
    return ChunkTokens(ids, indptr, vocab)


def bm25_scores(model: bm25s.BM25, query_tokens: list[str]) -> np.ndarray:
    """BM25 score of every chunk for the query (zeros when no query term is in the vocabulary)."""
    known = [t for t in query_tokens if t in model.vocab_dict]
    if not known:
        return np.zeros(model.scores["num_docs"], dtype=np.float32)
    return model.get_scores(known)
