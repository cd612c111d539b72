"""The content-hash embedding cache: no text embedded twice across builds, and never a reason for a build to fail."""

from __future__ import annotations

import logging
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from askdocs.api.cli import build_index_command
from askdocs.index.build import build_index
from askdocs.index.settings import CACHE_FILE, Settings
from askdocs.index.store import open_stored_index

from .fixtures import write_corpus

ROOT = Path(__file__).resolve().parent.parent


def _vectors(index: Path) -> tuple[np.ndarray, np.ndarray]:
    stored = open_stored_index(index)
    try:
        return stored.all_vectors().copy(), stored.sentence_vectors.copy()
    finally:
        stored.close()


def _cache_rows(path: Path) -> int:
    with sqlite3.connect(path) as db:
        return db.execute("SELECT count(*) FROM vectors").fetchone()[0]


def test_a_rebuild_embeds_nothing_and_stores_the_same_vectors(tmp_path, corpus):
    index = tmp_path / "index"
    first = build_index([corpus], Settings(index=index), progress=False)
    assert first.embedded == first.chunks > 0 and first.from_cache == 0
    assert _cache_rows(index / CACHE_FILE) == first.embedded
    before = _vectors(index)

    again = build_index([corpus], Settings(index=index), progress=False, rebuild=True)
    assert again.changes is None  # a full build: every chunk was looked up
    assert again.embedded == 0 and again.from_cache == again.chunks == first.chunks
    assert f"embedded 0 of {again.chunks} chunks, {again.chunks} from the embedding cache" in again.summary()
    after = _vectors(index)
    np.testing.assert_array_equal(after[0], before[0])
    np.testing.assert_array_equal(after[1], before[1])


def test_changed_text_is_embedded_and_the_rest_comes_from_the_cache(tmp_path):
    corpus = write_corpus(tmp_path / "docs")
    cache = tmp_path / "shared-cache.sqlite"
    first = build_index([corpus], Settings(index=tmp_path / "a", embedding_cache=str(cache)), progress=False)
    note = corpus / "notes" / "coffee.md"
    note.write_text(note.read_text(encoding="utf-8") + "\n\nThe grinder is cleaned with rice tablets every Friday.\n",
                    encoding="utf-8")
    # Another index folder sharing the cache file: only the edited note's last chunk is new text.
    second = build_index([corpus], Settings(index=tmp_path / "b", embedding_cache=str(cache)), progress=False)
    assert second.changes is None
    assert second.embedded >= 1 and second.from_cache >= first.chunks - 2
    assert second.embedded + second.from_cache == second.chunks
    assert not (tmp_path / "b" / CACHE_FILE).exists()

    fresh = build_index([corpus], Settings(index=tmp_path / "c", embedding_cache=""), progress=False)
    assert fresh.embedded == fresh.chunks and fresh.from_cache == 0
    np.testing.assert_allclose(_vectors(tmp_path / "b")[0], _vectors(tmp_path / "c")[0], atol=2e-3)


def test_a_corrupt_cache_file_never_fails_a_build(tmp_path, corpus, caplog):
    cache = tmp_path / "cache.sqlite"
    cache.write_bytes(b"this is not a database, just bytes where one should be" * 100)
    settings = Settings(index=tmp_path / "index", embedding_cache=str(cache))
    with caplog.at_level(logging.WARNING, logger="askdocs.build"):
        report = build_index([corpus], settings, progress=False)
    assert report.embedded == report.chunks > 0 and report.from_cache == 0
    assert any("embedding cache" in r.getMessage() and "cannot open" in r.getMessage() for r in caplog.records)
    stored = open_stored_index(tmp_path / "index")
    assert stored.n_chunks == report.chunks
    stored.close()


def test_a_damaged_row_is_embedded_again(tmp_path, corpus):
    settings = Settings(index=tmp_path / "index")
    first = build_index([corpus], settings, progress=False)
    with sqlite3.connect(tmp_path / "index" / CACHE_FILE) as db:
        # Flip bytes inside one stored vector: its checksum no longer matches.
        key, vector = db.execute("SELECT key, vector FROM vectors LIMIT 1").fetchone()
        db.execute("UPDATE vectors SET vector = ? WHERE key = ?", (bytes(b ^ 0xFF for b in vector), key))
    again = build_index([corpus], settings, progress=False, rebuild=True)
    assert again.embedded == 1 and again.from_cache == first.chunks - 1
    np.testing.assert_array_equal(_vectors(tmp_path / "index")[0].shape, (first.chunks, 384))


