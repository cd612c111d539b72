"""FAISS against Milvus on the same SciFact index: latency per question, and whether the rankings agree.

    python bench/milvus_vs_faiss.py --index faiss=var/eval/scifact-0772e1c1893b36d3 \\
        --index milvus-lite=var/eval/scifact-1b2f0bed35fe9f07 [--index milvus-server=DIR] [--queries 300]

Every index must hold the same corpus (build them with `askdocs eval ... --backend ...`, which reuses the
FAISS vectors when the FAISS index folder is copied first, see README "Scaling out"). Each SciFact test
question is asked of every index in turn, in-process as `askdocs eval` does, so load from other work hits
all of them alike. Per backend and mode (dense, hybrid): p50/p95 of the whole `ask`, p50 of the vector
search alone (`retrieve.dense`, 100 deep), and agreement with the first index: the share of its top-10
chunks also in this backend's top-10, and of questions whose top-10 is identical in order. Writes
bench/results/milvus_vs_faiss.json.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from bench.common import SCIFACT, machine, write_result  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", action="append", required=True, metavar="LABEL=DIR")
    parser.add_argument("--dataset", type=Path, default=SCIFACT)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--out", default="milvus_vs_faiss.json")
    args = parser.parse_args()

    from askdocs.index import beir
    from askdocs.index.lexical import tokenize
    from askdocs.index.settings import Settings
    from askdocs.search import open_index, retrieve

    qrels = beir.load_qrels(args.dataset, "test")
    queries = beir.load_queries(args.dataset)
    questions = [queries[q] for q in qrels if q in queries][: args.queries]
    engines = {}
    for spec in args.index:
        label, _, folder = spec.partition("=")
        engines[label] = open_index(Path(folder), Settings.from_environment(os.environ))
    labels = list(engines)
    first = labels[0]
    for engine in engines.values():  # warm up: model, connections, caches
        for mode in ("dense", "hybrid"):
            engine.answer(questions[0], top_k=10, mode=mode, depth=100)

    ask_ms = {(label, mode): [] for label in labels for mode in ("dense", "hybrid")}
    search_ms = {label: [] for label in labels}
    same_top10 = {(label, mode): [] for label in labels for mode in ("dense", "hybrid")}
    overlap = {(label, mode): [] for label in labels for mode in ("dense", "hybrid")}
    load_before = machine()["loadavg"]
    for question in questions:
        vector = engines[first].embedder.encode_queries([question])[0]
        tokens = tokenize(question)
        for mode in ("dense", "hybrid"):
            tops = {}
            for label in labels:
                engine = engines[label]
                started = time.perf_counter()
                response, ranked = engine.answer(question, top_k=10, mode=mode, depth=100)
                ask_ms[(label, mode)].append((time.perf_counter() - started) * 1000)
                tops[label] = [engine.stored.chunk_ids([int(r)])[0] for r in ranked.rows[:10]]
            for label in labels:
                same_top10[(label, mode)].append(tops[label] == tops[first])
                overlap[(label, mode)].append(len(set(tops[label]) & set(tops[first])) / max(1, len(tops[first])))
        for label in labels:
            started = time.perf_counter()
            retrieve.dense(engines[label].stored, vector, 100)
            search_ms[label].append((time.perf_counter() - started) * 1000)
        del tokens

    rows = []
    for label in labels:
        for mode in ("dense", "hybrid"):
            values = np.array(ask_ms[(label, mode)])
            rows.append({
                "backend": label, "mode": mode,
                "ask_p50_ms": round(float(np.percentile(values, 50)), 2),
                "ask_p95_ms": round(float(np.percentile(values, 95)), 2),
                "top10_overlap_with_" + first: round(float(np.mean(overlap[(label, mode)])), 4),
                "top10_identical_share": round(float(np.mean(same_top10[(label, mode)])), 4),
            })
        rows.append({"backend": label, "mode": "vector search only (dense, 100 deep)",
                     "search_p50_ms": round(float(np.percentile(search_ms[label], 50)), 2),
                     "search_p95_ms": round(float(np.percentile(search_ms[label], 95)), 2)})
    for row in rows:
        print("  ".join(f"{k}={v}" for k, v in row.items()))
    for engine in engines.values():
        engine.close()
    write_result(args.out, {
        "benchmark": "milvus_vs_faiss",
        "command": "python bench/milvus_vs_faiss.py " + " ".join(sys.argv[1:]),
        "questions": len(questions),
        "indexes": {label: spec.partition("=")[2] for label, spec in zip(labels, args.index)},
        "machine_before": {"loadavg": load_before},
        "machine_after": machine(),
        "results": rows,
    })
    return 0


if __name__ == "__main__":
    sys.exit(main())
