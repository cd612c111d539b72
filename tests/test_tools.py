"""GET /tools and POST /tools/{name} on a real `askdocs serve`, and the browsing the tools rest on."""

from __future__ import annotations

from contextlib import closing

import httpx
import pytest
from jsonschema import Draft202012Validator

from askdocs.api.tools import TOOLS
from askdocs.index.store import open_stored_index
from askdocs.search.browse import BadCursor, get_passage, list_documents

from .conftest import SEED_QUESTION

# One valid arguments object per tool, as a model would send it; every tool must be covered.
EXAMPLES = {
    "search_documents": {"query": "G7 humanitarian truce vote", "top_k": 2},
    "ask": {"question": SEED_QUESTION, "top_k": 2, "format": "context"},
    "get_passage": {"chunk_id": "000_df85b2084c0590de.txt#1", "context_chars": 30},
    "list_documents": {},
}


def test_tools_are_openai_function_tools_with_valid_json_schemas(seeds_server):
    tools = httpx.get(seeds_server.url + "/tools").json()
    assert [tool["function"]["name"] for tool in tools] == list(TOOLS) == list(EXAMPLES)
    for tool in tools:
        assert tool["type"] == "function"
        function = tool["function"]
        assert len(function["description"]) > 80  # enough to tell a model when to use it
        Draft202012Validator.check_schema(function["parameters"])
        assert function["parameters"]["type"] == "object"
        validator = Draft202012Validator(function["parameters"])
        assert validator.is_valid(EXAMPLES[function["name"]])
        assert not validator.is_valid({**EXAMPLES[function["name"]], "colour": "blue"})


def test_every_tool_round_trips_through_post(seeds_server):
    with seeds_server.client() as client:
        text = client.get("/documents/000_df85b2084c0590de.txt").json()["text"]

        def sliced(citation: dict) -> str:
            return text[citation["char_start"] : citation["char_end"]]

        found = client.post("/tools/search_documents", json=EXAMPLES["search_documents"]).json()
        assert [p["rank"] for p in found["passages"]] == [1, 2]
        assert all(sliced(p["citation"]) == p["text"] for p in found["passages"])

        asked = client.post("/tools/ask", json=EXAMPLES["ask"]).json()
        assert "France" in asked["answer"]["text"] and sliced(asked["answer"]["citation"]) == asked["answer"]["text"]
        assert asked["context"].startswith("Passages from the documents for: ")
        # The second asking of the same question comes from the answer cache: the same body otherwise.
        assert asked == {**client.post("/ask", json=EXAMPLES["ask"]).json(), "took_ms": asked["took_ms"],
                         "cached": asked["cached"]}

        passage = client.post("/tools/get_passage", json=EXAMPLES["get_passage"]).json()
        citation = passage["citation"]
        assert sliced(citation) == passage["text"]
        assert passage["context_before"] == text[citation["char_start"] - 30 : citation["char_start"]]
        assert passage["context_after"] == text[citation["char_end"] : citation["char_end"] + 30]
        assert passage["previous_chunk_id"] == "000_df85b2084c0590de.txt#0"
        assert passage["next_chunk_id"] == "000_df85b2084c0590de.txt#2"

        listed = client.post("/tools/list_documents", json=EXAMPLES["list_documents"]).json()
        assert listed == {
            "documents": [{"doc_id": "000_df85b2084c0590de.txt", "title": citation["title"],
                           "source": citation["source"], "chunks": listed["documents"][0]["chunks"]}],
            "total": 1,
            "next_cursor": None,
        }
        last_id = f"000_df85b2084c0590de.txt#{listed['documents'][0]['chunks'] - 1}"
        last = client.post("/tools/get_passage", json={"chunk_id": last_id})
        assert last.status_code == 200 and last.json()["next_chunk_id"] is None


@pytest.mark.parametrize(
    "name, arguments, status, words",
    [
        ("get_passage", {"chunk_id": "nope.txt#0"}, 404, "no passage with chunk id 'nope.txt#0'"),
        ("search_documents", {"query": " "}, 422, "query must not be blank"),
        ("search_documents", {"query": "ok", "top_k": 51}, 422, "top_k"),
        ("ask", {"question": "ok", "format": "yaml"}, 422, "format"),
        ("get_passage", {"chunk_id": "x#0", "context_chars": -1}, 422, "context_chars"),
        ("list_documents", {"cursor": "12x"}, 422, "invalid cursor"),
        ("list_documents", {"page": 2}, 422, "unknown field 'page'"),
        ("no_such_tool", {}, 404, "no tool named 'no_such_tool'"),
    ],
)
def test_bad_tool_calls_say_what_is_wrong(seeds_server, name, arguments, status, words):
    response = httpx.post(f"{seeds_server.url}/tools/{name}", json=arguments)
    assert response.status_code == status
    body = response.json()
    assert words in (body.get("message") or body["detail"])


def test_tools_are_documented_in_openapi(seeds_server):
    schema = httpx.get(seeds_server.url + "/openapi.json").json()
    assert {f"/tools/{name}" for name in TOOLS} | {"/tools"} <= set(schema["paths"])
    assert "/mcp" not in schema["paths"]


def test_documents_page_through_with_a_cursor(corpus_index):
    with closing(open_stored_index(corpus_index, verify_checksums=False)) as stored:
        seen, cursor = [], None
        while True:
            page = list_documents(stored, cursor, limit=3)
            assert page.total == stored.n_documents
            seen += page.documents
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        assert [d.doc_id for d in seen] == stored.doc_ids and len(seen) > 3
        assert sum(d.chunks for d in seen) == stored.n_chunks
        for bad in ("-1", "abc", str(stored.n_documents + 1)):
            with pytest.raises(BadCursor):
                list_documents(stored, bad)


def test_pdf_passages_carry_their_page_and_context_comes_from_the_document(corpus_index):
    with closing(open_stored_index(corpus_index, verify_checksums=False)) as stored:
        text = stored.document("tea.pdf").text
        passages = []
        chunk_id = "tea.pdf#0"
        while chunk_id is not None:  # walk the document the way a model would, passage by passage
            passages.append(get_passage(stored, chunk_id, context_chars=25))
            chunk_id = passages[-1].next_chunk_id
        assert passages[0].citation.page == 1
        assert [p.citation.page for p in passages] == sorted(p.citation.page for p in passages)
        for passage in passages:
            start, end = passage.citation.char_start, passage.citation.char_end
            assert text[start:end] == passage.text
            assert passage.context_before == text[max(0, start - 25) : start]
            assert passage.context_after == text[end : end + 25]
        # The walk starts and ends at the document's edges: nothing before the first passage, nothing after the last.
        assert passages[0].previous_chunk_id is None and passages[0].context_before == ""
        assert passages[-1].citation.char_end + len(passages[-1].context_after) == len(text)
        assert get_passage(stored, "tea.pdf#999") is None
