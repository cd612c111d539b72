"""Issue 16's whole promise in one folder: one file of every format askdocs reads, plus hostile files, built with
the real `build-index`, served by a real `askdocs serve`, and asked a question about each document over HTTP:
every answer cites its document exactly, with the right page, slide, sheet and rows; every file is accounted
for in the build's JSON, the hostile ones with their reasons."""

from __future__ import annotations

import gzip
import json
import os
import subprocess

import httpx
import pytest

from . import format_fixtures as fx
from .conftest import BIN, Server
from .fixtures import SCANNED_PAGES, make_pdf, make_png
from .test_formats import _zip_bomb_docx
from .test_pdf_text import _encrypted

# file -> (question, words the cited passage holds, citation fields it must carry)
OTHER_FACTS = {
    "harbour.md": ("How much can the harbour crane lift?", ["forty tonnes"], {}),
    "museum.html": ("When does the maritime museum open on Sundays?", ["half past nine"], {}),
    "boiler.pdf": ("What must the boiler pressure stay below?", ["1.5 bar"], {"page": 2}),
    "oolong.png": ("At what temperature should oolong be brewed?", ["90 degrees"], {}),
    "strudel.txt": ("Until when does Café Müller serve strudel?", ["midnight"], {}),
    "README": ("What does the chart tool convert nautical charts to?", ["GeoJSON"], {}),
    "changelog.gz": ("Which version added support for tide tables?", ["2.4"], {}),
}
FACTS = {**fx.FACTS, **OTHER_FACTS}
HOSTILE = {
    "bomb.docx": "zip bomb",
    "locked.pdf": "encrypted PDF (needs a password)",
    "blank.png": "no text found by OCR",
}


@pytest.fixture(scope="module")
def every_file(tmp_path_factory):
    root = tmp_path_factory.mktemp("every-file")
    docs = root / "docs"
    docs.mkdir()
    for name, data in fx.all_files().items():
        (docs / name).write_bytes(data)
    (docs / "harbour.md").write_text("# Harbour\n\nThe harbour crane lifts forty tonnes at a time.\n")
    (docs / "museum.html").write_text("<html><head><title>Maritime museum</title></head><body><main><h1>Hours</h1>"
                                      "<p>The maritime museum opens at half past nine on Sundays.</p></main></body>"
                                      "</html>")
    (docs / "boiler.pdf").write_bytes(make_pdf(["Boiler manual\nRead this manual before lighting the boiler.",
                                                "Pressure\nThe boiler pressure must stay below 1.5 bar."]))
    (docs / "oolong.png").write_bytes(make_png(SCANNED_PAGES[1]))
    (docs / "strudel.txt").write_bytes("Café Müller\n\nCafé Müller on Königstraße serves strudel until midnight.\n"
                                       .encode("latin-1"))
    (docs / "README").write_text("Chart tool\n\nThe chart tool converts nautical charts to GeoJSON.\n")
    (docs / "changelog.gz").write_bytes(gzip.compress(b"Changelog\n\nVersion 2.4 added support for tide tables.\n"))
    (docs / "bomb.docx").write_bytes(_zip_bomb_docx())
    (docs / "locked.pdf").write_bytes(_encrypted("secret"))
    (docs / "blank.png").write_bytes(make_png("", width=600, height=400))
    index = root / "index"
    built = subprocess.run([str(BIN / "build-index"), str(docs), "--index", str(index), "--no-progress", "--json"],
                           capture_output=True, text=True, timeout=900, env=dict(os.environ))
    assert built.returncode == 0, built.stderr[-3000:]
    server = Server(index)
    yield docs, json.loads(built.stdout), server
    server.stop()


def test_every_file_is_indexed_or_named_with_its_reason(every_file):
    docs, report, _ = every_file
    indexed = {item["doc_id"] for item in report["indexed"]}
    not_indexed = {os.path.relpath(item["path"], docs): item["reason"] for item in report["not_indexed"]}
    assert indexed >= set(FACTS)
    assert {name for name in indexed if "/" not in name} | set(not_indexed) == set(os.listdir(docs))
    for name, reason in HOSTILE.items():
        assert reason in not_indexed[name], (name, not_indexed[name])


@pytest.mark.parametrize("name", sorted(FACTS))
def test_a_question_about_every_format_is_answered_from_it_with_an_exact_citation(every_file, name):
    _, _, server = every_file
    question, words, fields = FACTS[name]
    body = httpx.post(server.url + "/ask", json={"question": question, "top_k": 3}, timeout=60).json()
    top = body["passages"][0]
    citation = top["citation"]
    assert citation["doc_id"] == name, [p["citation"]["doc_id"] for p in body["passages"]]
    assert all(word in top["text"] for word in words), top["text"]
    document = httpx.get(f"{server.url}/documents/{name}", timeout=30).json()
    assert document["text"][citation["char_start"]:citation["char_end"]] == top["text"]
    for field, value in fields.items():
        # A small PDF is one passage from page 1 on; the page of the fact is the answer sentence's.
        cited = body["answer"]["citation"] if field == "page" else citation
        assert cited[field] == value, (field, cited)
    if body["answer"] is not None:
        cited = body["answer"]["citation"]
        answered = httpx.get(f"{server.url}/documents/{cited['doc_id']}", timeout=30).json()["text"]
        assert answered[cited["char_start"]:cited["char_end"]] == body["answer"]["text"]
