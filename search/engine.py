"""An opened index that answers questions."""

from __future__ import annotations

import math
import posixpath
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from askdocs.index.embedder import Embedder, load_embedder
from askdocs.index.lexical import tokenize
from askdocs.index import page_boxes
from askdocs.index.locators import decode_locators
from askdocs.index.page_render import NoSuchPage, render_page
from askdocs.index.settings import Settings
from askdocs.index.store import StoredIndex, open_stored_index
from askdocs.index.structure import KIND_CODE, decode_blocks
from askdocs.index.vectors import Selection

from . import retrieve
from .answer_cache import AnswerCache
from .answer import coverage, idf_weights, name_terms, rarest_term, sentence_scores, unknown_share
from .candidates import Unit
from .candidates import units as candidate_units
from .citations import chunk_citation, sentence_citation
from .context import prompt_context
from .terms import keys
from .scorer import FEATURES, Candidate, QuestionInfo, features, load_scorer, question_info, sigmoid
from .filters import DocumentTable, chunk_filter
from .tracing import span
from .versions import cited_version
from .models import (Answer, AskResponse, DocumentHeading, DocumentLocators, DocumentOut, Filters, Highlight,
                     IndexStats, Mode, Passage, Question, Signals, SpanBoxes)

# The answer is the best-scored candidate of the first ANSWER_PASSAGES passages (README, "The answer sentence").
ANSWER_PASSAGES = 5
# Extra chunks retrieved so that passages dropped as repeats are replaced.
DEDUPE_SPARE = 5
# No-answer: evidence = confidence + w * (scorer probability - centre) - u * unknown-term share - r * (the question's
# rarest term is missing from the top passage and its title), refused under
# ASKDOCS_NO_ANSWER_THRESHOLD (tuned on the real-documents dev split, README "Choosing the no-answer threshold").
NO_ANSWER_SCORER_WEIGHT = 0.5
NO_ANSWER_SCORER_CENTRE = 0.35
NO_ANSWER_UNKNOWN_WEIGHT = 0.0
NO_ANSWER_RARE_MISSING_WEIGHT = 0.3


