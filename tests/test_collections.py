"""Several collections in one server, and API keys limited to some of them: over HTTP, /tools and MCP."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import httpx
import httpx2
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from pydantic import SecretStr

from askdocs.api.collections import CollectionSpecError, parse_specs
from askdocs.api.security import KeyConfigError, api_keys
from askdocs.index.build import build_index
from askdocs.index.settings import Settings

from .conftest import BIN, Server

TIMEOUT = 60
ALL_KEY = "all-collections-key-5e1f"
DOCS_KEY = "docs-only-key-a93b"
HR_KEY = "hr-only-key-c07d"  # configured by its digest in a keys file

# Both collections hold a policy.md, with different text: a passage from the wrong index would show.
DOCS = {
    "policy.md": "# Expense policy\n\nTravel expenses are reimbursed within 30 days once the receipt is uploaded to "
                 "the finance portal.\nTaxis are reimbursed only after ten in the evening.\n",
    "printer.txt": "Printer setup\n\nThe office printer on the second floor is called Heron.\nInstall its driver from "
                   "the intranet before printing.\n",
}
HR = {
    "policy.md": "# Leave policy\n\nEvery employee has 28 days of paid holiday a year.\nParental leave lasts 16 "
                 "weeks at full pay.\n",
    "onboarding.txt": "Onboarding\n\nNew employees meet their buddy on the first day.\nIT hands out the laptop "
                      "before nine.\n",
}
QUESTION = "How many days of paid holiday does an employee have a year?"


def _build(root: Path, files: dict[str, str]) -> tuple[Path, Path]:
    corpus = root / "corpus"
    corpus.mkdir(parents=True)
    for name, text in files.items():
        (corpus / name).write_text(text, encoding="utf-8")
    index = root / "index"
    build_index([corpus], Settings(index=index), progress=False)
    return corpus, index


@pytest.fixture(scope="module")
def indexes(tmp_path_factory) -> dict[str, tuple[Path, Path]]:
    root = tmp_path_factory.mktemp("collections")
    return {"docs": _build(root / "docs", DOCS), "hr": _build(root / "hr", HR)}


@pytest.fixture(scope="module")
def server(indexes):
    keys_file = next(iter(indexes.values()))[1].parent.parent / "keys.sha256"
    keys_file.write_text(f"# hr team\n{hashlib.sha256(HR_KEY.encode()).hexdigest()} hr\n")
    server = Server({name: index for name, (_, index) in indexes.items()}, env={
        "ASKDOCS_API_KEYS": f"{ALL_KEY},{DOCS_KEY}:docs", "ASKDOCS_API_KEYS_FILE": str(keys_file),
    })
    yield server
    server.stop()


def _auth(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


def _texts(server, collection: str, doc_ids) -> dict[str, str]:
    return {
        doc_id: httpx.get(f"{server.url}/documents/{doc_id}", params={"collection": collection},
                          headers=_auth(ALL_KEY), timeout=30).json()["text"]
        for doc_id in set(doc_ids)
    }


# ---------------------------------------------------------------- listing


def test_collections_are_listed_with_their_stats(server):
    assert httpx.get(server.url + "/collections").status_code == 401
    listed = httpx.get(server.url + "/collections", headers=_auth(DOCS_KEY)).json()
    assert listed["default"] == "docs"
    assert [c["name"] for c in listed["collections"]] == ["docs", "hr"]
    for info in listed["collections"]:
        assert info["status"] == "ok" and info["error"] is None and info["default"] == (info["name"] == "docs")
        stats = info["index"]
        assert stats["documents"] == 2 and stats["chunks"] >= 2 and stats["generation"] >= 1 and stats["built_at"]
        assert stats["model"] == "sentence-transformers/all-MiniLM-L6-v2"

    # /health describes the default collection, and how every collection is, to a request with a key; without
    # one (it needs none, for monitors) it names neither paths nor collections.
    health = httpx.get(server.url + "/health", headers=_auth(DOCS_KEY)).json()
    assert health["status"] == "ok" and health["index"] == listed["collections"][0]["index"]
    assert health["collections"] == {"docs": "ok", "hr": "ok"}
    public = httpx.get(server.url + "/health").json()
    assert public == {"status": "ok", "generation": listed["collections"][0]["index"]["generation"]}


# ---------------------------------------------------------------- asking


def test_the_same_question_is_answered_from_the_collection_it_names(server):
    with httpx.Client(base_url=server.url, headers=_auth(ALL_KEY), timeout=60) as client:
        answers = {}
        for collection, own in (("docs", "Expense"), ("hr", "Leave")):
            body = client.post("/ask", json={"question": QUESTION, "top_k": 5, "collection": collection}).json()
            texts = _texts(server, collection, (p["citation"]["doc_id"] for p in body["passages"]))
            assert body["passages"], body
            for passage in body["passages"]:
                citation = passage["citation"]
                # The passage is the text of this collection's document, not of its namesake in the other one.
                assert texts[citation["doc_id"]][citation["char_start"] : citation["char_end"]] == passage["text"]
            assert own in texts["policy.md"]
            answers[collection] = body

            tool = client.post("/tools/search_documents", json={"query": QUESTION, "collection": collection}).json()
            assert [p["text"] for p in tool["passages"]] == [p["text"] for p in body["passages"]]
            listed = client.post("/tools/list_documents", json={"collection": collection}).json()
            assert sorted(d["doc_id"] for d in listed["documents"]) == sorted(DOCS if collection == "docs" else HR)

        assert "printer.txt" not in {p["citation"]["doc_id"] for p in answers["hr"]["passages"]}
        assert "onboarding.txt" not in {p["citation"]["doc_id"] for p in answers["docs"]["passages"]}
        assert "28 days" in answers["hr"]["answer"]["text"]

        # No collection named: the default one.
        default = client.post("/ask", json={"question": QUESTION, "top_k": 5}).json()
        assert default["passages"] == answers["docs"]["passages"]

        missing = client.get("/documents/printer.txt", params={"collection": "hr"})
        assert missing.status_code == 404 and "collection 'hr'" in missing.json()["detail"]


UNKNOWN = [
    ("POST", "/ask", {"question": QUESTION, "collection": "nope"}, None),
    ("GET", "/documents/policy.md", None, {"collection": "nope"}),
    ("POST", "/tools/ask", {"question": QUESTION, "collection": "nope"}, None),
    ("POST", "/tools/get_passage", {"chunk_id": "policy.md#0", "collection": "nope"}, None),
    ("POST", "/admin/reload", None, {"collection": "nope"}),
]


@pytest.mark.parametrize("method, path, body, params", UNKNOWN, ids=[f"{m} {p}" for m, p, _, _ in UNKNOWN])
def test_an_unknown_collection_is_a_404_naming_the_known_ones(server, method, path, body, params):
    response = httpx.request(method, server.url + path, json=body, params=params, headers=_auth(DOCS_KEY), timeout=60)
    assert response.status_code == 404
    assert response.json()["detail"] == "no collection named 'nope'; this server has 'docs' (default), 'hr'"


# ---------------------------------------------------------------- keys limited to collections


def _calls(collection: str | None) -> list[tuple[str, str, dict | None, dict | None]]:
    named = {"collection": collection} if collection else {}
    return [
        ("POST", "/ask", {"question": QUESTION, "top_k": 1, **named}, None),
        ("GET", "/documents/policy.md", None, named or None),
        ("POST", "/tools/ask", {"question": QUESTION, "top_k": 1, **named}, None),
        ("POST", "/tools/list_documents", named, None),
        ("POST", "/admin/reload", None, named or None),
    ]


@pytest.mark.parametrize("key, allowed, refused", [
    (DOCS_KEY, ["docs", None], ["hr"]),
    (HR_KEY, ["hr"], ["docs", None]),
    (ALL_KEY, ["docs", "hr", None], []),
], ids=["docs-key", "hr-key-from-file", "unlimited-key"])
def test_a_key_limited_to_collections_gets_403_on_the_others(server, key, allowed, refused):
    for collection in allowed:
        for method, path, body, params in _calls(collection):
            response = httpx.request(method, server.url + path, json=body, params=params, headers=_auth(key),
                                     timeout=60)
            assert response.status_code == 200, (collection, path, response.text)
    for collection in refused:
        for method, path, body, params in _calls(collection):
            response = httpx.request(method, server.url + path, json=body, params=params, headers=_auth(key),
                                     timeout=60)
            assert response.status_code == 403, (collection, path, response.text)
            detail = response.json()["detail"]
            which = f"collection {collection!r}" if collection else "the default collection 'docs'"
            assert detail.startswith(f"this API key may not use {which}"), detail
            assert key not in detail


@pytest.fixture
def anyio_backend():
    return "asyncio"


async def _mcp(server, key: str, check) -> None:
    async with httpx2.AsyncClient(headers=_auth(key), timeout=httpx2.Timeout(TIMEOUT)) as http:
        async with Client(streamable_http_client(server.url + "/mcp", http_client=http),
                          read_timeout_seconds=TIMEOUT) as client:
            await check(client)


@pytest.mark.anyio
async def test_mcp_over_http_honours_the_keys_collections(server):
    async def as_docs_key(client: Client) -> None:
        asked = await client.call_tool("ask", {"question": QUESTION, "collection": "docs"})
        assert not asked.is_error, asked.content
        passages = asked.structured_content["passages"]
        assert passages and {p["citation"]["doc_id"] for p in passages} <= set(DOCS)
        assert not any("28 days" in p["text"] for p in passages)
        for name, arguments in (("ask", {"question": QUESTION, "collection": "hr"}),
                                ("search_documents", {"query": "holiday", "collection": "hr"}),
                                ("get_passage", {"chunk_id": "policy.md#0", "collection": "hr"}),
                                ("list_documents", {"collection": "hr"})):
            refused = await client.call_tool(name, arguments)
            assert refused.is_error, (name, refused.content)
            assert refused.content[0].text.startswith("this API key may not use collection 'hr'; it may use: docs")
        unknown = await client.call_tool("list_documents", {"collection": "nope"})
        assert unknown.is_error and "no collection named 'nope'" in unknown.content[0].text

    async def as_hr_key(client: Client) -> None:
        listed = await client.call_tool("list_documents", {"collection": "hr"})
        assert sorted(d["doc_id"] for d in listed.structured_content["documents"]) == sorted(HR)
        default = await client.call_tool("list_documents", {})
        assert default.is_error and "the default collection 'docs'" in default.content[0].text

    async def as_unlimited_key(client: Client) -> None:
        asked = await client.call_tool("ask", {"question": QUESTION, "collection": "hr"})
        assert "28 days" in asked.structured_content["answer"]["text"]

    await _mcp(server, DOCS_KEY, as_docs_key)
    await _mcp(server, HR_KEY, as_hr_key)
    await _mcp(server, ALL_KEY, as_unlimited_key)


@pytest.mark.anyio
async def test_askdocs_mcp_over_stdio_serves_several_collections(indexes, tmp_path):
    args = ["mcp", *(a for name, (_, index) in indexes.items() for a in ("--index", f"{name}={index}"))]
    params = StdioServerParameters(command=str(BIN / "askdocs"), args=args, env=dict(os.environ))
    async with Client(stdio_client(params, errlog=open(tmp_path / "mcp.log", "w")),
                      read_timeout_seconds=TIMEOUT) as client:
        assert "'docs' (default), 'hr'" in (client.instructions or "")
        hr = await client.call_tool("ask", {"question": QUESTION, "collection": "hr"})
        assert "28 days" in hr.structured_content["answer"]["text"]
        docs = await client.call_tool("list_documents", {})
        assert sorted(d["doc_id"] for d in docs.structured_content["documents"]) == sorted(DOCS)


# ---------------------------------------------------------------- configuration


def test_key_and_index_configuration_is_checked_before_serving(tmp_path):
    keys_file = tmp_path / "keys"
    digest = hashlib.sha256(b"file-key").hexdigest()
    keys_file.write_text(f"{digest} docs, hr  # both\n{hashlib.sha256(b'other').hexdigest()}\n")
    settings = Settings(api_keys=SecretStr("plain, scoped:docs+hr , one:hr"), api_keys_file=keys_file)
    keys = api_keys(settings, ["docs", "hr"])
    assert [k.collections for k in keys] == [None, {"docs", "hr"}, {"hr"}, {"docs", "hr"}, None]
    assert keys[1].digest == hashlib.sha256(b"scoped").digest()

    def refused(api_keys_env: str = "", file_text: str | None = None, served=("docs", "hr")) -> str:
        path = None
        if file_text is not None:
            path = tmp_path / "bad-keys"
            path.write_text(file_text)
        with pytest.raises(KeyConfigError) as caught:
            api_keys(Settings(api_keys=SecretStr(api_keys_env), api_keys_file=path), list(served))
        message = str(caught.value)
        assert "s3cret" not in message  # never a key
        return message

    # After ':' in ASKDOCS_API_KEYS may be the end of a key that contains one: it is not repeated either.
    unserved = refused("s3cret:payroll")
    assert "entry 1 of ASKDOCS_API_KEYS is limited to a collection this server does not serve" in unserved
    assert "(its collections: docs, hr)" in unserved and "ASKDOCS_API_KEYS_FILE as its digest" in unserved
    assert "payroll" not in unserved
    assert "not a collection name" in refused("s3cret:docs+a/b") and "a/b" not in refused("s3cret:docs+a/b")
    assert "limited to 'payroll' this server" in refused(file_text=f"{digest} payroll\n")
    assert "no key before ':'" in refused(":docs")
    assert "configure each key once" in refused("s3cret:docs", f"{hashlib.sha256(b's3cret').hexdigest()} hr\n")
    # sha256sum's own output ends in " -": not a collection, and said so.
    assert "line 1" in refused(file_text=f"{digest}  -\n") and "'-'" in refused(file_text=f"{digest}  -\n")

    assert parse_specs(["var/a"]) == {"default": Path("var/a")}
    assert list(parse_specs(["docs=var/d", "hr=var/h"])) == ["docs", "hr"]
    assert parse_specs(["./odd=name"]) == {"default": Path("odd=name")}
    for values, words in ((["a", "b"], "'default' is given twice"), (["x=a", "x=b"], "'x' is given twice"),
                          (["x="], "names no folder")):
        with pytest.raises(CollectionSpecError, match=words):
            parse_specs(values)


# ---------------------------------------------------------------- reload (last: it changes the hr collection)


def test_each_collection_reloads_on_its_own(server, indexes):
    def generations() -> dict[str, int]:
        listed = httpx.get(server.url + "/collections", headers=_auth(ALL_KEY), timeout=30).json()
        return {c["name"]: c["index"]["generation"] for c in listed["collections"]}

    before = generations()
    corpus, index = indexes["hr"]
    (corpus / "benefits.txt").write_text("Benefits\n\nThe company pays for a rail season ticket.\n")
    build_index([corpus], Settings(index=index), progress=False)

    deadline = time.monotonic() + 60
    while (now := generations())["hr"] == before["hr"] and time.monotonic() < deadline:
        time.sleep(0.2)
    assert now == {"docs": before["docs"], "hr": before["hr"] + 1}
    found = httpx.get(server.url + "/documents/benefits.txt", params={"collection": "hr"}, headers=_auth(HR_KEY))
    assert found.status_code == 200 and "rail season ticket" in found.json()["text"]
    assert "(collection 'hr')" in server.output()
