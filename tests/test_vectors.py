"""The vector-store contract (index/vectors/): every store, written by its writer and opened again, answers
search / get / count / close the same way, and honours a selection. Random vectors, no model: seconds."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

import numpy as np
import pytest

from askdocs.index.settings import Settings
from askdocs.index.vectors import (ReadOptions, RowDocuments, Selection, VectorStore, describe, faiss_store, new_writer,
                           open_store)

N, DIMENSION, CHUNKS_PER_DOC, K = 2000, 32, 4, 10
MILVUS_SERVER = os.environ.get("ASKDOCS_TEST_MILVUS_SERVER")
# FAISS is in-process memory (the unit tier, `make test-fast`); Milvus Lite and the server run processes (e2e).
STORES = [pytest.param("flat", marks=pytest.mark.unit), pytest.param("ivf", marks=pytest.mark.unit),
          pytest.param("ivf-sq8", marks=pytest.mark.unit),
          pytest.param("milvus-lite", marks=pytest.mark.e2e), pytest.param("milvus-server", marks=pytest.mark.e2e)]


def _unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def _clustered(rng, n: int) -> np.ndarray:
    # Points around a few dozen centres, like embeddings of a corpus: what IVF's lists are made for.
    centres = rng.normal(size=(40, DIMENSION))
    return _unit(centres[rng.integers(0, len(centres), n)] + 0.35 * rng.normal(size=(n, DIMENSION)))


RNG = np.random.default_rng(17)
VECTORS = _clustered(RNG, N)
QUERIES = _clustered(RNG, 25)
DOC_ROWS = np.arange(N) // CHUNKS_PER_DOC
DOC_IDS = [f"doc {i}/\"q\"" for i in range(N // CHUNKS_PER_DOC)]  # quotes must survive a Milvus expression


def _truth(query: np.ndarray, k: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k by inner product, numpy brute force; ties to the lower row."""
    rows = np.arange(N) if allowed is None else allowed
    scores = VECTORS[rows] @ query
    order = np.lexsort((rows, -scores))[:k]
    return rows[order], scores[order]


class Written:
    """One store written by its writer into a generation folder, and opened from it."""

    def __init__(self, kind: str, folder: Path):
        self.kind = kind
        self.folder = folder
        self.collection = f"askdocs_test_vectors_{secrets.token_hex(4)}"
        self.writer = self._writer()
        self.writer.check()
        planned = self.writer.plan(N)
        self.section = self.writer.write(folder, VECTORS, [DOC_IDS[r] for r in DOC_ROWS],
                                         [int(i % CHUNKS_PER_DOC) for i in range(N)], None)
        assert {k: v for k, v in planned.items() if k != "write_ts"} == \
               {k: v for k, v in self.section.items() if k != "write_ts"}
        # What write_generation records; Milvus' clean-up reads it to know which rows a generation uses.
        (folder / "manifest.json").write_text(json.dumps({"vectors": self.section}))
        self.writer.published([folder], [])
        self.writer.close()
        self.store = self.open()

    def _writer(self):
        settings = {"flat": dict(vector_store="faiss", vector_index="flat"),
                    "ivf": dict(vector_store="faiss", vector_index="ivf", ann_nlist=16, ann_nprobe=8),
                    "ivf-sq8": dict(vector_store="faiss", vector_index="ivf-sq8", ann_nlist=16, ann_nprobe=8),
                    "milvus-lite": dict(vector_store="milvus"),
                    "milvus-server": dict(vector_store="milvus", milvus_address=MILVUS_SERVER,
                                          milvus_collection=self.collection)}[self.kind]
        return new_writer(Settings(index=self.folder, **settings), "random-vectors", DIMENSION)

    def open(self, **options) -> VectorStore:
        return open_store(self.folder, self.section, DIMENSION, RowDocuments(DOC_ROWS, DOC_IDS), ReadOptions(**options))

    @property
    def exact(self) -> bool:
        return not self.kind.startswith("ivf")

    def cleanup(self) -> None:
        self.store.close()
        if self.kind == "milvus-server":
            from pymilvus import MilvusClient

            client = MilvusClient(uri=MILVUS_SERVER)
            client.drop_collection(self.section["collection"])
            client.close()


@pytest.fixture(scope="module", params=STORES)
def written(request, tmp_path_factory):
    if request.param == "milvus-server" and not MILVUS_SERVER:
        pytest.skip("no Milvus server: set ASKDOCS_TEST_MILVUS_SERVER=http://127.0.0.1:19530 (.ci/run starts one)")
    store = Written(request.param, tmp_path_factory.mktemp(request.param))
    yield store
    store.cleanup()


