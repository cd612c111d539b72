"""What the answer is, once retrieval has ranked the chunks: the passages shown (no sentence twice), each one's
highlight, the answer among the first few, and whether there is an answer at all.

The engine (search/engine.py) orchestrates a question: embed it, retrieve, then call these. Candidates come from
search/candidates.py and are scored by search/scorer.py; the word evidence is search/terms.py's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from askdocs.index.settings import Settings
from askdocs.index.store import StoredIndex
from askdocs.index.structure import KIND_CODE, KINDS

from .candidates import Unit
from .candidates import units as candidate_units
from .citations import chunk_citation, sentence_citation
from .models import Answer, Highlight, Passage, Signals
from .retrieve import Ranked
from .scorer import FEATURES, Candidate, QuestionInfo, features, load_scorer, sigmoid
from .terms import coverage, keys, name_terms, rarest_term, sentence_scores, unknown_share, unseen_name

# The answer is the best-scored candidate of the first ANSWER_PASSAGES passages (README, "The answer sentence").
ANSWER_PASSAGES = 5
# No-answer: evidence = confidence + w * (scorer probability - centre) - u * unknown-term share - r * (the question's
# rarest term is missing from the top passage and its title), refused under
# ASKDOCS_NO_ANSWER_THRESHOLD (tuned on the real-documents dev split, README "Choosing the no-answer threshold").
NO_ANSWER_SCORER_WEIGHT = 0.5
NO_ANSWER_SCORER_CENTRE = 0.35
NO_ANSWER_UNKNOWN_WEIGHT = 0.0
NO_ANSWER_RARE_MISSING_WEIGHT = 0.3
# ... - n * (the question names something the passages cannot be about: search.terms.unseen_name). Tuned on the
# grown real-documents dev split (bench/README.md "The grown dev split"); it fires on none of 1,500 SQuAD
# train-half questions.
NO_ANSWER_UNSEEN_NAME_WEIGHT = 0.4


def choose_passages(stored: StoredIndex, ranked: Ranked, top_k: int, query_vector: np.ndarray, info: QuestionInfo,
                    answer_scorer: bool = True) -> tuple[list[Passage], Evidence]:
    """Passages with their highlights and the answer candidates of the first few.

    Overlapping chunks of one document share sentences; a passage never repeats a sentence an earlier passage
    of this answer shows: it is cut to its new sentences (a contiguous run, so its citation still slices the
    stored text) or, when it has none, dropped and the next chunk takes its place. Documents also repeat one
    another (a page copied into another, a manual as HTML and as PDF): a passage whose every sentence an earlier
    one already shows word for word is dropped the same way.
    """
    chunks = stored.chunks
    passages: list[Passage] = []
    evidence = Evidence(query_vector=query_vector)
    shown: dict[int, set[tuple[int, int]]] = {}
    shown_texts: set[str] = set()  # the wordings (_wording) of the sentences shown, from any document
    top_score = float(ranked.scores[0]) if len(ranked.scores) else 0.0
    top_doc = None
    scorer = load_scorer() if answer_scorer else None
    rows = ranked.rows.tolist()
    read: dict[int, tuple[str, list[str]]] = {}  # chunk row -> its text and section path
    for at, (row, score) in enumerate(zip(rows, ranked.scores)):
        if len(passages) >= top_k:
            break
        doc_row = int(chunks.doc_row[row])
        first, count = int(chunks.sentence_first[row]), int(chunks.sentence_count[row])
        spans = [(a, b) for a, b in stored.sentence_spans[first: first + count].tolist()]
        seen = shown.setdefault(doc_row, set())
        keep = _new_run([span not in seen for span in spans])
        if keep is None:
            continue
        lo, hi = keep
        if row not in read:  # one read for the rows still to show, as long as none is dropped
            batch = rows[at: at + top_k - len(passages)]
            read.update(zip(batch, stored.chunk_texts_and_sections(batch)))
        chunk_text, section = read[row]
        chunk_start = int(chunks.char_start[row])
        wordings = [_wording(chunk_text[a - chunk_start:b - chunk_start]) for a, b in spans[lo:hi]]
        if shown_texts and all(w is None or w in shown_texts for w in wordings) and any(wordings):
            continue  # another document's passage already shows every sentence of it
        seen.update(spans[lo:hi])
        shown_texts.update(w for w in wordings if w is not None)
        start, end = spans[lo][0], spans[hi - 1][1]
        if (lo, hi) == (0, count):
            start, end = chunk_start, int(chunks.char_end[row])
        text = chunk_text[start - chunk_start:end - chunk_start]
        citation = chunk_citation(stored, row, stored.chunk_ids([row])[0], section)
        if (start, end) != (citation.char_start, citation.char_end):
            citation = sentence_citation(stored, citation, chunk_text, start, end)
        vectors = stored.sentence_vectors[first + lo: first + hi].astype(np.float32)
        if top_doc is None:
            top_doc = doc_row
        rank = len(passages)
        codes = _kind_codes(stored, first + lo, hi - lo)
        barred = None if codes is None else _NOT_ANSWERS[codes]  # headings, captions, furniture
        if answer_scorer:
            blocks = None if codes is None else [KINDS[code] for code in codes.tolist()]
            _, units = candidate_units(text, start, spans[lo:hi], blocks)
            units = _answerable_units(units, barred)
            cands = [Candidate(text=text[u.start - start:u.end - start], vector=_mean_vector(vectors, u.core),
                               kind=u.kind, context=u.context, rank=rank, fused_gap=top_score - float(score),
                               same_doc=doc_row == top_doc) for u in units]
            x = features(info, cands, query_vector)
            logits = scorer.score(x)
        else:  # ASKDOCS_ANSWER_SCORER=off: every stored sentence, cosine + 0.5 x coverage, a rank penalty
            units = [Unit(a, b, [i], "sentence", i) for i, (a, b) in enumerate(spans[lo:hi])]
            cands = [Candidate(text=text[a - start:b - start], vector=vectors[i], kind="sentence", context="",
                               rank=rank, fused_gap=0.0, same_doc=True) for i, (a, b) in enumerate(spans[lo:hi])]
            x = np.zeros((len(cands), len(FEATURES)), dtype=np.float32)
            texts = [c.text for c in cands]
            logits = sentence_scores(query_vector, vectors, texts, info.weights, 0.5) - 0.02 * rank
            if barred is not None and not barred.all():
                logits = np.where(barred, -np.inf, logits)
        if len(cands):
            best = int(np.argmax(logits))
            h_start, h_end = units[best].start, units[best].end
        else:  # nothing but headings and fragments: the sentence most like the question
            sims = vectors @ query_vector
            best_sentence = int(np.argmax(sims))
            h_start, h_end = spans[lo + best_sentence]
        passages.append(Passage(
            rank=rank + 1, score=round(float(score), 6), text=text,
            highlight=Highlight(char_start=h_start, char_end=h_end, text=text[h_start - start:h_end - start]),
            citation=citation,
        ))
        evidence.add(rank, cands, [(u.start, u.end) for u in units], x, logits, rank < ANSWER_PASSAGES)
    return passages, evidence


def no_answer_signals(stored: StoredIndex, settings: Settings, question: str, passages: list[Passage],
                      dense: float, query_tokens: list[str], weights: dict[str, float], evidence: Evidence,
                      names: set[str] | None = None) -> Signals:
    """The evidence that the top passage answers the question; under the threshold the answer is no_answer.
    ``names``: the question's name terms (search.terms.name_terms), when the caller has them already."""
    top = passages[0]
    # The title is part of what retrieval matched (it is prepended to every chunk), so it counts here too.
    top_keys = set(keys(f"{top.citation.title}\n{top.text}"))
    covered = coverage(weights, top_keys)
    rarest = rarest_term(stored.bm25, query_tokens, name_terms(question) if names is None else names)
    rare_missing = rarest is not None and rarest not in top_keys
    confidence = dense + settings.no_answer_coverage_weight * covered
    unknown = unknown_share(stored.bm25, query_tokens, weights)
    answer_score = float(sigmoid(evidence.best_logit)) if evidence.best is not None else 0.0
    unseen = unseen_name(stored.bm25, question, "\n".join(f"{p.citation.title}\n{p.text}" for p in passages))
    evidence_score = (confidence + NO_ANSWER_SCORER_WEIGHT * (answer_score - NO_ANSWER_SCORER_CENTRE)
                      - NO_ANSWER_UNKNOWN_WEIGHT * unknown - NO_ANSWER_RARE_MISSING_WEIGHT * rare_missing
                      - NO_ANSWER_UNSEEN_NAME_WEIGHT * (unseen is not None))
    if not settings.answer_scorer:
        answer_score, evidence_score = 0.0, confidence  # the rule of askdocs before the scorer
    return Signals(dense=round(dense, 4), coverage=round(covered, 4), confidence=round(confidence, 4),
                   threshold=settings.no_answer_threshold, answer_score=round(answer_score, 4),
                   unknown_terms=round(unknown, 4), rare_term_missing=rare_missing, unseen_name=unseen,
                   evidence=round(evidence_score, 4))


