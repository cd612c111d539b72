"""Watch mode: how soon `/ask` answers from an edited file, under load, and how a burst of changes is absorbed.

    python bench/watch.py                                   # SciFact (~5k files), 20 edits, 8 clients, burst 1,000
    python bench/watch.py --limit 300 --edits 3 --burst 50  # a quick run

Writes one .txt file per document of a BEIR corpus ("title\\n\\ntext") into var/watch/<corpus>/docs (restoring
any file a previous run changed), builds var/watch/<corpus>/index from it with build-index (incremental: an
unchanged folder publishes nothing, a restored file comes from the embedding cache), then starts a real
`askdocs serve --watch` on a free loopback port and measures, from the client side:

- edit latency: EDITS times, one sentence "The calibration code of probe <token> is <code>." is appended to one
  file, and POST /ask (hybrid, top_k 5) asks for it until a passage or the answer holds <code>: the time from
  the write (file closed) to that response. A monitor reads GET /health every 0.1 s, so each edit's time is
  split into: until its sync started (events, debounce, settle), the sync itself (the server's own
  sync.last.seconds), until the server served the new generation (CURRENT poll + open), and the rest (the
  asking);
- concurrency: CLIENTS threads POST /ask (hybrid, the corpus's questions) the whole time; every request
  must succeed;
- burst: one line appended to BURST other files at once; how many syncs absorbed it (GET /health
  sync.syncs before and after) and how long until pending_changes is 0 and the last sync has published.

Prints a summary, writes bench/results/watch-<corpus>.json (and the server log beside the work folder);
exits 1 if a request failed or an edit was never answered.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import BIN, ROOT, SCIFACT, free_port, machine, run_measured, write_result  # noqa: E402



def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=SCIFACT, help="A BEIR folder (corpus.jsonl, queries.jsonl).")
    parser.add_argument("--limit", type=int, default=None, help="Only the first LIMIT documents [default: all].")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="Where the files and the index live [default: var/watch/<corpus>[-<limit>]].")
    parser.add_argument("--edits", type=int, default=20)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--burst", type=int, default=1000, help="Files changed at once; 0: no burst.")
    parser.add_argument("--answer-timeout", type=float, default=120.0,
                        help="Seconds an edit may take to be answered before it counts as missed.")
    parser.add_argument("--burst-timeout", type=float, default=1800.0)
    parser.add_argument("--build-timeout", type=float, default=7200.0)
    parser.add_argument("--json", type=Path, default=None,
                        help="Where to write the results [default: bench/results/watch-<corpus>[-<limit>].json].")
    args = parser.parse_args(argv)

    name = args.corpus.resolve().name + (f"-{args.limit}" if args.limit else "")
    workdir = (args.workdir or ROOT / "var" / "watch" / name).absolute()
    docs, index = workdir / "docs", workdir / "index"
    if args.edits + args.burst > 0 and args.limit is not None and args.edits + args.burst > args.limit:
        sys.exit(f"--edits + --burst ({args.edits + args.burst}) must not exceed --limit ({args.limit}): "
                 "each change goes to a file of its own")
    result: dict = {"corpus": str(args.corpus), "limit": args.limit, "machine_before": machine()}
    files = write_documents(args.corpus, docs, args.limit)
    if args.edits + args.burst > len(files):
        sys.exit(f"the corpus has {len(files)} documents, fewer than --edits + --burst")
    result["files"] = len(files)
    result["build"] = build(docs, index, args.build_timeout)
    questions = load_questions(args.corpus)

    server = WatchServer(index, workdir / "serve.log")
    try:
        result["server_ready_s"] = server.start()
        result.update(measure(args, server, files, questions))
    finally:
        server.stop()
    result["machine_after"] = machine()
    result["server_log"] = str(workdir / "serve.log")
    out = write_json(args.json, f"watch-{name}.json", result)
    print_summary(result, out)
    ok = (result["load"]["failed"] == 0 and result["edits"]["missed"] == 0
          and (args.burst == 0 or result["burst"]["absorbed"]))
    return 0 if ok else 1


# ---------------------------------------------------------------- the folder and its index


def write_documents(corpus: Path, docs: Path, limit: int | None) -> list[Path]:
    """One file per document; a file that differs from its document (a previous run's edit) is rewritten."""
    docs.mkdir(parents=True, exist_ok=True)
    files = []
    with open(corpus / "corpus.jsonl", encoding="utf-8") as lines:
        for line in lines:
            if limit is not None and len(files) >= limit:
                break
            doc = json.loads(line)
            # The id is numeric in SciFact; anything else is kept to a safe file name.
            stem = "".join(c if c.isalnum() or c in "-_." else "_" for c in str(doc["_id"]))
            path = docs / f"{stem}.txt"
            content = f"{doc.get('title', '').strip()}\n\n{doc['text'].strip()}\n"
            try:
                same = path.read_text(encoding="utf-8") == content
            except FileNotFoundError:
                same = False
            if not same:
                path.write_text(content, encoding="utf-8")
            files.append(path)
    wanted = set(files)
    for stray in docs.iterdir():  # e.g. from a run with a larger --limit
        if stray not in wanted:
            stray.unlink()
    return files


def build(docs: Path, index: Path, timeout: float) -> dict:
    run = run_measured([str(BIN / "askdocs"), "build-index", str(docs), "--index", str(index), "--no-progress"],
                       timeout=timeout)
    print(run["stdout"].strip(), flush=True)
    return {"wall_s": run["wall_s"], "cpu_s": run["cpu_s"], "summary": run["stdout"].strip().splitlines()}


def load_questions(corpus: Path) -> list[str]:
    path = corpus / "queries.jsonl"
    if not path.is_file():
        return ["What is this document about?"]
    return [json.loads(line)["text"] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


# ---------------------------------------------------------------- the server


class WatchServer:
    def __init__(self, index: Path, log: Path):
        self.index = index
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log
        self.process: subprocess.Popen | None = None

    def start(self) -> float:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ASKDOCS_API_KEYS")}
        self.log = open(self.log_path, "w")
        started = time.monotonic()
        self.process = subprocess.Popen(
            [str(BIN / "askdocs"), "serve", "--index", str(self.index), "--watch", "--host", "127.0.0.1",
             "--port", str(self.port)], stdout=self.log, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
        # Up, and its first sync (what changed while nothing watched) done: the clock must start on a quiet server.
        while time.monotonic() - started < 600:
            if self.process.poll() is not None:
                raise RuntimeError(f"askdocs serve exited with {self.process.returncode}; see {self.log_path}")
            try:
                sync = self.health()["sync"]
                if sync["syncs"] >= 1 and sync["last"] is not None and sync["pending_changes"] == 0:
                    return round(time.monotonic() - started, 2)
            except (httpx.HTTPError, KeyError, TypeError):
                pass
            time.sleep(0.25)
        raise RuntimeError(f"askdocs serve --watch was not ready within 600 s; see {self.log_path}")

    def health(self) -> dict:
        return httpx.get(self.url + "/health", timeout=30).json()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process is not None:
            self.log.close()


class Monitor:
    """Reads GET /health every 0.1 s: when each generation started being served, and every sync it saw."""

    def __init__(self, server: WatchServer):
        self.server = server
        self.served: dict[int, float] = {}  # generation -> first time seen served (perf_counter)
        # Every sync's record (sync.last), with when it was first seen. sync.syncs counts a sync from its
        # start, while sync.last is still the one before: records are told apart by their content instead.
        self.syncs: list[dict] = []
        self._seen: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(base_url=self.server.url, timeout=30) as http:
            while not self._stop.wait(0.1):
                try:
                    health = http.get("/health").json()
                except (httpx.HTTPError, ValueError):
                    continue
                now = time.perf_counter()
                self.served.setdefault(health["index"]["generation"], now)
                last = (health.get("sync") or {}).get("last")
                key = json.dumps(last, sort_keys=True)
                if last is not None and key not in self._seen:
                    self._seen.add(key)
                    self.syncs.append({**last, "seen": now})

    def syncs_since(self, moment: float) -> list[dict]:
        return [s for s in self.syncs if s["seen"] > moment]

    def __enter__(self) -> Monitor:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


# ---------------------------------------------------------------- the measurement


def measure(args, server: WatchServer, files: list[Path], questions: list[str]) -> dict:
    records: list[tuple[float, int]] = []  # (latency ms, status; 0: no response)
    errors: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def client(number: int) -> None:
        turn = number
        with httpx.Client(base_url=server.url, timeout=120) as http:
            while not stop.is_set():
                body = {"question": questions[(turn * 7919) % len(questions)], "top_k": 5, "mode": "hybrid"}
                turn += args.clients
                began = time.perf_counter()
                try:
                    response = http.post("/ask", json=body)
                    status = response.status_code
                    if status != 200:
                        with lock:
                            errors.append(f"{status}: {response.text[:200]}")
                except httpx.HTTPError as exc:
                    status = 0
                    with lock:
                        errors.append(f"{type(exc).__name__}: {exc}")
                with lock:
                    records.append(((time.perf_counter() - began) * 1000, status))

    threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(args.clients)]
    started = time.perf_counter()
    with Monitor(server) as monitor:
        for thread in threads:
            thread.start()
        time.sleep(2)  # the clients are under way before the first edit
        edits = [edit_once(server, path, monitor, args.answer_timeout) for path in files[:args.edits]]
        burst = absorb_burst(server, files[args.edits:args.edits + args.burst], monitor, args.burst_timeout) \
            if args.burst else None
        stop.set()
        for thread in threads:
            thread.join(timeout=180)
    elapsed = time.perf_counter() - started
    latencies = [r[0] for r in records]
    return {
        "edits": summarise_edits(edits),
        "burst": burst,
        "load": {"clients": args.clients, "seconds": round(elapsed, 1), "requests": len(records),
                 "failed": sum(status != 200 for _, status in records), "errors": errors[:10],
                 "latency_ms": percentiles(latencies)},
    }


def edit_once(server: WatchServer, path: Path, monitor: Monitor, timeout: float) -> dict:
    probe, code = f"probe{secrets.token_hex(4)}", f"cal{secrets.token_hex(4)}"
    question = f"What is the calibration code of probe {probe}?"
    generation_before = server.health()["index"]["generation"]
    with open(path, "a", encoding="utf-8") as out:
        out.write(f"The calibration code of probe {probe} is {code}.\n")
    written = time.perf_counter()
    asked = 0
    answered = None
    with httpx.Client(base_url=server.url, timeout=120) as http:
        while time.perf_counter() - written < timeout:
            asked += 1
            response = http.post("/ask", json={"question": question, "top_k": 5, "mode": "hybrid"})
            if response.status_code == 200 and code in _answer_texts(response.json()):
                answered = time.perf_counter()
                break
            time.sleep(0.05)
    record = {"file": path.name, "asked": asked,
              "seconds": round(answered - written, 3) if answered is not None else None}
    # Where the time went, from what the monitor saw (0.1 s resolution).
    time.sleep(0.3)
    # The previous edit's sync ended before it was answered, so the first sync seen since the write is this one.
    sync = next(iter(monitor.syncs_since(written)), None)
    served = min((t for g, t in monitor.served.items() if g > generation_before), default=None)
    if sync is not None:
        record["sync"] = {k: sync.get(k) for k in ("seconds", "published", "embedded", "updated", "chunks")}
    if answered is not None and sync is not None and served is not None:
        # The sync's record appears when it ends (its build published, or found nothing); it took sync.seconds.
        sync_end = min(sync["seen"], served)
        record["split_s"] = {
            "until_sync_started": round(sync_end - sync["seconds"] - written, 3),
            "sync": sync["seconds"],
            "until_served": round(served - sync_end, 3),
            "until_answered": round(answered - served, 3),
        }
    print(f"  edit {path.name}: {record['seconds']} s ({asked} asks) {record.get('split_s', '')}", flush=True)
    time.sleep(1.0)  # the next edit is its own sync, not part of this one's burst
    return record


def _answer_texts(body: dict) -> str:
    texts = [p["text"] for p in body.get("passages", [])]
    if body.get("answer"):
        texts.append(body["answer"].get("text", ""))
    return "\n".join(texts)


def summarise_edits(edits: list[dict]) -> dict:
    answered = [e["seconds"] for e in edits if e["seconds"] is not None]
    summary = {"n": len(edits), "missed": len(edits) - len(answered),
               "seconds": percentiles(answered, scale=1) if answered else None, "each": edits}
    splits = [e["split_s"] for e in edits if "split_s" in e]
    if splits:
        summary["split_median_s"] = {k: round(float(np.median([s[k] for s in splits])), 3) for k in splits[0]}
    return summary


def absorb_burst(server: WatchServer, paths: list[Path], monitor: Monitor, timeout: float) -> dict:
    token = f"burst{secrets.token_hex(4)}"
    syncs_before = server.health()["sync"]["syncs"]
    began = time.perf_counter()
    for path in paths:
        with open(path, "a", encoding="utf-8") as out:
            out.write(f"Burst marker {token} appended by bench/watch.py.\n")
    written = time.perf_counter()
    done = None
    while time.perf_counter() - written < timeout:
        sync = server.health()["sync"]
        after = monitor.syncs_since(written)
        changed = sum((s.get("updated") or 0) + (s.get("added") or 0) for s in after)
        if sync["pending_changes"] == 0 and after and changed >= len(paths) and after[-1].get("published"):
            done = time.perf_counter()
            break
        time.sleep(0.25)
    after = monitor.syncs_since(written)
    result = {
        "files": len(paths), "write_s": round(written - began, 3),
        "syncs": server.health()["sync"]["syncs"] - syncs_before,
        "absorbed": done is not None,
        "seconds": round(done - written, 2) if done is not None else None,
        "each_sync": [{k: s.get(k) for k in ("seconds", "published", "updated", "embedded", "chunks")}
                      for s in after],
    }
    print(f"  burst of {len(paths)}: {result['syncs']} syncs, absorbed in {result['seconds']} s "
          f"{result['each_sync']}", flush=True)
    return result


def percentiles(values: list[float], scale: int = 0) -> dict:
    array = np.array(values or [0.0])
    digits = 3 if scale else 1
    return {"n": len(values), **{name: round(float(np.percentile(array, q)), digits)
                                  for name, q in (("p50", 50), ("p95", 95), ("max", 100))}}


# ---------------------------------------------------------------- output


def write_json(path: Path | None, name: str, result: dict) -> Path:
    if path is None:
        return write_result(name, result)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    return path


def print_summary(result: dict, out: Path) -> None:
    edits, load, burst = result["edits"], result["load"], result["burst"]
    print(f"{result['files']} files; build {result['build']['wall_s']} s; server ready (first sync done) in "
          f"{result['server_ready_s']} s")
    if edits["seconds"]:
        s = edits["seconds"]
        print(f"edit -> answered: p50 {s['p50']} s, p95 {s['p95']} s, max {s['max']} s over {s['n']} edits "
              f"({edits['missed']} missed)")
    if edits.get("split_median_s"):
        print(f"  median split: {edits['split_median_s']}")
    print(f"load: {load['requests']} requests from {load['clients']} clients in {load['seconds']} s, "
          f"{load['failed']} failed; latency p50 {load['latency_ms']['p50']} ms, p95 {load['latency_ms']['p95']} ms")
    for error in load["errors"]:
        print(f"  error: {error}")
    if burst:
        print(f"burst: {burst['files']} files -> {burst['syncs']} syncs, absorbed in {burst['seconds']} s")
    print(f"load average before {result['machine_before']['loadavg']}, after {result['machine_after']['loadavg']}")
    print(f"results: {out}")


if __name__ == "__main__":
    sys.exit(main())