def _recall(found: np.ndarray, truth: np.ndarray) -> float:
    return len(set(found.tolist()) & set(truth.tolist())) / len(truth)


def test_count_dimension_and_what_the_writer_left_in_the_folder(written):
    store = written.store
    assert store.count() == N and store.dimension == DIMENSION
    assert store.approximate == (written.kind.startswith("ivf"))
    files = {p.name for p in written.folder.iterdir()}
    assert ("vectors.faiss" in files) == (written.kind in ("flat", "ivf", "ivf-sq8"))
    # Only the 8-bit index keeps the exact vectors beside it, and its manifest section names both files.
    assert ("vectors.npy" in files) == (written.kind == "ivf-sq8")
    if written.kind == "ivf-sq8":
        assert (written.section["file"], written.section["exact_file"]) == ("vectors.faiss", "vectors.npy")
    assert ("vector_ids.txt" in files) == written.kind.startswith("milvus")
    # The build summary describes the section as the served store describes itself (no override here).
    assert describe(written.section) == store.describe()


def test_get_returns_the_stored_vectors_bit_for_bit(written):
    rows = np.random.default_rng(1).choice(N, 50, replace=False)
    assert np.array_equal(written.store.get(rows), VECTORS[rows])
    assert np.array_equal(written.store.get(rows[::-1]), VECTORS[rows[::-1]])  # in the order asked
    assert written.store.get(np.zeros(0, np.int64)).shape == (0, DIMENSION)
    assert np.array_equal(written.store.all(), VECTORS)


def test_search_is_exact_top_k_or_high_recall_for_ivf(written):
    hits = written.store.search(QUERIES, K)
    assert len(hits) == len(QUERIES)
    recalls = []
    for query, found in zip(QUERIES, hits):
        truth_rows, truth_scores = _truth(query, K)
        assert len(found.ids) == K and found.ids.dtype == np.int64
        assert np.all(np.diff(found.scores) <= 1e-6), "best first"
        # Whatever rows come back, their scores are their true inner products.
        assert np.allclose(found.scores, VECTORS[found.ids] @ query, atol=1e-5)
        if written.exact:
            assert found.ids.tolist() == truth_rows.tolist()
            assert np.allclose(found.scores, truth_scores, atol=1e-5)
        recalls.append(_recall(found.ids, truth_rows))
    assert np.mean(recalls) >= (1.0 if written.exact else 0.9), recalls
    if written.kind.startswith("ivf"):
        # The probes are what buys the recall: one list finds much less; every list (the override is clamped
        # to the number of lists) is exhaustive, hence exact.
        one, every = written.open(nprobe=1), written.open(nprobe=10**6)
        try:
            assert np.mean([_recall(found.ids, _truth(query, K)[0])
                            for query, found in zip(QUERIES, one.search(QUERIES, K))]) < np.mean(recalls) - 0.2
            assert every.nprobe == 16 and "16 probed" in every.describe()
            for query, found in zip(QUERIES, every.search(QUERIES, K)):
                assert found.ids.tolist() == _truth(query, K)[0].tolist()
        finally:
            one.close()
            every.close()


def _selections(rng) -> dict[str, np.ndarray]:
    whole_documents = np.flatnonzero(np.isin(DOC_ROWS, rng.choice(len(DOC_IDS), 150, replace=False)))
    most_documents = np.flatnonzero(~np.isin(DOC_ROWS, rng.choice(len(DOC_IDS), 20, replace=False)))
    return {
        "whole documents": whole_documents,  # what a metadata filter selects
        "all but a few documents": most_documents,
        "random rows": np.sort(rng.choice(N, 600, replace=False)),
        "three rows": np.sort(rng.choice(N, 3, replace=False)),
    }


