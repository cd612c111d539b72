"""The approximate (IVF) vector index: chosen by size, recorded, searched, filtered and rebuilt like flat."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import get_args

import faiss
import numpy as np
import pytest

from askdocs.index.vectors import faiss_store as ann
from askdocs.index.build import BuildError, build_index
from askdocs.index.settings import Settings
from askdocs.index.store import IndexCorrupt, open_stored_index
from askdocs.search import open_index
from askdocs.search.filters import chunk_filter
from askdocs.search.models import Filters

from .conftest import Server, copy_index
from .test_filters import QUESTIONS, _brute_force, _generated_corpus, _random_filters, _reference_docs

# Small enough that a few probes leave most lists unsearched: the approximate path is really exercised.
IVF = {"ann_threshold": 50, "ann_nlist": 8, "ann_nprobe": 2}


def _settings(index: Path, **extra) -> Settings:
    # fp32: bf16 vectors depend on which texts share a batch (padding), and these tests compare builds exactly.
    return Settings(index=index, chunk_tokens=48, chunk_overlap=8, precision="fp32", **extra)


@pytest.fixture(scope="module")
def ivf_index(tmp_path_factory) -> Path:
    root = _generated_corpus(tmp_path_factory.mktemp("ann") / "docs")
    index = root.parent / "index"
    report = build_index([root], _settings(index, **IVF), progress=False)
    assert report.chunks >= 4 * IVF["ann_threshold"]  # enough chunks for 8 lists to mean something
    return index


def _manifest(index: Path) -> dict:
    stored = open_stored_index(index)
    try:
        return stored.manifest.model_dump()
    finally:
        stored.close()


def test_plan_is_flat_below_the_threshold_ivf_from_it_and_can_be_forced():
    assert ann.plan(99_999, "auto", 100_000)["type"] == "flat"
    section = ann.plan(100_000, "auto", 100_000)
    assert section["type"] == "ivf" and section["chosen_by"] == "auto"
    assert section["nlist"] == ann.default_nlist(100_000) and 1 <= section["nprobe"] <= section["nlist"]
    assert section["train_size"] == min(100_000, ann.TRAIN_POINTS_PER_LIST * section["nlist"])
    assert ann.plan(10**7, "flat", 100_000) == {"type": "flat", "metric": "inner_product", "chosen_by": "setting"}
    assert ann.plan(500, "ivf", 100_000)["type"] == "ivf"
    assert ann.default_nlist(10) == 1  # too few points to train more than one list
    with pytest.raises(ann.VectorIndexError, match="needs at least 64 chunks"):
        ann.plan(20, "ivf", nlist=64)
    with pytest.raises(ann.VectorIndexError, match="must be one of"):
        ann.plan(20, "hnsw")


def test_every_index_kind_is_a_setting_and_a_file_of_another_kind_is_refused():
    # The setting cannot import FAISS to read the kinds from the table; this keeps the two lists one.
    assert get_args(Settings.model_fields["vector_index"].annotation) == ann.KINDS
    vectors = np.random.default_rng(0).standard_normal((200, 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    sections = {kind: ann.plan(len(vectors), kind, nlist=4) for kind in ann.INDEX_KINDS}
    built = {kind: ann.build(vectors, section) for kind, section in sections.items()}
    for kind, section in sections.items():
        assert ann.check_opened(built[kind], section) == (None if kind == "flat" else section["nprobe"])
        for other, index in built.items():
            if other != kind:
                with pytest.raises(ann.VectorIndexError, match=f"says .*{ann.INDEX_KINDS[kind].label} .*the file holds"):
                    ann.check_opened(index, section)
    with pytest.raises(ann.VectorIndexError, match="unknown vector index type 'hnsw'"):
        ann.check_opened(built["flat"], {"type": "hnsw"})


def test_auto_builds_ivf_above_the_threshold_and_the_manifest_records_it(ivf_index):
    section = _manifest(ivf_index)["vectors"]
    assert section == {"type": "ivf", "metric": "inner_product", "chosen_by": "auto", "nlist": 8, "nprobe": 2,
                       "train_size": section["train_size"], "kmeans_iterations": ann.KMEANS_ITERATIONS,
                       "seed": ann.SEED}
    stored = open_stored_index(ivf_index)
    try:
        assert isinstance(stored.vectors.index, faiss.IndexIVFFlat) and stored.approximate and stored.vectors.nprobe == 2
        assert section["train_size"] == stored.n_chunks  # fewer than 64 per list: all of them
    finally:
        stored.close()
    # A query-time override wins over the manifest, within the number of lists.
    stored = open_stored_index(ivf_index, nprobe=100)
    assert stored.vectors.nprobe == 8
    stored.close()


def test_ivf_index_answers_ask_over_http_with_valid_citations(ivf_index):
    server = Server(ivf_index)
    try:
        with server.client() as client:
            body = client.post("/ask", json={"question": "How do I make compost?", "top_k": 5}).json()
            assert len(body["passages"]) == 5
            for passage in body["passages"]:
                citation = passage["citation"]
                document = client.get(f"/documents/{citation['doc_id']}").json()
                assert document["text"][citation["char_start"]:citation["char_end"]] == passage["text"]
            assert "compost" in body["passages"][0]["text"].lower()
            vectors = client.get("/health").json()["index"]["vectors"]
            assert vectors.startswith("IVF, ") and "probed per question" in vectors
    finally:
        server.stop()


def test_filters_on_ivf_return_only_matching_chunks_and_are_exact_where_promised(ivf_index, monkeypatch):
    rng = random.Random(11)
    narrow = 0
    approximate = open_index(ivf_index, _settings(ivf_index))
    exhaustive = open_index(ivf_index, _settings(ivf_index, ann_nprobe=IVF["ann_nlist"]))
    try:
        for _ in range(15):
            filters = Filters.model_validate(_random_filters(rng, approximate.stored.doc_ids))
            matching = _reference_docs(approximate, filters)
            only = chunk_filter(approximate.documents_table, filters)
            question, k = rng.choice(QUESTIONS), rng.choice([1, 3, 10])
            expected = _brute_force(approximate, question, "dense", k, only.rows)
            # Small selections are scored one by one: exact even though the index is approximate.
            monkeypatch.setattr(ann, "DIRECT_SCORING_LIMIT", 10**9)
            assert _rows(approximate, question, k, filters) == expected
            # Through the IVF selector: every passage matches; probing every list makes it exact, and so does
            # a filter narrow enough that the widened nprobe reaches every list.
            monkeypatch.setattr(ann, "DIRECT_SCORING_LIMIT", 0)
            rows = _rows(approximate, question, k, filters)
            assert len(rows) <= k and set(rows) <= set(only.rows.tolist())
            assert {approximate.stored.doc_ids[approximate.stored.chunks.doc_row[r]] for r in rows} <= matching
            assert _rows(exhaustive, question, k, filters) == expected
            if only.count * IVF["ann_nlist"] <= IVF["ann_nprobe"] * approximate.stored.n_chunks:
                assert rows == expected
                narrow += 1
    finally:
        approximate.close()
        exhaustive.close()
    assert narrow >= 3  # the widening rule was exercised, not only the exhaustive settings


def _rows(engine, question: str, k: int, filters: Filters) -> list[int]:
    response = engine.ask(question, top_k=k, mode="dense", filters=filters)
    return [engine.stored.chunk_row(p.citation.chunk_id) for p in response.passages]


def test_incremental_build_on_ivf_equals_a_build_from_scratch(ivf_index, tmp_path):
    index = copy_index(ivf_index, tmp_path / "index")
    root = ivf_index.parent / "docs"
    docs = tmp_path / "docs"
    import shutil

    shutil.copytree(root, docs)
    first = sorted(docs.rglob("doc0*.md"))[0]
    first.write_text(first.read_text().replace("Document", "Revised document", 1))
    incremental = build_index([docs], _settings(index, **IVF), progress=False)
    assert incremental.changes is not None and 0 < incremental.embedded < incremental.chunks
    scratch = build_index([docs], _settings(tmp_path / "scratch", **IVF), progress=False)
    generations = [r.generation for r in (incremental, scratch)]
    stored = [open_stored_index(g) for g in generations]
    try:
        # Reused vectors were computed in other batches than a fresh build's: equal to float noise.
        np.testing.assert_allclose(stored[0].all_vectors(), stored[1].all_vectors(), atol=1e-6)
        assert stored[0].manifest.vectors == stored[1].manifest.vectors
        # Training is seeded: the same vectors give the same index file, so a rebuild is reproducible.
        again = ann.build(stored[0].all_vectors(), stored[0].manifest.vectors)
        assert faiss.serialize_index(again).tobytes() == (generations[0] / "vectors.faiss").read_bytes()
    finally:
        for s in stored:
            s.close()
    # Forcing flat on the same index keeps every vector (reconstructed exactly from IVF): nothing re-embedded.
    flat = build_index([docs], _settings(index, vector_index="flat"), progress=False)
    assert flat.embedded == 0 and _manifest(index)["vectors"]["type"] == "flat"


def test_an_impossible_ivf_setting_fails_before_embedding_and_keeps_the_index(ivf_index, tmp_path):
    index = copy_index(ivf_index, tmp_path / "index")
    before = (index / "CURRENT").read_text()
    with pytest.raises(BuildError, match="needs at least 100000 chunks.*unchanged"):
        build_index([ivf_index.parent / "docs"], _settings(index, vector_index="ivf", ann_nlist=100_000),
                    progress=False, rebuild=True)
    assert (index / "CURRENT").read_text() == before
    open_stored_index(index).close()


def test_a_manifest_that_disagrees_with_the_vector_file_is_refused(ivf_index, tmp_path):
    index = copy_index(ivf_index, tmp_path / "index")
    generation = index / "generations" / (index / "CURRENT").read_text().strip()
    manifest = json.loads((generation / "manifest.json").read_text())
    manifest["vectors"] = {"type": "flat", "metric": "inner_product"}
    (generation / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(IndexCorrupt, match="flat index, the file holds IndexIVFFlat"):
        open_stored_index(index)


def test_ivf_recall_against_flat_on_clustered_vectors():
    rng = np.random.default_rng(5)
    centres = rng.standard_normal((60, 384)).astype(np.float32)
    vectors = centres[rng.integers(0, 60, 6000)] + 0.35 * rng.standard_normal((6000, 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    queries = vectors[rng.choice(6000, 200, replace=False)] + 0.05 * rng.standard_normal((200, 384)).astype(np.float32)
    section = ann.plan(len(vectors), "ivf")
    ivf = ann.build(vectors, section)
    assert faiss.serialize_index(ivf).tobytes() == faiss.serialize_index(ann.build(vectors, section)).tobytes()
    assert np.array_equal(ivf.reconstruct_n(0, len(vectors)), vectors)  # stored unchanged, for incremental builds
    _, truth = ann.build(vectors, {"type": "flat"}).search(queries, 10)
    recall = {}
    for nprobe in (1, section["nprobe"]):
        _, found = ivf.search(queries, 10, params=faiss.SearchParametersIVF(nprobe=nprobe))
        recall[nprobe] = np.mean([len(set(f) & set(t)) / 10 for f, t in zip(found, truth)])
    assert recall[section["nprobe"]] >= 0.95, recall
    assert recall[1] < recall[section["nprobe"]]  # probing more lists is what buys the recall
