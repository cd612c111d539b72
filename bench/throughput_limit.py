"""What this machine allows for issue 20's throughput targets (search ≥ 400 req/s, /ask ≥ 250 req/s, 8 clients):
the limit beside askdocs, measured in one run.

    python bench/throughput_limit.py                      # SciFact eval index, ~2 minutes
    python bench/throughput_limit.py --seconds 20 --index var/eval/scifact-<key>

Three ceilings, each with every core busy and nothing else of askdocs running:

1. **The HTTP floor**: bench/answer_cache.py's trivial FastAPI endpoint on uvicorn (h11, as `askdocs serve` runs
   it) whose `POST /ask` reads the body and returns a fixed 8 kB JSON body, loaded by the same client as bench/load.py (8 threads, one
   httpx keep-alive client each, in this process). Its req/s is what HTTP alone allows on these cores, clients
   included; its CPU per request (cores x seconds / requests) is what every askdocs request pays on top of its
   own work.
2. **The question path without HTTP**: one process per core, each answering distinct SciFact questions in a loop
   with the answer cache off: the question embedding alone (`Embedder.encode_queries`), the search path
   (`Engine.search`, what `search_documents` runs, plus serialising its response) and `/ask`
   (`Engine.ask_body`). CPU per question is each process's CPU time over its questions.
3. **The bound for askdocs over HTTP**: cores / (floor CPU + path CPU) per request, the throughput if the two added
   and nothing else ran (no mid-run rebuild, no scheduler loss). It is an upper bound: a measured run can only be
   below it.

Prints the table and writes bench/results/throughput-limit.json (``--out``).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from answer_cache import FloorServer  # noqa: E402
from common import SCIFACT, eval_index, loadavg, machine, write_result  # noqa: E402

TARGETS = {"search": 400.0, "ask": 250.0}
PATHS = ("embed", "search", "ask")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", type=Path, help="default: the SciFact eval index under var/eval")
    parser.add_argument("--seconds", type=float, default=15.0, help="length of each measured phase")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--out", default="throughput-limit.json")
    parser.add_argument("--child", nargs=2, metavar=("PATH", "INDEX"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], Path(args.child[1]), args.seconds)
        return
    cores = os.cpu_count() or 1
    index = args.index or eval_index(SCIFACT)
    load_before = loadavg()
    floor = http_floor(args.clients, args.seconds, cores)
    print(f"HTTP floor: {floor['rps']:.0f} req/s, {floor['cpu_ms']:.2f} ms CPU a request (clients included)",
          flush=True)
    paths = {path: in_process(path, index, args.seconds, cores) for path in PATHS}
    rows = []
    for path in PATHS:
        cpu_ms = paths[path]["cpu_ms"]
        row = {"path": path, "in_process_rps": paths[path]["rps"], "cpu_ms_per_question": cpu_ms,
               "bound_over_http_rps": round(cores * 1000 / (cpu_ms + floor["cpu_ms"]), 1)}
        if path in TARGETS:
            row["target_rps"] = TARGETS[path]
            # Milliseconds of CPU a request may take for the target to fit on these cores, HTTP included.
            row["cpu_budget_ms"] = round(cores * 1000 / TARGETS[path], 2)
        rows.append(row)
    result = {"benchmark": "throughput-limit", "index": str(index), "cores": cores, "seconds": args.seconds,
              "http_floor": floor, "paths": rows, "loadavg_before": load_before, "loadavg_after": loadavg(),
              "machine": machine(), "command": "python bench/throughput_limit.py " + " ".join(sys.argv[1:])}
    print(f"{'path':8} {'in process':>12} {'CPU ms/q':>9} {'bound over HTTP':>16} {'target':>8} {'CPU budget':>11}")
    for row in rows:
        print(f"{row['path']:8} {row['in_process_rps']:>8.0f} r/s {row['cpu_ms_per_question']:>9.2f} "
              f"{row['bound_over_http_rps']:>12.0f} r/s {row.get('target_rps', ''):>8} "
              f"{row.get('cpu_budget_ms', ''):>8} ms")
    print(f"load {load_before} -> {result['loadavg_after']}; wrote {write_result(args.out, result)}")


def http_floor(clients: int, seconds: float, cores: int) -> dict:
    floor = FloorServer(b'{"answer": "' + b"x" * 8000 + b'"}')  # bench/answer_cache.py's trivial endpoint
    try:
        counts = [0] * clients
        stop = threading.Event()
        body = {"question": "Which G7 country voted in favour of the UN resolution?", "top_k": 5, "mode": "hybrid"}

        def client(number: int) -> None:
            with httpx.Client(base_url=floor.url, timeout=30) as http:
                while not stop.is_set():
                    http.post("/ask", json=body).raise_for_status()
                    counts[number] += 1

        threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
        started, cpu_started = time.perf_counter(), _cpu_seconds([os.getpid(), floor.process.pid])
        for thread in threads:
            thread.start()
        time.sleep(seconds)
        stop.set()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - started
        cpu = _cpu_seconds([os.getpid(), floor.process.pid]) - cpu_started
    finally:
        floor.stop()
    requests = sum(counts)
    return {"rps": round(requests / elapsed, 1), "requests": requests, "clients": clients,
            # CPU both sides used (client threads in this process, the server), per request
            "cpu_ms": round(cpu * 1000 / requests, 3), "cpu_busy_cores": round(cpu / elapsed, 2)}


def _cpu_seconds(pids: list[int]) -> float:
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / tick  # utime + stime
    return total


def in_process(path: str, index: Path, seconds: float, cores: int) -> dict:
    """``cores`` children, each looping over its own share of the questions for ``seconds``."""
    env = {**os.environ, "ASKDOCS_ANSWER_CACHE": "0", "ASKDOCS_QUERY_THREADS": "1"}
    children = [subprocess.Popen([sys.executable, __file__, "--child", path, str(index), "--seconds", str(seconds)],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
                for _ in range(cores)]
    for process in children:  # loaded; then all start together
        if process.stdout.readline().strip() != "ready":
            sys.exit(f"a {path} child did not start")
    for number, process in enumerate(children):
        process.stdin.write(f"{number} {cores}\n")
        process.stdin.flush()
    results = [json.loads(process.stdout.readline()) for process in children]
    for process in children:
        process.wait()
    questions = sum(r["questions"] for r in results)
    return {"rps": round(sum(r["questions"] / r["seconds"] for r in results), 1), "questions": questions,
            "cpu_ms": round(sum(r["cpu_s"] for r in results) * 1000 / questions, 3)}


def child(path: str, index: Path, seconds: float) -> None:
    from askdocs.index import beir
    from askdocs.index.settings import Settings
    from askdocs.search import open_index
    from askdocs.search.models import Question, SearchResponse

    engine = open_index(index, Settings.from_environment(os.environ))
    queries = beir.load_queries(SCIFACT)
    texts = [queries[q] for q in sorted(queries)]
    run = {
        "embed": lambda q: engine.embedder.encode_queries([q]),
        "search": lambda q: SearchResponse(query=q, mode="hybrid",
                                           passages=engine.search(q, 5, "hybrid")).model_dump_json(),
        "ask": lambda q: engine.ask_body(Question(question=q)),
    }[path]
    for question in texts[:5]:  # warm
        run(question)
    print("ready", flush=True)
    number, of = map(int, sys.stdin.readline().split())
    mine = texts[number::of]
    random.Random(number).shuffle(mine)
    done = 0
    started, cpu_started = time.perf_counter(), time.process_time()
    while time.perf_counter() - started < seconds:
        run(mine[done % len(mine)])
        done += 1
    print(json.dumps({"questions": done, "seconds": time.perf_counter() - started,
                      "cpu_s": time.process_time() - cpu_started}), flush=True)
    engine.close()


if __name__ == "__main__":
    main()
