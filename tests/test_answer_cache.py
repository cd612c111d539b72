"""Repeated questions come from the answer cache, which a new index generation empties."""

from __future__ import annotations

import json

import httpx

from askdocs.index.build import build_index
from askdocs.index.settings import Settings
from askdocs.search.answer_cache import AnswerCache, CachedAnswer
from askdocs.search.engine import open_index
from askdocs.search.models import AskResponse, Question

from .conftest import Server
from .fixtures import wait_for
from .test_versions import FALCON, LEAD, QUESTION, falcon_index


def test_a_repeated_question_is_a_cache_hit_until_a_new_generation(tmp_path):
    docs, index = falcon_index(tmp_path)
    server = Server(index, env={"ASKDOCS_RELOAD_INTERVAL": "0.2"})
    try:
        first_response = httpx.post(server.url + "/ask", json=QUESTION, timeout=30)
        again_response = httpx.post(server.url + "/ask", json=QUESTION, timeout=30)
        # Both bodies are AskResponse's JSON exactly (a hit is sent as bytes kept from the miss), with its headers.
        for response in (first_response, again_response):
            assert response.headers["content-type"] == "application/json"
            assert response.content == AskResponse.model_validate_json(response.content).model_dump_json().encode()
        first, again = first_response.json(), again_response.json()
        assert not first["cached"] and again["cached"]
        assert list(first) == list(again) == list(AskResponse.model_fields)
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
    _, index = falcon_index(tmp_path)
    server = Server(index, env={"ASKDOCS_ANSWER_CACHE": "0"})
    try:
        for _ in range(2):
            assert not httpx.post(server.url + "/ask", json=QUESTION, timeout=30).json()["cached"]
    finally:
        server.stop()


def test_a_cached_answer_serialises_to_the_bytes_of_the_response():
    # The HTTP route sends these bytes instead of serialising the response: they must be the response's own JSON
    # for any took_ms and cached flag, whatever the text holds (quotes, newlines, non-ASCII, a context absent, empty
    # or spelling took_ms and cached itself).
    for context in (None, 'Sources:\n[1] "Ärzte" \\ notes\u2028', '{"took_ms":12.5,"cached":false}', ""):
        response = AskResponse(question='Who said "hello" in Zürich?\n', mode="bm25", answer=None, no_answer=True,
                               signals=None, passages=[], took_ms=12.5, context=context)
        entry = CachedAnswer(response)
        for took_ms, cached in ((12.5, False), (0.004, True), (1e-05, True)):
            expected = response.model_copy(update={"took_ms": took_ms, "cached": cached}).model_dump_json()
            assert entry.body(took_ms, cached) == expected.encode()
        assert entry.no_answer


def test_the_key_looked_up_before_a_miss_is_the_one_its_answer_is_kept_under(tmp_path):
    # POST /ask computes the key once: a look on the event loop, then the full ask with the same key.
    _, index = falcon_index(tmp_path)
    engine = open_index(index)
    try:
        question = Question(**QUESTION)
        key = AnswerCache.key(question)
        assert engine.cached_body(key) is None
        body, no_answer, cached = engine.ask_body(question, key)
        assert not cached and not no_answer
        assert (engine.answer_cache.hits, engine.answer_cache.misses) == (0, 1)
        again, again_no_answer = engine.cached_body(key)
        assert (engine.answer_cache.hits, engine.answer_cache.misses) == (1, 1)
        first, repeated = json.loads(body), json.loads(again)
        assert repeated == {**first, "cached": True, "took_ms": repeated["took_ms"]} and not again_no_answer
    finally:
        engine.close()


def test_the_cache_is_bounded_and_counts_a_miss_once():
    cache = AnswerCache(2)
    entries = {name: CachedAnswer(AskResponse(question=name, mode="hybrid", answer=None, no_answer=True,
                                              signals=None, passages=[], took_ms=1.0)) for name in "abc"}
    assert cache.get("a", count_miss=False) is None and cache.misses == 0  # a look before the full ask
    assert cache.get("a") is None and cache.misses == 1
    for name, entry in entries.items():
        cache.put(name, entry)
    assert len(cache) == 2 and cache.get("a") is None  # least recently used out first
    assert cache.get("c") is entries["c"] and cache.hits == 1
