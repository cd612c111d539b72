"""Versioned citations: a citation names the document version and generation it came from, and the document
endpoint says, after the document changed, whether the cited text is still there and where (README "Watch mode")."""

from __future__ import annotations

from pathlib import Path

import httpx

from askdocs.index.build import build_index
from askdocs.index.settings import Settings

from .conftest import Server
from .fixtures import wait_for

LEAD = "The project lead of Project Falcon is Maria Lopez."
FALCON = f"Project Falcon\n==============\n\nProject Falcon builds a weather balloon.\n\n{LEAD}\n"
QUESTION = {"question": "Who is the project lead of Project Falcon?", "top_k": 3}


def falcon_index(tmp_path: Path) -> tuple[Path, Path]:
    """A folder holding FALCON as falcon.txt, and an index built from it: (folder, index)."""
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "falcon.txt").write_text(FALCON)
    index = tmp_path / "index"
    build_index([docs], Settings(index=index), progress=False)
    return docs, index


def _cited(server: Server, citation: dict, **extra) -> dict:
    params = {"sha256": citation["sha256"], "generation": citation["generation"], "start": citation["char_start"],
              "end": citation["char_end"], **extra}
    response = httpx.get(f"{server.url}/documents/{citation['doc_id']}", params=params, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def _republish(server: Server, docs, index, text: str) -> int:
    before = httpx.get(server.url + "/health", timeout=30).json()["generation"]
    (docs / "falcon.txt").write_text(text)
    build_index([docs], Settings(index=index), progress=False)
    return wait_for(lambda: (g := httpx.get(server.url + "/health", timeout=30).json()["generation"]) > before and g,
                    "the server to serve the new generation", seconds=60)


def test_a_citation_names_its_version_and_finds_its_text_after_the_document_changed(tmp_path):
    docs, index = falcon_index(tmp_path)
    server = Server(index, env={"ASKDOCS_RELOAD_INTERVAL": "0.2"})
    try:
        body = httpx.post(server.url + "/ask", json=QUESTION, timeout=30).json()
        citation = body["answer"]["citation"]
        assert body["answer"]["text"] == LEAD
        first = httpx.get(server.url + "/health", timeout=30).json()["generation"]
        assert citation["generation"] == first and len(citation["sha256"]) == 64
        assert all(p["citation"]["sha256"] == citation["sha256"] for p in body["passages"])

        unchanged = _cited(server, citation)
        assert unchanged["cited"]["status"] == "current" and unchanged["sha256"] == citation["sha256"]
        assert unchanged["text"][citation["char_start"]:citation["char_end"]] == LEAD

        # Text inserted above the cited sentence: the old offsets now point elsewhere; the sentence moved.
        _republish(server, docs, index, FALCON.replace("\n\nProject Falcon builds",
                                                       "\n\nA new first paragraph.\n\nProject Falcon builds"))
        moved = _cited(server, citation)
        assert moved["sha256"] != citation["sha256"]
        assert moved["cited"]["status"] == "moved"
        assert moved["text"][moved["cited"]["char_start"]:moved["cited"]["char_end"]] == LEAD
        assert moved["cited"]["char_start"] > citation["char_start"]
        # The section of where the cited text is now, as a citation of it would carry it.
        assert moved["section"] == unchanged["section"] == citation["section"] == ["Project Falcon"]

        # The cited sentence removed, and the generation the citation came from pruned: with the quote a
        # client kept it is "gone"; without it, the server can only say the document changed.
        _republish(server, docs, index, FALCON.replace(LEAD, "The lead is yet to be named."))
        assert _cited(server, citation, quote=LEAD)["cited"]["status"] == "gone"
        assert _cited(server, citation)["cited"]["status"] == "changed"
        assert _cited(server, citation)["section"] is None  # where the cited text is now is not known
        twice = _cited(server, citation, quote="Project Falcon")
        assert twice["cited"]["status"] == "gone" and "more than once" in twice["cited"]["message"]

        plain = httpx.get(f"{server.url}/documents/{citation['doc_id']}", timeout=30).json()
        assert plain["cited"] is None
        bad = httpx.get(f"{server.url}/documents/{citation['doc_id']}", params={"sha256": "x" * 64}, timeout=30)
        assert bad.status_code == 422
        half = httpx.get(f"{server.url}/documents/{citation['doc_id']}",
                         params={"sha256": citation["sha256"], "start": 3}, timeout=30)
        assert half.status_code == 422 and "start and end go together" in half.text
    finally:
        server.stop()
