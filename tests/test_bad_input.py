"""Bad input over HTTP (issue 14): a 422 with a `message`, never a 500; every refusal has a `message`; HEAD works;
a 500, should one happen, carries the request id."""

from __future__ import annotations

import json
import logging

import httpx
import pytest

from .conftest import SEED_QUESTION, Server, copy_index

JSON = {"content-type": "application/json"}
SURROGATE = '"\\ud800"'  # a lone high surrogate as JSON sends it: what a browser makes of a cut emoji


def post_raw(server, path: str, body: bytes) -> httpx.Response:
    # A fresh connection each time: should the server fail, one bad request cannot spoil the next.
    with httpx.Client(base_url=server.url, timeout=30) as client:
        return client.post(path, content=body, headers=JSON)


def assert_422_with_message(response: httpx.Response, *words: str) -> dict:
    assert response.status_code == 422, (response.status_code, response.text[:500])
    body = response.json()
    assert isinstance(body["message"], str) and body["message"], body
    assert "detail" in body, "detail stays: clients read it"
    for word in words:
        assert word in body["message"], (word, body["message"])
    return body


# Each body names one place a string, number or cursor is accepted, with a value that made a 500 before.
BAD_BODIES = {
    "top_k NaN": ("/ask", '{"question": "x", "top_k": NaN}', "top_k"),
    "top_k Infinity": ("/ask", '{"question": "x", "top_k": Infinity}', "top_k"),
    "top_k -Infinity": ("/tools/search_documents", '{"query": "x", "top_k": -Infinity}', "top_k"),
    "context_chars NaN": ("/tools/get_passage", '{"chunk_id": "a#0", "context_chars": NaN}', "context_chars"),
    "meta value NaN": ("/ask", '{"question": "x", "filters": {"meta": {"k": NaN}}}', "meta"),
    "question": ("/ask", f'{{"question": {SURROGATE}}}', "question"),
    "question inside text": ("/ask", '{"question": "rocket \\ud83d launch"}', "question"),
    "query": ("/tools/search_documents", f'{{"query": {SURROGATE}}}', "query"),
    "tools/ask question": ("/tools/ask", f'{{"question": {SURROGATE}}}', "question"),
    "filters.source": ("/ask", f'{{"question": "x", "filters": {{"source": {SURROGATE}}}}}', "source"),
    "filters.doc_ids": ("/ask", f'{{"question": "x", "filters": {{"doc_ids": [{SURROGATE}]}}}}', "doc_ids"),
    "filters.meta value": ("/ask", f'{{"question": "x", "filters": {{"meta": {{"k": {SURROGATE}}}}}}}', "meta"),
    "filters.meta list": ("/ask", f'{{"question": "x", "filters": {{"meta": {{"k": ["a", {SURROGATE}]}}}}}}', "meta"),
    "filters.meta key": ("/ask", f'{{"question": "x", "filters": {{"meta": {{{SURROGATE}: "a"}}}}}}', "meta"),
    "search filters.source": ("/tools/search_documents",
                              f'{{"query": "x", "filters": {{"source": {SURROGATE}}}}}', "source"),
    "collection": ("/ask", f'{{"question": "x", "collection": {SURROGATE}}}', "collection"),
    "tool collection": ("/tools/list_documents", f'{{"collection": {SURROGATE}}}', "collection"),
    "chunk_id": ("/tools/get_passage", f'{{"chunk_id": {SURROGATE}}}', "chunk_id"),
    "cursor": ("/tools/list_documents", f'{{"cursor": {SURROGATE}}}', "cursor"),
    "cursor superscript two": ("/tools/list_documents", '{"cursor": "\u00b2"}', "cursor"),
    "cursor arabic digits": ("/tools/list_documents", '{"cursor": "\u0661"}', "cursor"),
    "cursor of 5000 digits": ("/tools/list_documents", '{"cursor": "' + "9" * 5000 + '"}', "cursor"),
    "cursor signed": ("/tools/list_documents", '{"cursor": "+1"}', "cursor"),
}


@pytest.mark.parametrize("path, body, field", BAD_BODIES.values(), ids=BAD_BODIES.keys())
def test_bad_values_are_a_422_with_a_message(seeds_server, path, body, field):
    assert_422_with_message(post_raw(seeds_server, path, body.encode("utf-8")), field)


