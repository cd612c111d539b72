"""filters.source selects exactly the documents fnmatch.fnmatchcase matches, whatever the ids hold (issue 14, 7)."""

from __future__ import annotations

import fnmatch
import hashlib
import random

import httpx
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from askdocs.index.build import build_from_documents
from askdocs.index.documents import Document
from askdocs.index.settings import Settings
from askdocs.search import open_index
from askdocs.search.filters import IdGlob
from askdocs.search.models import Filters

from .conftest import Server

# What globs and ids are made of: glob syntax, folder separators, the old separator "\n", the new one NUL,
# regex syntax, and characters outside ASCII (one astral).
ALPHABET = "ab/.\n[]!-*?^\\\x00é😀&|~"
GLOB_SETTINGS = settings(max_examples=200, deadline=None, database=None,
                         suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def expected(ids: list[str], glob: str) -> list[str]:
    return [doc_id for doc_id in ids if fnmatch.fnmatchcase(doc_id, glob)]


@GLOB_SETTINGS
@given(ids=st.lists(st.text(ALPHABET, max_size=10), min_size=1, max_size=25, unique=True),
       globs=st.lists(st.text(ALPHABET, min_size=1, max_size=8), min_size=1, max_size=6))
def test_id_glob_equals_fnmatchcase_on_random_ids(ids, globs):
    matcher = IdGlob(ids)
    for glob in globs:
        assert [i for i, hit in zip(ids, matcher.match(glob)) if hit] == expected(ids, glob), glob


@pytest.mark.parametrize("glob, ids, matched", [
    ("*d[!a]*", ["xda", "xdb", "d\nda", "abc"], ["xdb", "d\nda"]),
    ("a*", ["b\na1", "a2"], ["a2"]),  # "a1" is not an id of its own
    ("b?a1", ["b\na1", "bxa1"], ["b\na1", "bxa1"]),  # `?` matches a newline, as in fnmatch
    ("*", ["", "x\x00y", "z"], ["", "x\x00y", "z"]),
    ("x?y", ["x\x00y", "xzy"], ["x\x00y", "xzy"]),
    ("x\x00*", ["x\x00y", "x"], ["x\x00y"]),
    ("reports/*", ["reports/2024/q1.md", "old/reports/x"], ["reports/2024/q1.md"]),  # `*` crosses folders
])
def test_id_glob_cases(glob, ids, matched):
    assert expected(ids, glob) == matched, "the case itself is what fnmatch says"
    assert [i for i, hit in zip(ids, IdGlob(ids).match(glob)) if hit] == matched


def _weird_ids(count: int, seed: int = 14) -> list[str]:
    rng = random.Random(seed)
    ids = {"notes/a\nb.txt", "reports/c.txt", "reports/d.txt", "ab", "a\nb", "[ab]", "!x", "d\nda", "xda", "xdb",
           "é/😀.md", "x\x00y"}
    while len(ids) < count:
        ids.add("".join(rng.choice(ALPHABET.replace("\x00", "")) for _ in range(rng.randint(1, 9))))
    return sorted(ids)


def _document(doc_id: str, number: int) -> Document:
    text = f"Lighthouse log number {number}. The lamp is polished on day {number} of the month."
    return Document(doc_id=doc_id, title=f"Log {number}", source=f"log-{number}", kind="text", size=len(text),
                    sha256=hashlib.sha256(text.encode()).hexdigest(), text=text, mtime=1.7e9 + number)


@pytest.fixture(scope="module")
def weird_index(tmp_path_factory):
    """One index built through the real build path, over documents whose ids hold every awkward character."""
    ids = _weird_ids(80)
    index = tmp_path_factory.mktemp("weird-ids") / "index"
    build_from_documents([_document(doc_id, n) for n, doc_id in enumerate(ids)], Settings(index=index),
                         progress=False)
    return index


@pytest.fixture(scope="module")
def weird_engine(weird_index):
    engine = open_index(weird_index)
    yield engine
    engine.close()


def test_the_index_holds_the_weird_ids(weird_engine):
    assert sorted(weird_engine.stored.doc_ids) == _weird_ids(80)


@GLOB_SETTINGS
@given(glob=st.text(ALPHABET, min_size=1, max_size=8) | st.sampled_from(_weird_ids(80)))
def test_source_filter_selects_what_fnmatchcase_matches(weird_engine, glob):
    ids = weird_engine.stored.doc_ids
    mask = weird_engine.documents_table.documents(Filters(source=glob))
    assert [ids[row] for row in np.flatnonzero(mask)] == expected(ids, glob), glob


def test_an_id_with_a_newline_does_not_shift_the_rows_over_http(weird_index):
    server = Server(weird_index)
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            # Plain ids (no glob syntax) after ids with a newline: each must select itself, and only itself.
            plain = [doc_id for doc_id in _weird_ids(80) if not set(doc_id) & set("*?[\x00")]
            assert "reports/d.txt" in plain and "notes/a\nb.txt" in plain and "a\nb" in plain
            for doc_id in plain:
                response = client.post("/tools/search_documents", json={
                    "query": "When is the lamp polished?", "top_k": 5, "filters": {"source": doc_id}})
                assert response.status_code == 200, (doc_id, response.text)
                cited = {p["citation"]["doc_id"] for p in response.json()["passages"]}
                assert cited == {doc_id}, doc_id
            crossing = client.post("/ask", json={"question": "lamp", "top_k": 50, "filters": {"source": "*d[!a]*"}})
            assert {p["citation"]["doc_id"] for p in crossing.json()["passages"]} == set(
                expected(_weird_ids(80), "*d[!a]*"))
    finally:
        server.stop()
