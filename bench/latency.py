"""`POST /ask` latency and throughput through a real `askdocs serve`, on the SciFact index.

    python bench/latency.py                                  # configured runtime, 1 and 2 query threads
    python bench/latency.py --runtimes auto,torch --threads 1,2  # one torch-built index, onnx vs torch queries
    python bench/latency.py --queries 100 --duration 10      # shorter

For each embedding runtime and query-thread count it starts `askdocs serve` on a free loopback port, warms it up,
then measures, from the client side:

- one client, one request at a time: p50/p95/p99 per mode over the SciFact test questions;
- 8 concurrent clients (hybrid): requests per second and latency percentiles over a fixed duration;
- the server's peak RSS (VmHWM) at the end.

The index is the one `askdocs eval ../shared/data/scifact` builds (reused when present; built otherwise,
which takes minutes). Writes bench/results/latency.json.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import BIN, ROOT, SCIFACT, free_port, loadavg, machine, write_result  # noqa: E402


def percentiles(values_ms: list[float]) -> dict:
    values = np.array(values_ms)
    return {"n": len(values), **{f"p{p}": round(float(np.percentile(values, p)), 2) for p in (50, 95, 99)},
            "mean": round(float(values.mean()), 2)}


class Server:
    def __init__(self, index: Path, runtime: str, threads: int, log: Path, answer_cache: int = 0,
                 bin_dir: Path = BIN):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(log, "w")
        # The cache of repeated questions is off unless asked for: these numbers are the whole question path
        # (the questions repeat across modes and clients; bench/answer_cache.py measures hits).
        env = {**os.environ, "ASKDOCS_QUERY_THREADS": str(threads), "ASKDOCS_ANSWER_CACHE": str(answer_cache)}
        self.process = subprocess.Popen(
            [str(bin_dir / "askdocs"), "serve", "--index", str(index), "--runtime", runtime, "--port", str(self.port)],
            stdout=self.log, stderr=subprocess.STDOUT, env=env, cwd=ROOT,
        )
        started = time.monotonic()
        while time.monotonic() - started < 180:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}; see {log}")
            try:
                if httpx.get(self.url + "/health", timeout=2).status_code == 200:
                    self.startup_s = round(time.monotonic() - started, 2)
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"server did not become healthy in 180 s; see {log}")

    def peak_rss_mb(self) -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
        raise RuntimeError("no VmHWM")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


def ask(client: httpx.Client, question: str, mode: str) -> float:
    # "search": the search path, passages only (POST /tools/search_documents, hybrid): no answer sentence chosen.
    started = time.perf_counter()
    if mode == "search":
        response = client.post("/tools/search_documents", json={"query": question, "mode": "hybrid", "top_k": 5})
    else:
        response = client.post("/ask", json={"question": question, "mode": mode, "top_k": 5})
    elapsed = (time.perf_counter() - started) * 1000
    response.raise_for_status()
    return elapsed


def one_client(url: str, questions: list[str], modes: list[str], warmup: int) -> dict:
    with httpx.Client(base_url=url, timeout=60) as client:
        for question in questions[:warmup]:
            for mode in modes:
                ask(client, question, mode)
        results = {}
        for mode in modes:
            results[mode] = percentiles([ask(client, q, mode) for q in questions])
    return results


def concurrent(url: str, questions: list[str], mode: str, clients: int, duration: float) -> dict:
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors = []
    stop_at = time.perf_counter() + duration

    def worker(slot: int) -> None:
        try:
            with httpx.Client(base_url=url, timeout=60) as client:
                i = slot * 37  # each client walks the questions from its own place
                while time.perf_counter() < stop_at:
                    latencies[slot].append(ask(client, questions[i % len(questions)], mode))
                    i += 1
        except Exception as exc:  # reported, not raised: one failed client must not hide the others' numbers
            errors.append(repr(exc))

    threads = [threading.Thread(target=worker, args=(slot,)) for slot in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(duration + 120)
    elapsed = time.perf_counter() - started
    everything = [v for per in latencies for v in per]
    return {"clients": clients, "mode": mode, "seconds": round(elapsed, 2), "requests": len(everything),
            "requests_per_s": round(len(everything) / elapsed, 1), "latency_ms": percentiles(everything),
            "errors": errors[:5]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", type=Path, default=SCIFACT)
    parser.add_argument("--runtimes", "--backends", dest="runtimes", default=None,
                        help="embedding runtimes, comma-separated [default: the configured runtime]; --backends is "
                        "the deprecated name")
    parser.add_argument("--threads", default="1,2", help="query intra-op thread counts to compare")
    parser.add_argument("--modes", default="hybrid,dense,bm25", help="of /ask; 'search' adds the search path "
                        "(POST /tools/search_documents, hybrid, passages only)")
    parser.add_argument("--queries", type=int, default=300, help="SciFact test questions per mode")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--duration", type=float, default=20, help="seconds of concurrent load")
    parser.add_argument("--out", default="latency.json", help="file name under bench/results/")
    args = parser.parse_args()

    from askdocs.index import beir
    from askdocs.index.settings import Settings
    from askdocs.api.evaluate import prepare_index

    if "--backends" in sys.argv:
        print("bench/latency.py: --backends is deprecated, use --runtimes", file=sys.stderr)
    runtimes = args.runtimes.split(",") if args.runtimes else [Settings.from_environment(os.environ).runtime]
    qrels = beir.load_qrels(args.dataset, "test")
    all_queries = beir.load_queries(args.dataset)
    questions = [all_queries[q] for q in qrels if q in all_queries][: args.queries]
    modes = args.modes.split(",")
    logs = ROOT / "var" / "bench"
    logs.mkdir(parents=True, exist_ok=True)

    configs = []
    for runtime in runtimes:
        # Each runtime queries the index it builds itself (the eval index; built here if missing).
        prepared = prepare_index(args.dataset, Settings(runtime=runtime), None, progress=None)
        for threads in map(int, args.threads.split(",")):
            load_before = loadavg()
            server = Server(prepared.path, runtime, threads, logs / f"latency-{runtime}-{threads}.log")
            try:
                single = one_client(server.url, questions, modes, args.warmup)
                load = concurrent(server.url, questions, "hybrid", args.clients, args.duration)
                rss = server.peak_rss_mb()
            finally:
                server.stop()
            settings = Settings(runtime=runtime)
            config = {"runtime": runtime, "build_runtime": settings.build_runtime,
                      "query_runtime": settings.query_runtime, "query_threads": threads, "index": str(prepared.path),
                      "startup_s": server.startup_s, "one_client_ms": single, "concurrent": load,
                      "server_peak_rss_mb": rss, "loadavg_before": load_before, "loadavg_after": loadavg()}
            configs.append(config)
            print(f"{runtime} threads={threads}: " + "  ".join(
                f"{m} p50 {single[m]['p50']:.1f} p95 {single[m]['p95']:.1f} p99 {single[m]['p99']:.1f} ms"
                for m in modes
            ) + f"  | {args.clients} clients hybrid {load['requests_per_s']} req/s "
                f"(p50 {load['latency_ms']['p50']:.1f} ms)  | peak RSS {rss:.0f} MB  "
                f"(load {load_before} -> {config['loadavg_after']})", flush=True)

    result = {
        "benchmark": "latency",
        "dataset": args.dataset.resolve().name,
        "questions": len(questions),
        "command": "python bench/latency.py " + " ".join(sys.argv[1:]),
        "client": "httpx, keep-alive, loopback; latency measured by the client around each POST /ask (top_k=5)",
        "machine": machine(),
        "configs": configs,
    }
    print(f"wrote {write_result(args.out, result)}")


if __name__ == "__main__":
    main()
