"""Build throughput on SciFact: chunks per second, total seconds and peak RSS of each build, per backend.

    python bench/build_speed.py                         # onnx and torch, one full build each
    python bench/build_speed.py --repeats 3             # alternating onnx, torch, onnx, ...; medians reported
    python bench/build_speed.py --limit 500 --repeats 1 # a quick look on the first 500 documents

Every build runs in its own process into a fresh index folder, so it is a full build (nothing reused) and
its peak RSS is its own (wait4). Writes bench/results/build_speed.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import ROOT, SCIFACT, loadavg, machine, median, run_measured, write_result  # noqa: E402


def child(dataset: Path, index: Path, backend: str, limit: int | None, batch_size: int | None) -> None:
    """One build, in this process; prints what the parent records."""
    from index import beir
    from index.build import build_from_documents
    from index.settings import Settings

    documents = beir.load_corpus(dataset)[:limit] if limit else beir.load_corpus(dataset)
    settings = Settings(index=index, runtime=backend)
    if batch_size:
        settings = settings.model_copy(update={"embed_batch_size": batch_size})
    started = time.perf_counter()  # model loading included: a user's build pays it too
    report = build_from_documents(documents, settings, progress=False, sources=["bench"])
    seconds = time.perf_counter() - started
    print(json.dumps({"documents": report.documents, "chunks": report.chunks, "build_s": round(seconds, 2)}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", type=Path, default=SCIFACT)
    parser.add_argument("--backends", default="onnx,torch", help="comma-separated, run alternately")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--limit", type=int, default=None, help="only the first N documents")
    parser.add_argument("--batch-size", type=int, default=None, help="override ASKDOCS_EMBED_BATCH_SIZE")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds allowed per build")
    parser.add_argument("--out", default="build_speed.json", help="file name under bench/results/")
    parser.add_argument("--child", nargs=2, metavar=("INDEX", "BACKEND"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.dataset, Path(args.child[0]), args.child[1], args.limit, args.batch_size)
        return

    backends = args.backends.split(",")
    runs = []
    scratch = Path(tempfile.mkdtemp(prefix="askdocs-build-speed-", dir=ROOT / "var"))
    try:
        for repeat in range(args.repeats):
            for backend in backends:
                index = scratch / f"{backend}-{repeat}"
                command = [sys.executable, __file__, "--dataset", str(args.dataset), "--child", str(index), backend]
                if args.limit:
                    command += ["--limit", str(args.limit)]
                if args.batch_size:
                    command += ["--batch-size", str(args.batch_size)]
                load_before = loadavg()
                measured = run_measured(command, timeout=args.timeout)
                built = json.loads(measured["stdout"].strip().splitlines()[-1])
                run = {
                    "backend": backend,
                    "repeat": repeat,
                    **built,
                    "chunks_per_s": round(built["chunks"] / built["build_s"], 1),
                    "process_wall_s": measured["wall_s"],
                    "process_cpu_s": measured["cpu_s"],
                    "peak_rss_mb": measured["peak_rss_mb"],
                    "loadavg_before": load_before,
                    "loadavg_after": loadavg(),
                }
                runs.append(run)
                print(f"{backend:6} build {run['build_s']:7.1f} s  {run['chunks']} chunks  "
                      f"{run['chunks_per_s']:6.1f} chunks/s  peak RSS {run['peak_rss_mb']:.0f} MB  "
                      f"(load {load_before} -> {run['loadavg_after']})", flush=True)
                shutil.rmtree(index, ignore_errors=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    summary = {}
    for backend in backends:
        mine = [r for r in runs if r["backend"] == backend]
        summary[backend] = {
            "build_s": median([r["build_s"] for r in mine]),
            "chunks_per_s": median([r["chunks_per_s"] for r in mine]),
            "peak_rss_mb": median([r["peak_rss_mb"] for r in mine]),
        }
    if {"onnx", "torch"} <= set(summary):
        summary["onnx_over_torch_throughput"] = round(
            summary["onnx"]["chunks_per_s"] / summary["torch"]["chunks_per_s"], 3
        )
    result = {
        "benchmark": "build_speed",
        "dataset": args.dataset.resolve().name,
        "limit": args.limit,
        "batch_size": args.batch_size,
        "command": "python bench/build_speed.py " + " ".join(sys.argv[1:]),
        "machine": machine(),
        "median": summary,
        "runs": runs,
    }
    print(json.dumps(summary, indent=2))
    print(f"wrote {write_result(args.out, result)}")


if __name__ == "__main__":
    main()
