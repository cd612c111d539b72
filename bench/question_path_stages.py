"""Where one question's CPU goes, in process, for two installs side by side (issue 20).

    python bench/question_path_stages.py --before /tmp/venv-base/bin --queries 300 --rounds 2

Two child processes (``--before``'s Python and this one's) open the SciFact eval index with the answer cache off;
this process hands each SciFact test question to both, one at a time and in a fresh random order per question, so
that neighbours on a shared machine weigh on both alike. Each child times ``Engine.ask_body`` (what `/ask` runs on
its thread: the engine and serialising the response) and within it the embedding, retrieval, choosing the
passages and answer, and the no-answer signals (by wrapping those calls: the same few microseconds in both).
Prints p50 per stage and install, and writes bench/results/question_path_stages.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STAGES = ("total", "evidence", "embed", "retrieve", "choose", "signals", "serialise")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", type=Path, help="bin folder of the install to compare against")
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--index", type=Path, help="default: the SciFact eval index under var/eval")
    parser.add_argument("--out", default="question_path_stages.json")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)  # internal: serve timings for an index
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return
    if args.before is None:
        parser.error("--before is required")
    sys.path.insert(0, str(ROOT / "bench"))
    from common import eval_index, loadavg, machine, write_result
    from askdocs.index import beir

    dataset = ROOT.parent / "shared" / "data" / "scifact"
    index = args.index or eval_index(dataset)
    qrels = beir.load_qrels(dataset, "test")
    queries = beir.load_queries(dataset)
    questions = [queries[q] for q in qrels if q in queries][: args.queries]
    pythons = {"before": args.before.absolute() / "python", "after": Path(sys.executable)}
    children = {name: subprocess.Popen([str(python), __file__, "--child", str(index)], stdin=subprocess.PIPE,
                                       stdout=subprocess.PIPE, text=True, bufsize=1)
                for name, python in pythons.items()}
    for process in children.values():
        if process.stdout.readline().strip() != "ready":
            sys.exit("a child did not start")
    timings = {name: {stage: [] for stage in STAGES} for name in children}
    rng = random.Random(0)
    load_before = loadavg()
    try:
        turns = questions[: args.warmup] + questions * args.rounds
        for n, question in enumerate(turns):
            order = list(children)
            rng.shuffle(order)
            for name in order:
                process = children[name]
                process.stdin.write(json.dumps(question) + "\n")
                measured = json.loads(process.stdout.readline())
                if n >= args.warmup:
                    for stage in STAGES:
                        timings[name][stage].append(measured[stage])
    finally:
        for process in children.values():
            process.stdin.close()
            process.wait()
    load_after = loadavg()
    import numpy as np

    summary = {name: {stage: round(float(np.percentile(values, 50)), 3) for stage, values in stages.items()}
               for name, stages in timings.items()}
    p99 = {name: round(float(np.percentile(stages["total"], 99)), 3) for name, stages in timings.items()}
    # Round 1 meets each question's sentences for the first time; later rounds find them in the text caches
    # (line kinds, keys) of both installs, as a server does for popular passages.
    n = len(questions)
    by_round = {name: [{stage: round(float(np.percentile(stages[stage][r * n:(r + 1) * n], 50)), 3)
                        for stage in ("total", "choose")} for r in range(args.rounds)]
                for name, stages in timings.items()}
    print(f"{len(questions)} SciFact questions x {args.rounds}, load {load_before} -> {load_after}; p50 ms:")
    print(f"{'stage':<10}" + "".join(f"{name:>10}" for name in summary))
    for stage in STAGES:
        print(f"{stage:<10}" + "".join(f"{summary[name][stage]:>10.3f}" for name in summary))
    print(f"{'total p99':<10}" + "".join(f"{p99[name]:>10.3f}" for name in p99))
    for r in range(args.rounds):
        for stage in ("total", "choose"):
            print(f"{stage + ' r' + str(r + 1):<10}" + "".join(f"{by_round[name][r][stage]:>10.3f}" for name in p99))
    write_result(args.out, {"machine": machine(), "load": [load_before, load_after], "index": str(index),
                            "queries": len(questions), "rounds": args.rounds, "p50_ms": summary,
                            "total_p99_ms": p99, "p50_ms_by_round": by_round})


def child(index: Path) -> None:
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
    from askdocs.index.settings import Settings
    from askdocs.search import engine as engine_module
    from askdocs.search import open_index
    from askdocs.search.models import Question

    engine = open_index(index, Settings(answer_cache=0))
    spent: dict[str, float] = {}

    def timed(stage, call):
        def wrapper(*a, **k):
            started = time.perf_counter()
            try:
                return call(*a, **k)
            finally:
                spent[stage] = spent.get(stage, 0.0) + time.perf_counter() - started
        return wrapper

    engine.embedder.encode_queries = timed("embed", engine.embedder.encode_queries)
    engine._retrieve = timed("retrieve", engine._retrieve)
    engine.evidence = timed("evidence", engine.evidence)
    engine_module.choose_passages = timed("choose", engine_module.choose_passages)
    engine_module.no_answer_signals = timed("signals", engine_module.no_answer_signals)
    print("ready", flush=True)
    for line in sys.stdin:
        spent.clear()
        started = time.perf_counter()
        engine.ask_body(Question(question=json.loads(line)))
        spent["total"] = time.perf_counter() - started
        spent["serialise"] = spent["total"] - spent["evidence"]
        print(json.dumps({stage: spent.get(stage, 0.0) * 1000 for stage in STAGES}), flush=True)
    engine.close()


if __name__ == "__main__":
    main()