def test_the_refused_input_is_echoed_in_json_it_can_be_sent_in(seeds_server):
    nan = assert_422_with_message(post_raw(seeds_server, "/ask", b'{"question": "x", "top_k": NaN}'))
    assert nan["detail"][0]["loc"] == ["body", "top_k"] and nan["detail"][0]["input"] == "nan"
    surrogate = assert_422_with_message(post_raw(seeds_server, "/tools/get_passage", b'{"chunk_id": "a\\udc00"}'))
    assert surrogate["detail"][0]["input"] == "a\\udc00", "a lone surrogate comes back as its escape, as text"
    assert "surrogate" in surrogate["message"] or "unicode" in surrogate["message"]


def test_a_valid_cursor_still_pages(seeds_server):
    first = httpx.post(seeds_server.url + "/tools/list_documents", json={"cursor": "0", "limit": 1}).json()
    assert first["total"] >= 1 and len(first["documents"]) == 1
    assert_422_with_message(httpx.post(seeds_server.url + "/tools/list_documents", json={"cursor": "9" * 18}),
                            "cursor")


def test_a_document_id_that_is_not_utf8_in_the_path_is_a_422(seeds_server):
    response = httpx.get(seeds_server.url + "/documents/%ED%A0%80")
    assert_422_with_message(response, "UTF-8")
    # Valid %-encoded UTF-8 is still looked up (and not found) as before.
    missing = httpx.get(seeds_server.url + "/documents/%F0%9F%9A%80.txt")
    assert missing.status_code == 404 and "🚀.txt" in missing.json()["message"]


UNPARSEABLE = {
    "nested 5000 deep": b"[" * 5000 + b"]" * 5000,
    "nested objects": b'{"a":' * 3000 + b"1" + b"}" * 3000,
    "invalid UTF-8": b'{"question": "caf\xe9"}',
    "4301-digit integer": b'{"question": "x", "top_k": ' + b"9" * 4301 + b"}",
}


@pytest.mark.parametrize("body", UNPARSEABLE.values(), ids=UNPARSEABLE.keys())
@pytest.mark.parametrize("path", ["/ask", "/tools/search_documents", "/tools/list_documents"])
def test_an_unparseable_body_is_a_422_saying_it_is_not_json(seeds_server, path, body):
    response = post_raw(seeds_server, path, body)
    parsed = assert_422_with_message(response, "not valid JSON")
    assert parsed["detail"][0]["type"] == "json_invalid"


def test_each_unparseable_body_says_why(seeds_server):
    messages = {name: post_raw(seeds_server, "/ask", body).json()["message"] for name, body in UNPARSEABLE.items()}
    assert "nested" in messages["nested 5000 deep"]
    assert "UTF-8" in messages["invalid UTF-8"]
    assert "4,300 digits" in messages["4301-digit integer"]


def test_head_answers_like_get_without_a_body(seeds_server):
    doc_id = httpx.post(seeds_server.url + "/tools/list_documents", json={}).json()["documents"][0]["doc_id"]
    for path in ("/health", "/", f"/view/{doc_id}", "/web/view.js"):
        get = httpx.get(seeds_server.url + path)
        head = httpx.head(seeds_server.url + path)
        assert head.status_code == get.status_code == 200, path
        assert head.content == b"" and head.headers["content-type"] == get.headers["content-type"], path
        assert head.headers["x-request-id"]
    assert httpx.head(seeds_server.url + "/ask").status_code == 405


def test_method_and_route_refusals_carry_a_message(seeds_server):
    wrong_method = httpx.put(seeds_server.url + "/ask", json={})
    assert wrong_method.status_code == 405
    assert wrong_method.json()["detail"] == "Method Not Allowed" and "POST" in wrong_method.json()["message"]
    nowhere = httpx.get(seeds_server.url + "/no/such/route")
    assert nowhere.status_code == 404 and nowhere.json()["detail"] == "Not Found" and nowhere.json()["message"]
    tool = httpx.post(seeds_server.url + "/tools/no_such_tool", json={})
    assert tool.status_code == 404 and "no tool named" in tool.json()["message"]
    chunk = httpx.post(seeds_server.url + "/tools/get_passage", json={"chunk_id": "nope#0"})
    assert chunk.status_code == 404 and "no passage" in chunk.json()["message"]
    document = httpx.get(seeds_server.url + "/documents/nope.txt")
    assert document.status_code == 404 and document.json()["message"] == document.json()["detail"]
    too_big = httpx.post(seeds_server.url + "/ask", content=b"x" * 2_000_000, headers=JSON)
    assert too_big.status_code == 413 and "limit" in too_big.json()["message"]


SCOPED_KEY = "scoped-key-5d1e"


