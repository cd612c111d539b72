"""The previous generation kept in memory (index.incremental.WrittenRows): a build in the process that wrote
the live generation takes its rows from memory instead of reading them back, gets exactly what reading them
back gives, and reads from disk whenever the live generation is not the one it wrote."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

from askdocs.index import incremental
from askdocs.index.build import build_index, describe_build
from askdocs.index.embedder import load_embedder
from askdocs.index.settings import Settings
from askdocs.index.store import StoredIndex, generation_dir

from .fixtures import write_corpus
from .test_watch import assert_same_as_a_fresh_build


def _previous(settings: Settings, from_memory: bool) -> incremental.Previous:
    embedder = load_embedder(settings.model, settings.build_runtime, precision=settings.precision)
    previous, reason = incremental.open_previous(settings.index, describe_build(settings), embedder,
                                                 settings.title_prefix, rebuild=False)
    assert reason is None and previous.from_memory is from_memory
    return previous


def _tokens(previous: incremental.Previous) -> list[list[str]]:
    t = previous.tokens
    return [[t.vocab[i] for i in t.ids[t.indptr[r]: t.indptr[r + 1]]] for r in range(len(t))]


def test_the_rows_kept_in_memory_are_the_rows_read_back_from_disk(tmp_path):
    docs = write_corpus(tmp_path / "docs")
    (docs / "plan.txt").write_text("Harbour plan\n\nThe harbour crane is inspected every March.\n")
    settings = Settings(index=tmp_path / "index", precision="fp32")
    build_index([docs], settings, progress=False)
    kept = _previous(settings, from_memory=True)
    incremental.forget_written()
    read = _previous(settings, from_memory=False)
    try:
        assert [d.row for d in kept.documents.values()] == [d.row for d in read.documents.values()]
        assert [d.chunk_rows for d in kept.documents.values()] == [d.chunk_rows for d in read.documents.values()]
        assert kept.chunks == read.chunks
        assert kept.vectors.dtype == read.vectors.dtype and np.array_equal(kept.vectors, read.vectors)
        assert kept.keys == read.keys and kept.file_stats == read.file_stats
        assert _tokens(kept) == _tokens(read) and kept.carried and read.carried
    finally:
        kept.close()
        read.close()
    # A build that publishes nothing keeps the rows it read (and checked against every file) for the next one.
    assert not build_index([docs], settings, progress=False).published
    _previous(settings, from_memory=True).close()


def test_a_sync_takes_its_own_generation_from_memory_and_one_another_process_published_from_disk(
        tmp_path, monkeypatch):
    docs = write_corpus(tmp_path / "docs")
    plan = docs / "plan.txt"
    plan.write_text("Harbour plan\n\nThe harbour crane is inspected every March.\n")
    settings = Settings(index=tmp_path / "index", precision="fp32")
    build_index([docs], settings, progress=False)

    reads: list[Path] = []
    all_documents = StoredIndex.all_documents

    def counted(stored):
        reads.append(stored.path)
        return all_documents(stored)

    monkeypatch.setattr(StoredIndex, "all_documents", counted)

    plan.write_text(plan.read_text().replace("March", "April"))
    edited = build_index([docs], settings, progress=False)
    assert edited.changes.updated == ["plan.txt"] and reads == []  # the generation it wrote itself: no read back
    assert_same_as_a_fresh_build(docs, settings.index, tmp_path / "1", settings)
    reads.clear()

    # Another process publishes a generation between two syncs of this one: its rows are not the ones in memory.
    (docs / "notes" / "bicycle.txt").unlink()
    (docs / "ferry.txt").write_text("Ferry times\n\nThe ferry to the island leaves at seven.\n")
    script = ("import sys; from pathlib import Path; from askdocs.index.build import build_index; "
              "from askdocs.index.settings import Settings; "
              "build_index([Path(sys.argv[1])], Settings(index=Path(sys.argv[2]), precision='fp32'), progress=False)")
    subprocess.run([sys.executable, "-c", script, str(docs), str(settings.index)], check=True, timeout=600)
    other = generation_dir(settings.index).resolve()
    plan.write_text(plan.read_text().replace("April", "May"))
    synced = build_index([docs], settings, progress=False)
    assert [path.resolve() for path in reads] == [other]  # the other process's generation, read back from disk
    assert synced.changes.updated == ["plan.txt"] and synced.changes.added == [] and synced.changes.removed == []
    assert_same_as_a_fresh_build(docs, settings.index, tmp_path / "2", settings)


def test_a_generation_whose_files_no_longer_match_what_was_written_is_read_from_disk(tmp_path):
    docs = write_corpus(tmp_path / "docs")
    settings = Settings(index=tmp_path / "index", precision="fp32")
    build_index([docs], settings, progress=False)
    kept = incremental._written
    # Same folder name, other contents (as if rewritten in place and re-verified): the checksums differ.
    incremental._written = incremental.WrittenRows(
        kept.path, {**kept.files, "chunks.sqlite": {"bytes": 1, "sha256": "0" * 64}}, kept.documents, kept.chunks,
        kept.vectors, kept.tokens, kept.keys, kept.file_stats)
    previous = _previous(settings, from_memory=False)
    previous.close()
