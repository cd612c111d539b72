"""Incremental builds: what a new build may take over from the live generation instead of recomputing.

A document whose bytes did not change (same doc id, same sha256) keeps its stored text, chunks and
vectors: it is not parsed, chunked or embedded again. In every other document, a chunk whose retrieval
text and sentence spans equal a stored chunk's (the untouched paragraphs of an edited file, a renamed
file) keeps that chunk's vectors. Reuse is only sound when the live generation was made the same way:
``manifest.build_parts`` says which changes (model, chunker, retrieval text, text-extraction library) mean
a full build, and the build says why.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, replace
from pathlib import Path
from stat import S_ISREG

import numpy as np

from . import file_stats
from .chunking import Chunk
from .documents import FORMAT_META_KEYS, Document, LoadError, sha256_regular
from .embedder import Embedder
from .lexical import load_chunk_tokens
from .locators import decode_locators
from .manifest import Manifest, Part, full_build_reason
from .metadata import document_metadata
from .npy_rows import NpyRows
from .retrieval_text import chunk_key, chunk_retrieval_text, title_prefix
from .structure import decode_blocks, furniture_within
from .store import BM25_DIR, load_chunk_keys, DocumentRow, IndexUnavailable, StoredIndex, open_stored_index, read_current
from .vectors.faiss_store import EXACT_KINDS

log = logging.getLogger("askdocs.build")

@dataclass(frozen=True)
class StoredDocument:
    """A document of the previous generation and where its chunks are. Why this is not ``DocumentRow``: the
    chunk rows are the previous generation's, which only an incremental build asks for."""

    row: DocumentRow
    chunk_rows: list[int]  # rows of its chunks in the previous generation, in order


@dataclass(frozen=True)
class WrittenRows:
    """The rows of a generation as the process that wrote it holds them, in the form a reader gets them back.

    Why: reading every row of the previous generation back from disk (SQLite, the vectors, the BM25 tokens) was
    the largest part of a one-file sync that grows with the folder (~0.4-0.5 s for SciFact). The process that
    builds the next sync (a watcher's build process) usually wrote that generation itself.
    """

    path: Path  # the generation's folder
    files: dict  # its manifest's file records (size and sha256 of each): what the rows were written as
    documents: list[DocumentRow]
    chunks: list[Chunk]
    vectors: np.ndarray
    tokens: object  # lexical.ChunkTokens
    keys: list[str]
    file_stats: dict


# The generation this process wrote last; a build whose previous generation is another one reads it from disk.
_written: WrittenRows | None = None


def keep_written(generation: Path, manifest: Manifest, documents: list[DocumentRow], chunks: list[Chunk],
                 vectors: np.ndarray, tokens, keys: list[str], stats: dict) -> None:
    """Remember the generation just written at ``generation`` (with ``manifest``) for the next build in this
    process."""
    global _written
    _written = None
    if not _exact_vectors(manifest):
        return
    _written = WrittenRows(
        generation.resolve(), _recorded_files(manifest),
        # As the reader parses them: JSON turns a tuple in the metadata into a list, and a list != a tuple.
        [replace(d, page_starts=tuple(d.page_starts), page_labels=tuple(d.page_labels),
                 meta=json.loads(json.dumps(d.meta)) if d.meta else {}) for d in documents],
        [c if type(c.section) is tuple else replace(c, section=tuple(c.section)) for c in chunks],
        np.ascontiguousarray(vectors, dtype=np.float32), tokens, list(keys), dict(stats))


def forget_written() -> None:
    global _written
    _written = None


def _written_rows(stored: StoredIndex) -> WrittenRows | None:
    """The rows this process wrote, if ``stored`` is that generation. The folder's name is unique to one write,
    and its manifest's checksums (which opening it verified against the files) must be the ones written: a
    generation another process published, or one damaged and rewritten since, is read from disk."""
    kept = _written
    if kept is None or kept.path != stored.path.resolve():
        return None
    return kept if _recorded_files(stored.manifest) == kept.files else None


def _recorded_files(manifest: Manifest) -> dict:
    """The generation's manifest file records in the form ``WrittenRows.files`` keeps them."""
    return {name: {"bytes": record.bytes, "sha256": record.sha256} for name, record in manifest.files.items()}


def _exact_vectors(manifest: Manifest) -> bool:
    """Whether the generation's vector store gives back exactly the float32 vectors written (a quantising index
    would not, and another store is not known to)."""
    return manifest.vectors.get("type") in EXACT_KINDS


