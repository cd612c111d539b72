"""A build whose embed step runs on a two-node Ray cluster publishes the index a local build publishes.

The cluster is real (``ray.cluster_utils.Cluster``: two raylets on this machine, one CPU each), the build
is the real ``build-index --ray ADDRESS`` in a subprocess, and the vectors go to the Milvus server of
ASKDOCS_TEST_MILVUS_SERVER (written by the Ray workers) or, without one, to a Milvus Lite file written by
the driver (README "Distributed builds with Ray").
"""

from __future__ import annotations

import os
import re
import secrets
import subprocess

import pytest

from askdocs.index.build import build_index
from askdocs.index.settings import Settings
from askdocs.search import open_index

from .conftest import BIN, MILVUS_SERVER, copy_index

pytest.importorskip("ray", reason="Ray is an optional extra: pip install 'askdocs[ray]' (make test installs it)")

QUESTIONS = ["What pressure do road tyres need?", "Which chemistry do home batteries use?",
             "When is black tea oxidised?", "Who descales the coffee machine?"]
BATCH = 2  # chunks per model call and per Ray batch: the small corpus still makes several batches


@pytest.fixture(scope="module")
def cluster():
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    try:
        cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        yield cluster
    finally:
        cluster.shutdown()


@pytest.fixture
def milvus_settings():
    """Settings for one index on the test's Milvus; the server's collections are dropped afterwards."""
    tag = secrets.token_hex(4)
    names: list[str] = []

    def settings(index, **overrides) -> Settings:
        if not MILVUS_SERVER:
            return Settings(index=index, vector_store="milvus", embed_batch_size=BATCH, precision="fp32", **overrides)
        names.append(f"askdocs_test_ray_{tag}_{len(names)}")
        return Settings(index=index, vector_store="milvus", milvus_address=MILVUS_SERVER, milvus_collection=names[-1],
                        embed_batch_size=BATCH, precision="fp32", **overrides)

    yield settings
    if names:
        from pymilvus import MilvusClient

        client = MilvusClient(uri=MILVUS_SERVER)
        for name in names:
            if client.has_collection(name):
                client.drop_collection(name)
        client.close()


def _answers(index) -> dict:
    """Answers to compare across indexes: which generation a citation came from differs between them."""
    engine = open_index(index)
    try:
        answers = {(q, mode): engine.ask(q, top_k=10, mode=mode).model_dump(mode="json")
                   for q in QUESTIONS for mode in ("hybrid", "dense", "bm25")}
    finally:
        engine.close()
    for body in answers.values():
        for cited in [body["answer"]] * bool(body["answer"]) + body["passages"]:
            cited["citation"].pop("generation")
    return answers


def test_ray_build_spreads_over_both_nodes_and_publishes_the_local_index(cluster, corpus, tmp_path,
                                                                         milvus_settings):
    distributed = milvus_settings(tmp_path / "ray")
    args = ["--vector-store", "milvus"]
    # fp32 on both sides: bf16 vectors move with how texts share a batch, and the local build's embedding
    # cache embeds a repeated text once, so its batches may differ from the workers'.
    env = {**os.environ, "ASKDOCS_EMBED_BATCH_SIZE": str(BATCH), "ASKDOCS_PRECISION": "fp32"}
    if distributed.milvus_address:
        args += ["--milvus-uri", distributed.milvus_address]
        env["ASKDOCS_MILVUS_COLLECTION"] = distributed.milvus_collection
    run = subprocess.run(
        [str(BIN / "build-index"), str(corpus), "--index", str(distributed.index), "--no-progress", *args,
         "--ray", cluster.address], capture_output=True, text=True, timeout=240, env=env)
    assert run.returncode == 0, run.stderr

    # Both nodes embedded batches, and together every chunk.
    line = re.search(r"Embedded on (\d+) Ray nodes: (.*)", run.stdout)
    assert line, run.stdout
    counts = {node.split("/")[1]: int(n) for node, n in re.findall(r"([^\s,]+): (\d+)", line.group(2))}
    node_ids = {node.node_id[:8] for node in cluster.list_all_nodes()}
    assert set(counts) == node_ids and all(n > 0 for n in counts.values()), counts
    total = int(re.search(r"as (\d+) chunks", run.stdout).group(1))
    embedded = int(re.search(r"embedded (\d+) of", run.stdout).group(1))  # a text two chunks share: once
    assert sum(counts.values()) == embedded and total - 2 <= embedded <= total
    if MILVUS_SERVER:
        assert f"workers wrote {embedded} rows" in run.stderr, run.stderr

    # The same answers as a local build of the corpus (FAISS, one process) with the same precision and batches.
    local = tmp_path / "local"
    build_index([corpus], Settings(index=local, precision="fp32", embed_batch_size=BATCH, embedding_cache=""),
                progress=False)
    want, got = _answers(local), _answers(distributed.index)
    for key, expected in want.items():
        body = got[key]
        assert [p["citation"] for p in body["passages"]] == [p["citation"] for p in expected["passages"]], key
        assert [p["score"] for p in body["passages"]] == pytest.approx(
            [p["score"] for p in expected["passages"]], abs=1e-5), key
        if expected["answer"] is None:
            assert body["answer"] is None, key
        else:
            assert {**body["answer"], "score": None} == {**expected["answer"], "score": None}, key
            assert body["answer"]["score"] == pytest.approx(expected["answer"]["score"], abs=1e-5), key

    # A rebuild finds every vector in the embedding cache the Ray build filled: nothing goes to the cluster.
    again = subprocess.run(
        [str(BIN / "build-index"), str(corpus), "--index", str(distributed.index), "--no-progress", "--rebuild",
         *args, "--ray", cluster.address], capture_output=True, text=True, timeout=240, env=env)
    assert again.returncode == 0, again.stderr
    assert f"embedded 0 of {total} chunks, {total} from the embedding cache" in again.stdout, again.stdout
    assert "Ray nodes" not in again.stdout
    cached = _answers(distributed.index)
    for key, body in got.items():
        assert [(p["citation"], p["score"]) for p in cached[key]["passages"]] == [
            (p["citation"], p["score"]) for p in body["passages"]], key

    engine = open_index(distributed.index)
    try:
        body = engine.ask("rules", top_k=50, mode="dense").model_dump(mode="json")
        assert len(body["passages"]) == total
        for passage in body["passages"]:
            citation = passage["citation"]
            text = engine.stored.document(citation["doc_id"]).text
            assert text[citation["char_start"] : citation["char_end"]] == passage["text"]
    finally:
        engine.close()


def test_missing_cluster_is_a_clear_error_and_keeps_the_index(corpus, corpus_index, tmp_path):
    index = copy_index(corpus_index, tmp_path / "index")
    before = (index / "CURRENT").read_text()
    run = subprocess.run(
        [str(BIN / "build-index"), str(corpus), "--index", str(index), "--no-progress", "--rebuild",
         "--ray", "127.0.0.1:9"], capture_output=True, text=True, timeout=120)
    assert run.returncode == 1
    assert "cannot join the Ray cluster at '127.0.0.1:9'" in run.stderr
    assert (index / "CURRENT").read_text() == before