@pytest.fixture(scope="module")
def two_collection_server(tmp_path_factory, seeds_index):
    """Keys, two collections, one of them with no index yet: 401, 403 and 503 from one server."""
    folder = tmp_path_factory.mktemp("bad-input")
    server = Server({"docs": copy_index(seeds_index, folder / "docs"), "empty": folder / "missing" / "index"},
                    env={"ASKDOCS_API_KEYS": f"{SCOPED_KEY}:docs,all-key-0c4f"})
    yield server
    server.stop()


def test_key_collection_and_no_index_refusals_carry_a_message(two_collection_server):
    url = two_collection_server.url
    no_key = httpx.post(url + "/ask", json={"question": SEED_QUESTION})
    assert no_key.status_code == 401 and "API key" in no_key.json()["message"] and no_key.json()["detail"]
    forbidden = httpx.post(url + "/ask", json={"question": SEED_QUESTION, "collection": "empty"},
                           headers={"authorization": f"Bearer {SCOPED_KEY}"})
    assert forbidden.status_code == 403 and forbidden.json()["message"] == forbidden.json()["detail"]
    unknown = httpx.post(url + "/tools/search_documents", json={"query": "x", "collection": "nope"},
                         headers={"authorization": "Bearer all-key-0c4f"})
    assert unknown.status_code == 404 and "nope" in unknown.json()["message"]
    unloaded = httpx.post(url + "/ask", json={"question": SEED_QUESTION, "collection": "empty"},
                          headers={"authorization": "Bearer all-key-0c4f"})
    assert unloaded.status_code == 503 and unloaded.json()["message"] == unloaded.json()["detail"]
    assert httpx.post(url + "/ask", json={"question": SEED_QUESTION, "collection": "docs"},
                      headers={"authorization": f"Bearer {SCOPED_KEY}"}).status_code == 200


# ---------------------------------------------------------------- a 500, should one ever happen


def _failing_app():
    """A real Starlette app whose route raises, with the middleware under test (RequestIdMiddleware) where askdocs
    has it: inside Starlette's ServerErrorMiddleware, which would otherwise answer a 500 without the id."""
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.responses import PlainTextResponse, StreamingResponse
    from starlette.routing import Route

    from askdocs.api.security import RequestIdMiddleware

    def boom(request):
        raise RuntimeError("a bug in a handler")

    def late(request):
        def body():
            yield b"partial"
            raise RuntimeError("a bug after the response started")
        return StreamingResponse(body(), media_type="text/plain")

    def fine(request):
        return PlainTextResponse("ok")

    return Starlette(routes=[Route("/boom", boom), Route("/late", late), Route("/fine", fine)],
                     middleware=[Middleware(RequestIdMiddleware)])


def test_a_500_carries_the_request_id_and_a_message_and_logs_the_traceback_with_it(caplog):
    from starlette.testclient import TestClient

    with caplog.at_level(logging.INFO, logger="askdocs.access"), \
            TestClient(_failing_app(), raise_server_exceptions=False) as client:
        response = client.get("/boom", headers={"x-request-id": "bug-report-42"})
        assert response.status_code == 500
        assert response.headers["x-request-id"] == "bug-report-42"
        body = response.json()
        assert body["request_id"] == "bug-report-42" and "bug-report-42" in body["message"]
        assert body["detail"] == "Internal Server Error"

        fresh = client.get("/boom")
        assert fresh.status_code == 500 and fresh.json()["request_id"] == fresh.headers["x-request-id"]
        assert client.get("/fine").text == "ok"

    logged = [r for r in caplog.records if r.exc_info and "bug-report-42" in r.getMessage()]
    assert len(logged) == 1 and "a bug in a handler" in str(logged[0].exc_info[1])
    assert any("GET /boom 500" in r.getMessage() for r in caplog.records), "the access line says 500"


def test_a_failure_after_the_response_started_is_not_answered_twice():
    from starlette.testclient import TestClient

    with TestClient(_failing_app(), raise_server_exceptions=True) as client:
        with pytest.raises(RuntimeError, match="after the response started"):
            client.get("/late")


@pytest.mark.parametrize("depth", [30, 500, 900])
def test_a_deeply_nested_body_that_parses_is_refused_with_its_echo_cut_short(seeds_server, depth):
    # Found by test_faults' raw-body fuzz: echoing such a body in the 422 ran out of recursion (a 500).
    nested = b"[" * depth + b"]" * depth
    for body in (nested, b'{"question": "x", "filters": {"meta": {"k": ' + nested + b"}}}"):
        parsed = assert_422_with_message(post_raw(seeds_server, "/ask", body))
        assert len(json.dumps(parsed)) < 10_000
