"""An opened index that answers questions."""

from __future__ import annotations

import posixpath
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from index import ann
from index.embedder import Embedder, built_runtime, load_embedder
from index.lexical import tokenize
from index.settings import Settings
from index.store import IndexMismatch, StoredIndex, open_stored_index
from index.structure import KIND_CODE

from . import retrieve
from .answer import coverage, idf_weights, sentence_scores
from .citations import chunk_citation, sentence_citation
from .context import prompt_context
from .filters import ChunkFilter, DocumentTable, chunk_filter
from .models import Answer, AskResponse, DocumentOut, Filters, Highlight, IndexStats, Mode, Passage, Question, Signals

# Chosen on SQuAD dev questions by bench/tune_answer.py (README, "The answer sentence").
ANSWER_LEXICAL_WEIGHT = 0.5
ANSWER_PASSAGES = 3
ANSWER_RANK_PENALTY = 0.02


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

    # ------------------------------------------------------------ questions
    def ask(self, question: str | Question, top_k: int = 5, mode: Mode = "hybrid",
            filters: Filters | dict | None = None) -> AskResponse:
        q = question if isinstance(question, Question) else Question(
            question=question, top_k=top_k, mode=mode, filters=filters
        )
        response = self.answer(q.question, q.top_k, q.mode, filters=q.filters)[0]
        return response.model_copy(update={"context": prompt_context(response)}) if q.format == "context" else response

    def search(self, question: str | Question, top_k: int = 5, mode: Mode = "hybrid",
               filters: Filters | dict | None = None) -> list[Passage]:
        return self.ask(question, top_k, mode, filters).passages

    def answer(self, question: str, top_k: int, mode: Mode, depth: int = 0,
               filters: Filters | None = None) -> tuple[AskResponse, retrieve.Ranked]:
        """``ask`` without the API's limits, also returning the ranking ``depth`` chunks deep (for evaluation)."""
        started = time.perf_counter()
        only = chunk_filter(self.documents_table, filters)
        query_vector = self.embedder.encode_queries([question])[0]
        query_tokens = tokenize(question)
        ranked = self._retrieve(mode, query_vector, query_tokens, max(top_k, depth), only)
        weights = idf_weights(self.stored.bm25, query_tokens)
        passages, highlight_scores = self._passages(ranked, max(top_k, ANSWER_PASSAGES), query_vector, weights)
        signals = self._signals(passages[0], float(ranked.dense[0]), weights) if passages else None
        no_answer = signals is None or signals.confidence < signals.threshold
        answer = None if no_answer else self._answer(passages, highlight_scores)
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
        return response, ranked

    def _retrieve(self, mode: Mode, query_vector: np.ndarray, query_tokens: list[str], k: int,
                  only: ChunkFilter | None) -> retrieve.Ranked:
        if mode == "dense":
            return retrieve.dense(self.stored, query_vector, k, only)
        if mode == "bm25":
            return retrieve.bm25(self.stored, query_vector, query_tokens, k, only)
        return retrieve.hybrid(self.stored, query_vector, query_tokens, k, self.fusion, only)

    # ------------------------------------------------------------ documents
    def document(self, doc_id: str) -> DocumentOut | None:
        row = self.stored.document(doc_id)
        if row is None:
            return None
        return DocumentOut(
            doc_id=row.doc_id, title=row.title, source=row.source, kind=row.kind, sha256=row.sha256,
            size=row.size, text=row.text, page_starts=list(row.page_starts),
            folder=posixpath.dirname(row.doc_id),
            modified=datetime.fromtimestamp(row.mtime, timezone.utc) if row.mtime else None,
            meta=row.meta,
        )

    def stats(self) -> IndexStats:
        manifest = self.stored.manifest
        return IndexStats(
            path=str(self.stored.path),
            generation=manifest["generation"],
            built_at=manifest["built_at"],
            documents=self.stored.n_documents,
            chunks=self.stored.n_chunks,
            model=manifest["model"]["name"],
            dimension=manifest["model"]["dimension"],
            runtime=built_runtime(manifest["model"]),
            precision=manifest["model"].get("precision"),
            vectors=self._vectors_description(manifest.get("vectors") or {}),
        )

    def _vectors_description(self, section: dict) -> str:
        if section.get("type") == "milvus":
            return f"Milvus collection {section['collection']!r} at {section['uri']} (exact)"
        # The lists probed are the served ones: ASKDOCS_ANN_NPROBE may override what the build recorded.
        return ann.describe({**section, "nprobe": self.stored.nprobe} if self.stored.approximate else section)

    def close(self) -> None:
        self.stored.close()

    # ------------------------------------------------------------ internals
    def _passages(self, ranked: retrieve.Ranked, top_k: int, query_vector: np.ndarray,
                  weights: dict[str, float]) -> tuple[list[Passage], list[float]]:
        """Passages with their highlights, and each highlight's sentence score (to pick the answer)."""
        stored = self.stored
        chunks = stored.chunks
        rows = [int(r) for r in ranked.rows[:top_k]]
        passages, highlight_scores = [], []
        for rank, (row, score, text, chunk_id) in enumerate(
            zip(rows, ranked.scores, stored.chunk_texts(rows), stored.chunk_ids(rows)), 1
        ):
            char_start = int(chunks["char_start"][row])
            first, count = int(chunks["sentence_first"][row]), int(chunks["sentence_count"][row])
            spans = stored.sentence_spans[first : first + count]
            sentence_texts = [text[s - char_start : e - char_start] for s, e in spans]
            scores = sentence_scores(
                query_vector, stored.sentence_vectors[first : first + count].astype(np.float32), sentence_texts, weights,
                ANSWER_LEXICAL_WEIGHT,
            )
            scores = _only_answerable(scores, stored, first, count)
            best = int(np.argmax(scores))
            passages.append(
                Passage(
                    rank=rank,
                    score=round(float(score), 6),
                    text=text,
                    highlight=Highlight(char_start=int(spans[best][0]), char_end=int(spans[best][1]),
                                        text=sentence_texts[best]),
                    citation=chunk_citation(stored, row, chunk_id),
                )
            )
            highlight_scores.append(float(scores[best]))
        return passages, highlight_scores

    def _signals(self, top: Passage, dense: float, weights: dict[str, float]) -> Signals:
        # The title is part of what retrieval matched (it is prepended to every chunk), so it counts here too.
        covered = coverage(weights, f"{top.citation.title}\n{top.text}")
        confidence = dense + self.settings.no_answer_coverage_weight * covered
        return Signals(dense=round(dense, 4), coverage=round(covered, 4), confidence=round(confidence, 4),
                       threshold=self.settings.no_answer_threshold)

    def _answer(self, passages: list[Passage], highlight_scores: list[float]) -> Answer:
        """The best highlight among the first few passages; a later passage must beat an earlier one clearly."""
        considered = range(min(ANSWER_PASSAGES, len(passages)))
        best = max(considered, key=lambda i: highlight_scores[i] - ANSWER_RANK_PENALTY * i)
        passage = passages[best]
        highlight = passage.highlight
        return Answer(
            text=highlight.text,
            score=round(highlight_scores[best], 6),
            passage_rank=passage.rank,
            citation=sentence_citation(self.stored, passage.citation, passage.text, highlight.char_start,
                                       highlight.char_end),
        )


