"""The small frictions a new user meets first (issue 21): each through a real server or the real CLI."""

from __future__ import annotations

import socket
import subprocess
import time
from importlib.metadata import version

import httpx
import pytest

from .conftest import BIN, SEED_QUESTION, SEEDS, Server
from .fixtures import free_port

FORM = {"content-type": "application/x-www-form-urlencoded"}


@pytest.fixture(scope="module")
def corpus_server(corpus_index):
    server = Server(corpus_index)
    yield server
    server.stop()


def test_curl_default_form_content_type_is_read_as_json(seeds_server):
    # What `curl localhost:8000/ask -d '{"question": ...}'` sends.
    body = '{"question": "%s", "top_k": 2}' % SEED_QUESTION
    response = httpx.post(seeds_server.url + "/ask", content=body, headers=FORM, timeout=30)
    assert response.status_code == 200, response.text
    assert response.json()["no_answer"] is False and len(response.json()["passages"]) == 2
    not_json = httpx.post(seeds_server.url + "/ask", content="question=hello", headers=FORM, timeout=30)
    assert not_json.status_code == 422 and "not valid JSON" in not_json.json()["message"]


@pytest.mark.parametrize(("payload", "message"), [
    ({"question": ""}, "question should have at least 1 character"),
    ({"question": "  "}, "question must not be blank"),
    ({"question": "x" * 2001}, "question should have at most 2000 characters"),
    ([1], "the request body should be a JSON object"),
])
def test_validation_messages_read_as_sentences(seeds_server, payload, message):
    response = httpx.post(seeds_server.url + "/ask", json=payload, timeout=30)
    assert response.status_code == 422
    assert response.json()["message"].startswith(message), response.json()["message"]
    assert "Value error" not in response.json()["message"]


def test_serve_on_a_taken_port_fails_before_loading_the_model(seeds_index):
    port = free_port()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        started = time.monotonic()
        done = subprocess.run([str(BIN / "askdocs"), "serve", "--index", str(seeds_index), "--port", str(port)],
                              capture_output=True, text=True, timeout=120)
        took = time.monotonic() - started
    assert done.returncode == 2
    assert f"127.0.0.1:{port}" in done.stderr and "already in use" in done.stderr and "--port" in done.stderr
    assert "serving" not in done.stdout  # it never got as far as announcing itself, let alone loading the model
    assert took < 30


@pytest.mark.parametrize("command", ["askdocs", "build-index"])
def test_version(command):
    done = subprocess.run([str(BIN / command), "--version"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0
    assert done.stdout.strip() == f"{command} {version('askdocs')}"


def test_a_documents_folder_given_as_the_index_is_recognised(tmp_path):
    done = subprocess.run([str(BIN / "askdocs"), "ask", "anything", "--index", str(SEEDS)],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 1
    assert f"{SEEDS} is a folder of documents, not an index" in done.stderr
    # The command to run, with absolute paths: run as written it indexes exactly that folder.
    assert f"`build-index {SEEDS} --index {tmp_path / 'var' / 'index'}`" in done.stderr


def test_a_missing_index_names_absolute_paths_to_the_api(tmp_path):
    server = Server(tmp_path / "nothing-here")
    try:
        response = httpx.post(server.url + "/ask", json={"question": "anything"}, timeout=30)
    finally:
        server.stop()
    assert response.status_code == 503
    message = response.json()["message"]
    assert f"no index at {tmp_path / 'nothing-here'}" in message
    assert f"--index {tmp_path / 'nothing-here'}`" in message and "`build-index /" in message


def test_documents_listing_pages_through_every_document_once(corpus_server):
    with corpus_server.client() as client:
        total = client.get("/health").json()["index"]["documents"]
        seen, cursor = [], None
        while True:
            page = client.get("/documents", params={"limit": 2, **({"cursor": cursor} if cursor else {})}).json()
            assert page["total"] == total and len(page["documents"]) <= 2
            seen += [d["doc_id"] for d in page["documents"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
    assert len(seen) == len(set(seen)) == total == 4


def test_documents_listing_takes_the_filters_of_ask(corpus_server):
    with corpus_server.client() as client:
        notes = client.get("/documents", params={"source": "notes/*"}).json()
        assert sorted(d["doc_id"] for d in notes["documents"]) == ["notes/bicycle.txt", "notes/coffee.md"]
        assert notes["total"] == 2 and notes["next_cursor"] is None
        pdf_or_html = client.get("/documents", params=[("type", "pdf"), ("type", "html")]).json()
        assert sorted(d["doc_id"] for d in pdf_or_html["documents"]) == ["solar.html", "tea.pdf"]
        both = client.get("/documents", params={"source": "notes/*", "type": "markdown"}).json()
        assert [d["doc_id"] for d in both["documents"]] == ["notes/coffee.md"]
        # Paging within the filtered list: the cursor counts matching documents.
        first = client.get("/documents", params={"source": "notes/*", "limit": 1}).json()
        second = client.get("/documents", params={"source": "notes/*", "limit": 1,
                                                  "cursor": first["next_cursor"]}).json()
        assert {first["documents"][0]["doc_id"], second["documents"][0]["doc_id"]} == \
            {"notes/bicycle.txt", "notes/coffee.md"}
        assert second["next_cursor"] is None
        future = client.get("/documents", params={"modified_after": "2999-01-01"}).json()
        assert future == {"documents": [], "total": 0, "next_cursor": None}
        for params, words in [({"type": "exe"}, "types"), ({"cursor": "x"}, "cursor"), ({"cursor": "99"}, "cursor"),
                              ({"meta": "no-equals"}, "NAME=VALUE"), ({"modified_after": "soon"}, "modified_after"),
                              ({"limit": 0}, "limit")]:
            refused = client.get("/documents", params=params)
            assert refused.status_code == 422 and words in refused.json()["message"], (params, refused.text)


def test_a_damaged_index_names_the_rebuild_command_with_its_own_folders(tmp_path, seeds_index):
    from .conftest import copy_index

    index = copy_index(seeds_index, tmp_path / "index")
    generation = index / "generations" / (index / "CURRENT").read_text().strip()
    damaged = next(p for p in generation.iterdir() if p.suffix == ".sqlite")
    damaged.write_bytes(damaged.read_bytes() + b"\0")
    done = subprocess.run([str(BIN / "askdocs"), "ask", "anything", "--index", str(index)],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 1
    # The folders it was built from, not seeds/ by default into var/index.
    assert f"`build-index {SEEDS} --index {index} --rebuild`" in done.stderr, done.stderr
