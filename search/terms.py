"""Question terms as the answer and no-answer evidence compare them: BM25's stems, plus lemmas Snowball misses;
their weights (BM25 idf, shrunk towards the mean on tiny indexes), the names a question asks about, and how much
of a question a text covers.

Snowball stems suffixes; it maps neither "said" to "say" nor "children" to "child". Evidence that a passage
uses the question's words compares *keys*: the stem, or for an irregular form the stem of its lemma. BM25
retrieval is untouched (its tokenizer lives in index/ and its index is built with it).
"""

from __future__ import annotations

import math
import os
import re
from functools import lru_cache

import numpy as np

from askdocs.index.lexical import tokenize

_IRREGULAR = """
say said says|tell told|go went gone goes|make made|take took taken|give gave given|find found|think thought|
bring brought|buy bought|build built|begin began begun|come came|become became|write wrote written|run ran|
win won|lose lost|hold held|lead led|leave left|meet met|pay paid|send sent|spend spent|stand stood|
strike struck|teach taught|feel felt|keep kept|know knew known|see saw seen|choose chose chosen|fall fell fallen|
grow grew grown|draw drew drawn|drive drove driven|rise rose risen|speak spoke spoken|steal stole stolen|
throw threw thrown|wear wore worn|fight fought|sell sold|seek sought|shoot shot|hide hid hidden|eat ate eaten|
break broke broken|forget forgot forgotten|get got gotten|hear heard|lay laid|lend lent|mean meant|catch caught|
sing sang sung|sink sank sunk|swim swam swum|fly flew flown|freeze froze frozen|ride rode ridden|ring rang rung|
shake shook shaken|sleep slept|slide slid|spin spun|split|bind bound|dig dug|feed fed|flee fled|forbid forbade|
hang hung|light lit|mistake mistook mistaken|overtake overtook overtaken|undertake undertook undertaken|
withdraw withdrew withdrawn|wake woke woken|weave wove woven|bear bore borne born|beat beaten|bite bit bitten|
blow blew blown|deal dealt|dream dreamt|fit|foresee foresaw foreseen|arise arose arisen|awake awoke awoken|
child children|man men|woman women|person people|mouse mice|foot feet|tooth teeth|goose geese|
die died dies dying death deaths dead|
"""


@lru_cache(maxsize=1)
def _lemma_keys() -> dict[str, str]:
    table: dict[str, str] = {}
    for group in _IRREGULAR.replace("\n", "").split("|"):
        forms = group.split()
        if len(forms) < 2:
            continue
        base = tokenize(forms[0])
        if not base:
            continue
        for form in forms[1:]:
            stems = tokenize(form)
            if stems and stems[0] != base[0]:
                table[stems[0]] = base[0]
    return table


def keys(text: str) -> list[str]:
    """BM25 stems of ``text`` with irregular forms mapped to their lemma's stem."""
    return list(_keys(text))


@lru_cache(maxsize=65536)
def _keys(text: str) -> tuple[str, ...]:
    # Cached: the sentences of the passages popular questions reach come back again and again.
    table = _lemma_keys()
    return tuple(table.get(t, t) for t in tokenize(text))


def key_of(stem: str) -> str:
    return _lemma_keys().get(stem, stem)


# Below this many chunks, BM25 idf says little ("Gaza" is in every chunk of a one-article index, so its idf is
# ~0 and the question's absent words carry all the weight): shrink it towards the mean (a sane idf).
IDF_PRIOR_CHUNKS = 200


def shrink_idf(idf: float, n_docs: int, mean: float) -> float:
    keep = n_docs / (n_docs + IDF_PRIOR_CHUNKS)
    return keep * idf + (1 - keep) * mean


def idf(n_docs: int, df: int) -> float:
    return math.log(1 + (n_docs - df + 0.5) / (df + 0.5))

# How a question is asked says nothing about whether a passage answers it. Without this list "who" would
# carry the largest idf of a small corpus that never uses the word, and sink every "who ..." question.
QUESTION_WORDS = frozenset(tokenize(
    "who whom whose what which when where why how does did do is are was were can could would should will "
    "tell me please explain describe list give"
))


def document_frequency(bm25, token: str) -> int:
    token_id = bm25.vocab_dict.get(token)
    if token_id is None:
        return 0
    indptr = bm25.scores["indptr"]
    # item(): a plain int straight from the buffer; indexing a memory-mapped array goes through numpy's Python-level
    # memmap.__getitem__, and a question asks this some forty times.
    return int(indptr.item(token_id + 1) - indptr.item(token_id))


def idf_weights(bm25, query_tokens: list[str]) -> dict[str, float]:
    """idf of each content term of the question, keyed by lemma key; a term the corpus never uses gets the
    largest idf. On an index of a few chunks idf is shrunk towards its mean (search.terms.shrink_idf)."""
    n_docs = bm25.scores["num_docs"]
    raw: dict[str, float] = {}
    for token in set(query_tokens) - QUESTION_WORDS:
        key = key_of(token)
        df = max(document_frequency(bm25, token), document_frequency(bm25, key))
        raw[key] = max(raw.get(key, 0.0), idf(n_docs, df))
    if not raw:
        return raw
    mean = float(np.mean(list(raw.values())))
    return {k: shrink_idf(w, n_docs, mean) for k, w in raw.items()}


_WORD = re.compile(r"[A-Za-z][A-Za-z0-9_.+#-]*[A-Za-z0-9+#]|[A-Za-z]")


