"""What a metadata filter costs: /ask's engine path with and without filters, from 1% to 100% selectivity.

    python bench/filter_cost.py ../shared/data/scifact --queries 200 --out bench/results/filter_cost.json

Filters are random `doc_ids` subsets (the kind of filter whose selectivity can be set exactly) and, for
comparison, a `source` glob. Each query runs unfiltered and filtered, interleaved, after a warm-up; the
report gives p50 per selectivity and its ratio to the unfiltered p50.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from askdocs.index import beir  # noqa: E402
from askdocs.index.settings import Settings  # noqa: E402
from askdocs.search import open_index  # noqa: E402
from askdocs.api.evaluate import prepare_index  # noqa: E402
from askdocs.search.models import Question  # noqa: E402

SELECTIVITIES = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("dataset", type=Path)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--mode", default="hybrid")
    parser.add_argument("--out", type=Path, default=Path("bench/results/filter_cost.json"))
    args = parser.parse_args()

    settings = Settings.from_environment(os.environ)
    engine = open_index(prepare_index(args.dataset, settings, None, progress=False).path, settings)
    rng = random.Random(0)
    questions = rng.sample(sorted(beir.load_queries(args.dataset).values()), args.queries)
    doc_ids = engine.stored.doc_ids

    def timed(question: str, filters: dict | None) -> float:
        started = time.perf_counter()
        # Validation is part of the cost a client pays: build the Question as the API does.
        engine.ask(Question(question=question, top_k=10, mode=args.mode, filters=filters))
        return (time.perf_counter() - started) * 1000

    for question in questions[:20]:
        timed(question, None)
    results = []
    for selectivity in SELECTIVITIES:
        subset = rng.sample(doc_ids, max(1, int(len(doc_ids) * selectivity)))
        filters = {"doc_ids": subset} if len(subset) <= 10000 else None
        plain, filtered = [], []
        for i, question in enumerate(questions):
            # Alternate which runs first, so neither side always gets the warmer caches.
            if i % 2:
                plain.append(timed(question, None))
                filtered.append(timed(question, filters))
            else:
                filtered.append(timed(question, filters))
                plain.append(timed(question, None))
        row = {"selectivity": selectivity, "documents": len(subset),
               "p50_unfiltered_ms": round(float(np.percentile(plain, 50)), 2),
               "p50_filtered_ms": round(float(np.percentile(filtered, 50)), 2)}
        row["ratio"] = round(row["p50_filtered_ms"] / row["p50_unfiltered_ms"], 2)
        results.append(row)
        print(json.dumps(row), flush=True)
    glob_times, plain = [], []
    for i, question in enumerate(questions):
        pair = [(glob_times, {"source": "1*"}), (plain, None)]
        for times, filters in pair if i % 2 else reversed(pair):
            times.append(timed(question, filters))
    glob_row = {"filter": "source=1*", "p50_filtered_ms": round(float(np.percentile(glob_times, 50)), 2),
                "p50_unfiltered_ms": round(float(np.percentile(plain, 50)), 2)}
    print(json.dumps(glob_row))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"dataset": args.dataset.name, "mode": args.mode, "queries": len(questions),
                                    "chunks": engine.stored.n_chunks, "by_selectivity": results, "glob": glob_row},
                                   indent=2))


if __name__ == "__main__":
    main()