def answer_of(stored: StoredIndex, passages: list[Passage], evidence: Evidence) -> Answer:
    """The best-scored candidate among the first few passages, cited on its own."""
    rank, (start, end), logit = evidence.best
    passage = passages[rank]
    offset = passage.citation.char_start
    return Answer(
        text=passage.text[start - offset:end - offset],
        score=round(float(logit), 6),
        passage_rank=passage.rank,
        citation=sentence_citation(stored, passage.citation, passage.text, start, end),
    )


@dataclass
class Evidence:
    """Every candidate of every passage: its passage rank, span, features and scorer logit; ``best`` is the best of
    the first ANSWER_PASSAGES passages (the answer)."""

    ranks: list[int] = field(default_factory=list)
    spans: list[tuple[int, int]] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)
    features: list[np.ndarray] = field(default_factory=list)
    logits: list[float] = field(default_factory=list)
    best: tuple[int, tuple[int, int], float] | None = None
    # Kept so that a model over (question, candidate) vectors can be trained on exactly what /ask saw
    # (bench/train_answer_adapter.py; measured, not shipped: bench/README.md)
    vectors: list[np.ndarray] = field(default_factory=list)
    query_vector: np.ndarray | None = None

    @property
    def best_logit(self) -> float:
        return self.best[2] if self.best is not None else -math.inf

    def add(self, rank: int, cands: list[Candidate], spans: list[tuple[int, int]], x: np.ndarray,
            logits: np.ndarray, answerable: bool) -> None:
        for c, cand_span, row, logit in zip(cands, spans, x, logits):
            self.ranks.append(rank)
            self.spans.append(cand_span)
            self.texts.append(c.text)
            self.kinds.append(c.kind)
            self.features.append(row)
            self.vectors.append(c.vector)
            self.logits.append(float(logit))
            if answerable and (self.best is None or logit > self.best[2]):
                self.best = (rank, cand_span, float(logit))


