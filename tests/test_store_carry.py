"""What an incremental build carries over from the generation before instead of redoing: chunks.sqlite rows
copied inside SQLite (store.CarriedRows), and the checksums of the files this process wrote itself."""

from __future__ import annotations

import numpy as np
import pytest

from askdocs.index import store
from askdocs.index.errors import IndexCorrupt
from askdocs.index.lexical import build_bm25
from askdocs.index.chunking import Chunk
from askdocs.index.store import CarriedRows, DocumentRow, generation_dir, open_stored_index, write_generation, \
    CHUNKS_DB
from askdocs.index.vectors.faiss_store import FaissWriter

DIMENSION = 4


def _document(doc_id: str, text: str, source: str, mtime: float, meta: dict) -> DocumentRow:
    return DocumentRow(doc_id, doc_id.title(), source, "text", "0" * 64, len(text), mtime, (), meta, text)


def _chunk(doc_id: str, doc_row: int, text: str, sentence_first: int) -> Chunk:
    return Chunk(0, 0, len(text), 1, 1, None, 1, doc_row=doc_row, sentence_first=sentence_first,
                 chunk_id=f"{doc_id}#0", n_tokens=5, text=text, section=("Top",))


def _write(index, documents, chunks, carried=None):
    vectors = np.eye(len(chunks), DIMENSION, dtype=np.float32)
    spans = np.array([[0, len(c.text)] for c in chunks], dtype=np.int64)
    return write_generation(index, documents, chunks, vectors, spans, vectors, build_bm25([c.text for c in chunks]),
                            {"model": {"name": "test", "dimension": DIMENSION},
                             "counts": {"documents": len(documents), "chunks": len(chunks)}},
                            writer=FaissWriter(), carried=carried)


def test_copied_rows_keep_their_stored_text_and_take_the_new_source_mtime_metadata_and_row_numbers(tmp_path):
    index = tmp_path / "index"
    _write(index, [_document("kept", "Kept text.", "/a/kept.txt", 1.0, {"team": "a"}),
                   _document("gone", "Gone text.", "/a/gone.txt", 1.0, {})],
           [_chunk("kept", 0, "Kept text.", 0), _chunk("gone", 1, "Gone text.", 1)])
    previous = generation_dir(index) / CHUNKS_DB

    # "kept" moves to row 1 behind a new document, and was touched and re-tagged: its row is copied (its text in
    # memory here is a stand-in the copy must not use), its source, mtime, metadata and row numbers are new.
    documents = [_document("new", "New text.", "/a/new.txt", 3.0, {}),
                 _document("kept", "not read", "/b/kept.txt", 2.0, {"team": "b"})]
    chunks = [_chunk("new", 0, "New text.", 0), _chunk("kept", 1, "not read", 1)]
    _write(index, documents, chunks, CarriedRows(previous, [-1, 0], [-1, 0]))

    stored = open_stored_index(index, verify_checksums=True)
    try:
        rows = stored.all_documents()
        assert [(d.doc_id, d.text, d.source, d.mtime, d.meta) for d in rows] == [
            ("new", "New text.", "/a/new.txt", 3.0, {}), ("kept", "Kept text.", "/b/kept.txt", 2.0, {"team": "b"})]
        assert [(c.chunk_id, c.doc_row, c.sentence_first, c.text, c.section) for c in stored.all_chunks()] == [
            ("new#0", 0, 0, "New text.", ("Top",)), ("kept#0", 1, 1, "Kept text.", ("Top",))]
    finally:
        stored.close()


def test_the_files_this_process_wrote_are_not_read_again_to_check_them_until_they_change(tmp_path, monkeypatch):
    index = tmp_path / "index"
    _write(index, [_document("kept", "Kept text.", "/a/kept.txt", 1.0, {})], [_chunk("kept", 0, "Kept text.", 0)])
    hashed = []
    real = store.sha256_file
    monkeypatch.setattr(store, "sha256_file", lambda path: hashed.append(path.name) or real(path))
    open_stored_index(index, verify_checksums=True).close()
    assert hashed == []  # a watcher's next sync opens what it just wrote without re-reading ~85 MB

    # Damaged since (same size, other bytes): the stats moved, so the file is read and the damage found.
    database = generation_dir(index) / CHUNKS_DB
    data = bytearray(database.read_bytes())
    data[200:260] = b"\xff" * 60
    database.write_bytes(bytes(data))
    with pytest.raises(IndexCorrupt, match="checksum"):
        open_stored_index(index, verify_checksums=True)
    assert CHUNKS_DB in hashed


def test_checksums_handed_over_by_the_process_that_wrote_a_generation_spare_reading_it(tmp_path, monkeypatch):
    # What a server does with its build process's checksums (index.watch): it reloads without re-reading.
    index = tmp_path / "index"
    _write(index, [_document("kept", "Kept text.", "/a/kept.txt", 1.0, {})], [_chunk("kept", 0, "Kept text.", 0)])
    written = store.written_checksums()
    hashed = []
    real = store.sha256_file
    monkeypatch.setattr(store, "sha256_file", lambda path: hashed.append(path.name) or real(path))
    store.trust_checksums({})  # a process that wrote nothing reads every file to check it
    open_stored_index(index, verify_checksums=True).close()
    assert CHUNKS_DB in hashed
    hashed.clear()
    store.trust_checksums(written)
    open_stored_index(index, verify_checksums=True).close()
    assert hashed == []
