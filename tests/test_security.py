"""API keys, request ids, body limits, CORS, the /mcp host guard and path traversal, over real servers."""

from __future__ import annotations

import hashlib
import http.client
import re
import time
import subprocess
from urllib.parse import urlsplit

import httpx
import pytest

from .conftest import API_KEY, BIN, FILE_KEY, ROOT, SEED_QUESTION
from .fixtures import free_port

DOC_ID = "000_df85b2084c0590de.txt"
MCP_HEADERS = {"content-type": "application/json", "accept": "application/json, text/event-stream"}
MCP_LIST = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
# Everything that reads the index or changes what is served.
PROTECTED = [
    ("POST", "/ask", {"question": SEED_QUESTION, "top_k": 1}),
    ("GET", f"/documents/{DOC_ID}", None),
    ("GET", "/tools", None),
    ("POST", "/tools/ask", {"question": SEED_QUESTION, "top_k": 1}),
    ("POST", "/tools/list_documents", {}),
    ("POST", "/admin/reload", None),
    ("POST", "/mcp", MCP_LIST),
]


def _call(server, method: str, path: str, body, key: str | None = None, scheme: str = "Bearer") -> httpx.Response:
    headers = dict(MCP_HEADERS) if path == "/mcp" else {}
    if key is not None:
        headers["authorization"] = f"{scheme} {key}"
    return httpx.request(method, server.url + path, json=body, headers=headers, timeout=30)


@pytest.mark.parametrize("method, path, body", PROTECTED, ids=[f"{m} {p}" for m, p, _ in PROTECTED])
def test_every_endpoint_but_health_needs_a_valid_key(keyed_server, method, path, body):
    missing = _call(keyed_server, method, path, body)
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == "Bearer"
    assert "Authorization: Bearer <key>" in missing.json()["detail"]

    for wrong in ("not-the-key", API_KEY + "x", API_KEY[:-1], hashlib.sha256(API_KEY.encode()).hexdigest()):
        refused = _call(keyed_server, method, path, body, key=wrong)
        assert refused.status_code == 401 and "not accepted" in refused.json()["detail"]
    assert _call(keyed_server, method, path, body, key=API_KEY, scheme="Basic").status_code == 401

    # The key from the environment, the key whose digest is in the keys file, and a lower-case scheme.
    for key, scheme in ((API_KEY, "Bearer"), (FILE_KEY, "Bearer"), (API_KEY, "bearer")):
        response = _call(keyed_server, method, path, body, key=key, scheme=scheme)
        assert response.status_code == 200, response.text


def test_health_and_the_page_files_need_no_key(keyed_server):
    assert httpx.get(keyed_server.url + "/health").json()["status"] == "ok"
    for path in ("/", "/web/app.js", "/web/common.js", f"/view/{DOC_ID}", "/openapi.json"):
        assert httpx.get(keyed_server.url + path).status_code == 200, path
    schema = httpx.get(keyed_server.url + "/openapi.json").json()
    assert schema["components"]["securitySchemes"]["apiKey"] == {"type": "http", "scheme": "bearer"}
    assert schema["paths"]["/health"]["get"]["security"] == []


def test_request_ids_are_echoed_or_made_and_logged_without_keys(keyed_server):
    auth = {"authorization": f"Bearer {API_KEY}"}
    made = httpx.post(keyed_server.url + "/ask", json={"question": SEED_QUESTION}, headers=auth)
    assert re.fullmatch(r"[0-9a-f]{32}", made.headers["x-request-id"])
    kept = httpx.get(keyed_server.url + "/health", headers={"x-request-id": "trace-42.a:b_c"})
    assert kept.headers["x-request-id"] == "trace-42.a:b_c"
    for insane in ("x" * 65, "has spaces in it", "quote\"s"):
        replaced = httpx.get(keyed_server.url + "/health", headers={"x-request-id": insane})
        assert re.fullmatch(r"[0-9a-f]{32}", replaced.headers["x-request-id"])
    refused = httpx.get(keyed_server.url + "/tools", headers={"authorization": "Bearer wrong-key-d00d"})
    assert refused.status_code == 401

    # The access line is written after the response is sent: give a busy server a moment to write it.
    deadline = time.monotonic() + 10
    while f"[request {refused.headers['x-request-id']}]" not in (log := keyed_server.output()):
        if time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert re.search(rf"POST /ask 200 [\d.]+ ms \[request {made.headers['x-request-id']}\]", log)
    assert "GET /health 200" in log and "[request trace-42.a:b_c]" in log
    assert "GET /tools 401 " in log and f"[request {refused.headers['x-request-id']}]" in log
    for secret in (API_KEY, FILE_KEY, "wrong-key-d00d", "has spaces in it"):
        assert secret not in log


def test_bodies_over_the_limit_get_a_413_and_the_server_goes_on(keyed_server):
    auth = {"authorization": f"Bearer {API_KEY}", "content-type": "application/json"}
    big = b'{"question": "' + b"a" * 70_000 + b'"}'
    declared = httpx.post(keyed_server.url + "/ask", content=big, headers=auth)
    assert declared.status_code == 413
    assert "the limit is 65536 bytes" in declared.json()["detail"]

    def stream():  # no Content-Length: the limit is counted as the body arrives
        for start in range(0, len(big), 8192):
            yield big[start : start + 8192]

    streamed = httpx.post(keyed_server.url + "/ask", content=stream(), headers=auth)
    assert streamed.status_code == 413 and "65536" in streamed.json()["detail"]

    # Under the limit, the question's own length limit speaks.
    long_question = httpx.post(keyed_server.url + "/ask", json={"question": "a" * 3000}, headers=auth)
    assert long_question.status_code == 422 and "2000" in long_question.json()["message"]
    assert httpx.post(keyed_server.url + "/ask", json={"question": SEED_QUESTION}, headers=auth).status_code == 200