def _mean_vector(vectors: np.ndarray, rows: list[int]) -> np.ndarray:
    """The mean of these rows; one row is itself (what np.mean gives, bit for bit, without its overhead)."""
    return vectors[rows[0]] if len(rows) == 1 else vectors[rows].mean(axis=0)


# A sentence this long that another passage already shows, word for word, is not shown again: documentation
# repeats paragraphs across pages (SQLite's), and a manual ships as HTML and PDF. Shorter ones ("Default: off.")
# recur without being the same statement.
_REPEATED_SENTENCE_CHARS = 40


def _wording(sentence: str) -> str | None:
    """The sentence with its white space made single, for comparing across documents; None when it is short."""
    if len(sentence) < _REPEATED_SENTENCE_CHARS:
        return None
    return " ".join(sentence.split())


def _new_run(new: list[bool]) -> tuple[int, int] | None:
    """The longest run of sentences not shown yet, as [lo, hi); None when every sentence was shown."""
    best, lo = None, None
    for i, flag in enumerate([*new, False]):
        if flag and lo is None:
            lo = i
        elif not flag and lo is not None:
            if best is None or i - lo > best[1] - best[0]:
                best = (lo, i)
            lo = None
    return best


# Block kinds a highlight or answer is never taken from while the passage has another sentence: a heading
# restates the question ("5.4 How can add-on packages be removed?") without answering it.
_NOT_ANSWERS = np.zeros(256, dtype=bool)  # by the kind code's byte: a lookup, cheaper than np.isin on a few rows
_NOT_ANSWERS[[KIND_CODE["heading"], KIND_CODE["caption"], KIND_CODE["furniture"]]] = True


def _answerable_units(units: list[Unit], barred: np.ndarray | None) -> list[Unit]:
    """Units with no heading, caption or furniture in them, as the index's block kinds tell; all of them when every
    unit has one (a passage of headings still gets a highlight) or the index predates block kinds.

    Any, not only: the text rules can take a short heading for a definition's term ("4. Foreign Key Enforcement
    Is Off By Default" + its first paragraph), and an answer that opens with a heading is not the answer.
    """
    if barred is None:
        return units
    kept = [u for u in units if not any(barred[i] for i in u.sentences)]
    return kept or units


def _kind_codes(stored: StoredIndex, first: int, count: int) -> np.ndarray | None:
    """The block kind code of each of these stored sentences (None: an index built before block kinds were kept)."""
    if stored.sentence_kinds is None:
        return None
    return stored.sentence_kinds[first: first + count].view(np.uint8)
