"""Load test: concurrent clients asking a real `askdocs serve`, with a hot reload in the middle.

Serves a copy of the given index on a free loopback port (the index itself is never changed), runs
CLIENTS threads that POST /ask in turn in hybrid, dense and bm25 mode for DURATION seconds, and halfway
through publishes a new generation with an incremental build of the same corpus plus one small document (one to
embed: the server must still open, check and swap in a whole new generation), then POSTs /admin/reload.
Every request carries an API key, so the key check is under load too. Prints a summary and writes JSON;
exits 1 if any request failed or the reload did not happen.

    python bench/load.py --index var/eval/scifact-<key> --corpus ../shared/data/scifact   # 16 clients, 60 s
    python bench/load.py --index var/index --corpus seeds --clients 4 --duration 5         # a quick run

Bounded: loopback only, at most --max-requests requests, and the run stops at DURATION (or, if the
reload is still under way then, when it ends, and in any case by DURATION + --reload-timeout).
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from askdocs.index.store import CURRENT, GENERATIONS, read_current

MODES = ("hybrid", "dense", "bm25")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", type=Path, required=True, help="Index folder to serve (a copy is served).")
    parser.add_argument("--corpus", type=Path, nargs="*", default=None,
                        help="What the index was built from, for the mid-run rebuild: folders/files, or a BEIR "
                             "folder (corpus.jsonl) [default: the paths the index records].")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--duration", type=float, default=60.0, help="Seconds of load.")
    parser.add_argument("--reload", choices=("rebuild", "none"), default="rebuild")
    parser.add_argument("--reload-at", type=float, default=0.25, help="When to rebuild, as a fraction of DURATION.")
    parser.add_argument("--reload-timeout", type=float, default=600.0)
    parser.add_argument("--max-requests", type=int, default=200_000)
    parser.add_argument("--questions", type=Path, help="jsonl with a 'text' field per line, or one question a line.")
    parser.add_argument("--embedding-cache", type=Path,
                        help="An embedding cache holding the corpus's vectors (e.g. var/eval/embedding-cache.sqlite "
                             "for an eval index), copied beside the served copy for the mid-run rebuild: without it "
                             "a rebuild of an index the eval built re-embeds every chunk.")
    parser.add_argument("--workers", type=int, default=1, help="askdocs serve --workers N.")
    parser.add_argument("--endpoint", choices=("ask", "search"), default="ask",
                        help="ask: POST /ask; search: the search path, POST /tools/search_documents (passages only).")
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES), help="Modes asked in turn.")
    parser.add_argument("--json", type=Path, help="Where to write the results [default: bench/results/load-<index>.json].")
    args = parser.parse_args()

    current = read_current(args.index)
    if current is None:
        sys.exit(f"no index at {args.index}: build one first")
    corpus = args.corpus or [Path(s) for s in current[1].sources if not s.startswith("beir:")]
    if args.reload == "rebuild" and not corpus:
        sys.exit(f"{args.index} was not built from folders it records; pass --corpus")
    questions = _questions(args.questions, corpus, current[0])

    workdir = Path(tempfile.mkdtemp(prefix="askdocs-load-", dir=ROOT / "var" if (ROOT / "var").is_dir() else None))
    try:
        index = _copy_current(args.index, workdir / "index")
        if args.embedding_cache is not None:
            shutil.copyfile(args.embedding_cache, index / "embedding-cache.sqlite")
        result = _run(args, index, corpus, questions)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    out = args.json or ROOT / "bench" / "results" / f"load-{args.index.resolve().name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    _print(result, out)
    ok = result["failed"] == 0 and (args.reload == "none" or result["reload"]["swapped"])
    return 0 if ok else 1


def _run(args, index: Path, corpus: list[Path], questions: list[str]) -> dict:
    key = secrets.token_urlsafe(24)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASKDOCS_API_KEYS")}
    log = open(index.parent / "serve.log", "w+")
    server = subprocess.Popen(
        [*_askdocs(), "serve", "--index", str(index), "--host", "127.0.0.1", "--port", str(port),
         "--workers", str(args.workers)],
        stdout=log, stderr=subprocess.STDOUT, env={**env, "ASKDOCS_API_KEYS": key, "ASKDOCS_ANSWER_CACHE": "0"},
    )
    rebuilder = _start_rebuilder(index, corpus) if args.reload == "rebuild" else None
    try:
        _wait_until_up(url, server, log)
        _wait_for_workers(url, args.workers, server)
        if rebuilder is not None and rebuilder.stdout.readline().strip() != "ready":
            raise RuntimeError("the rebuild worker did not start")
        return _load(args, url, key, questions, rebuilder, server.pid)
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        if rebuilder is not None and rebuilder.poll() is None:
            rebuilder.kill()
        log.close()


def _load(args, url: str, key: str, questions: list[str], rebuilder, server_pid: int) -> dict:
    headers = {"authorization": f"Bearer {key}"}
    # With keys configured, /health shows the index (path, counts) only to a request with a valid key.
    generation_before = httpx.get(url + "/health", headers=headers, timeout=30).json()["index"]["generation"]
    records: list[tuple[float, float, str, int]] = []  # (start s, latency ms, mode, status; 0 = no response)
    errors: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()
    budget = itertools.count()
    reload = {"requested": args.reload == "rebuild", "swapped": False}
    workers: dict[str, int] = {}  # the x-askdocs-worker pid -> requests it answered (serve --workers)
    memory: dict = {}
    started = time.perf_counter()

    path = "/ask" if args.endpoint == "ask" else "/tools/search_documents"

    def client(number: int) -> None:
        turns = itertools.count(number)
        with httpx.Client(base_url=url, headers=headers, timeout=120) as http:
            while not stop.is_set() and next(budget) < args.max_requests:
                turn = next(turns)
                mode = args.modes[turn % len(args.modes)]
                question = questions[(turn * 7919) % len(questions)]
                body = {"question" if args.endpoint == "ask" else "query": question, "top_k": 5, "mode": mode}
                began = time.perf_counter()
                try:
                    response = http.post(path, json=body)
                    status = response.status_code
                    worker = response.headers.get("x-askdocs-worker", "")
                    workers[worker] = workers.get(worker, 0) + 1
                    if status != 200:
                        with lock:
                            errors.append(f"{status}: {response.text[:200]}")
                except httpx.HTTPError as exc:
                    status = 0
                    with lock:
                        errors.append(f"{type(exc).__name__}: {exc}")
                with lock:
                    records.append((began - started, (time.perf_counter() - began) * 1000, mode, status))

    def reloader() -> None:
        stop.wait(args.duration * args.reload_at)
        if stop.is_set():
            return
        reload["at_s"] = round(time.perf_counter() - started, 2)
        rebuilder.stdin.write("go\n")
        rebuilder.stdin.flush()
        report = json.loads(rebuilder.stdout.readline())
        reload["build"] = report
        reload["built_s"] = round(time.perf_counter() - started, 2)
        # The server watches CURRENT too; asking at once makes the swap's moment exact.
        with httpx.Client(base_url=url, headers=headers, timeout=120) as http:
            response = http.post("/admin/reload")
        reload["admin_reload"] = response.json().get("status", response.text[:200])
        reload["swapped_s"] = round(time.perf_counter() - started, 2)
        # /admin/reload reaches one worker; the others see CURRENT change within ASKDOCS_RELOAD_INTERVAL. Swapped
        # means every worker that answered the load serves the new generation.
        seen: dict[str, int] = {}

        def probe(_) -> None:
            # A new connection each time, several at once: the kernel gives each to whichever worker accepts
            # first, and a kept-alive one would only ever ask the same worker.
            response = httpx.get(url + "/health", headers=headers, timeout=30)
            seen[response.headers.get("x-askdocs-worker", "")] = response.json()["index"]["generation"]

        with ThreadPoolExecutor(4) as pool:
            while time.perf_counter() - started < args.duration + args.reload_timeout:
                list(pool.map(probe, range(8)))
                if set(workers) <= set(seen) and all(g > generation_before for g in seen.values()):
                    break
                time.sleep(0.02)
        reload["all_workers_swapped_s"] = round(time.perf_counter() - started, 2)
        reload["generations_by_worker"] = seen
        reload["swapped"] = bool(seen) and all(g > generation_before for g in seen.values())

    threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(args.clients)]
    reload_thread = threading.Thread(target=reloader, daemon=True) if rebuilder is not None else None
    for thread in threads:
        thread.start()
    if reload_thread is not None:
        reload_thread.start()
    deadline = started + args.duration
    sampled = False
    cpu_from = None
    while time.perf_counter() < deadline and any(t.is_alive() for t in threads):
        if cpu_from is None and time.perf_counter() > started + args.duration * 0.5:
            cpu_from = (time.perf_counter(), _cpu_seconds(server_pid))
        if not sampled and time.perf_counter() > started + args.duration * 0.8:
            memory.update(_memory(server_pid))  # under load, after the reload: every page a request touches is in
            # How busy each serving process was in between: a worker near 1.0 is bound by its one core (the GIL).
            wall, cpu_to = time.perf_counter() - cpu_from[0], _cpu_seconds(server_pid)
            memory["cpu_busy"] = {pid: round((cpu_to[pid] - cpu_from[1].get(pid, 0)) / wall, 2) for pid in cpu_to}
            sampled = True
        time.sleep(0.1)
    if reload_thread is not None:
        # A reload still under way keeps the load on until it ends: it must happen under load.
        reload_thread.join(timeout=max(0.0, deadline + args.reload_timeout - time.perf_counter()))
    stop.set()
    for thread in threads:
        thread.join(timeout=180)
    elapsed = time.perf_counter() - started
    health = httpx.get(url + "/health", headers=headers, timeout=30).json()

    latencies = np.array([r[1] for r in records]) if records else np.zeros(1)
    ok = [r for r in records if r[3] == 200]
    return {
        "index": health["index"]["path"],
        "documents": health["index"]["documents"],
        "chunks": health["index"]["chunks"],
        "clients": args.clients,
        "duration_s": round(elapsed, 2),
        "requests": len(records),
        "failed": len(records) - len(ok),
        "errors": errors[:10],
        "throughput_rps": round(len(ok) / elapsed, 2),
        "latency_ms": _percentiles(latencies),
        "by_mode": {mode: {"requests": sum(r[2] == mode for r in records),
                           "latency_ms": _percentiles(np.array([r[1] for r in records if r[2] == mode] or [0.0]))}
                    for mode in MODES},
        "endpoint": args.endpoint,
        "modes": args.modes,
        "workers": args.workers,
        "requests_by_worker": workers,
        "memory_mb": memory,
        "generation_before": generation_before,
        "generation_after": health["index"]["generation"],
        "reload": reload,
        "cpus": os.cpu_count(),
    }


def _cpu_seconds(server_pid: int) -> dict[str, float]:
    """CPU seconds (user + system) so far of the server and every process under it, by pid."""
    found, pending = {}, [server_pid]
    ticks = os.sysconf("SC_CLK_TCK")
    while pending:
        pid = pending.pop()
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            found[str(pid)] = (int(fields[11]) + int(fields[12])) / ticks
            pending += [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
        except OSError:
            pass
    return found


def _memory(server_pid: int) -> dict:
    """RSS and PSS (proportional: a page shared by k processes counts 1/k to each) of the serving processes, MB.

    With --workers > 1 they are the supervisor's children that run the app (multiprocessing's spawn), and the
    supervisor itself is reported apart."""
    def rollup(pid: int) -> dict:
        fields = {}
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
                name, value = line.split(":", 1)
                fields[name] = int(value.split()[0]) / 1024
        except OSError:
            return {}
        return {"rss": round(fields["Rss"], 1), "pss": round(fields["Pss"], 1),
                "pss_anon": round(fields.get("Pss_Anon", 0), 1), "pss_file": round(fields.get("Pss_File", 0), 1),
                "shared": round(fields.get("Shared_Clean", 0) + fields.get("Shared_Dirty", 0), 1)}

    def children(pid: int) -> list[int]:
        try:
            return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
        except OSError:
            return []

    workers = [pid for pid in children(server_pid)
               if "spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
               and "resource_tracker" not in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")]
    if not workers:
        return {"workers": {str(server_pid): rollup(server_pid)}}
    found = {str(pid): rollup(pid) for pid in workers}
    return {"supervisor": rollup(server_pid), "workers": found,
            "total_rss": round(sum(w.get("rss", 0) for w in found.values()), 1),
            "total_pss": round(sum(w.get("pss", 0) for w in found.values()), 1)}


def _percentiles(values: np.ndarray) -> dict:
    return {name: round(float(np.percentile(values, q)), 1) for name, q in
            (("p50", 50), ("p90", 90), ("p99", 99), ("max", 100))}


# ---------------------------------------------------------------- the rebuild worker


def _start_rebuilder(index: Path, corpus: list[Path]) -> subprocess.Popen:
    # A process of its own that loads the model before the clock starts and builds when told to, so the
    # rebuild competes with the server for the CPU the way a real cron job would.
    return subprocess.Popen(
        [sys.executable, __file__, "--rebuild-worker", str(index), *map(str, corpus)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT,
    )


def rebuild_worker(index: Path, corpus: list[Path]) -> None:
    from askdocs.index import beir
    from askdocs.index.build import build_from_documents, load_corpus
    from askdocs.index.embedder import load_embedder
    from askdocs.index.settings import Settings

    manifest = read_current(index)[1]
    settings = Settings(index=index)
    # The build reuses the runtime the index was made with.
    recorded = manifest.model.runtime
    if recorded:
        settings = settings.replace(runtime=recorded)
    load_embedder(settings.model, settings.build_runtime, precision=settings.precision)
    print("ready", flush=True)
    sys.stdin.readline()
    # The same corpus plus one small document: a build with nothing changed publishes nothing, and the point
    # is a real swap to a new generation under load (one document to embed, like a typical edit).
    if len(corpus) == 1 and (corpus[0] / "corpus.jsonl").is_file():
        documents, sources = beir.load_corpus(corpus[0]), manifest.sources
    else:
        documents, sources = load_corpus(corpus, settings, progress=False)[0], [str(p) for p in corpus]
    report = build_from_documents([*documents, _reload_marker()], settings, progress=False, sources=sources)
    print(json.dumps({"seconds": round(report.seconds, 2), "documents": report.documents, "chunks": report.chunks,
                      "embedded": report.embedded, "incremental": report.changes is not None,
                      "full_build_reason": report.full_build_reason}), flush=True)


# ---------------------------------------------------------------- helpers


def _reload_marker():
    from askdocs.index.documents import Document

    text = f"Reload marker written by bench/load.py at {time.time():.3f} to publish a new generation mid-run.\n"
    return Document(doc_id="askdocs-load-reload-marker.txt", title="Reload marker", source="bench/load.py",
                    sha256=hashlib.sha256(text.encode()).hexdigest(), text=text, kind="text", size=len(text),
                    mtime=time.time())


def _copy_current(source: Path, destination: Path) -> Path:
    path, _ = read_current(source)
    if path == source:  # a generation folder given directly
        raise SystemExit("pass the index folder (the one with CURRENT), not a generation folder")
    (destination / GENERATIONS).mkdir(parents=True)
    shutil.copytree(path, destination / GENERATIONS / path.name)
    (destination / CURRENT).write_text(path.name)
    return destination


def _questions(path: Path | None, corpus: list[Path], generation: Path) -> list[str]:
    if path is None and len(corpus) == 1 and (corpus[0] / "queries.jsonl").is_file():
        path = corpus[0] / "queries.jsonl"
    if path is not None:
        lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        return [json.loads(line)["text"] if line.lstrip().startswith("{") else line for line in lines]
    import sqlite3

    # Without questions, the documents' titles are asked: each has at least one good answer.
    connection = sqlite3.connect(f"file:{generation / 'chunks.sqlite'}?mode=ro", uri=True)
    try:
        titles = [title for (title,) in connection.execute("SELECT title FROM documents LIMIT 1000") if title.strip()]
    finally:
        connection.close()
    return titles + [f"What does {title} say?" for title in titles]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _askdocs() -> list[str]:
    script = Path(sys.executable).parent / "askdocs"
    return [str(script)] if script.exists() else [sys.executable, "-c", "from askdocs.api.cli import main; main()"]


def _wait_for_workers(url: str, workers: int, server: subprocess.Popen) -> None:
    """Until every worker answers: the port answers once the first is up, and clients that connected before the
    others were would keep all their (kept-alive) connections on it."""
    if workers < 2:
        return
    seen: set[str] = set()
    deadline = time.monotonic() + 180
    with ThreadPoolExecutor(4) as pool:
        while len(seen) < workers:
            if time.monotonic() > deadline or server.poll() is not None:
                raise RuntimeError(f"only workers {sorted(seen)} of {workers} answered within 180 s")
            seen.update(pool.map(lambda _: httpx.get(url + "/health", timeout=30).headers["x-askdocs-worker"],
                                 range(8)))
            time.sleep(0.2)


def _wait_until_up(url: str, server: subprocess.Popen, log) -> None:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if server.poll() is not None:
            log.seek(0)
            raise RuntimeError(f"askdocs serve exited with {server.returncode}:\n{log.read()}")
        try:
            if httpx.get(url + "/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    raise RuntimeError("askdocs serve did not start within 180 s")


def _print(result: dict, out: Path) -> None:
    latency = result["latency_ms"]
    print(f"{result['requests']} requests from {result['clients']} clients in {result['duration_s']} s "
          f"over {result['documents']} documents / {result['chunks']} chunks")
    print(f"  failed: {result['failed']}   throughput: {result['throughput_rps']} req/s   "
          f"latency p50 {latency['p50']} ms, p90 {latency['p90']} ms, p99 {latency['p99']} ms, max {latency['max']} ms")
    for mode, stats in result["by_mode"].items():
        print(f"  {mode:7} {stats['requests']:6} requests   p50 {stats['latency_ms']['p50']} ms   "
              f"p99 {stats['latency_ms']['p99']} ms")
    for pid, figures in result["memory_mb"].get("workers", {}).items():
        print(f"  worker {pid}: {result['requests_by_worker'].get(pid, 0)} requests; RSS {figures.get('rss')} MB, "
              f"PSS {figures.get('pss')} MB (file-backed {figures.get('pss_file')} MB)")
    reload = result["reload"]
    if reload["requested"]:
        print(f"  reload: generation {result['generation_before']} -> {result['generation_after']}; rebuild at "
              f"{reload.get('at_s')} s, built by {reload.get('built_s')} s ({reload.get('build')}), "
              f"serving it by {reload.get('swapped_s')} s, every worker by {reload.get('all_workers_swapped_s')} s")
    for error in result["errors"]:
        print(f"  error: {error}")
    print(f"results: {out}")


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--rebuild-worker":
        rebuild_worker(Path(sys.argv[2]), [Path(p) for p in sys.argv[3:]])
    else:
        sys.exit(main())
