"""Question terms as the answer and no-answer evidence compare them: BM25's stems, plus lemmas Snowball misses.

Snowball stems suffixes; it maps neither "said" to "say" nor "children" to "child". Evidence that a passage
uses the question's words compares *keys*: the stem, or for an irregular form the stem of its lemma. BM25
retrieval is untouched (its tokenizer lives in index/ and its index is built with it).
"""

from __future__ import annotations

import math
from functools import lru_cache

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
