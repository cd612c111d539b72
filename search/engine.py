"""An opened index that answers questions."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from index.embedder import Embedder, load_embedder
from index.settings import Settings
from index.store import StoredIndex, open_stored_index

from index.lexical import tokenize

from . import retrieve
from .answer import coverage, idf_weights, sentence_scores
from .context import prompt_context
from .models import Answer, AskResponse, Citation, DocumentOut, Highlight, IndexStats, Mode, Passage, Question, Signals

LEXICAL_WEIGHT = 0.3


class Engine:
    def __init__(self, stored: StoredIndex, embedder: Embedder, settings: Settings):
        self.stored = stored
        self.embedder = embedder
        self.settings = settings
        self.fusion = retrieve.FusionSettings(
            method=settings.fusion, dense_weight=settings.dense_weight, rrf_k=settings.rrf_k,
            candidates=settings.candidates,
        )

    # ------------------------------------------------------------ questions
    def ask(self, question: str | Question, top_k: int = 5, mode: Mode = "hybrid") -> AskResponse:
        q = question if isinstance(question, Question) else Question(question=question, top_k=top_k, mode=mode)
        response = self.answer(q.question, q.top_k, q.mode)[0]
        return response.model_copy(update={"context": prompt_context(response)}) if q.format == "context" else response

    def search(self, question: str | Question, top_k: int = 5, mode: Mode = "hybrid") -> list[Passage]:
        return self.ask(question, top_k, mode).passages

    def answer(self, question: str, top_k: int, mode: Mode, depth: int = 0) -> tuple[AskResponse, retrieve.Ranked]:
        """``ask`` without the API's limits, also returning the ranking ``depth`` chunks deep (for evaluation)."""
        started = time.perf_counter()
        query_vector = self.embedder.encode_queries([question])[0]
        query_tokens = tokenize(question)
        ranked = self._retrieve(mode, query_vector, query_tokens, max(top_k, depth))
        weights = idf_weights(self.stored.bm25, query_tokens)
        passages = self._passages(ranked, top_k, query_vector, weights)
        signals = self._signals(passages[0], float(ranked.dense[0]), weights) if passages else None
        no_answer = signals is None or signals.confidence < signals.threshold
        answer = None if no_answer else self._answer(passages[0])
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

    def _retrieve(self, mode: Mode, query_vector: np.ndarray, query_tokens: list[str], k: int) -> retrieve.Ranked:
        if mode == "dense":
            return retrieve.dense(self.stored, query_vector, k)
        if mode == "bm25":
            return retrieve.bm25(self.stored, query_vector, query_tokens, k)
        return retrieve.hybrid(self.stored, query_vector, query_tokens, k, self.fusion)

    # ------------------------------------------------------------ documents
    def document(self, doc_id: str) -> DocumentOut | None:
        row = self.stored.document(doc_id)
        if row is None:
            return None
        return DocumentOut(
            doc_id=row.doc_id, title=row.title, source=row.source, kind=row.kind, sha256=row.sha256,
            size=row.size, text=row.text, page_starts=list(row.page_starts),
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
        )

    def close(self) -> None:
        self.stored.close()

    # ------------------------------------------------------------ internals
    def _passages(self, ranked: retrieve.Ranked, top_k: int, query_vector: np.ndarray,
                  weights: dict[str, float]) -> list[Passage]:
        stored = self.stored
        chunks = stored.chunks
        rows = [int(r) for r in ranked.rows[:top_k]]
        texts = stored.chunk_texts(rows)
        chunk_ids = stored.chunk_ids(rows)
        passages = []
        for rank, (row, score, text, chunk_id) in enumerate(zip(rows, ranked.scores, texts, chunk_ids), 1):
            doc_row = int(chunks["doc_row"][row])
            char_start = int(chunks["char_start"][row])
            first, count = int(chunks["sentence_first"][row]), int(chunks["sentence_count"][row])
            spans = stored.sentence_spans[first : first + count]
            sentence_texts = [text[s - char_start : e - char_start] for s, e in spans]
            best = int(np.argmax(sentence_scores(
                query_vector, stored.sentence_vectors[first : first + count], sentence_texts, weights, LEXICAL_WEIGHT
            ))) if count else None
            highlight = (
                Highlight(char_start=int(spans[best][0]), char_end=int(spans[best][1]), text=sentence_texts[best])
                if best is not None
                else Highlight(char_start=char_start, char_end=int(chunks["char_end"][row]), text=text)
            )
            page = int(chunks["page"][row]) or None
            passages.append(
                Passage(
                    rank=rank,
                    score=round(float(score), 6),
                    text=text,
                    highlight=highlight,
                    citation=Citation(
                        doc_id=stored.doc_ids[doc_row],
                        title=stored.doc_titles[doc_row],
                        source=stored.doc_sources[doc_row],
                        chunk_id=chunk_id,
                        char_start=char_start,
                        char_end=int(chunks["char_end"][row]),
                        line_start=int(chunks["line_start"][row]),
                        line_end=int(chunks["line_end"][row]),
                        page=page,
                    ),
                )
            )
        return passages

    def _signals(self, top: Passage, dense: float, weights: dict[str, float]) -> Signals:
        # The title is part of what retrieval matched (it is prepended to every chunk), so it counts here too.
        covered = coverage(weights, f"{top.citation.title}\n{top.text}")
        confidence = dense + self.settings.no_answer_coverage_weight * covered
        return Signals(dense=round(dense, 4), coverage=round(covered, 4), confidence=round(confidence, 4),
                       threshold=self.settings.no_answer_threshold)

    def _answer(self, passage: Passage) -> Answer:
        cited = passage.citation
        highlight = passage.highlight
        # Lines of the sentence follow from the chunk's stored first line and the newlines before it in the chunk.
        before = passage.text[: highlight.char_start - cited.char_start]
        line_start = cited.line_start + before.count("\n")
        line_end = line_start + highlight.text.count("\n")
        return Answer(
            text=highlight.text,
            score=passage.score,
            passage_rank=passage.rank,
            citation=cited.model_copy(
                update={
                    "char_start": highlight.char_start,
                    "char_end": highlight.char_end,
                    "line_start": line_start,
                    "line_end": line_end,
                    "page": self.stored.page_at(self.stored.doc_row_by_id[cited.doc_id], highlight.char_start),
                }
            ),
        )


def open_index(index: str | Path | None = None, settings: Settings | None = None) -> Engine:
    """Open the index at ``index`` (default: settings.index, ``var/index``) with the model it was built with."""
    settings = settings or Settings()
    if index is not None:
        settings = settings.model_copy(update={"index": Path(index)})
    embedder = load_embedder(settings.model)
    stored = open_stored_index(Path(settings.index), model=embedder.name, dimension=embedder.dimension)
    return Engine(stored, embedder, settings)
