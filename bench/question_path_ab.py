"""The question path of two code trees side by side: `POST /ask` and the search path, requests alternating.

    python bench/question_path_ab.py --before /tmp/venv-base/bin          # another install's askdocs vs this one
    python bench/question_path_ab.py --before /tmp/venv-base/bin --queries 150 --rounds 2

The code is installed (import name askdocs), so "before" is another install: a venv with the base checkout
installed editable (docs/development.md), given as its bin folder, as bench/startup.py --compare takes it.

On a machine shared with other jobs, two bench/latency.py runs minutes apart measure the neighbours as much as
the code. Here three `askdocs serve` processes run at once on the SciFact eval index (the install at --before,
this one, and this tree with the answer scorer off), and every question goes to each of them in a fresh
random order, one client, one request at a time: /ask hybrid, then the search path
(POST /tools/search_documents, hybrid, passages only). In the same shuffled turns this process embeds the
question itself, through the shipped question path (Embedder.encode_queries) and through a bare session of
the published int8 file, so the question path is reported relative to the embedding measured alongside it.
Writes bench/results/question_path_ab.json.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import BIN, ROOT, SCIFACT, loadavg, machine, write_result
from latency import Server, ask, percentiles


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", type=Path, required=True,
                        help="bin folder of another install of askdocs (a venv) to compare against")
    parser.add_argument("--dataset", type=Path, default=SCIFACT)
    parser.add_argument("--queries", type=int, default=150)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--out", default="question_path_ab.json")
    args = parser.parse_args()

    from askdocs.index import beir
    from askdocs.index.settings import Settings
    from askdocs.api.evaluate import prepare_index

    qrels = beir.load_qrels(args.dataset, "test")
    queries = beir.load_queries(args.dataset)
    questions = [queries[q] for q in qrels if q in queries][: args.queries]
    index = prepare_index(args.dataset, Settings(), None, progress=None).path
    logs = ROOT / "var" / "bench"
    logs.mkdir(parents=True, exist_ok=True)
    trees = {"before": (args.before.absolute(), "on"), "after": (BIN, "on"), "after-scorer-off": (BIN, "off")}
    servers = {}
    saved = os.environ.get("ASKDOCS_ANSWER_SCORER")
    try:
        for name, (bin_dir, scorer) in trees.items():
            os.environ["ASKDOCS_ANSWER_SCORER"] = scorer
            servers[name] = Server(index, "auto", 1, logs / f"question-path-{name}.log", bin_dir=bin_dir)
    finally:
        os.environ.pop("ASKDOCS_ANSWER_SCORER", None) if saved is None else os.environ.__setitem__(
            "ASKDOCS_ANSWER_SCORER", saved)
    clients = {name: httpx.Client(base_url=server.url, timeout=60) for name, server in servers.items()}
    timings = {(name, mode): [] for name in servers for mode in ("hybrid", "search")}
    # The embedding alone, in this process, in the same shuffled turns: what the question path is compared to.
    embed = _embedders()
    for name in embed:
        timings[(name, "embed")] = []
    load_before = loadavg()
    try:
        for question in questions[: args.warmup]:
            for name, client in clients.items():
                ask(client, question, "hybrid")
                ask(client, question, "search")
            for call in embed.values():
                call(question)
        order = list(clients) + list(embed)
        shuffle = np.random.default_rng(20)
        for _ in range(args.rounds):
            for question in questions:
                shuffle.shuffle(order)
                for name in order:
                    if name in embed:
                        started = time.perf_counter()
                        embed[name](question)
                        timings[(name, "embed")].append((time.perf_counter() - started) * 1000)
                        continue
                    for mode in ("hybrid", "search"):
                        timings[(name, mode)].append(ask(clients[name], question, mode))
        rss = {name: server.peak_rss_mb() for name, server in servers.items()}
    finally:
        for client in clients.values():
            client.close()
        for server in servers.values():
            server.stop()
    result = {"benchmark": "question_path_ab", "command": "python bench/question_path_ab.py " + " ".join(sys.argv[1:]),
              "machine": machine(), "loadavg_before": load_before, "loadavg_after": loadavg(),
              "questions": len(questions), "rounds": args.rounds, "index": str(index),
              "servers": {name: {"bin": str(trees[name][0]), "answer_scorer": trees[name][1],
                                 "ask_hybrid_ms": percentiles(timings[(name, "hybrid")]),
                                 "search_ms": percentiles(timings[(name, "search")]), "peak_rss_mb": rss[name]}
                          for name in servers},
              "embedding_ms": {name: percentiles(timings[(name, "embed")]) for name in embed}}
    print(f"load {load_before} -> {result['loadavg_after']}; {len(questions)} questions x {args.rounds} rounds")
    for name, row in result["servers"].items():
        ask_ms, search_ms = row["ask_hybrid_ms"], row["search_ms"]
        print(f"{name:17s} /ask p50 {ask_ms['p50']:6.2f} p99 {ask_ms['p99']:6.2f} ms   "
              f"search p50 {search_ms['p50']:6.2f} p99 {search_ms['p99']:6.2f} ms   RSS {row['peak_rss_mb']:.0f} MB")
    shipped = result["embedding_ms"]["shipped"]["p50"]
    for name, row in result["embedding_ms"].items():
        print(f"embedding {name:8s} p50 {row['p50']:6.2f} p99 {row['p99']:6.2f} ms")
    after = result["servers"]["after"]
    print(f"after / shipped embedding p50: /ask {after['ask_hybrid_ms']['p50'] / shipped:.2f}x, "
          f"search {after['search_ms']['p50'] / shipped:.2f}x")
    print(f"wrote {write_result(args.out, result)}")


def _embedders() -> dict:
    """One question embedded in this process: the shipped path, and the bare session of the published file."""
    import onnxruntime as ort

    from askdocs.index.embedder import load_embedder
    from askdocs.index.runtime_onnx import minilm_int8_path

    shipped = load_embedder("all-MiniLM-L6-v2", "onnx", threads=1).load()
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    bare = ort.InferenceSession(minilm_int8_path(), sess_options=options, providers=["CPUExecutionProvider"])
    tokenizer = shipped.tokenizer

    def run_bare(question: str) -> None:
        ids = np.array([tokenizer.encode([question])[0].ids], dtype=np.int64)
        bare.run(None, {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)})

    return {"shipped": lambda question: shipped.encode_queries([question]), "bare": run_bare}


if __name__ == "__main__":
    main()
