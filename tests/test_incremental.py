"""Incremental builds: only changed text goes through the model, and the result equals a build from scratch."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from askdocs.api.cli import build_index_command
from askdocs.index.build import build_index
from askdocs.index.settings import Settings
from askdocs.index.lexical import bm25_scores, load_bm25, tokenize
from askdocs.index.store import BM25_DIR, CHUNK_KEYS, CHUNKS_DB, generation_dir, open_stored_index, sha256_file
from askdocs.search import open_index

from .fixtures import write_corpus

QUESTIONS = [
    "How often is the coffee machine descaled?",
    "What pressure do road tyres need?",
    "Which chemistry do home batteries use?",
    "When is black tea oxidised?",
    "What does the lighthouse keeper log each night?",
]


def _long_text(topic: str, paragraphs: int) -> str:
    # Several chunks' worth, so editing the last paragraph leaves the first chunks' text untouched.
    return f"{topic.title()} handbook\n\n" + "\n\n".join(
        " ".join(f"Rule {p}.{s} of the {topic} handbook says item {p * 7 + s} is checked by team {s}." for s in range(9))
        for p in range(paragraphs)
    )


def _corpus(root: Path) -> Path:
    write_corpus(root)
    (root / "handbook.txt").write_text(_long_text("lighthouse", 8), encoding="utf-8")
    (root / "garden.md").write_text("# Garden\n\nTomatoes need staking once they reach knee height.\n", encoding="utf-8")
    (root / "old").mkdir()
    (root / "old" / "harbour.txt").write_text(_long_text("harbour", 3), encoding="utf-8")
    return root


def _change(root: Path) -> None:
    handbook = root / "handbook.txt"
    handbook.write_text(
        handbook.read_text(encoding="utf-8") + "\n\nThe lighthouse keeper logs the lamp hours and the weather each night.",
        encoding="utf-8",
    )
    (root / "garden.md").unlink()
    (root / "kitchen.txt").write_text("Kitchen rules\n\nKnives are sharpened on the first Monday of the month.\n")
    (root / "new").mkdir()
    shutil.move(root / "old" / "harbour.txt", root / "new" / "harbour.txt")  # renamed: same text, new doc id


def _rows(index: Path):
    stored = open_stored_index(index)
    try:
        documents = [(d.doc_id, d.title, d.source, d.kind, d.sha256, d.size, d.mtime, d.page_starts, d.meta, d.text)
                     for d in stored.all_documents()]
        return documents, stored.all_chunks(), stored.all_vectors(), stored.sentence_spans.copy(), \
            stored.sentence_vectors.copy(), stored.manifest
    finally:
        stored.close()


def _answers(index: Path) -> list[dict]:
    engine = open_index(index)
    try:
        return [engine.ask(q, top_k=5, mode=mode).model_dump(exclude={"took_ms"})
                for q in QUESTIONS for mode in ("hybrid", "dense", "bm25")]
    finally:
        engine.close()


def _assert_same_answers(left: list[dict], right: list[dict]) -> None:
    assert len(left) == len(right)
    for a, b in zip(left, right):
        # Scores come from vectors equal to ~1e-7; everything else must be identical.
        for x, y in zip([a] + a["passages"], [b] + b["passages"]):
            assert x.pop("score", None) == pytest.approx(y.pop("score", None), abs=1e-5)
        sa, sb = a.pop("signals"), b.pop("signals")
        assert (sa is None) == (sb is None)
        if sa:
            assert {k: pytest.approx(v, abs=1e-4) for k, v in sa.items()} == sb
        if a["answer"]:
            # The answer's score is the scorer's logit over sentence vectors, which are stored as float16 (equal to
            # ~1e-3 above): the signals' tolerance, not the passages'.
            assert a["answer"].pop("score") == pytest.approx(b["answer"].pop("score"), abs=1e-4)
        # Which generation a citation came from differs by construction (an incremental build is a later one).
        for x in [a, b]:
            for cited in [x["answer"]] * bool(x["answer"]) + x["passages"]:
                cited["citation"].pop("generation")
        assert a == b


def test_incremental_build_reuses_unchanged_work_and_equals_a_build_from_scratch(tmp_path):
    corpus = _corpus(tmp_path / "docs")
    # fp32: a bf16 vector depends on its batch's shape (padding, blocking) by up to ~1e-3, so only fp32 builds of
    # differently batched chunk sets agree to 1e-6.
    exact = Settings(index=tmp_path / "index", precision="fp32")
    index = tmp_path / "index"
    first = build_index([corpus], exact, progress=False)
    assert first.changes is None and first.full_build_reason == "there is no index yet"
    assert first.embedded == first.chunks

    _change(corpus)
    report = build_index([corpus], exact, progress=False)
    changes = report.changes
    assert changes is not None, report.full_build_reason
    assert sorted(changes.added) == ["kitchen.txt", "new/harbour.txt"]
    assert changes.updated == ["handbook.txt"]
    assert changes.removed == ["garden.md", "old/harbour.txt"]
    assert sorted(changes.unchanged) == ["notes/bicycle.txt", "notes/coffee.md", "solar.html", "tea.pdf"]
    assert "2 added, 1 updated, 2 removed, 4 unchanged documents" in report.summary()

    # Only the handbook's edited tail and the kitchen note are new text; the renamed file's chunks and the
    # handbook's untouched chunks keep their vectors.
    stored = open_stored_index(index)
    per_doc = {doc_id: int(np.sum(stored.chunks.doc_row == row)) for row, doc_id in enumerate(stored.doc_ids)}
    stored.close()
    assert per_doc["handbook.txt"] >= 3 and per_doc["new/harbour.txt"] >= 2
    assert 1 + per_doc["kitchen.txt"] <= report.embedded < per_doc["handbook.txt"] + per_doc["kitchen.txt"]
    assert f"embedded {report.embedded} of {report.chunks} chunks" in report.summary()

    scratch = tmp_path / "scratch"
    fresh = build_index([corpus], exact.replace(index=scratch), progress=False)
    assert fresh.embedded == fresh.chunks == report.chunks

    docs_a, chunks_a, vectors_a, spans_a, sentences_a, manifest_a = _rows(index)
    docs_b, chunks_b, vectors_b, spans_b, sentences_b, manifest_b = _rows(scratch)
    assert docs_a == docs_b
    assert chunks_a == chunks_b
    np.testing.assert_allclose(vectors_a, vectors_b, atol=1e-6)
    np.testing.assert_array_equal(spans_a, spans_b)
    np.testing.assert_allclose(sentences_a, sentences_b, atol=1e-3)  # stored as float16
    for section in ("model", "chunker", "retrieval_text", "libraries", "bm25", "counts"):
        assert manifest_a.section(section) == manifest_b.section(section)
    _assert_same_answers(_answers(index), _answers(scratch))
    assert "lighthouse keeper" in _answers(index)[12]["passages"][0]["text"]
    # BM25 took the unchanged chunks' tokens over from the previous generation and tokenised only the new text:
    # every chunk's score must still be the one a build from scratch gives.
    bm25_a, bm25_b = _bm25(index), _bm25(scratch)
    assert bm25_a.vocab_dict == bm25_b.vocab_dict
    for question in QUESTIONS + ["handbook team rule", "harbour item checked", "knives monday", "tomatoes"]:
        np.testing.assert_allclose(bm25_scores(bm25_a, tokenize(question)), bm25_scores(bm25_b, tokenize(question)),
                                   atol=1e-6)
        assert bm25_scores(bm25_a, tokenize(question)).any() or question == "tomatoes"  # garden.md was removed


    # What the next build takes over (chunk tokens, reuse keys) is what a build from scratch saves.
    with np.load(generation_dir(index) / BM25_DIR / "chunk_tokens.npz") as a, \
            np.load(generation_dir(scratch) / BM25_DIR / "chunk_tokens.npz") as b:
        assert a.files == b.files
        for name in a.files:
            np.testing.assert_array_equal(a[name], b[name])
    keys = np.load(generation_dir(index) / CHUNK_KEYS)
    assert keys.shape == (report.chunks, 32)
    np.testing.assert_array_equal(keys, np.load(generation_dir(scratch) / CHUNK_KEYS))


def _bm25(index: Path):
    return load_bm25(generation_dir(index) / BM25_DIR)


def test_a_build_with_nothing_changed_embeds_nothing_and_reports_it(tmp_path, corpus):
    index = tmp_path / "index"
    build_index([corpus], Settings(index=index), progress=False)
    before = _rows(index)
    result = CliRunner().invoke(build_index_command, [str(corpus), "--index", str(index), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "Incremental: 0 added, 0 updated, 0 removed, 4 unchanged documents; embedded 0 of" in result.output
    after = _rows(index)
    assert before[0] == after[0] and before[1] == after[1]
    np.testing.assert_array_equal(before[2], after[2])  # the very same stored floats
    np.testing.assert_array_equal(before[4], after[4])
    # Nothing changed, so nothing is published: servers have nothing to reload, citations keep their generation.
    assert after[5].generation == before[5].generation
    assert "No change since generation" in result.output and "nothing published" in result.output
    assert len(list((index / "generations").iterdir())) == 1

    forced = CliRunner().invoke(build_index_command, [str(corpus), "--index", str(index), "--no-progress", "--rebuild"])
    assert forced.exit_code == 0, forced.output
    assert "Full build (--rebuild was given); embedded" in forced.output


def test_changed_chunk_settings_force_a_full_build_and_say_why(tmp_path, corpus):
    index = tmp_path / "index"
    build_index([corpus], Settings(index=index), progress=False)
    report = build_index([corpus], Settings(index=index, chunk_tokens=64, chunk_overlap=8), progress=False)
    # Every chunk was looked at again; the short documents' unchanged chunk texts come from the embedding cache.
    assert report.changes is None and report.embedded + report.from_cache == report.chunks
    assert 0 < report.embedded
    assert "chunker settings changed" in report.full_build_reason
    assert "target_tokens 200 -> 64" in report.full_build_reason and "overlap_tokens 40 -> 8" in report.full_build_reason

    report = build_index([corpus], Settings(index=index, chunk_tokens=64, chunk_overlap=8, title_prefix=False),
                         progress=False)
    assert report.changes is None and "retrieval text settings changed (title_prefix True -> False" in report.summary()


def test_a_changed_model_record_forces_a_full_build(tmp_path, corpus):
    index = tmp_path / "index"
    build_index([corpus], Settings(index=index), progress=False)
    manifest_path = generation_dir(index) / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["model"]["normalized"] = False  # as if written by a model setup this build does not have
    manifest_path.write_text(json.dumps(manifest))
    report = build_index([corpus], Settings(index=index), progress=False)
    assert report.changes is None and "model settings changed (normalized False -> True)" in report.full_build_reason


def test_a_damaged_previous_generation_is_not_reused(tmp_path, corpus):
    index = tmp_path / "index"
    build_index([corpus], Settings(index=index), progress=False)
    database = generation_dir(index) / CHUNKS_DB
    data = bytearray(database.read_bytes())
    data[200:260] = b"\xff" * 60  # same size, different bytes
    database.write_bytes(bytes(data))
    report = build_index([corpus], Settings(index=index), progress=False)
    assert report.changes is None and "cannot be reused" in report.full_build_reason
    assert "checksum" in report.full_build_reason
    assert open_stored_index(index).n_documents == 4


def test_a_precision_change_is_recorded_but_keeps_the_stored_vectors(tmp_path, corpus):
    index = tmp_path / "index"
    build_index([corpus], Settings(index=index, precision="fp32", runtime="torch"), progress=False)
    before = _rows(index)
    assert before[5].model.precision == "fp32"
    report = build_index([corpus], Settings(index=index, precision="bf16", runtime="torch"), progress=False)
    assert report.changes is not None, report.full_build_reason
    assert report.embedded == 0
    after = _rows(index)
    assert after[5].model.precision == "bf16"
    np.testing.assert_array_equal(before[2], after[2])

    # Another runtime is another model record: a full build.
    report = build_index([corpus], Settings(index=index, runtime="onnx"), progress=False)
    assert report.changes is None and "runtime 'torch' -> 'onnx'" in report.full_build_reason
    assert _rows(index)[5].model.precision == "int8"


def test_a_generation_saved_without_chunk_tokens_or_keys_is_still_built_on_exactly(tmp_path):
    # An index written before chunk tokens and reuse keys were saved: the build derives them again.
    corpus = _corpus(tmp_path / "docs")
    exact = Settings(index=tmp_path / "index", precision="fp32")
    build_index([corpus], exact, progress=False)
    generation = generation_dir(tmp_path / "index")
    manifest = json.loads((generation / "manifest.json").read_text())
    for saved in (f"{BM25_DIR}/chunk_tokens.npz", CHUNK_KEYS):
        (generation / saved).unlink()
        del manifest["files"][saved]
    (generation / "manifest.json").write_text(json.dumps(manifest))

    _change(corpus)
    report = build_index([corpus], exact, progress=False)
    assert report.changes is not None, report.full_build_reason
    assert report.embedded < report.chunks
    build_index([corpus], exact.replace(index=tmp_path / "scratch"), progress=False)
    docs_a, chunks_a, vectors_a, *_ = _rows(tmp_path / "index")
    docs_b, chunks_b, vectors_b, *_ = _rows(tmp_path / "scratch")
    assert (docs_a, chunks_a) == (docs_b, chunks_b)
    np.testing.assert_allclose(vectors_a, vectors_b, atol=1e-6)
    bm25_a, bm25_b = _bm25(tmp_path / "index"), _bm25(tmp_path / "scratch")
    for question in QUESTIONS:
        np.testing.assert_allclose(bm25_scores(bm25_a, tokenize(question)), bm25_scores(bm25_b, tokenize(question)),
                                   atol=1e-6)
    np.testing.assert_array_equal(np.load(generation_dir(tmp_path / "index") / CHUNK_KEYS),
                                  np.load(generation_dir(tmp_path / "scratch") / CHUNK_KEYS))


def test_an_ivf_sq8_index_takes_its_vectors_over_exactly_and_finds_the_right_document(tmp_path):
    # ivf-sq8 searches 8-bit approximations; what an incremental build takes over must still be the exact
    # vectors (vectors.npy), or a sync would drift from a build from scratch.
    corpus = _corpus(tmp_path / "docs")
    settings = Settings(index=tmp_path / "index", precision="fp32", vector_index="ivf-sq8", ann_nlist=2)
    index = tmp_path / "index"
    # The first build through the command line: --vector-index is the flag that asks for it.
    first = CliRunner().invoke(build_index_command, [str(corpus), "--index", str(index), "--no-progress",
                                                     "--vector-index", "ivf-sq8"],
                               env={"ASKDOCS_PRECISION": "fp32", "ASKDOCS_ANN_NLIST": "2"})
    assert first.exit_code == 0, first.output
    assert "Vector index: IVF-SQ8 (8-bit vectors), 2 lists" in first.output
    _change(corpus)
    report = build_index([corpus], settings, progress=False)
    assert report.changes is not None and 0 < report.embedded < report.chunks, report.summary()
    scratch = tmp_path / "scratch"
    build_index([corpus], settings.replace(index=scratch), progress=False)

    *_, vectors_a, _, _, manifest_a = _rows(index)
    *_, vectors_b, _, _, manifest_b = _rows(scratch)
    np.testing.assert_allclose(vectors_a, vectors_b, atol=1e-6)
    assert manifest_a.vectors["type"] == "ivf-sq8" and manifest_a.vectors == manifest_b.vectors
    # Both files are checksummed like every other file of the generation.
    assert {"vectors.faiss", "vectors.npy"} <= set(manifest_a.files)
    exact_file = generation_dir(index) / "vectors.npy"
    assert manifest_a.files["vectors.npy"].sha256 == sha256_file(exact_file)
    _assert_same_answers(_answers(index), _answers(scratch))
    expected = ["notes/coffee.md", "notes/bicycle.txt", "solar.html", "tea.pdf", "handbook.txt"]
    engine = open_index(index)
    try:
        assert "IVF-SQ8" in engine.stored.vectors.describe()
        for question, doc_id in zip(QUESTIONS, expected):
            passages = engine.ask(question, top_k=3, mode="dense").model_dump()["passages"]
            assert passages[0]["citation"]["doc_id"] == doc_id, (question, [p["citation"] for p in passages])
    finally:
        engine.close()