@pytest.mark.parametrize("direct_limit", [0, faiss_store.DIRECT_SCORING_LIMIT], ids=["selector", "direct"])
def test_a_selection_is_honoured_and_fewer_come_back_when_fewer_are_allowed(written, monkeypatch, direct_limit):
    # FAISS scores a small selection one by one and searches a large one through an ID selector: both ways.
    monkeypatch.setattr(faiss_store, "DIRECT_SCORING_LIMIT", direct_limit)
    rng = np.random.default_rng(direct_limit)
    for name, allowed in _selections(rng).items():
        selection = Selection.of_rows(allowed, N)
        recalls = []
        for query, found in zip(QUERIES, written.store.search(QUERIES, K, selection)):
            truth_rows, _ = _truth(query, K, allowed)
            assert set(found.ids.tolist()) <= set(allowed.tolist()), name
            assert len(found.ids) == min(K, len(allowed)) or not written.exact, name
            if written.exact or len(allowed) < K:
                assert found.ids.tolist() == truth_rows.tolist(), name
            recalls.append(_recall(found.ids, truth_rows))
        assert np.mean(recalls) >= 0.9, (name, recalls)
    empty = Selection(np.zeros(N, dtype=bool))
    assert [len(h.ids) for h in written.store.search(QUERIES[:2], K, empty)] == [0, 0]


def test_writer_then_reopen_gives_the_same_answers_and_close_is_idempotent(written):
    again = written.open()
    try:
        for before, after in zip(written.store.search(QUERIES, K), again.search(QUERIES, K)):
            assert before.ids.tolist() == after.ids.tolist()
            assert np.allclose(before.scores, after.scores, atol=1e-6)
    finally:
        again.close()
    again.close()  # twice: nothing happens, and the shared store stays usable
    assert written.store.count() == N and len(written.store.search(QUERIES[:1], K)[0].ids) == K


def test_the_factory_picks_the_store_from_the_setting_and_the_manifest(tmp_path):
    assert isinstance(new_writer(Settings(index=tmp_path), "m", 8), faiss_store.FaissWriter)
    from askdocs.index.vectors.milvus_store import MilvusWriter

    writer = new_writer(Settings(index=tmp_path, vector_store="milvus"), "m", 8)
    assert isinstance(writer, MilvusWriter) and writer.publishes_unchanged
    assert writer.plan(5)["type"] == "milvus"
    # An index written before the manifest had a "vectors" section is a flat FAISS index.
    assert describe({}) == "flat (exact)"


def _faiss_written(kind: str, folder: Path, **settings):
    writer = new_writer(Settings(index=folder, vector_index=kind, ann_nlist=16, ann_nprobe=8, **settings),
                        "random-vectors", DIMENSION)
    writer.plan(N)
    section = writer.write(folder, VECTORS, [DOC_IDS[r] for r in DOC_ROWS], [int(i % CHUNKS_PER_DOC) for i in range(N)],
                           None)
    return section, open_store(folder, section, DIMENSION, RowDocuments(DOC_ROWS, DOC_IDS), ReadOptions())


@pytest.mark.unit
def test_ivf_sq8_reranked_ranks_as_ivf_over_the_same_lists_and_8_bit_scores_alone_do_not(tmp_path):
    # Both are trained on the same sample with the same seed, so they probe the same lists; the re-ranking
    # by exact vectors is what turns the 8-bit scores back into IVF-Flat's ranking and true cosines.
    (tmp_path / "ivf").mkdir(), (tmp_path / "sq8").mkdir()
    _, ivf = _faiss_written("ivf", tmp_path / "ivf")
    _, sq8 = _faiss_written("ivf-sq8", tmp_path / "sq8")
    try:
        assert sq8.rerank_factor == faiss_store.RERANK_FACTOR > 1
        for a, b in zip(ivf.search(QUERIES, K), sq8.search(QUERIES, K)):
            assert a.ids.tolist() == b.ids.tolist()
            np.testing.assert_allclose(a.scores, b.scores, atol=1e-5)
        sq8.rerank_factor = 0
        quantised = sq8.search(QUERIES, K)
        assert not all(np.allclose(h.scores, VECTORS[h.ids] @ q, atol=1e-5) for q, h in zip(QUERIES, quantised))
    finally:
        ivf.close()
        sq8.close()


@pytest.mark.unit
@pytest.mark.parametrize("damage", ["missing", "fewer rows", "float16", "not numpy"])
def test_ivf_sq8_refuses_exact_vectors_that_are_not_the_index_s(tmp_path, damage):
    section, store = _faiss_written("ivf-sq8", tmp_path)
    store.close()
    exact = tmp_path / section["exact_file"]
    if damage == "missing":
        exact.unlink()
    elif damage == "not numpy":
        exact.write_bytes(b"not an array")
    else:
        np.save(exact, VECTORS[:-1] if damage == "fewer rows" else VECTORS.astype(np.float16))
    with pytest.raises(faiss_store.VectorIndexError, match="vectors.npy"):
        open_store(tmp_path, section, DIMENSION, RowDocuments(DOC_ROWS, DOC_IDS), ReadOptions())
