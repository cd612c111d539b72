"""Serving answers questions without PyTorch: with the question model's ONNX file cached, `askdocs serve` never
imports torch (nor sentence-transformers, which needs it), which is seconds of start-up and hundreds of MB."""

from __future__ import annotations

from pathlib import Path

import httpx

from askdocs.index.query_model import query_model_path

from .conftest import SEED_QUESTION, Server


def test_serving_a_question_does_not_import_torch(seeds_index):
    query_model_path()  # the premise: the question model is cached (building it exports with torch)
    server = Server(seeds_index)
    try:
        answered = httpx.post(server.url + "/ask", json={"question": SEED_QUESTION}, timeout=30)
        assert answered.status_code == 200 and answered.json()["passages"]
        # A native library is mapped into the process once its package is imported, and stays.
        mapped = Path(f"/proc/{server.process.pid}/maps").read_text()
        assert "onnxruntime" in mapped  # what answered the question
        assert "libtorch" not in mapped, "serving imported torch"
    finally:
        server.stop()
