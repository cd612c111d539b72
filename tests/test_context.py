"""The prompt-ready Markdown context: numbered passages and the sources the numbers stand for."""

from __future__ import annotations

import httpx

from askdocs.search import open_index
from askdocs.search.context import prompt_context
from askdocs.search.models import AskResponse, Citation, Highlight, Passage, Question

from .conftest import SEED_QUESTION


def passage(rank: int, text: str, page: int | None, lines: tuple[int, int]) -> Passage:
    citation = Citation(doc_id=f"doc{rank}.pdf", title=f"Title {rank}", source=f"docs/doc{rank}.pdf",
                        chunk_id=f"doc{rank}.pdf#0", char_start=0, char_end=len(text),
                        line_start=lines[0], line_end=lines[1], page=page)
    return Passage(rank=rank, score=0.5, text=text, highlight=Highlight(char_start=0, char_end=4, text=text[:4]),
                   citation=citation)


def response(no_answer: bool) -> AskResponse:
    return AskResponse(
        question="Where do\ntea plants grow?", mode="hybrid", answer=None, no_answer=no_answer, took_ms=1.0,
        passages=[
            passage(1, "Tea grows on hills.\n\nIt likes rain.", 2, (5, 7)),
            passage(2, "Coffee, too.", None, (3, 3)),
        ],
    )


def test_passages_are_numbered_blockquotes_and_sources_map_the_numbers():
    assert prompt_context(response(no_answer=False)) == (
        "Passages from the documents for: Where do tea plants grow?\n"
        "\n"
        "[1]\n"
        "> Tea grows on hills.\n"
        ">\n"
        "> It likes rain.\n"
        "\n"
        "[2]\n"
        "> Coffee, too.\n"
        "\n"
        "Sources:\n"
        "[1] Title 1 (doc1.pdf, page 2, lines 5-7)\n"
        "[2] Title 2 (doc2.pdf, line 3)\n"
    )


def test_no_answer_is_said_before_the_passages():
    context = prompt_context(response(no_answer=True))
    assert context.index("None of these passages scored as an answer") < context.index("[1]")


def test_engine_adds_context_only_when_asked(seeds_index):
    engine = open_index(seeds_index)
    try:
        plain = engine.ask(SEED_QUESTION, top_k=2)
        assert plain.context is None
        with_context = engine.ask(Question(question=SEED_QUESTION, top_k=2, format="context"))
        assert with_context.context == prompt_context(with_context)
        assert with_context.passages == plain.passages
    finally:
        engine.close()


def test_ask_over_http_returns_the_context(seeds_server):
    question = {"question": SEED_QUESTION, "top_k": 3, "format": "context"}
    body = httpx.post(seeds_server.url + "/ask", json=question).json()
    context = body["context"]
    assert "France was the only G7 country" in context
    sources = context.split("Sources:\n", 1)[1].splitlines()
    assert [line.split("]")[0] + "]" for line in sources] == ["[1]", "[2]", "[3]"]
    first = body["passages"][0]["citation"]
    assert sources[0].startswith(f"[1] {first['title']} ({first['doc_id']}, line")
    assert f"{first['line_start']}" in sources[0] and f"{first['line_end']})" in sources[0]
    assert httpx.post(seeds_server.url + "/ask", json={"question": SEED_QUESTION}).json()["context"] is None
