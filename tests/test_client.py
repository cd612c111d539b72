"""askdocs.api.client against real servers: keys, every method sync and async, and waiting out a 503 until an index
is published."""

from __future__ import annotations

import asyncio
import os
import shutil
import threading
import time

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from askdocs.api.client import AskdocsError, AsyncClient, Client
from askdocs.api.collections import CollectionList
from askdocs.search.models import AskResponse, DocumentOut, Health, SearchResponse

from .conftest import API_KEY, SEED_QUESTION, Server


def test_client_speaks_the_servers_models_with_a_key(keyed_server):
    with Client(keyed_server.url, api_key=API_KEY) as askdocs:
        answered = askdocs.ask(SEED_QUESTION, top_k=2)
        assert isinstance(answered, AskResponse) and not answered.no_answer and len(answered.passages) == 2
        citation = answered.answer.citation
        document = askdocs.document(citation.doc_id)
        assert isinstance(document, DocumentOut)
        assert document.text[citation.char_start:citation.char_end] == answered.answer.text
        found = askdocs.search("humanitarian truce", top_k=3, mode="bm25")
        assert isinstance(found, SearchResponse) and 1 <= len(found.passages) <= 3
        for passage in found.passages:
            text = askdocs.document(passage.citation.doc_id).text
            assert text[passage.citation.char_start:passage.citation.char_end] == passage.text
        health = askdocs.health()
        assert isinstance(health, Health) and health.status == "ok"
        listed = list(askdocs.iter_documents(limit=1))
        assert len(listed) == health.index.documents
        assert [d.doc_id for d in askdocs.documents(filters={"doc_ids": [listed[0].doc_id]}).documents] == \
            [listed[0].doc_id]
        collections = askdocs.collections()
        assert isinstance(collections, CollectionList) and collections.default == "default"
        assert askdocs.reload().status == "unchanged"
        with pytest.raises(AskdocsError) as refused:
            askdocs.ask("   ")
        assert refused.value.status == 422 and refused.value.message == "question must not be blank"
        with pytest.raises(AskdocsError) as unknown:
            askdocs.document("no/such/file.txt")
        assert unknown.value.status == 404 and "no/such/file.txt" in unknown.value.message
        assert unknown.value.request_id


def test_without_a_key_the_client_says_so(keyed_server):
    with Client(keyed_server.url) as anonymous:
        with pytest.raises(AskdocsError) as refused:
            anonymous.ask(SEED_QUESTION)
        assert refused.value.status == 401 and "API key" in refused.value.message
        public = anonymous.health()  # public for monitors, with no details
        assert public.status == "ok" and public.index is None
    with Client(keyed_server.url, api_key="wrong") as wrong, pytest.raises(AskdocsError) as refused:
        wrong.collections()
    assert refused.value.status == 401


def test_async_client(keyed_server):
    async def use() -> tuple:
        async with AsyncClient(keyed_server.url, api_key=API_KEY) as askdocs:
            answered, found, health = await asyncio.gather(
                askdocs.ask(SEED_QUESTION, top_k=1), askdocs.search("truce", top_k=2), askdocs.health())
            listed = [d.doc_id async for d in askdocs.iter_documents(limit=1)]
            document = await askdocs.document(answered.answer.citation.doc_id)
            return answered, found, health, listed, document

    answered, found, health, listed, document = asyncio.run(use())
    assert not answered.no_answer and len(found.passages) == 2 and health.status == "ok"
    assert len(listed) == health.index.documents
    citation = answered.answer.citation
    assert document.text[citation.char_start:citation.char_end] == answered.answer.text


def test_client_waits_out_503_until_an_index_is_published(tmp_path, seeds_index):
    """The server starts with no index (every /ask a 503); the index appears in one rename while the client is
    asking, the server picks it up, and the client's retries get the answer."""
    index = tmp_path / "index"
    staged = shutil.copytree(seeds_index, tmp_path / "staged", symlinks=True,
                             ignore=shutil.ignore_patterns(".lock"))
    server = Server(index, env={"ASKDOCS_RELOAD_INTERVAL": "0.5"})
    try:
        result: dict = {}

        def ask() -> None:
            with Client(server.url, retries=12, retry_wait=0.25) as askdocs:
                try:
                    result["answer"] = askdocs.ask(SEED_QUESTION)
                except AskdocsError as exc:
                    result["error"] = exc

        asking = threading.Thread(target=ask)
        asking.start()
        deadline = time.monotonic() + 30
        while _ask_count(server, "503") < 1 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _ask_count(server, "503") >= 1, "the client never met the 503"
        os.rename(staged, index)
        asking.join(timeout=120)
        assert "error" not in result, result
        assert not result["answer"].no_answer
        assert _ask_count(server, "200") == 1
    finally:
        server.stop()


def _ask_count(server: Server, status: str) -> float:
    text = httpx.get(server.url + "/metrics", timeout=30).text
    return sum(s.value for family in text_string_to_metric_families(text) for s in family.samples
               if s.name == "askdocs_http_requests_total" and s.labels["route"] == "/ask"
               and s.labels["status"] == status)
