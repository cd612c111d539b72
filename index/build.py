"""The build pipeline: walk the corpus, skip and report bad files, chunk, embed, write the store."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from .chunking import Chunker
from .documents import Document, LoadError, Skipped, iter_files, load_document
from .embedder import Embedder, load_embedder
from .settings import Settings
from .lexical import SETTINGS as BM25_SETTINGS
from .lexical import build_bm25
from .store import ChunkRow, DocumentRow, build_lock, chunk_id_for, write_generation

log = logging.getLogger("askdocs.build")


class BuildError(Exception):
    pass


@dataclass
class BuildReport:
    index_dir: Path
    generation: Path | None = None
    documents: int = 0
    chunks: int = 0
    skipped: list[Skipped] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> str:
        lines = [
            f"Indexed {self.documents} documents as {self.chunks} chunks in {self.seconds:.1f} s -> {self.index_dir}",
        ]
        if self.skipped:
            lines.append(f"Skipped {len(self.skipped)} files:")
            lines.extend(f"  {s.path}: {s.reason}" for s in self.skipped)
        return "\n".join(lines)


# Tokens kept free in every chunk for the document title that is prepended before embedding.
TITLE_TOKENS = 32


def make_chunker(embedder: Embedder, settings: Settings) -> Chunker:
    budget = embedder.max_content_tokens - (TITLE_TOKENS if settings.title_prefix else 0)
    return Chunker(embedder.token_spans, settings.chunk_tokens, settings.chunk_overlap, budget)


def title_prefix(title: str, embedder: Embedder) -> str:
    """The title line prepended to every chunk's retrieval text, cut to TITLE_TOKENS model tokens."""
    title = " ".join(title.split())
    if not title:
        return ""
    spans = embedder.token_spans([title])[0]
    if len(spans) > TITLE_TOKENS:
        title = title[: spans[TITLE_TOKENS][0]].rstrip()
    return title + "\n"


def load_corpus(paths: list[Path], settings: Settings, progress: bool | None = None) -> tuple[list[Document], list[Skipped]]:
    documents: list[Document] = []
    skipped: list[Skipped] = []
    max_bytes = int(settings.max_file_mb * 1_000_000)
    for item in tqdm(list(iter_files(paths)), desc="Reading", unit="file", disable=_no_bar(progress)):
        if isinstance(item, Skipped):
            skipped.append(item)
            log.warning("skipped %s: %s", item.path, item.reason)
            continue
        path, doc_id = item
        try:
            documents.append(load_document(path, doc_id, max_bytes))
        except LoadError as exc:
            skipped.append(Skipped(str(path), str(exc)))
            log.warning("skipped %s: %s", path, exc)
    return documents, skipped


def build_index(paths: list[Path], settings: Settings, progress: bool | None = None) -> BuildReport:
    """Index the files under ``paths`` into ``settings.index``."""
    started = time.perf_counter()
    with build_lock(Path(settings.index)):
        documents, skipped = load_corpus(paths, settings, progress)
        if not documents:
            raise BuildError(
                f"no readable documents under {', '.join(map(str, paths))} "
                f"({len(skipped)} skipped); the existing index, if any, is unchanged"
            )
        report = _build_locked(documents, settings, progress, sources=[str(p) for p in paths])
    report.skipped = skipped
    report.seconds = time.perf_counter() - started
    return report


def build_from_documents(documents: list[Document], settings: Settings, progress: bool | None = None,
                         sources: list[str] | None = None) -> BuildReport:
    """Index documents that were loaded some other way (a BEIR corpus, a test)."""
    started = time.perf_counter()
    if not documents:
        raise BuildError("no documents to index; the existing index, if any, is unchanged")
    with build_lock(Path(settings.index)):
        report = _build_locked(documents, settings, progress, sources=sources or [])
    report.seconds = time.perf_counter() - started
    return report