@lru_cache(maxsize=1)
def _common_words() -> frozenset[str]:
    """Whole words of MiniLM's WordPiece vocabulary: everyday English, as opposed to product and project names."""
    from askdocs.index.embedder import _minilm_path

    with open(os.path.join(_minilm_path(), "vocab.txt"), encoding="utf-8") as handle:
        return frozenset(w.strip() for w in handle if w.strip().isalpha() and not w.startswith("##"))


def name_terms(question: str) -> set[str]:
    """Lemma keys of the words that name something: capitalised after the first word ("MariaDB", "Redis"), or not
    an everyday word (a whole word of the model's vocabulary: "matplotlib", "bashrc" are not).

    Not names: an acronym that spells an everyday word ("RAM", "CREATE INDEX": what is missing is the word, which a
    passage says otherwise, "in-memory"), and an everyday word with an inflection or a suffix the vocabulary lacks
    ("passwordless", "logins", "scheduler"). Both refused answerable real-documents dev questions."""
    out: set[str] = set()
    common = _common_words()
    for i, m in enumerate(_WORD.finditer(question)):
        word = m.group(0)
        lower = word.lower()
        if word.isupper() and lower in common:
            continue
        if (i > 0 and any(c.isupper() for c in word)) or not _everyday(lower, common):
            out.update(keys(word))
    return out - QUESTION_WORDS


_SUFFIXES = ("less", "ness", "ers", "er", "s", "es", "ed", "ing", "able", "ly")


def _everyday(word: str, common: frozenset[str]) -> bool:
    if word in common:
        return True
    for suffix in _SUFFIXES:
        stem = word[: -len(suffix)]
        if word.endswith(suffix) and len(stem) >= 4 and (stem in common or stem + "e" in common):
            return True
    return False


def rarest_term(bm25, query_tokens: list[str], among: set[str] | None = None) -> str | None:
    """The question's content term (lemma key) the index uses least, optionally only among ``among``."""
    n_docs = bm25.scores["num_docs"]
    best, best_idf = None, -1.0
    for token in sorted(set(query_tokens) - QUESTION_WORDS):
        key = key_of(token)
        if among is not None and key not in among:
            continue
        value = idf(n_docs, max(document_frequency(bm25, token), document_frequency(bm25, key)))
        if value > best_idf:
            best, best_idf = key, value
    return best


# An identifier as a question names it: a setting, pragma or option with underscores ("max_parallel_vacuum_memory").
_COMPOUND = re.compile(r"\b[A-Za-z][A-Za-z0-9]*(?:_[A-Za-z0-9]+)+\b")


def unseen_name(bm25, question: str, shown_text: str) -> str | None:
    """A thing the question names that the passages cannot be about, or None.

    Either a word spelled as a product name (_named_shape) that the whole index never uses ("ksh93", "InnoDB",
    "SQLCipher": the corpus is about something else), or an identifier with underscores that occurs in none of
    the shown passages: its parts are everyday words the index does use ("auto", "compress"), so only the whole identifier tells that
    "PRAGMA auto_compress" or "max_parallel_vacuum_memory" is not there. A question about a neighbouring
    product or a plausible setting that does not exist otherwise finds a passage on the real one and answers it.
    """
    shown = shown_text.casefold()
    for m in _COMPOUND.finditer(question):
        if m.group(0).casefold() not in shown:
            return m.group(0)
    for m in _WORD.finditer(question):
        word = m.group(0)
        if _named_shape(word) and any(document_frequency(bm25, key) == 0 for key in keys(word)):
            return word
    return None


def _named_shape(word: str) -> bool:
    """Spelled as a product or a tool is ("InnoDB", "SQLCipher", "ksh93": camel case, or letters and digits), which
    a misspelt word or name and an acronym are not: SQuAD's "coruption", "Krugmen", "Ghengis", "WWII" and "DSMs"
    are in no passage either, and the passages still answer those questions."""
    has_digit = any(c.isdigit() for c in word)
    return (has_digit and any(c.isalpha() for c in word)) or bool(_CAMEL.search(word))


_CAMEL = re.compile(r"[a-z][A-Z]|[A-Z]{2}[a-z]{2}")


def unknown_share(bm25, query_tokens: list[str], weights: dict[str, float]) -> float:
    """Share of the question's idf mass on terms the whole index never uses, in any form (an off-corpus sign)."""
    total = sum(weights.values())
    if total == 0:
        return 0.0
    known = {key_of(t) for t in query_tokens if document_frequency(bm25, t) > 0}
    known |= {k for k in weights if document_frequency(bm25, k) > 0}
    return sum(w for k, w in weights.items() if k not in known) / total


def coverage(weights: dict[str, float], text: str | set[str]) -> float:
    """Share of the question's idf mass whose terms occur in ``text`` (a text or a set of its keys)."""
    total = sum(weights.values())
    if total == 0:
        return 0.0
    present = text if isinstance(text, (set, frozenset)) else set(keys(text))
    return sum(w for t, w in weights.items() if t in present) / total


def sentence_scores(query_vector: np.ndarray, sentence_vectors: np.ndarray, sentence_texts: list[str],
                    weights: dict[str, float], lexical_weight: float) -> np.ndarray:
    semantic = sentence_vectors @ query_vector
    if not weights or lexical_weight == 0:
        return semantic
    lexical = np.array([coverage(weights, text) for text in sentence_texts])
    return semantic + lexical_weight * lexical