class Engine:
    def __init__(self, stored: StoredIndex, embedder: Embedder, settings: Settings):
        self.stored = stored
        self.embedder = embedder
        self.settings = settings
        self.fusion = retrieve.FusionSettings(
            method=settings.fusion, dense_weight=settings.dense_weight, rrf_k=settings.rrf_k,
            candidates=settings.candidates,
        )
        self.documents_table = DocumentTable(stored)
        # Off is the sentence rule of askdocs before the scorer (for measuring what the scorer costs: bench/latency.py).
        self.answer_scorer = settings.answer_scorer
        self.answer_cache = AnswerCache(settings.answer_cache)

    # ------------------------------------------------------------ questions
    def ask(self, question: str | Question, top_k: int = 5, mode: Mode = "hybrid",
            filters: Filters | dict | None = None) -> AskResponse:
        started = time.perf_counter()
        q = question if isinstance(question, Question) else Question(
            question=question, top_k=top_k, mode=mode, filters=filters
        )
        key = AnswerCache.key(q)
        cached = self.answer_cache.get(key)
        if cached is not None:
            return cached.model_copy(update={"cached": True,
                                             "took_ms": round((time.perf_counter() - started) * 1000, 3)})
        response = self.answer(q.question, q.top_k, q.mode, filters=q.filters)[0]
        if q.format == "context":
            response = response.model_copy(update={"context": prompt_context(response)})
        self.answer_cache.put(key, response)
        return response

    def search(self, question: str | Question, top_k: int = 5, mode: Mode = "hybrid",
               filters: Filters | dict | None = None) -> list[Passage]:
        return self.ask(question, top_k, mode, filters).passages

    def answer(self, question: str, top_k: int, mode: Mode, depth: int = 0,
               filters: Filters | None = None) -> tuple[AskResponse, retrieve.Ranked]:
        """``ask`` without the API's limits, also returning the ranking ``depth`` chunks deep (for evaluation)."""
        response, ranked, _ = self.evidence(question, top_k, mode, depth, filters)
        return response, ranked

    def evidence(self, question: str, top_k: int, mode: Mode, depth: int = 0,
                 filters: Filters | None = None) -> tuple[AskResponse, retrieve.Ranked, Evidence]:
        """``answer`` plus every candidate considered with its features (for training and tuning the scorer)."""
        with span("ask", mode=mode, top_k=top_k, filtered=filters is not None) as asked:
            started = time.perf_counter()
            only = chunk_filter(self.documents_table, filters)
            with span("embed"):
                query_vector = self.embedder.encode_queries([question])[0]
            query_tokens = tokenize(question)
            shown = max(top_k, ANSWER_PASSAGES)
            # A few more chunks than shown: a passage whose every sentence an earlier one already shows is dropped.
            with span("retrieve", mode=mode):
                ranked = self._retrieve(mode, query_vector, query_tokens, max(shown + DEDUPE_SPARE, depth), only)
            with span("answer"):
                weights = idf_weights(self.stored.bm25, query_tokens)
                info = question_info(question, weights)
                passages, evidence = self._passages(ranked, shown, query_vector, info)
                signals = (self._signals(question, passages[0], float(ranked.dense[0]), query_tokens, weights,
                                         evidence) if passages else None)
                no_answer = signals is None or signals.evidence < signals.threshold
                answer = None if no_answer or evidence.best is None else self._answer(passages, evidence)
            if asked is not None:
                asked.set_attribute("no_answer", no_answer)
            passages = passages[:top_k]
        response = AskResponse(
            question=question,
            mode=mode,
            answer=answer,
            no_answer=no_answer,
            signals=signals,
            passages=passages,
            took_ms=round((time.perf_counter() - started) * 1000, 2),
        )
        return response, ranked, evidence

    def _retrieve(self, mode: Mode, query_vector: np.ndarray, query_tokens: list[str], k: int,
                  only: Selection | None) -> retrieve.Ranked:
        if mode == "dense":
            return retrieve.dense(self.stored, query_vector, k, only)
        if mode == "bm25":
            return retrieve.bm25(self.stored, query_vector, query_tokens, k, only)
        return retrieve.hybrid(self.stored, query_vector, query_tokens, k, self.fusion, only)

    # ------------------------------------------------------------ documents
    def document(self, doc_id: str, sha256: str | None = None, generation: int | None = None,
                 start: int | None = None, end: int | None = None, quote: str | None = None) -> DocumentOut | None:
        """A stored document; given a citation's ``sha256`` (and ``generation``, span or ``quote``), also whether
        the cited text is still where the citation says (search.versions)."""
        row = self.stored.document(doc_id)
        if row is None:
            return None
        cited = cited_version(self.stored, row, sha256, generation, start, end, quote) if sha256 else None
        return DocumentOut(
            cited=cited,
            doc_id=row.doc_id, title=row.title, source=row.source, kind=row.kind, sha256=row.sha256,
            size=row.size, text=row.text, page_starts=list(row.page_starts), page_labels=list(row.page_labels),
            folder=posixpath.dirname(row.doc_id),
            modified=datetime.fromtimestamp(row.mtime, timezone.utc) if row.mtime else None,
            meta=row.meta,
            locators=_locators_out(row.locators),
            headings=[DocumentHeading(start=b.start, end=b.end, level=b.level)
                      for b in decode_blocks(row.blocks) if b.kind == "heading"],
            span_boxes=self._span_boxes(row, sha256, start, end),
        )

    def _page_boxes(self, row):
        return page_boxes.load(self.stored.index_dir, row.sha256) if row.kind == "pdf" else None

    def _span_boxes(self, row, sha256: str | None, start: int | None, end: int | None) -> list[SpanBoxes] | None:
        # Offsets of another version of the file would mark other characters.
        if start is None or end is None or (sha256 is not None and sha256 != row.sha256):
            return None
        boxes = self._page_boxes(row)
        if boxes is None or len(boxes.boxes) != len(row.text):
            return None
        return [SpanBoxes(**page) for page in boxes.span(start, end)]

    def has_document(self, doc_id: str) -> bool:
        return self.stored.document(doc_id) is not None

    def page_image(self, doc_id: str, page: int, width: int) -> bytes | None:
        """PNG of a PDF page (index.page_render); None when no PDF has this id; NoSuchPage for no such page."""
        row = self.stored.document(doc_id)
        if row is None or row.kind != "pdf":
            return None
        if not 1 <= page <= max(1, len(row.page_starts)):
            raise NoSuchPage(f"no page {page} (the document has {len(row.page_starts)})")
        return render_page(self.stored.index_dir, Path(row.source), row.sha256, page, width,
                           int(self.settings.max_file_mb * 1_000_000))

    def stats(self) -> IndexStats:
        manifest = self.stored.manifest
        return IndexStats(
            path=str(self.stored.path),
            generation=manifest.generation,
            built_at=manifest.built_at,
            documents=self.stored.n_documents,
            chunks=self.stored.n_chunks,
            model=manifest.model.name,
            dimension=manifest.model.dimension,
            runtime=manifest.model.runtime,
            precision=manifest.model.precision,
            vectors=self.stored.vectors.describe(),
            file_counts=manifest.file_counts,
        )

    def close(self) -> None:
        self.stored.close()

    # ------------------------------------------------------------ internals
    def _passages(self, ranked: retrieve.Ranked, top_k: int, query_vector: np.ndarray,
                  info: QuestionInfo) -> tuple[list[Passage], Evidence]:
        """Passages with their highlights and the answer candidates of the first few.

        Overlapping chunks of one document share sentences; a passage never repeats a sentence an earlier passage
        of this answer shows: it is cut to its new sentences (a contiguous run, so its citation still slices the
        stored text) or, when it has none, dropped and the next chunk takes its place.
        """
        stored = self.stored
        chunks = stored.chunks
        passages: list[Passage] = []
        evidence = Evidence()
        shown: dict[int, set[tuple[int, int]]] = {}
        top_score = float(ranked.scores[0]) if len(ranked.scores) else 0.0
        top_doc = None
        scorer = load_scorer() if self.answer_scorer else None
        for row, score in zip(ranked.rows, ranked.scores):
            if len(passages) >= top_k:
                break
            row = int(row)
            doc_row = int(chunks.doc_row[row])
            first, count = int(chunks.sentence_first[row]), int(chunks.sentence_count[row])
            spans = [(int(a), int(b)) for a, b in stored.sentence_spans[first: first + count]]
            seen = shown.setdefault(doc_row, set())
            keep = _new_run([span not in seen for span in spans])
            if keep is None:
                continue
            lo, hi = keep
            seen.update(spans[lo:hi])
            chunk_text = stored.chunk_texts([row])[0]
            chunk_start = int(chunks.char_start[row])
            start, end = spans[lo][0], spans[hi - 1][1]
            if (lo, hi) == (0, count):
                start, end = chunk_start, int(chunks.char_end[row])
            text = chunk_text[start - chunk_start:end - chunk_start]
            citation = chunk_citation(stored, row, stored.chunk_ids([row])[0])
            if (start, end) != (citation.char_start, citation.char_end):
                citation = sentence_citation(stored, citation, chunk_text, start, end)
            vectors = stored.sentence_vectors[first + lo: first + hi].astype(np.float32)
            if top_doc is None:
                top_doc = doc_row
            rank = len(passages)
            if self.answer_scorer:
                _, units = candidate_units(text, start, spans[lo:hi])
                units = _answerable_units(units, _barred(stored, first + lo, hi - lo))
                cands = [Candidate(text=text[u.start - start:u.end - start], vector=vectors[u.core].mean(axis=0),
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
                barred = _barred(stored, first + lo, hi - lo)
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

    def _signals(self, question: str, top: Passage, dense: float, query_tokens: list[str], weights: dict[str, float],
                 evidence: Evidence) -> Signals:
        # The title is part of what retrieval matched (it is prepended to every chunk), so it counts here too.
        top_keys = set(keys(f"{top.citation.title}\n{top.text}"))
        covered = coverage(weights, top_keys)
        rarest = rarest_term(self.stored.bm25, query_tokens, name_terms(question))
        rare_missing = rarest is not None and rarest not in top_keys
        confidence = dense + self.settings.no_answer_coverage_weight * covered
        unknown = unknown_share(self.stored.bm25, query_tokens, weights)
        answer_score = float(sigmoid(evidence.best_logit)) if evidence.best is not None else 0.0
        evidence_score = (confidence + NO_ANSWER_SCORER_WEIGHT * (answer_score - NO_ANSWER_SCORER_CENTRE)
                          - NO_ANSWER_UNKNOWN_WEIGHT * unknown - NO_ANSWER_RARE_MISSING_WEIGHT * rare_missing)
        if not self.answer_scorer:
            answer_score, evidence_score = 0.0, confidence  # the rule of askdocs before the scorer
        return Signals(dense=round(dense, 4), coverage=round(covered, 4), confidence=round(confidence, 4),
                       threshold=self.settings.no_answer_threshold, answer_score=round(answer_score, 4),
                       unknown_terms=round(unknown, 4), rare_term_missing=rare_missing,
                       evidence=round(evidence_score, 4))

    def _answer(self, passages: list[Passage], evidence: Evidence) -> Answer:
        """The best-scored candidate among the first few passages, cited on its own."""
        rank, (start, end), logit = evidence.best
        passage = passages[rank]
        offset = passage.citation.char_start
        return Answer(
            text=passage.text[start - offset:end - offset],
            score=round(float(logit), 6),
            passage_rank=passage.rank,
            citation=sentence_citation(self.stored, passage.citation, passage.text, start, end),
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
            self.logits.append(float(logit))
            if answerable and (self.best is None or logit > self.best[2]):
                self.best = (rank, cand_span, float(logit))


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
_NOT_ANSWERS = np.array([KIND_CODE["heading"], KIND_CODE["caption"], KIND_CODE["furniture"]], dtype=np.int8)


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


def _barred(stored: StoredIndex, first: int, count: int) -> np.ndarray | None:
    """Which of these stored sentences the index knows to be headings, captions or furniture (None: it cannot say)."""
    if stored.sentence_kinds is None:  # an index built before block kinds were kept
        return None
    return np.isin(stored.sentence_kinds[first : first + count], _NOT_ANSWERS)


def open_index(index: str | Path | None = None, settings: Settings | None = None) -> Engine:
    """Open the index at ``index`` (default: settings.index, ``var/index``) with the model it was built with.

    ``settings`` None: the defaults; a face builds them from flags and the environment (Settings.from_environment).
    """
    settings = settings or Settings()
    if index is not None:
        settings = settings.replace(index=Path(index))
    embedder = load_embedder(settings.model, settings.query_runtime, threads=settings.query_threads,
                             precision=settings.precision, model_cache=settings.model_cache).load()
    stored = open_stored_index(Path(settings.index), model=embedder.name, dimension=embedder.dimension,
                               milvus_address=settings.milvus_address,
                               milvus_token=settings.milvus_token.get_secret_value() or None,
                               nprobe=settings.ann_nprobe)
    mismatch = embedder.runtime_mismatch(stored.manifest.model.runtime, settings.index)
    if mismatch is not None:
        stored.close()
        raise mismatch
    return Engine(stored, embedder, settings)


def _locators_out(data: str) -> DocumentLocators | None:
    locators = decode_locators(data)
    if locators is None:
        return None
    return DocumentLocators(unit=locators.unit, starts=list(locators.starts), numbers=list(locators.numbers),
                            sheets=list(locators.sheets))
