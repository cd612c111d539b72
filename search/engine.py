"""An opened index that answers questions: the engine orchestrates (embed, retrieve, then search/answer.py decides
the passages, highlights, answer and no-answer) and serves the stored documents and their pages."""

from __future__ import annotations

import posixpath
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from askdocs.index.embedder import Embedder, load_embedder, model_spec
from askdocs.index.errors import BadInput
from askdocs.index.lexical import tokenize
from askdocs.index import page_boxes
from askdocs.index.locators import decode_locators
from askdocs.index.page_render import NoSuchPage, render_page
from askdocs.index.settings import Settings
from askdocs.index.store import StoredIndex, open_stored_index
from askdocs.index.structure import decode_blocks
from askdocs.index.vectors import Selection

from . import retrieve
from .answer_cache import AnswerCache, CachedAnswer
from .answer import ANSWER_PASSAGES, Evidence, answer_of, choose_passages, no_answer_signals
from .context import prompt_context
from .terms import idf_weights
from .scorer import question_info
from .filters import DocumentTable, chunk_filter
from .tracing import span
from .versions import cited_version
from .models import (AskResponse, DocumentHeading, DocumentLocators, DocumentOut, Filters, IndexStats, Mode, Passage,
                     Question, SpanBoxes)

# Extra chunks retrieved so that passages dropped as repeats are replaced.
DEDUPE_SPARE = 5


class SpanOutOfRange(BadInput, ValueError):
    """GET /documents/{id}?start=&end= with offsets this version of the document does not have."""

    code = "span_out_of_range"
    loc = ("query", "end")


class Engine:
    def __init__(self, stored: StoredIndex, embedder: Embedder, settings: Settings):
        self.stored = stored
        self.embedder = embedder
        self.settings = settings
        self.opened_in: dict[str, float] = {}  # seconds, set by open_index
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
        entry, cached = self._answered(q)
        if not cached:
            return entry.response
        return entry.response.model_copy(update={"cached": True, "took_ms": _ms_since(started)})

    def cached_body(self, key: str) -> tuple[bytes, bool] | None:
        """The response to the question of ``key`` (``AnswerCache.key``) if it is a repeated one, as JSON (cached
        true, took_ms the lookup's), and its no_answer; else None (not counted as a miss: ``ask_body`` with the
        same key follows, and counts it)."""
        started = time.perf_counter()
        entry = self.answer_cache.get(key, count_miss=False)
        if entry is None:
            return None
        return entry.body(_ms_since(started), cached=True), entry.no_answer

    def ask_body(self, question: Question, key: str | None = None) -> tuple[bytes, bool, bool]:
        """``ask``'s response as JSON, the same bytes ``AskResponse.model_dump_json`` gives; its no_answer and
        whether it came from the cache. ``key``: the question's ``AnswerCache.key``, if the caller has it."""
        started = time.perf_counter()
        entry, cached = self._answered(question, key)
        took_ms = _ms_since(started) if cached else entry.response.took_ms
        return entry.body(took_ms, cached), entry.no_answer, cached

    def _answered(self, q: Question, key: str | None = None) -> tuple[CachedAnswer, bool]:
        key = AnswerCache.key(q) if key is None else key
        entry = self.answer_cache.get(key)
        if entry is not None:
            return entry, True
        response = self.answer(q.question, q.top_k, q.mode, filters=q.filters)[0]
        if q.format == "context":
            response = response.model_copy(update={"context": prompt_context(response)})
        entry = CachedAnswer(response)
        self.answer_cache.put(key, entry)
        return entry, False

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
                passages, evidence = choose_passages(self.stored, ranked, shown, query_vector, info, self.answer_scorer)
                signals = (no_answer_signals(self.stored, self.settings, question, passages, float(ranked.dense[0]),
                                             query_tokens, weights, evidence, info.names) if passages else None)
                no_answer = signals is None or signals.evidence < signals.threshold
                answer = None if no_answer or evidence.best is None else answer_of(self.stored, passages, evidence)
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
        this_version = sha256 is None or sha256 == row.sha256
        if this_version and end is not None and end > len(row.text):
            raise SpanOutOfRange(f"end {end} is past the end of the document ({len(row.text)} characters)")
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
            section=self._span_section(row, cited, start, end),
        )

    def _span_section(self, row, cited, start: int | None, end: int | None) -> list[str] | None:
        """The section path a citation of the span carries (search.citations), where the span is in this version."""
        if start is None or end is None:
            return None
        if cited is not None and cited.status != "current":
            if cited.status != "moved":
                return None
            start = cited.char_start
        return self.stored.section_at(self.stored.doc_row_by_id[row.doc_id], start)

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

def open_index(index: str | Path | None = None, settings: Settings | None = None) -> Engine:
    """Open the index at ``index`` (default: settings.index, ``var/index``) with the model it was built with.

    ``settings`` None: the defaults; a face builds them from flags and the environment (Settings.from_environment).
    The engine's ``opened_in`` says how long the question model and the index took (seconds).
    """
    settings = settings or Settings()
    if index is not None:
        settings = settings.replace(index=Path(index))
    spec = model_spec(settings.model)
    started = time.perf_counter()
    # The model loads on a thread while this one opens the index: ONNX Runtime builds its session and FAISS reads
    # its file without the GIL, so start-up waits for the longer of the two rather than their sum.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="askdocs-model") as pool:
        loading = pool.submit(_load_question_model, settings)
        try:
            stored = open_stored_index(Path(settings.index), model=spec.name, dimension=spec.dimension,
                                       milvus_address=settings.milvus_address,
                                       milvus_token=settings.milvus_token.get_secret_value() or None,
                                       nprobe=settings.ann_nprobe)
        except BaseException:
            loading.cancel()
            raise
        index_s = time.perf_counter() - started
        try:
            embedder, model_s = loading.result()
        except BaseException:
            stored.close()
            raise
    mismatch = embedder.runtime_mismatch(stored.manifest.model.runtime, settings.index)
    if mismatch is not None:
        stored.close()
        raise mismatch
    engine = Engine(stored, embedder, settings)
    engine.opened_in = {"question_model": model_s, "index": index_s, "total": time.perf_counter() - started}
    return engine


def _ms_since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)


def _load_question_model(settings: Settings) -> tuple[Embedder, float]:
    started = time.perf_counter()
    embedder = load_embedder(settings.model, settings.query_runtime, threads=settings.query_threads,
                             precision=settings.precision, model_cache=settings.model_cache).load()
    return embedder, time.perf_counter() - started


def _locators_out(data: str) -> DocumentLocators | None:
    locators = decode_locators(data)
    if locators is None:
        return None
    return DocumentLocators(unit=locators.unit, starts=list(locators.starts), numbers=list(locators.numbers),
                            sheets=list(locators.sheets))
