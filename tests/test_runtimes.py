"""The torch and ONNX runtimes: the same model, interchangeable vectors, recorded in the manifest."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from askdocs.index.build import build_index
from askdocs.index.embedder import load_embedder
from askdocs.index.settings import Settings
from askdocs.index.store import IndexMismatch, generation_dir
from askdocs.search import open_index

from .conftest import BIN, SEED_QUESTION, SEEDS

MODEL = "all-MiniLM-L6-v2"
# ../shared/MODELS.md: the int8 file gives cosine >= 0.999 against the fp32 model.
MIN_COSINE = 0.999

SAMPLE = [
    (SEEDS / "000_df85b2084c0590de.txt").read_text()[:900],  # under the 256-token window: nothing truncated
    "Which G7 country voted in favour of the UN resolution calling for a humanitarian truce?",
    "Mitochondrial dysfunction is a hallmark of ageing. Caloric restriction delays it in mice.",
    "naïve café — “quotes”, 日本語 and a URL: https://example.org/a_b?c=1",
    "short",
]


def _sentence_spans(text: str) -> list[tuple[int, int]]:
    spans, start = [], 0
    for end in [i + 1 for i, c in enumerate(text) if c in ".?\n"] + [len(text)]:
        if text[start:end].strip():
            spans.append((start, end))
        start = end
    return spans


@pytest.fixture(scope="module")
def both():
    return load_embedder(MODEL, "torch"), load_embedder(MODEL, "onnx")


def test_onnx_chunk_and_sentence_vectors_match_torch(both):
    torch_embedder, onnx_embedder = both
    spans = [_sentence_spans(text) for text in SAMPLE]
    a = torch_embedder.encode(SAMPLE, spans)
    b = onnx_embedder.encode(SAMPLE, spans)
    assert a.vectors.shape == b.vectors.shape == (len(SAMPLE), 384)
    assert np.allclose(np.linalg.norm(b.vectors, axis=1), 1, atol=1e-5)
    assert (a.vectors * b.vectors).sum(axis=1).min() >= MIN_COSINE
    for left, right, text_spans in zip(a.span_vectors, b.span_vectors, spans):
        assert left.shape == right.shape == (len(text_spans), 384)
        assert (left * right).sum(axis=1).min() >= MIN_COSINE
    # Same tokenizer, so the chunker sees identical token counts and offsets whichever backend builds.
    assert torch_embedder.token_spans(SAMPLE) == onnx_embedder.token_spans(SAMPLE)


def test_query_embedder_uses_one_thread(both):
    assert load_embedder(MODEL, "onnx", threads=1).threads == 1
    assert load_embedder(MODEL, "torch", threads=1).threads == 1


@pytest.fixture(scope="module")
def indexes(tmp_path_factory):
    root = tmp_path_factory.mktemp("backends")
    built = {}
    for backend in ("onnx", "torch"):
        built[backend] = root / backend
        build_index([SEEDS], Settings(index=built[backend], runtime=backend), progress=False)
    return built


def _manifest(index) -> dict:
    return json.loads((generation_dir(index) / "manifest.json").read_text())


@pytest.mark.parametrize("backend", ["onnx", "torch"])
def test_backend_is_recorded_and_its_index_answers(indexes, backend):
    assert _manifest(indexes[backend])["model"]["runtime"] == backend
    engine = open_index(indexes[backend], Settings(runtime=backend))
    try:
        response = engine.ask(SEED_QUESTION)
    finally:
        engine.close()
    assert not response.no_answer
    assert response.answer.text.startswith("France was the only G7 country")


def test_index_of_the_other_backend_is_queried_without_rebuild(indexes):
    # Measured interchangeable (README "Performance"), so a torch-built index is served by the ONNX backend.
    answers = {}
    for built, queried in (("torch", "onnx"), ("onnx", "torch")):
        engine = open_index(indexes[built], Settings(runtime=queried))
        try:
            assert engine.embedder.runtime == queried
            answers[built] = engine.ask(SEED_QUESTION)
        finally:
            engine.close()
    assert answers["torch"].answer.citation == answers["onnx"].answer.citation


def test_auto_builds_with_torch_and_answers_with_onnx(tmp_path):
    index = tmp_path / "index"
    build_index([SEEDS], Settings(index=index, runtime="auto"), progress=False)
    assert _manifest(index)["model"]["runtime"] == "torch"
    engine = open_index(index, Settings(runtime="auto"))
    try:
        assert engine.embedder.runtime == "onnx"
        assert engine.ask(SEED_QUESTION).answer.text.startswith("France was the only G7 country")
    finally:
        engine.close()


def test_unknown_backend_in_manifest_is_refused_with_the_fix(indexes, tmp_path):
    import shutil

    copy = tmp_path / "index"
    shutil.copytree(indexes["onnx"], copy, ignore=shutil.ignore_patterns(".lock"))
    path = generation_dir(copy) / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["model"]["runtime"] = "openvino"
    path.write_text(json.dumps(manifest))
    with pytest.raises(IndexMismatch) as refused:
        open_index(copy, Settings(runtime="onnx"))
    message = str(refused.value)
    assert "'openvino'" in message and "build-index --runtime onnx" in message


def test_manifest_of_older_askdocs_naming_the_runtime_backend_is_read(indexes, tmp_path):
    import shutil

    copy = tmp_path / "index"
    shutil.copytree(indexes["onnx"], copy, ignore=shutil.ignore_patterns(".lock"))
    path = generation_dir(copy) / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["model"]["backend"] = manifest["model"].pop("runtime")
    path.write_text(json.dumps(manifest))
    engine = open_index(copy, Settings(runtime="onnx"))
    engine.close()
    # ... and an incremental build over it still reuses every vector: the same runtime under its old name.
    report = build_index([SEEDS], Settings(index=copy, runtime="onnx"), progress=False)
    assert report.changes is not None and report.embedded == 0
    # The old key is still checked, not just tolerated.
    path = generation_dir(copy) / "manifest.json"
    fresh = json.loads(path.read_text())
    # Normalised on load, the old spelling is the same manifest: nothing changed, so nothing was published.
    fresh["model"].pop("runtime", None)
    fresh["model"]["backend"] = "openvino"
    path.write_text(json.dumps(fresh))
    with pytest.raises(IndexMismatch, match="'openvino'"):
        open_index(copy, Settings(runtime="onnx"))


def test_onnx_query_path_never_imports_torch(indexes):
    # The point of the ONNX backend on the query path: no torch import time or memory. Building the question
    # model does import torch, once per install (make install does it): done here first, as installed.
    from askdocs.index.query_model import query_model_path

    query_model_path()
    code = (
        "import sys\n"
        "from askdocs.index.settings import Settings\n"
        "from askdocs.search import open_index\n"
        f"engine = open_index({str(indexes['onnx'])!r}, Settings(runtime='onnx'))\n"
        f"assert not engine.ask({SEED_QUESTION!r}).no_answer\n"
        "print(sorted(m for m in ('torch', 'transformers', 'sentence_transformers') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "[]"


def test_cli_runtime_flag_and_its_deprecated_backend_spelling(tmp_path):
    index = tmp_path / "index"
    built = subprocess.run([str(BIN / "build-index"), str(SEEDS), "--index", str(index), "--runtime", "onnx",
                            "--no-progress"], check=True, capture_output=True, text=True, timeout=120)
    assert "deprecated" not in built.stderr
    assert _manifest(index)["model"]["runtime"] == "onnx"
    # Scripts written when --backend named the runtime keep working, with a one-line notice on stderr.
    out = subprocess.run([str(BIN / "askdocs"), "ask", SEED_QUESTION, "--index", str(index), "--backend", "onnx",
                          "--json"], check=True, capture_output=True, text=True, timeout=120)
    assert json.loads(out.stdout)["answer"]["text"].startswith("France")
    notices = [line for line in out.stderr.splitlines() if "deprecated" in line]
    assert notices == ["askdocs: --backend onnx is deprecated, use --runtime onnx "
                       "(--vector-store picks the vector store: faiss|milvus)"]


@pytest.mark.integration  # the ONNX session itself
def test_onnx_builds_use_every_usable_cpu_and_questions_one_thread():
    from askdocs.index.runtime_onnx import _session, _usable_cpus, minilm_int8_path

    build = _session(minilm_int8_path(), None).get_session_options()
    question = _session(minilm_int8_path(), 1).get_session_options()
    assert build.intra_op_num_threads == _usable_cpus() == len(os.sched_getaffinity(0))
    assert question.intra_op_num_threads == 1


def test_batches_are_cut_by_token_count_and_padding_changes_no_vector():
    from askdocs.index.embedder import batches_by_length

    embedder = load_embedder(MODEL, "torch", precision="fp32")
    texts = [SAMPLE[3], SAMPLE[0], "x " * 400, SAMPLE[4], SAMPLE[1], SAMPLE[2]]
    counts = embedder.token_counts(texts)
    assert counts[2] == 256  # cut to the model's window, special tokens included
    batches = batches_by_length(counts, 2)
    assert sorted(i for batch in batches for i in batch) == list(range(len(texts)))
    ordered = [counts[i] for batch in batches for i in batch]
    assert ordered == sorted(counts, reverse=True)  # longest first: a batch pads to near-equal lengths
    assert batches_by_length([5, 7, 5, 7], 4) == [[1, 3, 0, 2]]  # ties keep their order (Ray cuts the same)
    spans = [_sentence_spans(text) for text in texts]
    batched = embedder.encode(texts, spans, batch_size=3)
    for i, text in enumerate(texts):
        alone = embedder.encode([text], [spans[i]], batch_size=1)
        assert np.allclose(batched.vectors[i], alone.vectors[0], atol=1e-5)
        assert np.allclose(batched.span_vectors[i], alone.span_vectors[0], atol=1e-5)