def _build_locked(documents: list[Document], settings: Settings, progress: bool | None, sources: list[str]) -> BuildReport:
    index_dir = Path(settings.index)
    embedder = load_embedder(settings.model)
    chunker = make_chunker(embedder, settings)
    doc_rows, chunk_rows, retrieval_texts, vectors, sentence_spans, sentence_vectors = _chunk_and_embed(
        documents, chunker, embedder, settings, progress
    )
    bm25 = build_bm25(retrieval_texts)
    manifest = {
        "model": {
            "name": embedder.name,
            "dimension": embedder.dimension,
            "max_tokens": embedder.spec.max_tokens,
            "backend": "torch",
            "normalized": True,
        },
        "chunker": chunker.settings(),
        "retrieval_text": {"title_prefix": settings.title_prefix, "title_tokens": TITLE_TOKENS},
        "bm25": BM25_SETTINGS,
        "vectors": {"type": "flat", "metric": "inner_product"},
        "counts": {"documents": len(doc_rows), "chunks": len(chunk_rows), "sentences": int(len(sentence_spans))},
        "sources": sources,
    }
    generation = write_generation(
        index_dir, doc_rows, chunk_rows, vectors, sentence_spans, sentence_vectors, bm25, manifest
    )
    return BuildReport(index_dir=index_dir, generation=generation, documents=len(doc_rows), chunks=len(chunk_rows))


def _chunk_and_embed(documents: list[Document], chunker: Chunker, embedder: Embedder, settings: Settings,
                     progress: bool | None):
    doc_rows: list[DocumentRow] = []
    chunk_rows: list[ChunkRow] = []
    retrieval_texts: list[str] = []  # what BM25 and the model see: title line + chunk text
    chunk_sentences: list[list[tuple[int, int]]] = []  # offsets in the retrieval text
    all_spans: list[tuple[int, int]] = []
    for doc_row, document in enumerate(tqdm(documents, desc="Chunking", unit="doc", disable=_no_bar(progress))):
        doc_rows.append(
            DocumentRow(document.doc_id, document.title, document.source, document.kind, document.sha256,
                        document.size, document.mtime, document.page_starts, document.meta, document.text)
        )
        prefix = title_prefix(document.title, embedder) if settings.title_prefix else ""
        for chunk in chunker.chunk(document):
            text = document.text[chunk.char_start : chunk.char_end]
            # A chunk that already opens with the title does not need it twice.
            chunk_prefix = "" if text.startswith(prefix.strip()) else prefix
            chunk_rows.append(
                ChunkRow(
                    chunk_id=chunk_id_for(document.doc_id, chunk.ordinal),
                    doc_row=doc_row,
                    ordinal=chunk.ordinal,
                    char_start=chunk.char_start,
                    char_end=chunk.char_end,
                    line_start=chunk.line_start,
                    line_end=chunk.line_end,
                    page=chunk.page,
                    n_tokens=chunk.n_tokens,
                    sentence_first=len(all_spans),
                    sentence_count=len(chunk.sentences),
                    text=text,
                )
            )
            all_spans.extend(chunk.sentences)
            shift = len(chunk_prefix) - chunk.char_start
            chunk_sentences.append([(s + shift, e + shift) for s, e in chunk.sentences])
            retrieval_texts.append(chunk_prefix + text)

    with tqdm(total=len(retrieval_texts), desc="Embedding", unit="chunk", disable=_no_bar(progress)) as bar:
        encoded = embedder.encode(
            retrieval_texts, spans=chunk_sentences, batch_size=settings.embed_batch_size, progress=bar.update
        )
    sentence_vectors = (
        np.concatenate(encoded.span_vectors) if all_spans else np.zeros((0, embedder.dimension), np.float32)
    )
    return doc_rows, chunk_rows, retrieval_texts, encoded.vectors, np.array(all_spans, dtype=np.int64).reshape(-1, 2), sentence_vectors


def _no_bar(progress: bool | None) -> bool | None:
    # tqdm's None means "only on a terminal".
    return None if progress is None else not progress
