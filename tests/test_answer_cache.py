"""Repeated questions come from the answer cache, which a new index generation empties."""

from __future__ import annotations

import httpx

from askdocs.index.build import build_index
from askdocs.index.settings import Settings

from .conftest import Server
from .fixtures import wait_for
from .test_versions import FALCON, LEAD, QUESTION


def test_a_repeated_question_is_a_cache_hit_until_a_new_generation(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "falcon.txt").write_text(FALCON)
    index = tmp_path / "index"
    build_index([docs], Settings(index=index), progress=False)
    server = Server(index, env={"ASKDOCS_RELOAD_INTERVAL": "0.2"})
    try:
        first = httpx.post(server.url + "/ask", json=QUESTION, timeout=30).json()
        again = httpx.post(server.url + "/ask", json=QUESTION, timeout=30).json()
        assert not first["cached"] and again["cached"]
        assert {k: v for k, v in again.items() if k not in ("cached", "took_ms")} == \
            {k: v for k, v in first.items() if k not in ("cached", "took_ms")}
        # Any parameter that shapes the response is part of the key.
        other = httpx.post(server.url + "/ask", json={**QUESTION, "top_k": 1}, timeout=30).json()
        assert not other["cached"] and len(other["passages"]) == 1
        context = httpx.post(server.url + "/ask", json={**QUESTION, "format": "context"}, timeout=30).json()
        assert not context["cached"] and context["context"]

        (docs / "falcon.txt").write_text(FALCON.replace("Maria Lopez", "Ana Silva"))
        build_index([docs], Settings(index=index), progress=False)
        wait_for(lambda: httpx.get(server.url + "/health", timeout=30).json()["generation"] == 2, "the reload")
        fresh = httpx.post(server.url + "/ask", json=QUESTION, timeout=30).json()
        assert not fresh["cached"] and "Ana Silva" in fresh["answer"]["text"]
        assert first["answer"]["text"] == LEAD
    finally:
        server.stop()


def test_the_cache_can_be_turned_off(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "falcon.txt").write_text(FALCON)
    index = tmp_path / "index"
    build_index([docs], Settings(index=index), progress=False)
    server = Server(index, env={"ASKDOCS_ANSWER_CACHE": "0"})
    try:
        for _ in range(2):
            assert not httpx.post(server.url + "/ask", json=QUESTION, timeout=30).json()["cached"]
    finally:
        server.stop()