def test_another_precision_or_runtime_does_not_reuse_vectors(tmp_path, corpus):
    cache = str(tmp_path / "cache.sqlite")
    fp32 = build_index([corpus], Settings(index=tmp_path / "fp32", embedding_cache=cache, precision="fp32",
                                          runtime="torch"), progress=False)
    bf16 = build_index([corpus], Settings(index=tmp_path / "bf16", embedding_cache=cache, precision="bf16",
                                          runtime="torch"), progress=False)
    onnx = build_index([corpus], Settings(index=tmp_path / "onnx", embedding_cache=cache, runtime="onnx"),
                       progress=False)
    assert fp32.from_cache == bf16.from_cache == onnx.from_cache == 0
    assert bf16.embedded == onnx.embedded == fp32.embedded == fp32.chunks
    assert _cache_rows(Path(cache)) == 3 * fp32.chunks
    again = build_index([corpus], Settings(index=tmp_path / "bf16", embedding_cache=cache, precision="bf16",
                                           runtime="torch"), progress=False, rebuild=True)
    assert again.embedded == 0


def test_concurrent_builds_sharing_a_cache_leave_it_whole(tmp_path, corpus):
    cache = tmp_path / "cache.sqlite"
    script = (
        "import sys; from pathlib import Path; from askdocs.index.build import build_index; from askdocs.index.settings import Settings;"
        "r = build_index([Path(sys.argv[1])], Settings(index=Path(sys.argv[2]), embedding_cache=sys.argv[3]),"
        " progress=False); print(r.embedded, r.from_cache, r.chunks)"
    )
    builds = [subprocess.Popen([sys.executable, "-c", script, str(corpus), str(tmp_path / f"index-{n}"), str(cache)],
                               cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for n in range(2)]
    results = [b.communicate(timeout=600) for b in builds]
    assert [b.returncode for b in builds] == [0, 0], [err[-2000:] for _, err in results]
    for out, _ in results:
        embedded, from_cache, chunks = map(int, out.split()[-3:])
        assert embedded + from_cache == chunks
    with sqlite3.connect(cache) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    third = build_index([corpus], Settings(index=tmp_path / "index-2", embedding_cache=str(cache)), progress=False)
    assert third.embedded == 0 and third.from_cache == third.chunks


def test_build_index_no_cache_embeds_everything_and_writes_no_cache(tmp_path, corpus):
    index = tmp_path / "index"
    runner = CliRunner()
    first = runner.invoke(build_index_command, [str(corpus), "--index", str(index), "--no-progress"])
    assert first.exit_code == 0, first.output
    rebuilt = runner.invoke(build_index_command, [str(corpus), "--index", str(index), "--rebuild", "--no-progress"])
    assert rebuilt.exit_code == 0, rebuilt.output
    assert "from the embedding cache" in rebuilt.output and "embedded 0 of" in rebuilt.output

    other = tmp_path / "other"
    uncached = runner.invoke(build_index_command, [str(corpus), "--index", str(other), "--no-cache", "--no-progress"])
    assert uncached.exit_code == 0, uncached.output
    assert "from the embedding cache" not in uncached.output
    assert not (other / CACHE_FILE).exists()


@pytest.mark.integration  # the model, in process
def test_sentence_vectors_are_float16_from_the_model_and_from_the_cache(tmp_path):
    # A build holds every chunk's sentence vectors until it writes them; they are stored as float16, so that is
    # how they are held (at float32 they were half of a large build's memory: bench/build_memory.py).
    from askdocs.index.embedder import Embedder
    from askdocs.index.embedding_cache import embed_with_cache

    embedder = Embedder(Settings().model, runtime="onnx")
    items = [("The grinder is cleaned with rice tablets. Every Friday.", [(0, 41), (42, 55)]),
             ("Beans are kept in a sealed jar.", [(0, 31)])]
    cache = tmp_path / "cache.sqlite"
    embedded, count, _ = embed_with_cache(embedder, cache, items, batch_size=8)
    cached, again, from_cache = embed_with_cache(embedder, cache, items, batch_size=8)
    assert (count, again, from_cache) == (2, 0, 2)
    for (vector, sentences), (cached_vector, cached_sentences), (_, spans) in zip(embedded, cached, items):
        assert vector.dtype == cached_vector.dtype == np.float32
        assert sentences.dtype == cached_sentences.dtype == np.float16
        assert sentences.shape == (len(spans), embedder.dimension)
        np.testing.assert_array_equal(sentences, cached_sentences)
        np.testing.assert_array_equal(vector, cached_vector)

