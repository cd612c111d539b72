"""The question model: MiniLM fused and quantised to int8 arithmetic, built on first use into a cache folder."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from askdocs.index.embedder import load_embedder
from askdocs.index.query_model import META_FILE, MODEL_FILE, query_model_path

# Building the file exports and runs the model.
pytestmark = pytest.mark.integration

MODEL = "all-MiniLM-L6-v2"
QUESTIONS = [
    "Which G7 country voted in favour of the UN resolution calling for a humanitarian truce?",
    "What TCP port does the PostgreSQL server listen on if I don't change it?",
    "Vitamin D deficiency is associated with an increased risk of hip fractures in older women.",
    "How do I start an interactive bash that skips ~/.bashrc?",
    "naïve café — “quotes”, 日本語 and a URL: https://example.org/a_b?c=1",
]


def test_question_vectors_match_torch_fp32():
    torch_embedder = load_embedder(MODEL, "torch", precision="fp32")
    onnx_embedder = load_embedder(MODEL, "onnx", threads=1)
    fp32 = torch_embedder.encode_queries(QUESTIONS)
    int8 = onnx_embedder.encode_queries(QUESTIONS)
    assert int8.shape == (len(QUESTIONS), 384) and int8.dtype == np.float32
    assert np.allclose(np.linalg.norm(int8, axis=1), 1, atol=1e-5)
    assert (fp32 * int8).sum(axis=1).min() >= 0.999
    # The question file itself, not the published one the builds use: it computes in int8.
    session = onnx_embedder._run_question._session
    assert Path(session._model_path).name == MODEL_FILE
    assert onnx_embedder._run._session._model_path != session._model_path


def test_a_damaged_or_missing_file_is_rebuilt(tmp_path):
    built = Path(query_model_path())
    cache = tmp_path / "models"
    copy = cache / built.parent.name
    shutil.copytree(built.parent, copy)
    assert query_model_path(cache) == str(copy / MODEL_FILE)  # intact: used as it is
    recorded = json.loads((copy / META_FILE).read_text())["sha256"]

    with open(copy / MODEL_FILE, "r+b") as handle:  # one flipped byte deep in the weights
        handle.seek(20_000_000)
        byte = handle.read(1)
        handle.seek(20_000_000)
        handle.write(bytes([byte[0] ^ 0xFF]))
    assert query_model_path(cache) == str(copy / MODEL_FILE)
    assert json.loads((copy / META_FILE).read_text())["sha256"] == recorded  # the same build, byte for byte

    (copy / MODEL_FILE).unlink()
    (copy / META_FILE).write_text("{")  # neither the file nor a readable record of it: built again
    assert query_model_path(cache) == str(copy / MODEL_FILE)
    assert json.loads((copy / META_FILE).read_text())["sha256"] == recorded


def test_a_cache_folder_that_cannot_be_written_is_named_with_the_fix(tmp_path):
    from askdocs.index.query_model import QueryModelError

    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    with pytest.raises(QueryModelError, match="ASKDOCS_MODEL_CACHE") as raised:
        query_model_path(blocker / "models")
    assert str(blocker / "models") in str(raised.value)


def test_the_configured_cache_folder_is_the_one_questions_use(tmp_path):
    from askdocs.index.settings import Settings

    built = Path(query_model_path())
    cache = tmp_path / "models"
    shutil.copytree(built.parent, cache / built.parent.name)
    settings = Settings.from_environment({"ASKDOCS_MODEL_CACHE": str(cache)}, {})
    embedder = load_embedder(MODEL, "onnx", threads=1, model_cache=settings.model_cache)
    embedder.encode_queries(["Where does the question model live?"])
    assert Path(embedder._run_question._session._model_path).parent.parent == cache
