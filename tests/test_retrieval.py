"""Hybrid retrieval, BM25 persistence, modes through /ask, and `askdocs eval` on a dataset with known answers."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import bm25s
import httpx
import numpy as np
import pytest

from askdocs.index.build import build_index
from askdocs.index.lexical import bm25_scores, build_bm25, load_bm25, save_bm25, tokenize
from askdocs.index.settings import Settings
from askdocs.index.store import generation_dir
from askdocs.search import open_index
from askdocs.api.evaluate import evaluate

from .conftest import BIN, SEED_QUESTION

# Two questions: one a paraphrase that shares no word with its document (BM25 alone misses it), one that
# names a fault code shared by a near-duplicate distractor (dense alone barely separates them).
FIXTURE_DOCS = {
    "valve-4417.txt": "Valve maintenance\n\nFault 4417 on the control panel: the intake valve is stuck and must be cleaned.",
    "valve-4471.txt": "Valve maintenance\n\nFault 4471 on the control panel: the intake valve is stuck and must be replaced.",
    "cafeteria.txt": "Cafeteria menu\n\nThe cafeteria serves soup on Mondays; the budget review is in room 4417.",
    "bicycle.txt": "Repairing a punctured bicycle tyre\n\nRemove the wheel, lever the tyre off the rim, patch the inner tube.",
    "oil.txt": "Changing engine oil\n\nDrain the old oil from the sump, replace the filter and refill with fresh oil.",
    "roses.txt": "Pruning roses\n\nCut each stem just above an outward facing bud in late winter.",
}
FIXTURE_QUESTIONS = {
    "How do I fix a flat on my bike?": "bicycle.txt",
    "What does the panel fault 4417 mean?": "valve-4417.txt",
}


@pytest.fixture(scope="module")
def fixture_engine(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hybrid") / "docs"
    folder.mkdir()
    for name, text in FIXTURE_DOCS.items():
        (folder / name).write_text(text)
    index = folder.parent / "index"
    build_index([folder], Settings(index=index), progress=False)
    engine = open_index(index)
    yield engine
    engine.close()


def _reciprocal_rank(engine, question: str, expected: str, mode: str) -> float:
    passages = engine.ask(question, top_k=5, mode=mode).passages
    ids = [p.citation.doc_id for p in passages]
    return 1.0 / (ids.index(expected) + 1) if expected in ids else 0.0


def test_hybrid_beats_or_equals_each_mode_where_one_alone_fails(fixture_engine):
    mrr = {
        mode: np.mean([_reciprocal_rank(fixture_engine, q, doc, mode) for q, doc in FIXTURE_QUESTIONS.items()])
        for mode in ("dense", "bm25", "hybrid")
    }
    assert _reciprocal_rank(fixture_engine, "How do I fix a flat on my bike?", "bicycle.txt", "bm25") == 0.0
    assert mrr["hybrid"] == 1.0
    assert mrr["hybrid"] >= mrr["dense"] and mrr["hybrid"] >= mrr["bm25"]


def test_titles_are_searchable(fixture_engine):
    # "Pruning roses" appears only as the title line; the body never says "pruning".
    passages = fixture_engine.ask("pruning", top_k=1, mode="bm25").passages
    assert passages[0].citation.doc_id == "roses.txt"


def test_bm25_hits_are_the_top_rows_with_a_score():
    # Ranked among the non-zero scores only (issue 20): the same rows in the same order as ranking every chunk's
    # score and dropping the zeros, ties to the lower row included.
    from askdocs.index.vectors import top_rows
    from askdocs.search.retrieve import _lexical_hits

    rng = np.random.default_rng(20)
    for _ in range(500):
        n = int(rng.integers(0, 300))
        scores = rng.choice([0.0, 0.0, 0.0, 1.5, 2.25, *rng.random(3)], size=n).astype(np.float32)
        for k in (1, 5, 100, 400):
            rows = top_rows(scores, k)
            assert _lexical_hits(scores, k).tolist() == rows[scores[rows] > 0].tolist()


def test_bm25_round_trips_through_disk(tmp_path):
    texts = ["Super_Bowl_50 was played in Santa Clara.", "The G7 met in Tokyo in 2023.", "Nothing to see."]
    model = build_bm25(texts)
    save_bm25(model, tmp_path / "bm25")
    loaded = load_bm25(tmp_path / "bm25")
    for query in ("super bowl", "G7 Tokyo 2023", "unknownword", "santa clara tokyo"):
        assert np.allclose(bm25_scores(model, tokenize(query)), bm25_scores(loaded, tokenize(query)))
    assert bm25_scores(loaded, tokenize("super bowl")).argmax() == 0
    assert not bm25_scores(loaded, tokenize("unknownword")).any()


def test_bm25_scores_are_the_ones_bm25s_computes(tmp_path):
    # build_bm25 computes the index with numpy; bm25s's own build over the same tokens is the reference.
    texts = ["Super_Bowl_50 was played in Santa Clara.", "The G7 met in Tokyo in 2023.", "Nothing to see.", "",
             "clara clara clara tokyo", "The Santa Clara bowl, played again in Tokyo, was the 50th."] * 3
    reference = bm25s.BM25(method="lucene", k1=1.2, b=0.75)
    reference.index([tokenize(t) for t in texts], show_progress=False)
    model = build_bm25(texts)
    assert model.scores["num_docs"] == reference.scores["num_docs"]
    for query in ("super bowl", "santa clara tokyo", "G7 2023", "see", "played 50th"):
        np.testing.assert_allclose(bm25_scores(model, tokenize(query)), bm25_scores(reference, tokenize(query)),
                                   atol=1e-6)


def test_index_folder_holds_bm25_and_it_is_checksummed(seeds_index):
    manifest = json.loads((generation_dir(seeds_index) / "manifest.json").read_text())
    assert any(name.startswith("bm25/") for name in manifest["files"])
    assert manifest["bm25"]["library"] == "bm25s"


@pytest.mark.parametrize("mode", ["hybrid", "dense", "bm25"])
def test_each_mode_through_ask(seeds_server, mode):
    body = httpx.post(seeds_server.url + "/ask", json={"question": SEED_QUESTION, "mode": mode, "top_k": 2}).json()
    assert body["mode"] == mode
    assert "France" in body["passages"][0]["text"]
    assert body["no_answer"] is False and "France" in body["answer"]["text"]
    assert body["signals"]["confidence"] >= body["signals"]["threshold"]


@pytest.mark.parametrize("mode", ["hybrid", "dense", "bm25"])
def test_no_answer_works_in_every_mode(seeds_server, mode):
    body = httpx.post(seeds_server.url + "/ask", json={"question": "How long should sourdough bread proof?", "mode": mode}).json()
    assert body["no_answer"] is True and body["answer"] is None


def test_unknown_mode_is_a_422(seeds_server):
    response = httpx.post(seeds_server.url + "/ask", json={"question": "x", "mode": "magic"})
    assert response.status_code == 422 and "mode" in response.json()["message"]


def _write_dataset(folder: Path) -> Path:
    """Three queries: two with an unmistakable answer, one whose relevant document is not in the corpus."""
    folder.mkdir(parents=True)
    corpus = [
        {"_id": "paris", "title": "Paris", "text": "Paris is the capital and largest city of France."},
        {"_id": "tokyo", "title": "Tokyo", "text": "Tokyo is the capital of Japan and its most populous city."},
        {"_id": "nile", "title": "Nile", "text": "The Nile is a major river in northeastern Africa, about 6,650 km long."},
        {"_id": "salt", "title": "Sodium chloride", "text": "Table salt is sodium chloride, an ionic compound."},
    ]
    queries = [
        {"_id": "q1", "text": "What is the capital of France?"},
        {"_id": "q2", "text": "How long is the Nile river?"},
        {"_id": "q3", "text": "Who painted the Mona Lisa?"},
    ]
    answers = [
        {"_id": "q1", "answers": ["paris"]},
        {"_id": "q2", "answers": ["6,650 km"]},
        {"_id": "q3", "answers": ["Leonardo da Vinci"]},
    ]
    (folder / "corpus.jsonl").write_text("\n".join(json.dumps(r) for r in corpus) + "\n")
    (folder / "queries.jsonl").write_text("\n".join(json.dumps(r) for r in queries) + "\n")
    (folder / "answers.jsonl").write_text("\n".join(json.dumps(r) for r in answers) + "\n")
    (folder / "qrels").mkdir()
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\tparis\t1\nq2\tnile\t1\nq3\tmonalisa\t1\n")
    return folder


def test_eval_metrics_on_a_dataset_with_known_answers(tmp_path):
    dataset = _write_dataset(tmp_path / "tiny")
    result = evaluate(dataset, "test", "hybrid", Settings(), index=tmp_path / "index", progress=False)
    # q1 and q2 are found first; q3's relevant document does not exist, so it scores zero everywhere.
    for metric in ("ndcg@10", "recall@10", "recall@100", "mrr@10", "answer@1", "answer@5"):
        assert result[metric] == pytest.approx(2 / 3, abs=1e-4), metric
    assert result["queries"] == 3 and result["dataset"] == "tiny" and result["split"] == "test"
    assert result["build_s"] is not None and result["latency_ms"]["p50"] > 0

    again = evaluate(dataset, "test", "dense", Settings(), index=tmp_path / "index", progress=False)
    assert again["build_s"] is None, "an index built from the same corpus and settings is reused"


def test_eval_command_writes_json(tmp_path):
    dataset = _write_dataset(tmp_path / "tiny")
    out = tmp_path / "result.json"
    done = subprocess.run(
        [str(BIN / "askdocs"), "eval", str(dataset), "--split", "test", "--index", str(tmp_path / "i"), "--json", str(out)],
        capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "ndcg@10" in done.stdout and "hybrid" in done.stdout
    result = json.loads(out.read_text())
    assert set(result) >= {"dataset", "split", "mode", "queries", "ndcg@10", "recall@10", "recall@100", "mrr@10",
                           "latency_ms", "build_s", "answer@1", "answer@5", "answer_sentence"}
    missing = subprocess.run([str(BIN / "askdocs"), "eval", str(dataset), "--split", "dev"], capture_output=True, text=True)
    assert missing.returncode == 1 and "no qrels for split 'dev'" in missing.stderr


def test_eval_takes_filters(tmp_path):
    dataset = _write_dataset(tmp_path / "tiny")
    result = evaluate(dataset, "test", "hybrid", Settings(), index=tmp_path / "index", progress=False,
                      filters={"doc_ids": ["paris", "tokyo"]})
    # Only q1's document survives the filter: q2 and q3 can no longer be answered.
    assert result["ndcg@10"] == pytest.approx(1 / 3, abs=1e-4)
    assert result["filters"] == {"doc_ids": ["paris", "tokyo"]}
    bad = subprocess.run([str(BIN / "askdocs"), "eval", str(dataset), "--index", str(tmp_path / "index"),
                          "--filter", "type=exe"], capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "types" in bad.stderr
