"""GET /metrics after real traffic, parsed with prometheus_client's own parser; and JSON logs (issue 21)."""

from __future__ import annotations

import json

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from .conftest import API_KEY, SEED_QUESTION, Server, copy_index
from .fixtures import wait_for

UNRELATED = "How long should sourdough bread proof?"
AUTH = {"authorization": f"Bearer {API_KEY}"}


def samples(text: str) -> dict[tuple[str, frozenset], float]:
    """{(sample name, labels): value} of a scrape, as Prometheus itself would read it."""
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(scraped: dict, name: str, **labels: str) -> float:
    return scraped.get((name, frozenset(labels.items())), 0.0)


@pytest.fixture(scope="module")
def keyed(tmp_path_factory, seeds_index):
    index = copy_index(seeds_index, tmp_path_factory.mktemp("metrics") / "index")
    server = Server(index, env={"ASKDOCS_API_KEYS": API_KEY})
    yield server
    server.stop()


def test_metrics_count_the_requests_sent(keyed):
    with httpx.Client(base_url=keyed.url, timeout=60, headers=AUTH) as client:
        for _ in range(3):
            assert client.post("/ask", json={"question": SEED_QUESTION}).status_code == 200
        for _ in range(2):
            assert client.post("/ask", json={"question": SEED_QUESTION, "mode": "bm25"}).status_code == 200
        unrelated = client.post("/ask", json={"question": UNRELATED, "mode": "dense"})
        assert unrelated.status_code == 200 and unrelated.json()["no_answer"] is True
        assert client.post("/ask", json={"question": ""}).status_code == 422
        assert client.get("/documents/no-such.txt").status_code == 404
        assert client.get("/documents/no-such-either.txt").status_code == 404
        assert client.get("/nowhere/at/all").status_code == 404
        health = client.get("/health").json()
        assert httpx.post(keyed.url + "/ask", json={"question": SEED_QUESTION}).status_code == 401  # no key
        scrape = client.get("/metrics")
    assert scrape.status_code == 200 and scrape.headers["content-type"].startswith("text/plain")
    scraped = samples(scrape.text)
    requests = "askdocs_http_requests_total"
    assert value(scraped, requests, route="/ask", method="POST", mode="hybrid", status="200") == 3
    assert value(scraped, requests, route="/ask", method="POST", mode="bm25", status="200") == 2
    assert value(scraped, requests, route="/ask", method="POST", mode="dense", status="200") == 1
    # Refused before a mode is known: the 422 (validation) and the 401 (no key) have none.
    assert value(scraped, requests, route="/ask", method="POST", mode="", status="422") == 1
    assert value(scraped, requests, route="/ask", method="POST", mode="", status="401") == 1
    # Routes by template: two unknown ids are one series, and an unknown address another.
    assert value(scraped, requests, route="/documents/{doc_id:path}", method="GET", mode="", status="404") == 2
    assert value(scraped, requests, route="(unmatched)", method="GET", mode="", status="404") == 1
    latency = "askdocs_http_request_duration_seconds"
    assert value(scraped, latency + "_count", route="/ask", method="POST", mode="hybrid") == 3
    assert value(scraped, latency + "_bucket", route="/ask", method="POST", mode="hybrid", le="+Inf") == 3
    assert value(scraped, latency + "_sum", route="/ask", method="POST", mode="hybrid") > 0
    assert value(scraped, "askdocs_answers_total", mode="hybrid", outcome="answer") == 3
    assert value(scraped, "askdocs_answers_total", mode="dense", outcome="no_answer") == 1
    # The same question asked again is answered from the cache: two of three in hybrid mode, one of two in bm25.
    assert value(scraped, "askdocs_answer_cache_hits_total", mode="hybrid") == 2
    assert value(scraped, "askdocs_answer_cache_hits_total", mode="bm25") == 1
    index = health["index"]
    assert value(scraped, "askdocs_index_documents", collection="default") == index["documents"]
    assert value(scraped, "askdocs_index_chunks", collection="default") == index["chunks"]
    assert value(scraped, "askdocs_index_generation", collection="default") == index["generation"]
    assert value(scraped, "askdocs_index_loaded", collection="default") == 1
    assert ("askdocs_index_reloads_total", frozenset({("collection", "default")})) in scraped


def test_metrics_need_a_key_like_the_rest(keyed):
    refused = httpx.get(keyed.url + "/metrics", timeout=30)
    assert refused.status_code == 401 and "API key" in refused.json()["detail"]


def test_metrics_public_and_json_logs_with_the_request_id(tmp_path, seeds_index):
    index = copy_index(seeds_index, tmp_path / "index")
    server = Server(index, extra_args=("--metrics-public", "--log-format", "json"),
                    env={"ASKDOCS_API_KEYS": API_KEY})
    try:
        scrape = httpx.get(server.url + "/metrics", timeout=30)
        assert scrape.status_code == 200 and "askdocs_index_documents" in scrape.text
        assert httpx.get(server.url + "/documents", timeout=30).status_code == 401  # only /metrics went public
        asked = httpx.post(server.url + "/ask", json={"question": SEED_QUESTION}, timeout=60,
                           headers={**AUTH, "x-request-id": "trace-me-42"})
        assert asked.status_code == 200 and asked.headers["x-request-id"] == "trace-me-42"
        # The access line is written once the response has gone out, so the client can see the answer first.
        def logged():
            output = server.output()
            return output if "POST /ask 200" in output else None

        output = wait_for(logged, "the access log line")
    finally:
        server.stop()
    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    assert lines, output
    assert all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    mine = [line for line in lines if line.get("request_id") == "trace-me-42"]
    assert any(line["logger"] == "askdocs.access" and "POST /ask 200" in line["message"] for line in mine), lines
    # Nothing the server logged came out as plain text, uvicorn's own lines included.
    assert not [line for line in output.splitlines() if line.startswith(("INFO", "WARNING", "ERROR"))], output
