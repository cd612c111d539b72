"""Metadata filters are exact: the passages equal a brute-force search over only the matching chunks."""

from __future__ import annotations

import datetime as dt
import json
import os
import random
from pathlib import Path

import httpx
import numpy as np
import pytest

from askdocs.index.build import build_index
from askdocs.index.lexical import bm25_scores, tokenize
from askdocs.index.settings import Settings
from askdocs.index.vectors import faiss_store
from askdocs.search import open_index
from askdocs.search.filters import chunk_filter
from askdocs.search.models import Filters
from askdocs.search.retrieve import _zscore

TEAMS = ["garden", "kitchen", "finance", "legal"]
TOPICS = [
    "compost heaps need air and moisture to break down leaves",
    "a sharp knife is safer than a blunt one when chopping onions",
    "quarterly invoices must be approved by two managers before payment",
    "contracts signed electronically are binding in most countries",
    "tomato seedlings should be hardened off before planting outside",
    "sourdough starters need feeding with flour and water every day",
    "travel expenses are reimbursed within thirty days of the claim",
    "a non-disclosure agreement protects confidential information",
]
QUESTIONS = ["How do I make compost?", "When are expenses paid back?", "What protects secrets in a contract?",
             "How should seedlings be planted?", "knife safety"]


def _generated_corpus(root: Path, seed: int = 7) -> Path:
    rng = random.Random(seed)
    for i in range(36):
        folder = root / rng.choice(["reports", "notes", "reports/2024", "archive"])
        folder.mkdir(parents=True, exist_ok=True)
        team, year = rng.choice(TEAMS), rng.choice([2022, 2023, 2024])
        tags = rng.sample(["urgent", "draft", "public", "internal"], 2)
        sentences = " ".join(rng.choice(TOPICS).capitalize() + f" (note {i}.{j})." for j in range(rng.randint(2, 30)))
        kind = rng.choice(["md", "md", "txt", "html"])
        path = folder / f"doc{i:02}.{kind}"
        if kind == "md":
            path.write_text(f"---\nteam: {team}\nyear: {year}\ntags: [{', '.join(tags)}]\n---\n# Document {i}\n\n{sentences}\n")
        elif kind == "txt":
            path.write_text(f"Document {i}\n\n{sentences}\n")
            path.with_name(path.name + ".meta.json").write_text(json.dumps({"team": team, "year": year, "tags": tags}))
        else:
            path.write_text(f"<html><head><title>Document {i}</title></head><body><p>{sentences}</p></body></html>")
        stamp = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc).timestamp() + i * 86400
        os.utime(path, (stamp, stamp))
    return root


@pytest.fixture(scope="module")
def filtered_engine(tmp_path_factory):
    root = _generated_corpus(tmp_path_factory.mktemp("filters") / "docs")
    index = root.parent / "index"
    build_index([root], Settings(index=index, chunk_tokens=48, chunk_overlap=8), progress=False)
    engine = open_index(index)
    yield engine
    engine.close()


def _random_filters(rng: random.Random, doc_ids: list[str]) -> dict:
    choices = {
        "source": lambda: rng.choice(["reports/*", "notes/*", "*2024*", "archive/doc1*", "*.md", "nothing/*"]),
        "doc_ids": lambda: rng.sample(doc_ids, rng.randint(1, 6)),
        "types": lambda: rng.sample(["text", "markdown", "html", "pdf"], rng.randint(1, 2)),
        "modified_after": lambda: f"2024-01-{rng.randint(1, 28):02}T00:00:00Z",
        "modified_before": lambda: f"2024-02-{rng.randint(1, 10):02}T00:00:00Z",
        "meta": lambda: {rng.choice(["team", "year", "tags"]): rng.choice(
            [rng.choice(TEAMS), [rng.choice(TEAMS), rng.choice(TEAMS)], 2023, [2022, 2024], "urgent", ["draft", "public"]])},
    }
    return {key: choices[key]() for key in rng.sample(sorted(choices), rng.randint(1, 3))}


def _reference_docs(engine, filters: Filters) -> set[str]:
    """Which documents match, decided one document at a time from what GET /documents shows."""
    matching = set()
    for doc_id in engine.stored.doc_ids:
        doc = engine.document(doc_id)
        ok = True
        if filters.source is not None:
            import fnmatch
            ok &= fnmatch.fnmatchcase(doc_id, filters.source)
        if filters.doc_ids is not None:
            ok &= doc_id in filters.doc_ids
        if filters.types is not None:
            ok &= doc.kind in filters.types
        if filters.modified_after is not None:
            ok &= doc.modified >= filters.modified_after
        if filters.modified_before is not None:
            ok &= doc.modified < filters.modified_before
        for key, expected in (filters.meta or {}).items():
            have = doc.meta.get(key)
            have = have if isinstance(have, list) else [have]
            wanted = expected if isinstance(expected, list) else [expected]
            ok &= any(str(h) == str(w) for h in have if h is not None for w in wanted)
        if ok:
            matching.add(doc_id)
    return matching


