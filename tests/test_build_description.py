"""One description of a build: what a changed setting means for eval, incremental reuse and the embedding cache."""

from __future__ import annotations

import logging

from askdocs.api.evaluate import evaluate
from askdocs.index.settings import Settings
from askdocs.index.store import read_current

from .test_retrieval import _write_dataset


def test_eval_rebuilds_when_the_vector_index_settings_change(tmp_path, caplog):
    dataset = _write_dataset(tmp_path / "tiny")
    index = tmp_path / "index"
    flat = evaluate(dataset, "test", "dense", Settings(vector_index="flat"), index=index, progress=False)
    assert flat["build_s"] is not None
    assert read_current(index)[1].vectors["type"] == "flat"

    # Before: the index built flat was reused and scored as if it were the IVF one asked for.
    caplog.set_level(logging.INFO, logger="askdocs.eval")
    ivf = evaluate(dataset, "test", "dense", Settings(vector_index="ivf", ann_nlist=1), index=index, progress=False)
    assert ivf["build_s"] is not None, "a changed vector index is another index to score"
    assert "other build settings; building it again" in caplog.text
    assert read_current(index)[1].vectors["type"] == "ivf" and read_current(index)[1].vectors["nlist"] == 1

    two_lists = evaluate(dataset, "test", "dense", Settings(vector_index="ivf", ann_nlist=2), index=index,
                         progress=False)
    assert two_lists["build_s"] is not None and read_current(index)[1].vectors["nlist"] == 2
    again = evaluate(dataset, "test", "dense", Settings(vector_index="ivf", ann_nlist=2), index=index, progress=False)
    assert again["build_s"] is None, "the same settings reuse the index"


def _parts(**settings):
    from askdocs.index.build import describe_build

    return describe_build(Settings(**settings))


def test_a_vector_index_change_keeps_the_vectors_and_a_model_change_does_not():
    from askdocs.index.manifest import Manifest, cache_namespace, fingerprint_fields, full_build_reason, recorded_sections

    flat = _parts(vector_index="flat")
    built = Manifest.load({"format": "askdocs-index", **recorded_sections(flat)})
    assert full_build_reason(built, flat) is None
    ivf = _parts(vector_index="ivf", ann_nlist=4)
    assert full_build_reason(built, ivf) is None, "the same vectors in another index: an incremental build"
    assert fingerprint_fields(ivf) != fingerprint_fields(flat), "but another index to score"
    assert cache_namespace(ivf) == cache_namespace(flat)
    onnx = _parts(runtime="onnx")
    assert "runtime 'torch' -> 'onnx'" in full_build_reason(built, onnx)
    assert cache_namespace(onnx) != cache_namespace(flat)
    # The names the embedding cache has always hashed, so caches filled by older askdocs keep serving.
    assert set(cache_namespace(flat)) == {"model", "runtime", "precision", "max_tokens", "dimension", "tokenizers"}


def test_an_old_manifest_is_normalised_once_on_load():
    from askdocs.index.manifest import Manifest

    old = Manifest.load({"format": "askdocs-index", "model": {"name": "m", "backend": "onnx"}})
    assert old.model.runtime == "onnx" and "backend" not in old.model.model_dump()
    assert Manifest.load({"format": "askdocs-index", "model": {"name": "m"}}).model.runtime == "torch"
    assert Manifest.load({"format": "askdocs-index", "vectors": None}).vectors == {"type": "flat"}
