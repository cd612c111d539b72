"""The MCP server through the SDK's own client: `askdocs mcp` over stdio, and /mcp on a real `askdocs serve`."""

from __future__ import annotations

import os
from contextlib import closing
from pathlib import Path

import anyio
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client

from askdocs.api.collections import Collections
from askdocs.api.mcp import build_server
from askdocs.api.tools import TOOLS
from askdocs.index.build import build_index
from askdocs.index.settings import Settings
from askdocs.index.store import open_stored_index

from .conftest import BIN, SEED_QUESTION

pytestmark = pytest.mark.anyio
TIMEOUT = 60


@pytest.fixture
def anyio_backend():
    return "asyncio"


def stdio(index: Path, log: Path, env: dict[str, str] | None = None) -> Client:
    """A client that starts `askdocs mcp` as a subprocess, as a chat client configured by the README would."""
    params = StdioServerParameters(
        command=str(BIN / "askdocs"), args=["mcp", "--index", str(index)], env={**os.environ, **(env or {})}
    )
    return Client(stdio_client(params, errlog=open(log, "w")), read_timeout_seconds=TIMEOUT)


def document_texts(index: Path) -> dict[str, str]:
    with closing(open_stored_index(index, verify_checksums=False)) as stored:
        return {doc_id: stored.document(doc_id).text for doc_id in stored.doc_ids}


async def exercise_every_tool(client: Client, texts: dict[str, str]) -> None:
    """List the tools, call each one, and check every citation against the stored document text."""
    listed = {tool.name: tool for tool in (await client.list_tools()).tools}
    assert set(listed) == set(TOOLS)
    for name, tool in listed.items():
        assert tool.description and tool.output_schema
        # One definition: MCP lists exactly the argument schema GET /tools serves.
        assert tool.input_schema == TOOLS[name].input_schema()

    asked = await client.call_tool("ask", {"question": SEED_QUESTION, "top_k": 3})
    assert not asked.is_error, asked.content
    answer = asked.structured_content
    assert answer["no_answer"] is False and "France" in answer["answer"]["text"]
    assert len(answer["passages"]) == 3
    cited = answer["answer"]["citation"]
    assert texts[cited["doc_id"]][cited["char_start"] : cited["char_end"]] == answer["answer"]["text"]
    for passage in answer["passages"]:
        citation = passage["citation"]
        assert texts[citation["doc_id"]][citation["char_start"] : citation["char_end"]] == passage["text"]

    found = await client.call_tool("search_documents", {"query": "humanitarian truce vote", "top_k": 2, "mode": "bm25"})
    assert not found.is_error, found.content
    assert found.structured_content["mode"] == "bm25" and len(found.structured_content["passages"]) == 2
    top = found.structured_content["passages"][0]
    assert texts[top["citation"]["doc_id"]][top["citation"]["char_start"] : top["citation"]["char_end"]] == top["text"]

    chunk_id = top["citation"]["chunk_id"]
    passage = (await client.call_tool("get_passage", {"chunk_id": chunk_id, "context_chars": 40})).structured_content
    citation, text = passage["citation"], texts[top["citation"]["doc_id"]]
    assert passage["text"] == top["text"] == text[citation["char_start"] : citation["char_end"]]
    assert passage["context_before"] == text[max(0, citation["char_start"] - 40) : citation["char_start"]]
    assert passage["context_after"] == text[citation["char_end"] : citation["char_end"] + 40]

    listing = (await client.call_tool("list_documents", {})).structured_content
    assert [d["doc_id"] for d in listing["documents"]] == list(texts) and listing["next_cursor"] is None


async def exercise_errors(client: Client) -> None:
    """Bad calls come back as tool errors that say what is wrong, and the server keeps answering."""
    cases = [
        ("get_passage", {"chunk_id": "no-such-doc.txt#7"}, "no passage with chunk id 'no-such-doc.txt#7'"),
        ("search_documents", {"query": "   "}, "query must not be blank"),
        ("ask", {"question": ""}, "question"),
        ("ask", {"question": "ok", "top_k": 0}, "top_k"),
        ("list_documents", {"cursor": "not-a-cursor"}, "invalid cursor"),
        ("no_such_tool", {}, "no tool named 'no_such_tool'"),
    ]
    for name, arguments, words in cases:
        result = await client.call_tool(name, arguments)
        assert result.is_error, (name, arguments)
        assert words in result.content[0].text
    assert not (await client.call_tool("list_documents", {})).is_error


async def test_stdio_server_serves_every_tool_with_checkable_citations(seeds_index, tmp_path):
    async with stdio(seeds_index, tmp_path / "mcp.log") as client:
        assert client.server_info.name == "askdocs"
        await exercise_every_tool(client, document_texts(seeds_index))
        await exercise_errors(client)


async def test_stdio_server_moves_to_a_new_generation_without_a_restart(tmp_path):
    """A chat client keeps `askdocs mcp` running for days: a rebuild must reach it, and what left a file must
    stop being cited (it once answered from a generation already deleted on disk)."""
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "falcon.txt").write_text("Project Falcon\n\nThe project lead of Project Falcon is Maria Lopez.\n")
    index = tmp_path / "index"
    build_index([docs], Settings(index=index), progress=False)
    question = {"question": "Who is the project lead of Project Falcon?", "top_k": 1}
    async with stdio(index, tmp_path / "mcp.log", {"ASKDOCS_RELOAD_INTERVAL": "0.2"}) as client:
        first = (await client.call_tool("ask", question)).structured_content
        assert "Maria Lopez" in first["answer"]["text"]
        (docs / "falcon.txt").write_text("Project Falcon\n\nThe project lead of Project Falcon is Ken Adams.\n")
        build_index([docs], Settings(index=index), progress=False)
        new_text = document_texts(index)["falcon.txt"]
        for _ in range(150):
            answer = (await client.call_tool("ask", question)).structured_content
            if "Ken Adams" in answer["answer"]["text"]:
                break
            await anyio.sleep(0.2)
        assert "Ken Adams" in answer["answer"]["text"], answer
        cited = answer["answer"]["citation"]
        assert new_text[cited["char_start"] : cited["char_end"]] == answer["answer"]["text"]
        assert all("Maria Lopez" not in p["text"] for p in answer["passages"])


async def test_without_an_index_tools_are_listed_and_calls_say_to_build_one(tmp_path):
    collections = Collections(Settings(index=tmp_path / "missing"))
    collections.load()
    # In-process (the SDK's in-memory transport): the same server object `askdocs mcp` runs, minus a process start.
    async with Client(build_server(collections, "test"), read_timeout_seconds=TIMEOUT) as client:
        assert {tool.name for tool in (await client.list_tools()).tools} == set(TOOLS)
        result = await client.call_tool("ask", {"question": "anything"})
        assert result.is_error and "build-index" in result.content[0].text


@pytest.mark.parametrize("mode", ["auto", "legacy"])  # legacy: clients still on the initialize handshake
async def test_streamable_http_at_mcp_serves_the_same_tools(seeds_server, seeds_index, mode):
    async with Client(seeds_server.url + "/mcp", mode=mode, read_timeout_seconds=TIMEOUT) as client:
        await exercise_every_tool(client, document_texts(seeds_index))
        await exercise_errors(client)
