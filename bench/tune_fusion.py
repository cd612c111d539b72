"""Sweep hybrid fusion choices on a built eval index, embedding each query once.

Used to choose the defaults in index/settings.py (tune on SciFact train and SQuAD, report test):

    python bench/tune_fusion.py ../shared/data/scifact --split train --out bench/results/fusion-scifact-train.json

The index must already exist (``askdocs eval DATASET --split SPLIT`` builds it). Every variant ranks
documents by their best chunk, as ``askdocs eval`` does, and is scored with ir-measures.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import ir_measures
import numpy as np
from ir_measures import R, nDCG

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from askdocs.index import beir  # noqa: E402
from askdocs.index.lexical import bm25_scores, tokenize  # noqa: E402
from askdocs.index.settings import Settings  # noqa: E402
from askdocs.search import open_index  # noqa: E402
from askdocs.api.evaluate import prepare_index  # noqa: E402
from askdocs.search.retrieve import _minmax, _rrf, _zscore  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("dataset", type=Path)
    parser.add_argument("--split", default="train")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    settings = Settings.from_environment(os.environ)
    prepared = prepare_index(args.dataset, settings, None, progress=False)
    engine = open_index(prepared.path, settings)
    stored = engine.stored
    qrels = beir.load_qrels(args.dataset, args.split)
    texts = beir.load_queries(args.dataset)
    queries = [q for q in qrels if q in texts][: args.limit]
    vectors = engine.embedder.encode_queries([texts[q] for q in queries])
    doc_of_row = np.array([stored.doc_ids[r] for r in stored.chunks.doc_row], dtype=object)
    sentence_first, sentence_count = stored.chunks.sentence_first, stored.chunks.sentence_count

    pools = []
    for vector, query_id in zip(vectors, queries):
        tokens = tokenize(texts[query_id])
        lexical_all = bm25_scores(stored.bm25, tokens)
        dense_rows = stored.vectors.search(vector.reshape(1, -1), 300)[0].ids
        lexical_rows = np.argsort(-lexical_all)[:300]
        pools.append((query_id, vector, lexical_all, dense_rows, lexical_rows))

    def best_sentence(rows: np.ndarray, vector: np.ndarray) -> np.ndarray:
        out = np.empty(len(rows), np.float32)
        for i, row in enumerate(rows):
            first, count = sentence_first[row], sentence_count[row]
            out[i] = (stored.sentence_vectors[first : first + count] @ vector).max() if count else 0
        return out

    def run_variant(method: str, weight: float, n: int, rrf_k: int = 60, sentence_weight: float = 0.0):
        run = {}
        for query_id, vector, lexical_all, dense_rows, lexical_rows in pools:
            lexical_top = lexical_rows[:n][lexical_all[lexical_rows[:n]] > 0]
            pool = np.union1d(dense_rows[:n], lexical_top)
            cosine = stored.vectors.get(pool.astype(np.int64)) @ vector
            lexical = lexical_all[pool]
            if method == "dense":
                fused = cosine
            elif method == "bm25":
                fused = lexical
            elif method == "rrf":
                fused = weight * _rrf(cosine, rrf_k) + (1 - weight) * _rrf(lexical, rrf_k)
            else:
                normalise = _zscore if method == "zscore" else _minmax
                fused = weight * normalise(cosine) + (1 - weight) * normalise(lexical)
                if sentence_weight:
                    fused = fused + sentence_weight * normalise(best_sentence(pool, vector))
            order = np.argsort(-fused, kind="stable")
            docs: dict[str, float] = {}
            for position, row in enumerate(pool[order]):
                docs.setdefault(doc_of_row[row], float(len(order) - position))
            run[query_id] = docs
        scores = ir_measures.calc_aggregate([nDCG @ 10, R @ 5, R @ 100], {q: qrels[q] for q in queries}, run)
        return {"ndcg@10": round(scores[nDCG @ 10], 4), "recall@5": round(scores[R @ 5], 4),
                "recall@100": round(scores[R @ 100], 4)}

    variants = [("dense", 1.0, 100, 60, 0.0), ("bm25", 0.0, 100, 60, 0.0)]
    for n in (100, 300):
        variants += [("zscore", w, n, 60, 0.0) for w in (0.3, 0.4, 0.5, 0.6, 0.7)]
        variants += [("minmax", w, n, 60, 0.0) for w in (0.4, 0.5, 0.6)]
        variants += [("rrf", 0.5, n, k, 0.0) for k in (10, 30, 60)]
    variants += [("zscore", w, 100, 60, s) for w in (0.4, 0.5) for s in (0.1, 0.2, 0.3)]
    results = []
    for method, weight, n, rrf_k, sentence_weight in variants:
        metrics = run_variant(method, weight, n, rrf_k, sentence_weight)
        row = {"method": method, "dense_weight": weight, "candidates": n, "rrf_k": rrf_k,
               "sentence_weight": sentence_weight, **metrics}
        results.append(row)
        print(json.dumps(row), flush=True)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"dataset": args.dataset.name, "split": args.split, "queries": len(queries),
                                        "variants": results}, indent=2))


if __name__ == "__main__":
    main()