def test_cors_answers_only_configured_origins(keyed_server, seeds_server):
    preflight = {"access-control-request-method": "POST", "access-control-request-headers": "authorization,content-type"}
    allowed = httpx.options(keyed_server.url + "/ask", headers={"origin": "https://app.example", **preflight})
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "https://app.example"
    assert "authorization" in allowed.headers["access-control-allow-headers"].lower()

    other = httpx.options(keyed_server.url + "/ask", headers={"origin": "https://evil.example", **preflight})
    assert "access-control-allow-origin" not in other.headers
    simple = httpx.get(keyed_server.url + "/health", headers={"origin": "https://evil.example"})
    assert "access-control-allow-origin" not in simple.headers

    # Off by default: a server with no origins configured sends no CORS headers at all.
    default = httpx.options(seeds_server.url + "/ask", headers={"origin": "https://app.example", **preflight})
    assert "access-control-allow-origin" not in default.headers
    assert "access-control-allow-origin" not in httpx.get(seeds_server.url + "/health",
                                                          headers={"origin": "https://app.example"}).headers


def test_mcp_answers_the_host_it_serves_on_and_configured_names_only(keyed_server):
    auth = {**MCP_HEADERS, "authorization": f"Bearer {API_KEY}"}
    port = urlsplit(keyed_server.url).port
    # The server runs on 127.0.0.2 (--host), which the SDK's own default would refuse.
    for host in (f"127.0.0.2:{port}", f"localhost:{port}", f"docs.example:{port}", "docs.example"):
        response = httpx.post(keyed_server.url + "/mcp", json=MCP_LIST, headers={**auth, "host": host})
        assert response.status_code == 200, (host, response.text)
        assert "search_documents" in response.text
    rebound = httpx.post(keyed_server.url + "/mcp", json=MCP_LIST, headers={**auth, "host": f"evil.example:{port}"})
    assert rebound.status_code == 421
    foreign_page = httpx.post(keyed_server.url + "/mcp", json=MCP_LIST,
                              headers={**auth, "origin": "https://evil.example"})
    assert foreign_page.status_code == 403


def _serve(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    import os

    return subprocess.run([str(BIN / "askdocs"), "serve", *args], capture_output=True, text=True, timeout=60,
                          env={**os.environ, **(env or {})})


def test_serve_refuses_a_public_address_without_keys(tmp_path, seeds_index):
    for host in ("0.0.0.0", "192.0.2.10"):
        done = _serve("--index", str(seeds_index), "--host", host, "--port", str(free_port()))
        assert done.returncode == 2
        assert f"refusing to serve on {host} without API keys" in done.stderr
        assert "ASKDOCS_API_KEYS" in done.stderr and "--insecure" in done.stderr

    # A keys file holding a key instead of its digest is refused, without printing the key.
    keys = tmp_path / "keys"
    keys.write_text("plain-secret-key\n")
    done = _serve("--index", str(seeds_index), "--port", str(free_port()), env={"ASKDOCS_API_KEYS_FILE": str(keys)})
    assert done.returncode == 1
    assert "line 1" in done.stderr and "sha256" in done.stderr and "plain-secret-key" not in done.stderr


TRAVERSALS = [
    "/documents/../../../../etc/passwd",
    "/documents/..%2F..%2F..%2F..%2Fetc%2Fpasswd",
    "/documents/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "/documents/%252e%252e%252f%252e%252e%252fetc%252fpasswd",
    "/documents//etc/passwd",
    "/documents/%2Fetc%2Fpasswd",
    "/documents/..%5C..%5C..%5Cetc%5Cpasswd",
    "/documents/../README.md",
    "/documents/..%2FREADME.md",
    f"/documents/../seeds/{DOC_ID}",
    f"/documents/./{DOC_ID}",
    f"/documents/%00{DOC_ID}",
]


@pytest.mark.parametrize("path", TRAVERSALS)
def test_document_ids_never_reach_files_outside_the_index(seeds_server, path):
    # http.client sends the path exactly as written; httpx would normalise the dots away first.
    port = urlsplit(seeds_server.url).port
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        body = response.read().decode("utf-8", "replace")
    finally:
        connection.close()
    assert response.status == 404, body
    assert "root:" not in body and "askdocs answers questions" not in body
    assert (ROOT / "README.md").read_text()[:200] not in body

    view = path.replace("/documents/", "/view/", 1)
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("GET", view)
        response = connection.getresponse()
        body = response.read().decode("utf-8", "replace")
    finally:
        connection.close()
    # The view is one fixed page for every id (its script asks /documents for the text), or a 404.
    assert response.status in (200, 404)
    assert "root:" not in body and "askdocs answers questions" not in body
    if response.status == 200:
        assert body == (ROOT / "api" / "web" / "view.html").read_text()
