"""Throughput of `askdocs serve --workers N`: bench/load.py for N in --workers, on the search path and on /ask.

Each run serves a copy of the index with N workers, 8 clients (hybrid), and a rebuild published mid-run
(bench/load.py: 0 failed requests and the new generation served by every worker, or the run fails). The runs
alternate N within an endpoint so that a change in the machine's load falls on all of them. Writes
bench/results/workers.json: req/s, p50/p99, RSS and PSS per worker, and each worker's CPU use.

    python bench/workers.py --index var/eval/scifact-<key> --corpus ../shared/data/scifact \\
        --embedding-cache var/eval/embedding-cache.sqlite --workers 1 2 3 --duration 30
    python bench/workers.py --from DIR    # only combine the load-<endpoint>-w<N>.json files already in DIR
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ENDPOINTS = ("search", "ask")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", type=Path)
    parser.add_argument("--corpus", type=Path)
    parser.add_argument("--embedding-cache", type=Path)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--duration", type=float, default=30.0)
    parser.add_argument("--from", dest="source", type=Path, help="Combine the runs already in this folder.")
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "workers.json")
    args = parser.parse_args()

    folder = args.source or Path(tempfile.mkdtemp(prefix="askdocs-workers-"))
    ok = True
    if args.source is None:
        if args.index is None or args.corpus is None:
            parser.error("--index and --corpus are needed unless --from is given")
        for endpoint in ENDPOINTS:
            for workers in args.workers:
                command = [sys.executable, str(ROOT / "bench" / "load.py"), "--index", str(args.index),
                           "--corpus", str(args.corpus), "--clients", str(args.clients),
                           "--duration", str(args.duration), "--workers", str(workers), "--endpoint", endpoint,
                           "--modes", "hybrid", "--json", str(folder / f"load-{endpoint}-w{workers}.json"),
                           *(["--embedding-cache", str(args.embedding_cache)] if args.embedding_cache else [])]
                print("$", " ".join(command), flush=True)
                ok = subprocess.run(command, cwd=ROOT).returncode == 0 and ok
    result = combine(folder)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    for row in result["runs"]:
        print(f"{row['endpoint']:6} workers {row['workers']}: {row['throughput_rps']:7.1f} req/s  p50 "
              f"{row['p50_ms']} ms  p99 {row['p99_ms']} ms  failed {row['failed']}  reload swapped "
              f"{row['reload_swapped']}  PSS/worker {row['pss_per_worker_mb']} MB  RSS/worker "
              f"{row['rss_per_worker_mb']} MB  CPU busy {row['cpu_busy']}")
    print(f"results: {args.json}")
    return 0 if ok else 1


def combine(folder: Path) -> dict:
    runs = []
    for path in sorted(folder.glob("load-*-w*.json")):
        run = json.loads(path.read_text())
        memory = run.get("memory_mb", {})
        workers = memory.get("workers", {})
        busy = memory.get("cpu_busy", {})
        runs.append({
            "endpoint": run.get("endpoint"), "workers": run.get("workers"), "clients": run["clients"],
            "requests": run["requests"], "failed": run["failed"], "duration_s": run["duration_s"],
            "throughput_rps": run["throughput_rps"], "p50_ms": run["latency_ms"]["p50"],
            "p99_ms": run["latency_ms"]["p99"], "requests_by_worker": run.get("requests_by_worker"),
            "reload_swapped": run["reload"]["swapped"], "generation": [run["generation_before"],
                                                                     run["generation_after"]],
            "reload_build": run["reload"].get("build"),
            "rss_per_worker_mb": sorted(w["rss"] for w in workers.values() if w),
            "pss_per_worker_mb": sorted(w["pss"] for w in workers.values() if w),
            "pss_file_per_worker_mb": sorted(w["pss_file"] for w in workers.values() if w),
            "supervisor_mb": memory.get("supervisor"),
            # Only the serving processes: the supervisor and multiprocessing's resource tracker are idle.
            "cpu_busy": sorted(v for pid, v in busy.items() if pid in workers),
        })
    runs.sort(key=lambda r: (ENDPOINTS.index(r["endpoint"]), r["workers"]))
    return {"runs": runs, "cpus": os.cpu_count()}


if __name__ == "__main__":
    sys.exit(main())