def _brute_force(engine, question: str, mode: str, k: int, matching_rows: np.ndarray) -> list[int]:
    stored = engine.stored
    vector = engine.embedder.encode_queries([question])[0]
    cosine = stored.vectors.all() @ vector
    lexical = bm25_scores(stored.bm25, tokenize(question))
    if mode == "dense":
        order = matching_rows[np.lexsort((matching_rows, -cosine[matching_rows]))]
        return order[:k].tolist()
    positive = matching_rows[lexical[matching_rows] > 0]
    if mode == "bm25":
        return positive[np.lexsort((positive, -lexical[positive]))][:k].tolist()
    n = max(k, engine.fusion.candidates)
    dense_top = matching_rows[np.lexsort((matching_rows, -cosine[matching_rows]))][:n]
    lexical_top = positive[np.lexsort((positive, -lexical[positive]))][:n]
    pool = np.union1d(dense_top, lexical_top)
    if len(pool) == 0:
        return []
    fused = 0.5 * _zscore(cosine[pool]) + 0.5 * _zscore(lexical[pool])
    return pool[np.lexsort((pool, -fused))][:k].tolist()


@pytest.mark.parametrize("direct_limit", [0, 10**9], ids=["faiss-selector", "direct-scoring"])
def test_filtered_results_equal_brute_force(filtered_engine, monkeypatch, direct_limit):
    monkeypatch.setattr(faiss_store, "DIRECT_SCORING_LIMIT", direct_limit)
    engine = filtered_engine
    rng = random.Random(direct_limit)
    checked = 0
    for _ in range(25):
        filters = Filters.model_validate(_random_filters(rng, engine.stored.doc_ids))
        matching_docs = _reference_docs(engine, filters)
        only = chunk_filter(engine.documents_table, filters)
        assert {engine.stored.doc_ids[engine.stored.chunks.doc_row[r]] for r in only.rows} == matching_docs
        for mode in ("dense", "bm25", "hybrid"):
            question, k = rng.choice(QUESTIONS), rng.choice([1, 3, 10])
            response = engine.ask(question, top_k=k, mode=mode, filters=filters)
            rows = [engine.stored.chunk_row(p.citation.chunk_id) for p in response.passages]
            assert rows == _brute_force(engine, question, mode, k, only.rows), (filters, mode, question)
            if mode != "bm25" and only.count >= k:
                assert len(response.passages) == k, "exactly k passages when at least k chunks match"
            if only.count == 0:
                assert response.passages == [] and response.no_answer and response.answer is None
            checked += 1
    assert checked == 75


def test_metadata_is_stored_and_shown(filtered_engine):
    engine = filtered_engine
    markdown = next(d for d in engine.stored.doc_ids if d.endswith(".md"))
    doc = engine.document(markdown)
    assert set(doc.meta) == {"team", "year", "tags"} and isinstance(doc.meta["tags"], list)
    assert doc.folder == markdown.rsplit("/", 1)[0] and doc.modified.year == 2024
    text = next(d for d in engine.stored.doc_ids if d.endswith(".txt"))
    assert set(engine.document(text).meta) == {"team", "year", "tags"}, "the sidecar NAME.meta.json is read"


def test_filters_through_http(seeds_server):
    from .conftest import SEED_QUESTION

    ok = httpx.post(seeds_server.url + "/ask", json={"question": SEED_QUESTION, "filters": {"types": ["text"]}}).json()
    assert "France" in ok["passages"][0]["text"]
    none = httpx.post(seeds_server.url + "/ask", json={"question": SEED_QUESTION, "filters": {"types": ["pdf"]}}).json()
    assert none["passages"] == [] and none["no_answer"] is True
    for bad, words in [({"colour": "red"}, "colour"), ({"types": ["exe"]}, "types"),
                       ({"modified_after": "last tuesday"}, "modified_after"), ({"meta": {"k": {"x": 1}}}, "meta")]:
        response = httpx.post(seeds_server.url + "/ask", json={"question": "x", "filters": bad})
        assert response.status_code == 422 and words in response.json()["message"], bad


def test_a_changed_sidecar_reaches_an_incremental_build(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("Apples\n\nApples grow on trees in orchards.")
    (docs / "a.txt.meta.json").write_text('{"season": "autumn"}')
    settings = Settings(index=tmp_path / "index")
    build_index([docs], settings, progress=False)
    (docs / "a.txt.meta.json").write_text('{"season": "spring"}')
    build_index([docs], settings, progress=False)
    engine = open_index(tmp_path / "index")
    assert engine.document("a.txt").meta == {"season": "spring"}
    assert engine.ask("apples", filters={"meta": {"season": "spring"}}).passages
    assert not engine.ask("apples", filters={"meta": {"season": "autumn"}}).passages
    engine.close()