# Block kinds a highlight or answer is never taken from while the passage has another sentence: a heading
# restates the question ("5.4 How can add-on packages be removed?") without answering it.
_NOT_ANSWERS = np.array([KIND_CODE["heading"], KIND_CODE["caption"], KIND_CODE["furniture"]], dtype=np.int8)


def _only_answerable(scores: np.ndarray, stored: StoredIndex, first: int, count: int) -> np.ndarray:
    if stored.sentence_kinds is None:  # an index built before block kinds were kept
        return scores
    barred = np.isin(stored.sentence_kinds[first : first + count], _NOT_ANSWERS)
    if barred.all() or not barred.any():
        return scores
    return np.where(barred, -np.inf, scores)


def open_index(index: str | Path | None = None, settings: Settings | None = None) -> Engine:
    """Open the index at ``index`` (default: settings.index, ``var/index``) with the model it was built with."""
    settings = settings or Settings()
    if index is not None:
        settings = settings.model_copy(update={"index": Path(index)})
    embedder = load_embedder(settings.model, settings.query_runtime, threads=settings.query_threads,
                             precision=settings.precision).load()
    stored = open_stored_index(Path(settings.index), model=embedder.name, dimension=embedder.dimension,
                               milvus_address=settings.milvus_address,
                               milvus_token=settings.milvus_token.get_secret_value() or None,
                               nprobe=settings.ann_nprobe)
    problem = embedder.runtime_problem(stored.manifest.get("model", {}))
    if problem is not None:
        stored.close()
        raise IndexMismatch(f"index at {settings.index}: {problem}")
    return Engine(stored, embedder, settings)
