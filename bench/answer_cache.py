"""The cache of repeated questions: `POST /ask` latency on a miss and on a hit, through a real `askdocs serve`.

    python bench/answer_cache.py                 # SciFact test questions, each asked twice
    python bench/answer_cache.py --queries 100
    python bench/answer_cache.py --queries 300 --index var/eval/scifact-…   # serve this index instead

Starts `askdocs serve` on the SciFact eval index (see bench/latency.py) with the cache on, asks each question
once (a miss: the whole path) and again (a hit), one client, and prints p50/p95/p99 of both as the client sees
them, plus the server's own took_ms for hits. The floor beside it, in the same run: a trivial FastAPI app on
uvicorn in its own process whose `POST /ask` reads the body and returns a fixed JSON body as long as a hit's;
each hit is followed by one request to it, so load hits both alike. A hit cannot cost less than that over HTTP
on this machine. Writes bench/results/answer-cache.json.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from fastapi import FastAPI, Request, Response

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import ROOT, SCIFACT, free_port, loadavg, machine, write_result  # noqa: E402
from latency import Server, ask, percentiles  # noqa: E402


def serve_floor(port: int, body_file: Path) -> None:
    """The trivial endpoint: FastAPI routing and uvicorn's HTTP, nothing else."""
    import uvicorn

    app = FastAPI()
    body = body_file.read_bytes()

    @app.post("/ask")
    async def trivial(request: Request) -> Response:
        await request.body()
        return Response(body, media_type="application/json")

    # h11, as `askdocs serve` runs (api/http_protocol.py): uvicorn would take httptools where it is installed.
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False, http="h11")


class FloorServer:
    def __init__(self, body: bytes):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._body = tempfile.NamedTemporaryFile(suffix=".json")
        self._body.write(body)
        self._body.flush()
        self.process = subprocess.Popen([sys.executable, __file__, "--floor-port", str(self.port),
                                         "--floor-body", self._body.name])
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.post(self.url + "/ask", json={}, timeout=2)
                return
            except httpx.TransportError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the trivial FastAPI server did not start") from None
                time.sleep(0.1)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=20)
        self._body.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", type=Path, default=SCIFACT)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--index", type=Path, default=None,
                        help="index folder to serve (default: the eval index of --dataset, built if missing)")
    parser.add_argument("--out", default="answer-cache.json", help="file name under bench/results/")
    parser.add_argument("--floor-port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--floor-body", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.floor_port:
        serve_floor(args.floor_port, args.floor_body)
        return

    from askdocs.index import beir
    from askdocs.index.settings import Settings
    from askdocs.api.evaluate import prepare_index

    qrels = beir.load_qrels(args.dataset, "test")
    queries = beir.load_queries(args.dataset)
    questions = [queries[q] for q in qrels if q in queries][: args.queries]
    settings = Settings.from_environment(os.environ)
    index = args.index or prepare_index(args.dataset, settings, None, progress=None).path
    logs = ROOT / "var" / "bench"
    logs.mkdir(parents=True, exist_ok=True)
    load_before = loadavg()
    server = Server(index, settings.runtime, 1, logs / "answer-cache.log", answer_cache=4096)
    try:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            for n in range(args.warmup):  # warm the model and the page cache with questions not measured
                ask(client, f"warm up question number {n}", "hybrid")
            misses = [ask(client, q, "hybrid") for q in questions]
            hit_body = client.post("/ask", json={"question": questions[0], "mode": "hybrid", "top_k": 5}).content
            floor = FloorServer(hit_body)
            hits, floor_ms = [], []
            try:
                with httpx.Client(base_url=floor.url, timeout=60) as bare:
                    for q in questions[: args.warmup]:
                        ask(bare, q, "hybrid")
                    for q in questions:  # alternated, so load hits both alike
                        hits.append(ask(client, q, "hybrid"))
                        floor_ms.append(ask(bare, q, "hybrid"))
            finally:
                floor.stop()
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
        "floor_trivial_fastapi_ms": percentiles(floor_ms),
        "hit_bytes": len(hit_body),
        "machine": machine(),
        "loadavg_before": load_before,
        "loadavg_after": loadavg(),
    }
    print(f"miss p50 {result['miss_ms']['p50']} ms, hit p50 {result['hit_ms']['p50']} ms over HTTP "
          f"(server {result['hit_server_took_ms']['p50']} ms); trivial FastAPI endpoint p50 "
          f"{result['floor_trivial_fastapi_ms']['p50']} ms  load {load_before} -> {result['loadavg_after']}")
    print(f"wrote {write_result(args.out, result)}")


if __name__ == "__main__":
    main()
