"""The embedding model alone, per runtime: passages per second by thread count and batch size, and one question.

    python bench/embed_speed.py                      # 128 SciFact passages, 3 alternating rounds, medians
    python bench/embed_speed.py --passages 64 --rounds 2
    python bench/embed_speed.py --runtimes torch-bf16 --threads 2 --batch-sizes 8,16,32,64

Runtimes: onnx (the int8 file), torch-fp32, torch-bf16 (autocast; see ASKDOCS_PRECISION).

Isolates what bench/build_speed.py measures end to end (a whole build) and what the query path pays per
question, so the two backends can be compared in a couple of minutes. Passages are SciFact documents
(title, blank line, abstract) cut at the model's 256-token window, sorted by length as a build sorts them.
Writes bench/results/embed_speed.json.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import SCIFACT, loadavg, machine, median, write_result  # noqa: E402

MODEL = "all-MiniLM-L6-v2"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", type=Path, default=SCIFACT)
    parser.add_argument("--passages", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--batch-sizes", default="8,16,32")
    parser.add_argument("--runtimes", default="onnx,torch-fp32,torch-bf16")
    parser.add_argument("--questions", type=int, default=200, help="single-question encodes per backend and round")
    parser.add_argument("--out", default="embed_speed.json")
    args = parser.parse_args()

    from askdocs.index.embedder import load_embedder

    with open(args.dataset / "corpus.jsonl") as handle:
        records = [json.loads(line) for line in itertools.islice(handle, args.passages)]
    passages = sorted((f"{r['title']}\n\n{r['text']}" for r in records), key=len, reverse=True)
    with open(args.dataset / "queries.jsonl") as handle:
        questions = [json.loads(line)["text"] for line in itertools.islice(handle, args.questions)]

    threads = [int(t) for t in args.threads.split(",")]
    sizes = [int(b) for b in args.batch_sizes.split(",")]
    runtimes = args.runtimes.split(",")

    def load(runtime: str, n_threads: int):
        backend, _, precision = runtime.partition("-")
        return load_embedder(MODEL, backend, threads=n_threads, precision=precision or "fp32")

    embedders = {(r, t): load(r, t) for r in runtimes for t in threads}
    passage_runs: dict[tuple, list[tuple[float, float]]] = {}
    question_runs: dict[str, list[float]] = {r: [] for r in runtimes}
    for round_number in range(args.rounds):
        for (backend, n_threads), embedder in embedders.items():
            for size in sizes:
                wall, cpu = time.perf_counter(), time.process_time()
                embedder.encode(passages, batch_size=size)
                wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
                passage_runs.setdefault((backend, n_threads, size), []).append((len(passages) / wall, cpu / wall))
        for backend in runtimes:
            embedder = embedders[(backend, 1)] if (backend, 1) in embedders else load(backend, 1)
            for text in questions[:10]:
                embedder.encode_queries([text])
            for text in questions:
                t0 = time.perf_counter()
                embedder.encode_queries([text])
                question_runs[backend].append((time.perf_counter() - t0) * 1000)
        print(f"round {round_number} done (load {loadavg()})", flush=True)

    rows = []
    for (backend, n_threads, size), values in sorted(passage_runs.items()):
        row = {"runtime": backend, "threads": n_threads, "batch_size": size,
               "passages_per_s": round(median([v[0] for v in values]), 1),
               "cores_busy": round(median([v[1] for v in values]), 2)}
        rows.append(row)
        print(f"{backend:10} threads {n_threads} batch {size:3}: {row['passages_per_s']:6.1f} passages/s "
              f"({row['cores_busy']} cores busy)")
    one_question = {}
    for backend, values in question_runs.items():
        one_question[backend] = {"p50_ms": round(float(np.percentile(values, 50)), 2),
                                 "p95_ms": round(float(np.percentile(values, 95)), 2)}
        print(f"{backend:10} one question, 1 thread: p50 {one_question[backend]['p50_ms']} ms, "
              f"p95 {one_question[backend]['p95_ms']} ms")
    result = {"benchmark": "embed_speed", "command": "python bench/embed_speed.py " + " ".join(sys.argv[1:]),
              "passages": len(passages), "machine": machine(), "passage_throughput": rows,
              "one_question": one_question, "cpu_count": os.cpu_count()}
    print(f"wrote {write_result(args.out, result)}")


if __name__ == "__main__":
    main()
