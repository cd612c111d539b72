"""The cache of repeated questions: `POST /ask` latency on a miss and on a hit, through a real `askdocs serve`.

    python bench/answer_cache.py                 # SciFact test questions, each asked twice
    python bench/answer_cache.py --queries 100

Starts `askdocs serve` on the SciFact eval index (see bench/latency.py) with the cache on, asks each question
once (a miss: the whole path) and again (a hit), one client, and prints p50/p95/p99 of both as the client sees
them, plus the server's own took_ms for hits. Writes bench/results/answer-cache.json.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import ROOT, SCIFACT, loadavg, machine, write_result  # noqa: E402
from latency import Server, ask, percentiles  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", type=Path, default=SCIFACT)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--out", default="answer-cache.json", help="file name under bench/results/")
    args = parser.parse_args()

    from askdocs.index import beir
    from askdocs.index.settings import Settings
    from askdocs.api.evaluate import prepare_index

    qrels = beir.load_qrels(args.dataset, "test")
    queries = beir.load_queries(args.dataset)
    questions = [queries[q] for q in qrels if q in queries][: args.queries]
    settings = Settings.from_environment(os.environ)
    prepared = prepare_index(args.dataset, settings, None, progress=None)
    logs = ROOT / "var" / "bench"
    logs.mkdir(parents=True, exist_ok=True)
    load_before = loadavg()
    server = Server(prepared.path, settings.runtime, 1, logs / "answer-cache.log", answer_cache=4096)
    try:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            for n in range(args.warmup):  # warm the model and the page cache with questions not measured
                ask(client, f"warm up question number {n}", "hybrid")
            misses = [ask(client, q, "hybrid") for q in questions]
            hits = [ask(client, q, "hybrid") for q in questions]
            server_ms = []
            for q in questions:
                body = client.post("/ask", json={"question": q, "mode": "hybrid", "top_k": 5}).json()
                assert body["cached"], "a repeated question was not answered from the cache"
                server_ms.append(body["took_ms"])
    finally:
        server.stop()
    result = {
        "benchmark": "answer-cache",
        "dataset": args.dataset.resolve().name,
        "questions": len(questions),
        "command": "python bench/answer_cache.py " + " ".join(sys.argv[1:]),
        "client": "httpx, keep-alive, loopback; latency measured by the client around each POST /ask (hybrid, top_k=5)",
        "miss_ms": percentiles(misses),
        "hit_ms": percentiles(hits),
        "hit_server_took_ms": percentiles(server_ms),
        "machine": machine(),
        "loadavg_before": load_before,
        "loadavg_after": loadavg(),
    }
    print(f"miss p50 {result['miss_ms']['p50']} ms, hit p50 {result['hit_ms']['p50']} ms over HTTP "
          f"(server {result['hit_server_took_ms']['p50']} ms)  load {load_before} -> {result['loadavg_after']}")
    print(f"wrote {write_result(args.out, result)}")


if __name__ == "__main__":
    main()
