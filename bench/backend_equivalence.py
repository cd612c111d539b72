"""Are the torch and ONNX backends interchangeable? Vectors compared one to one, and every cross combination scored.

    python bench/backend_equivalence.py     # after `askdocs eval ../shared/data/scifact --runtime X` for both X

Uses the two SciFact indexes `askdocs eval` builds (one per backend; built here if missing). Both backends
share the tokenizer, so both indexes hold the same chunks and sentences in the same order, and vectors can
be compared row by row: cosine of every chunk vector and every sentence vector. Then each index is queried
with each backend (SciFact test, all modes): nDCG@10 of the four combinations shows whether an index built
with one backend may be served by the other (what `open_index` allows). Writes
bench/results/backend_equivalence.json.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import SCIFACT, machine, write_result  # noqa: E402


def cosine_stats(a: np.ndarray, b: np.ndarray) -> dict:
    cos = (a * b).sum(axis=1) / np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), 1e-12)
    return {"n": int(len(cos)), "min": round(float(cos.min()), 5), "p01": round(float(np.percentile(cos, 1)), 5),
            "mean": round(float(cos.mean()), 5), "below_0.999": int((cos < 0.999).sum())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", type=Path, default=SCIFACT)
    parser.add_argument("--split", default="test")
    parser.add_argument("--out", default="backend_equivalence.json")
    args = parser.parse_args()

    import ir_measures

    from askdocs.index import beir
    from askdocs.index.settings import Settings
    from askdocs.index.store import open_stored_index
    from askdocs.search import open_index
    from askdocs.api.evaluate import prepare_index
    from askdocs.search.scoring import MEASURES, run_queries

    paths = {b: prepare_index(args.dataset, Settings(runtime=b), None, progress=None).path for b in ("torch", "onnx")}
    stored = {b: open_stored_index(p) for b, p in paths.items()}
    ids = {}
    for backend, index in stored.items():
        connection = sqlite3.connect(f"file:{index.path / 'chunks.sqlite'}?mode=ro", uri=True)
        ids[backend] = [row[0] for row in connection.execute("SELECT chunk_id FROM chunks ORDER BY row")]
        connection.close()
    if ids["torch"] != ids["onnx"] or not np.array_equal(stored["torch"].sentence_spans, stored["onnx"].sentence_spans):
        raise SystemExit("the two indexes do not hold the same chunks and sentences; cannot compare row by row")
    vectors = {b: s.vectors.all() for b, s in stored.items()}
    result = {
        "benchmark": "backend_equivalence",
        "dataset": args.dataset.resolve().name,
        "command": "python bench/backend_equivalence.py " + " ".join(sys.argv[1:]),
        "machine": machine(),
        "indexes": {b: str(p) for b, p in paths.items()},
        "chunk_cosine": cosine_stats(vectors["torch"], vectors["onnx"]),
        # Stored as float16 in sentences.npz: the comparison includes that rounding on both sides.
        "sentence_cosine": cosine_stats(stored["torch"].sentence_vectors, stored["onnx"].sentence_vectors),
    }
    for index in stored.values():
        index.close()
    print("chunk vectors   ", result["chunk_cosine"])
    print("sentence vectors", result["sentence_cosine"])

    qrels = beir.load_qrels(args.dataset, args.split)
    queries = beir.load_queries(args.dataset)
    queries = {q: queries[q] for q in qrels if q in queries}
    measures = [MEASURES["ndcg@10"], MEASURES["recall@100"]]
    scores = {}
    for built in ("torch", "onnx"):
        for queried in ("torch", "onnx"):
            engine = open_index(paths[built], Settings(runtime=queried))
            for mode in ("hybrid", "dense", "bm25"):
                run, _, latencies = run_queries(engine, queries, mode, 100, progress=False)
                values = ir_measures.calc_aggregate(measures, {q: qrels[q] for q in queries}, run)
                key = f"built_{built}/queried_{queried}/{mode}"
                scores[key] = {"ndcg@10": round(float(values[measures[0]]), 4),
                               "recall@100": round(float(values[measures[1]]), 4),
                               "query_p50_ms": round(float(np.percentile(latencies, 50)), 2)}
                print(key, scores[key], flush=True)
            engine.close()
    result["retrieval"] = scores
    result["max_ndcg_difference_vs_torch"] = {
        mode: round(max(abs(scores[f"built_{b}/queried_{q}/{mode}"]["ndcg@10"]
                            - scores[f"built_torch/queried_torch/{mode}"]["ndcg@10"])
                        for b in ("torch", "onnx") for q in ("torch", "onnx")), 4)
        for mode in ("hybrid", "dense", "bm25")
    }
    print("max |nDCG@10 - torch/torch|:", result["max_ndcg_difference_vs_torch"])
    print(f"wrote {write_result(args.out, result)}")


if __name__ == "__main__":
    main()