class Previous:
    """The live generation, opened (and checksummed) to take unchanged documents and chunks from."""

    def __init__(self, stored: StoredIndex, embedder: Embedder, use_title: bool):
        self.stored = stored
        self._embedder = embedder
        self._use_title = use_title
        written = _written_rows(stored)
        self.from_memory = written is not None  # the rows were this process's own, not read back
        self.chunks: list[Chunk] = written.chunks if written else stored.all_chunks()
        self.vectors = written.vectors if written else stored.all_vectors()
        by_doc: dict[int, list[int]] = {}
        for row, chunk in enumerate(self.chunks):
            by_doc.setdefault(chunk.doc_row, []).append(row)
        self.documents = {
            document.doc_id: StoredDocument(document, by_doc.get(row, []))
            for row, document in enumerate(written.documents if written else stored.all_documents())
        }
        self._by_key: dict[str, int] | None = None
        self._all_sentence_vectors: np.ndarray | None = None
        # Each chunk's BM25 tokens, None in a generation saved without them (its texts are tokenised again).
        self.tokens = written.tokens if written else load_chunk_tokens(stored.path / BM25_DIR, stored.bm25)
        if self.tokens is not None and len(self.tokens) != len(self.chunks):
            self.tokens = None
        # Each chunk's chunk_key, None in a generation saved without them (derived again when needed).
        self.keys = written.keys if written else load_chunk_keys(stored.path, len(self.chunks))
        # An unchanged document's chunks can be taken over without deriving their retrieval texts again.
        self.carried = self.tokens is not None and self.keys is not None
        # What each document's file looked like when it was read (index.file_stats), and how many files this
        # build hashed because their stats did not vouch for them.
        self.file_stats = written.file_stats if written else file_stats.load(stored.path)
        self.hashed = 0

    def keep(self) -> None:
        """Keep these rows for the next build in this process (a build that publishes nothing: the live
        generation stays, and its rows are the ones just read)."""
        global _written
        if self.from_memory or self.tokens is None or self.keys is None:
            return
        if not _exact_vectors(self.stored.manifest):
            return
        _written = WrittenRows(self.stored.path.resolve(), _recorded_files(self.stored.manifest), [d.row for d in self.documents.values()],
                               self.chunks, self.vectors, self.tokens, self.keys, self.file_stats)

    @property
    def doc_ids(self) -> set[str]:
        return set(self.documents)

    def unchanged_file(self, path: Path, doc_id: str, max_bytes: int, root: Path | None = None,
                       stat=None, trust_stats: bool = True) -> Document | None:
        """The stored document for ``path`` if the file's bytes are the ones it was made from, else None.

        ``stat``: the file's stat, if the caller took one. ``trust_stats``: a file whose size, mtime, ctime and
        inode are the ones recorded when it was read is unchanged without being read (index.file_stats);
        False hashes it whatever its stats say."""
        stored = self.documents.get(doc_id)
        if stored is None:
            return None
        try:
            stat = stat or path.stat()
            # Size first: a changed or oversized file is recognised without reading a byte of it. Only a
            # regular file is opened (sha256_regular checks again on the open file): see documents.read_regular.
            if not S_ISREG(stat.st_mode) or stat.st_size != stored.row.size or stat.st_size > max_bytes:
                return None
            if not (trust_stats and self.file_stats.get(doc_id) == file_stats.stat_key(stat)):
                self.hashed += 1
                if sha256_regular(path, max_bytes) != stored.row.sha256:
                    return None
        except (OSError, LoadError):
            return None  # the loader reports it
        return self._taken_over(path, doc_id, root, stat.st_size, stat.st_mtime)

    def recorded_file(self, path: Path, doc_id: str, root: Path | None = None) -> Document:
        """The stored document for ``path``, taken as unchanged without looking at the file (a watcher did not
        report it changed since it was read; index.changed_walk)."""
        row = self.documents[doc_id].row
        return self._taken_over(path, doc_id, root, row.size, row.mtime)

    def _taken_over(self, path: Path, doc_id: str, root: Path | None, size: int, mtime: float) -> Document:
        row = self.documents[doc_id].row
        # Front matter lives in the unchanged text, but a sidecar can change on its own; what the loader found
        # in the unchanged bytes (an encoding) is as it was.
        format_meta = {k: v for k, v in row.meta.items() if k in FORMAT_META_KEYS}
        # Made once with the file's fields, not made and then copied by dataclasses.replace: this runs for every
        # unchanged document of every sync.
        document = self.stored_document(doc_id, source=str(path), size=size, mtime=mtime,
                                        meta={**format_meta, **document_metadata(path, row.text, row.kind, root)})
        if row.kind != "email":
            return document
        from .formats.attachments import with_children

        return with_children(document, (self.stored_document(d) for d in self.documents if d.startswith(doc_id + "/")))

    def stored_document(self, doc_id: str, **found) -> Document:
        """The document as the previous generation stored it, without looking at the file; ``found``: fields
        taken from the file instead (source, size, mtime, meta)."""
        row = self.documents[doc_id].row
        fields = dict(source=row.source, size=row.size, mtime=row.mtime, meta=row.meta)
        fields.update(found)
        return Document(doc_id=row.doc_id, title=row.title, sha256=row.sha256, text=row.text, kind=row.kind,
                        page_starts=row.page_starts, blocks=decode_blocks(row.blocks),
                        locators=decode_locators(row.locators), page_labels=row.page_labels, **fields)

    def unchanged(self, document: Document) -> StoredDocument | None:
        stored = self.documents.get(document.doc_id)
        if stored is not None and stored.row.sha256 == document.sha256 and stored.row.title == document.title:
            return stored
        return None

    def sentences(self, row: int) -> tuple[np.ndarray, np.ndarray]:
        """Sentence spans (document offsets) and sentence vectors of the stored chunk at ``row``."""
        chunk = self.chunks[row]
        window = slice(chunk.sentence_first, chunk.sentence_first + chunk.sentence_count)
        return self.stored.sentence_spans[window], self._sentence_vectors()[window]

    def _sentence_vectors(self) -> np.ndarray:
        # Read whole, once: a positional read per chunk (12k for SciFact) cost a one-file sync 0.1 s, and the build
        # holds every sentence vector in memory anyway, to write the new generation's (slices here are views).
        if self._all_sentence_vectors is None:
            vectors = self.stored.sentence_vectors
            self._all_sentence_vectors = vectors.copy() if isinstance(vectors, NpyRows) else vectors
        return self._all_sentence_vectors

    def kinds(self, row: int) -> np.ndarray:
        """Block kind codes of the stored chunk's sentences (all "paragraph" in an index without them)."""
        chunk = self.chunks[row]
        if self.stored.sentence_kinds is None:
            return np.zeros(chunk.sentence_count, np.int8)
        return self.stored.sentence_kinds[chunk.sentence_first: chunk.sentence_first + chunk.sentence_count]

    def chunk_with_key(self, key: str) -> int | None:
        """The row of a stored chunk the model saw exactly this input for, if any."""
        if self._by_key is None:
            self._by_key = self._index_keys()
        return self._by_key.get(key)

    def _index_keys(self) -> dict[str, int]:
        # Only built when some document has to be chunked again: most incremental builds never need it.
        keys: dict[str, int] = {}
        if self.keys is not None:
            for row, key in enumerate(self.keys):
                keys.setdefault(key, row)
            return keys
        for stored in self.documents.values():
            title_line = title_prefix(stored.row.title, self._embedder) if self._use_title else ""
            blocks = decode_blocks(stored.row.blocks)
            for row in stored.chunk_rows:
                chunk = self.chunks[row]
                spans, _ = self.sentences(row)
                text, relative = chunk_retrieval_text(
                    title_line, chunk.section if self._use_title else (), stored.row.title, chunk.text,
                    chunk.char_start, spans, furniture_within(blocks, chunk.char_start, chunk.char_end),
                    self._embedder)
                keys.setdefault(chunk_key(text, relative), row)
        return keys

    def close(self) -> None:
        self.stored.close()


def open_previous(index_dir: Path, parts: list[Part], embedder: Embedder, use_title: bool, rebuild: bool,
                  milvus_address: str | None = None, milvus_token: str | None = None,
                  ) -> tuple[Previous | None, str | None]:
    """The live generation to build on, or None and the reason this build starts from scratch."""
    if rebuild:
        return None, "--rebuild was given"
    current = read_current(index_dir)
    if current is None:
        return None, "there is no index yet" if not (index_dir / "CURRENT").exists() else "the current index is unreadable"
    reason = full_build_reason(current[1], parts)
    if reason:
        return None, reason
    try:
        stored = open_stored_index(index_dir, milvus_address=milvus_address, milvus_token=milvus_token)
    except IndexUnavailable as exc:
        return None, f"the current index cannot be reused: {exc}"
    return Previous(stored, embedder, use_title), None

