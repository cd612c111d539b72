"""The HTTP API through a real `askdocs serve` subprocess on a loopback port."""

from __future__ import annotations

import httpx
import pytest

from .conftest import SEED_QUESTION, Server


def test_seed_question_is_answered_with_a_citation_that_slices_the_document(seeds_server):
    with seeds_server.client() as client:
        response = client.post("/ask", json={"question": SEED_QUESTION, "top_k": 3})
        assert response.status_code == 200
        body = response.json()
        assert body["no_answer"] is False
        first = body["passages"][0]
        assert "France" in first["text"]
        assert "France" in body["answer"]["text"]
        assert [p["rank"] for p in body["passages"]] == [1, 2, 3]
        for passage in body["passages"]:
            citation = passage["citation"]
            document = client.get(f"/documents/{citation['doc_id']}").json()
            assert document["text"][citation["char_start"] : citation["char_end"]] == passage["text"]
            highlight = passage["highlight"]
            assert citation["char_start"] <= highlight["char_start"] < highlight["char_end"] <= citation["char_end"]
            assert document["text"][highlight["char_start"] : highlight["char_end"]] == highlight["text"]
            lines = document["text"].split("\n")
            assert lines[citation["line_start"] - 1] in passage["text"] or passage["text"].startswith(
                lines[citation["line_start"] - 1].strip()
            )
        answer = body["answer"]["citation"]
        assert document["text"][answer["char_start"] : answer["char_end"]] == body["answer"]["text"]
        assert body["answer"]["text"] in document["text"].split("\n")[answer["line_start"] - 1]


def test_health_reports_index_and_model(seeds_server):
    body = httpx.get(seeds_server.url + "/health").json()
    assert body["status"] == "ok"
    assert body["index"]["documents"] == 1 and body["index"]["chunks"] >= 2
    assert body["index"]["model"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert body["index"]["dimension"] == 384
    assert body["index"]["vectors"] == "flat (exact)"  # a one-document corpus is far below the IVF threshold
    assert body["index"]["runtime"] in ("torch", "onnx") and body["index"]["precision"] in ("fp32", "bf16", "int8")


def test_openapi_and_docs_are_served(seeds_server):
    schema = httpx.get(seeds_server.url + "/openapi.json").json()
    assert {"/ask", "/health", "/documents/{doc_id}"} <= set(schema["paths"])
    assert httpx.get(seeds_server.url + "/docs").status_code == 200


def test_unrelated_question_gets_no_answer(seeds_server):
    body = httpx.post(seeds_server.url + "/ask", json={"question": "How long should sourdough bread proof?"}).json()
    assert body["no_answer"] is True and body["answer"] is None


@pytest.mark.parametrize(
    "payload, words",
    [
        ({"question": ""}, "question"),
        ({"question": "   \n\t"}, "blank"),
        ({"question": "x" * 2001}, "2000"),
        ({"question": "ok", "top_k": 0}, "top_k"),
        ({"question": "ok", "top_k": 51}, "top_k"),
        ({"question": "ok", "top_k": "five"}, "top_k"),
        ({"question": "ok", "colour": "blue"}, "unknown field 'colour'"),
        ({"top_k": 3}, "question"),
        ([1, 2], "body"),
    ],
)
def test_bad_input_is_a_422_that_says_what_is_wrong(seeds_server, payload, words):
    response = httpx.post(seeds_server.url + "/ask", json=payload)
    assert response.status_code == 422
    assert words in response.json()["message"]


def test_body_that_is_not_json_is_a_422(seeds_server):
    response = httpx.post(seeds_server.url + "/ask", content=b"question=hello", headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert "not valid JSON" in response.json()["message"]


def test_unknown_document_is_404(seeds_server):
    response = httpx.get(seeds_server.url + "/documents/no/such/doc.txt")
    assert response.status_code == 404
    assert "no/such/doc.txt" in response.json()["detail"]


def test_without_an_index_the_server_says_to_build_one(tmp_path):
    server = Server(tmp_path / "missing-index")
    try:
        response = httpx.post(server.url + "/ask", json={"question": "anything"})
        assert response.status_code == 503
        assert "build-index" in response.json()["detail"]
        health = httpx.get(server.url + "/health")
        assert health.status_code == 503 and health.json()["status"] == "no_index"
    finally:
        server.stop()
