"""The same behaviour on every storage backend: FAISS, Milvus Lite, and a Milvus server when one is given.

Each test takes the ``backend`` fixture (tests/conftest.py): the FAISS runs check that the tests hold for
the default, the Milvus runs that nothing changes when the vectors move (README "Scaling out").
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from askdocs.index.build import BuildError, build_index
from askdocs.index.settings import Settings
from askdocs.index.store import IndexCorrupt, IndexMismatch, IndexUnavailable, generation_dir, open_stored_index
from askdocs.search import open_index
from askdocs.search.filters import chunk_filter
from askdocs.search.models import Filters

from .conftest import BIN, Server
from .test_filters import QUESTIONS as FILTER_QUESTIONS
from .test_filters import _brute_force, _generated_corpus, _random_filters, _reference_docs
from .test_incremental import QUESTIONS as CHANGE_QUESTIONS
from .test_incremental import _change, _corpus

ODD_DOC = 'odd/say "hi" \\ naïve.txt'  # quotes, a backslash and non-ASCII: must survive a Milvus expression


def _manifest(index: Path) -> dict:
    return json.loads((generation_dir(index) / "manifest.json").read_text())


def _milvus_rows(index: Path) -> int:
    from askdocs.index.vectors.milvus_store import Connection

    section = _manifest(index)["vectors"]
    connection = Connection(section["uri"])
    try:
        return connection.count(section["collection"])
    finally:
        connection.close()


def _passages(body: dict) -> list[tuple]:
    return [(p["citation"]["chunk_id"], round(p["score"], 4)) for p in body["passages"]]


def test_cli_build_and_http_ask_match_faiss_with_exact_citations(backend, tmp_path, corpus, corpus_index):
    index = tmp_path / "index"
    settings = backend.settings(index)
    args, env = ["--vector-store", settings.vector_store], {}
    if settings.milvus_address:
        args += ["--milvus-uri", settings.milvus_address]
        env["ASKDOCS_MILVUS_COLLECTION"] = settings.milvus_collection
    subprocess.run([str(BIN / "build-index"), str(corpus), "--index", str(index), "--no-progress", *args],
                   check=True, capture_output=True, text=True, timeout=300, env={**os.environ, **env})
    assert _manifest(index)["vectors"]["type"] == ("milvus" if backend.is_milvus else "flat")
    assert (generation_dir(index) / "vectors.faiss").exists() != backend.is_milvus

    reference = open_index(corpus_index)  # the FAISS index of the same corpus, built by the session fixture
    questions = ["What pressure do road tyres need?", "Which chemistry do home batteries use?",
                 "When is black tea oxidised?", "Who descales the coffee machine?"]
    expected = {(q, m): reference.ask(q, top_k=10, mode=m).model_dump(mode="json")
                for q in questions for m in ("hybrid", "dense", "bm25")}
    n_chunks = reference.stored.n_chunks
    reference.close()

    # serve reads the vector store the manifest names: only where Milvus is (--milvus-uri) is passed on.
    server = Server(index, extra_args=tuple(args[2:]))
    try:
        with server.client() as client:
            for (question, mode), want in expected.items():
                body = client.post("/ask", json={"question": question, "top_k": 10, "mode": mode}).json()
                assert _passages(body) == _passages(want), (question, mode)
                assert body["answer"] == want["answer"]
            # Every chunk, through the API: its citation slices its document exactly.
            body = client.post("/ask", json={"question": "rules", "top_k": 50, "mode": "dense"}).json()
            assert len(body["passages"]) == n_chunks
            for passage in body["passages"]:
                citation = passage["citation"]
                text = client.get(f"/documents/{citation['doc_id']}").json()["text"]
                assert text[citation["char_start"] : citation["char_end"]] == passage["text"]
    finally:
        server.stop()


@pytest.fixture
def filter_corpus(tmp_path) -> Path:
    root = _generated_corpus(tmp_path / "docs")
    (root / "odd").mkdir()
    (root / ODD_DOC).write_text("Odd name\n\nCompost heaps with a strange name still need air and moisture.\n")
    return root


def test_filters_equal_brute_force(backend, tmp_path, filter_corpus):
    index = tmp_path / "index"
    build_index([filter_corpus], backend.settings(index, chunk_tokens=48, chunk_overlap=8), progress=False)
    engine = open_index(index)
    try:
        rng = random.Random(11)
        for _ in range(12):
            filters = Filters.model_validate(_random_filters(rng, engine.stored.doc_ids))
            only = chunk_filter(engine.documents_table, filters)
            assert {engine.stored.doc_ids[engine.stored.chunks.doc_row[r]] for r in only.rows} == \
                _reference_docs(engine, filters)
            for mode in ("dense", "hybrid"):
                question, k = rng.choice(FILTER_QUESTIONS), rng.choice([1, 3, 10])
                response = engine.ask(question, top_k=k, mode=mode, filters=filters)
                rows = [engine.stored.chunk_row(p.citation.chunk_id) for p in response.passages]
                assert rows == _brute_force(engine, question, mode, k, only.rows), (filters, mode, question)
                if only.count >= k:
                    assert len(response.passages) == k
        odd = engine.ask("compost", top_k=5, mode="dense", filters={"doc_ids": [ODD_DOC]})
        assert odd.passages and {p.citation.doc_id for p in odd.passages} == {ODD_DOC}
        # The complement (`not in`) is what goes to Milvus when it is the shorter list.
        others = [d for d in engine.stored.doc_ids if d != ODD_DOC]
        rest = engine.ask("compost", top_k=50, mode="dense", filters={"doc_ids": others})
        assert rest.passages and ODD_DOC not in {p.citation.doc_id for p in rest.passages}
    finally:
        engine.close()


def test_incremental_add_update_delete_equals_a_fresh_faiss_build(backend, tmp_path):
    root = _corpus(tmp_path / "docs")
    index = tmp_path / "index"
    # fp32: bf16 vectors move with which texts share a batch, and this test compares vectors to 1e-6.
    settings = backend.settings(index).replace(precision="fp32")
    build_index([root], settings, progress=False)
    server = Server(index) if backend.concurrent else None
    try:
        _change(root)
        report = build_index([root], settings, progress=False)
        assert report.changes is not None and report.changes.removed == ["garden.md", "old/harbour.txt"]
        assert report.changes.added == ["kitchen.txt", "new/harbour.txt"]
        assert report.changes.updated == ["handbook.txt"]
        assert 0 < report.embedded < report.chunks
        if server is not None:  # hot reload: the server moves to the new generation by itself
            with server.client() as client:
                for _ in range(100):
                    body = client.post("/ask", json={"question": "Tomatoes staking", "top_k": 50}).json()
                    if "garden.md" not in {p["citation"]["doc_id"] for p in body["passages"]}:
                        break
                    import time

                    time.sleep(0.2)
                assert "garden.md" not in {p["citation"]["doc_id"] for p in body["passages"]}
                stats = client.get("/health").json()["index"]
                assert stats["chunks"] == report.chunks
                assert stats["vectors"].startswith("Milvus collection" if backend.is_milvus else "flat")
    finally:
        if server is not None:
            server.stop()

    fresh = tmp_path / "fresh"
    build_index([root], Settings(index=fresh, precision="fp32"), progress=False)
    engines = open_index(index), open_index(fresh)
    try:
        assert engines[0].stored.chunk_ids(range(report.chunks)) == engines[1].stored.chunk_ids(range(report.chunks))
        assert np.allclose(engines[0].stored.vectors.all(),
                           engines[1].stored.vectors.all(), atol=1e-6)
        for question in CHANGE_QUESTIONS:
            for mode in ("dense", "hybrid"):
                got, want = (e.ask(question, top_k=5, mode=mode) for e in engines)
                assert [p.citation.chunk_id for p in got.passages] == [p.citation.chunk_id for p in want.passages]
        removed = engines[0].ask("Tomatoes staking", top_k=50, mode="dense", filters={"doc_ids": ["garden.md"]})
        assert removed.passages == []
    finally:
        for engine in engines:
            engine.close()
    if backend.is_milvus:
        # Rows of removed and replaced chunks go once no kept generation uses them: after one more build
        # the previous generation is this one, and the collection holds exactly its rows.
        build_index([root], settings, progress=False)
        assert _milvus_rows(index) == report.chunks


def test_failed_and_killed_builds_leave_the_previous_index_servable(backend, tmp_path, monkeypatch):
    root = _corpus(tmp_path / "docs")
    index = tmp_path / "index"
    settings = backend.settings(index)
    build_index([root], settings, progress=False)
    before = _manifest(index)["name"]
    rows_before = _milvus_rows(index) if backend.is_milvus else None
    engine = open_index(index)
    expected = [p.citation.chunk_id for p in engine.ask(CHANGE_QUESTIONS[0], mode="dense").passages]
    engine.close()

    _change(root)
    import askdocs.index.store as store_module

    def broken_save(*args, **kwargs):
        raise OSError("disk full (injected)")

    monkeypatch.setattr(store_module, "save_bm25", broken_save)
    # The write failure reaches the caller as one BuildError that says the index is unchanged.
    with pytest.raises(BuildError, match="injected.*unchanged"):
        build_index([root], settings, progress=False)
    monkeypatch.undo()
    assert _manifest(index)["name"] == before
    if backend.is_milvus:
        assert _milvus_rows(index) == rows_before, "the failed build's rows are removed"
    engine = open_index(index)
    try:
        assert [p.citation.chunk_id for p in engine.ask(CHANGE_QUESTIONS[0], mode="dense").passages] == expected
    finally:
        engine.close()

    if backend.is_milvus:
        # A killed build (or a Ray worker whose build never published) leaves rows nobody references:
        # readers skip them, k stays exact, and the next published build removes them.
        from askdocs.index.vectors.milvus_store import chunk_uids, write_batch

        section = _manifest(index)["vectors"]
        strays = np.random.default_rng(0).normal(size=(7, 384)).astype(np.float32)
        strays /= np.linalg.norm(strays, axis=1, keepdims=True)
        uids = chunk_uids(["ghost.txt"] * 7, list(range(7)), strays)
        assert write_batch(section["uri"], section["collection"], uids, ["ghost.txt"] * 7, strays) == 7
        engine = open_index(index)
        try:
            response = engine.ask("ghost", top_k=5, mode="dense")
            assert len(response.passages) == 5 and "ghost.txt" not in {p.citation.doc_id for p in response.passages}
        finally:
            engine.close()
        report = build_index([root], settings, progress=False)
        build_index([root], settings, progress=False)
        assert _milvus_rows(index) == report.chunks


def test_open_refuses_missing_or_mismatched_vectors_with_the_fix(backend, tmp_path):
    index = tmp_path / "index"
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("Apples\n\nApples grow on trees in orchards and ripen in autumn.\n")
    build_index([docs], backend.settings(index), progress=False)
    open_stored_index(index).close()
    folder = generation_dir(index)
    if not backend.is_milvus:
        (folder / "vectors.faiss").unlink()
        with pytest.raises(IndexCorrupt, match="rebuild"):
            open_stored_index(index)
        return
    from askdocs.index.vectors.milvus_store import Connection

    section = _manifest(index)["vectors"]
    connection = Connection(section["uri"])
    try:
        uids = (folder / "vector_ids.txt").read_text().split()
        connection.delete(section["collection"], uids[:1])
        with pytest.raises(IndexCorrupt, match="holds 0 rows.*needs 1.*rebuild"):
            open_stored_index(index)
        connection.client.drop_collection(section["collection"])
        with pytest.raises(IndexCorrupt, match="does not exist.*build-index --rebuild"):
            open_stored_index(index)
        connection.ensure_collection(section["collection"], 8)
        with pytest.raises(IndexMismatch, match="8-dimensional.*384"):
            open_stored_index(index)
    finally:
        connection.close()
    # A build over the damaged index says why it cannot reuse it, and writes a whole new one elsewhere.
    # A build into that collection refuses it rather than mixing dimensions.
    with pytest.raises(IndexUnavailable, match="8-dimensional"):
        build_index([docs], Settings(index=index, vector_store="milvus", milvus_address=section["uri"],
                                     milvus_collection=section["collection"]), progress=False)


def test_collections_serve_indexes_of_the_backend(backend, tmp_path, corpus):
    from .conftest import SEEDS, SEED_QUESTION

    indexes = {"docs": tmp_path / "docs-index", "news": tmp_path / "news-index"}
    build_index([corpus], backend.settings(indexes["docs"]), progress=False)
    build_index([SEEDS], backend.settings(indexes["news"]), progress=False)
    server = Server(indexes)
    try:
        with server.client() as client:
            news = client.post("/ask", json={"question": SEED_QUESTION, "collection": "news"}).json()
            assert "France" in news["answer"]["text"]
            docs = client.post("/ask", json={"question": SEED_QUESTION, "collection": "docs", "top_k": 50}).json()
            assert {p["citation"]["doc_id"] for p in docs["passages"]} <= {
                "solar.html", "notes/coffee.md", "notes/bicycle.txt", "tea.pdf"}
            listed = client.get("/collections").json()["collections"]
            assert [c["name"] for c in listed] == ["docs", "news"]
    finally:
        server.stop()
    shutil.rmtree(tmp_path / "docs-index", ignore_errors=True)
