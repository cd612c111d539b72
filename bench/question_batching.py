"""Would embedding several questions in one model call raise throughput? The shipped question model, one thread,
questions alone against batches of 2, 4 and 8 (padded to the longest, mean-pooled over the mask).

    python bench/question_batching.py                     # 400 SciFact questions, 2 rounds

Prints per batch size the milliseconds a question (best of the rounds) and the lowest cosine of a batched vector
to the same question's lone vector (batching is only safe if the vectors do not move), and writes
bench/results/question-batching.json.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import SCIFACT, loadavg, machine, write_result  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--questions", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--batch-sizes", default="1,2,4,8")
    parser.add_argument("--out", default="question-batching.json")
    args = parser.parse_args()
    from askdocs.index import beir
    from askdocs.index.embedder import Embedder, _mean_pool

    embedder = Embedder("all-MiniLM-L6-v2", runtime="onnx", threads=1).load()
    run = embedder._run_question  # the session /ask embeds questions with
    queries = beir.load_queries(SCIFACT)
    encodings = embedder.tokenizer.encode([queries[q] for q in sorted(queries)][: args.questions])

    def embed(batch) -> np.ndarray:
        # Padded and pooled as a build's batches are (Embedder.encode), through the question session.
        ids, mask, types, _ = embedder.tokenizer.pad(batch)
        return _mean_pool(run(ids, mask, types), mask)

    alone = np.concatenate([embed([e]) for e in encodings])
    load_before = loadavg()
    rows = []
    for size in map(int, args.batch_sizes.split(",")):
        best = float("inf")
        for _ in range(args.rounds):
            started = time.perf_counter()
            vectors = np.concatenate([embed(encodings[i: i + size]) for i in range(0, len(encodings), size)])
            best = min(best, (time.perf_counter() - started) * 1000 / len(encodings))
        cosine = float((vectors * alone).sum(axis=1).min())
        rows.append({"batch": size, "ms_per_question": round(best, 3), "min_cosine_to_alone": round(cosine, 6)})
        print(f"batch {size}: {best:.2f} ms a question, lowest cosine to the lone vector {cosine:.6f}", flush=True)
    path = write_result(args.out, {"benchmark": "question-batching", "questions": len(encodings), "rounds": args.rounds,
                                   "rows": rows, "loadavg_before": load_before, "loadavg_after": loadavg(),
                                   "machine": machine(), "command": "python bench/question_batching.py"})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
