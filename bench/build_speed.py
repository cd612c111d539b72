"""Build throughput on SciFact: chunks per second, total seconds and peak RSS of each build, per runtime.

    python bench/build_speed.py                          # torch-bf16, torch-fp32, onnx: one cold build each
    python bench/build_speed.py --repeats 3              # alternating runtimes; medians reported
    python bench/build_speed.py --runtimes torch-bf16 --limit 500 --repeats 1   # a quick look

Runtimes: torch-bf16 and torch-fp32 (ASKDOCS_PRECISION), onnx (the int8 file). Every build runs in its own
process into a fresh index folder with a fresh embedding cache, so it is a cold full build (nothing reused,
nothing cached) and its peak RSS is its own (wait4). After each runtime's last cold build, the same corpus is
built again with `--rebuild` over that index and its now-filled cache: the warm rebuild, reported apart.
Writes bench/results/build_speed.json.
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


def settings_for(index: Path, runtime: str, batch_size: int | None):
    from askdocs.index.settings import Settings

    name, _, precision = runtime.partition("-")
    settings = Settings(index=index, runtime=name, precision=precision or "auto",
                        embedding_cache=str(index / "bench-cache.sqlite"))
    return settings.replace(embed_batch_size=batch_size) if batch_size else settings


def child(dataset: Path, index: Path, runtime: str, limit: int | None, batch_size: int | None, rebuild: bool) -> None:
    """One build, in this process; prints what the parent records."""
    from askdocs.index import beir
    from askdocs.index.build import DEFAULT_BATCH_SIZES, build_from_documents

    documents = beir.load_corpus(dataset)[:limit] if limit else beir.load_corpus(dataset)
    settings = settings_for(index, runtime, batch_size)
    started = time.perf_counter()  # model loading included: a user's build pays it too
    report = build_from_documents(documents, settings, progress=False, sources=["bench"], rebuild=rebuild)
    seconds = time.perf_counter() - started
    from askdocs.index.store import read_current

    model = read_current(index)[1].model.model_dump()
    print(json.dumps({"documents": report.documents, "chunks": report.chunks, "build_s": round(seconds, 2),
                      "embedded": report.embedded, "from_cache": report.from_cache, "precision": model["precision"],
                      "batch_size": settings.embed_batch_size or DEFAULT_BATCH_SIZES[model["runtime"]]}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", type=Path, default=SCIFACT)
    parser.add_argument("--runtimes", default="torch-bf16,torch-fp32,onnx", help="comma-separated, run alternately")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--limit", type=int, default=None, help="only the first N documents")
    parser.add_argument("--batch-size", type=int, default=None, help="override ASKDOCS_EMBED_BATCH_SIZE")
    parser.add_argument("--no-warm", action="store_true", help="skip the warm-cache rebuilds")
    parser.add_argument("--timeout", type=float, default=2400, help="seconds allowed per build")
    parser.add_argument("--out", default="build_speed.json", help="file name under bench/results/")
    parser.add_argument("--child", nargs=3, metavar=("INDEX", "RUNTIME", "REBUILD"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.dataset, Path(args.child[0]), args.child[1], args.limit, args.batch_size, args.child[2] == "1")
        return

    runtimes = args.runtimes.split(",")
    runs = []
    scratch = Path(tempfile.mkdtemp(prefix="askdocs-build-speed-", dir=ROOT / "var"))

    def build(runtime: str, repeat: int, warm: bool) -> None:
        index = scratch / f"{runtime}-{repeat}"
        command = [sys.executable, __file__, "--dataset", str(args.dataset), "--child", str(index), runtime,
                   "1" if warm else "0"]
        if args.limit:
            command += ["--limit", str(args.limit)]
        if args.batch_size:
            command += ["--batch-size", str(args.batch_size)]
        load_before = loadavg()
        measured = run_measured(command, timeout=args.timeout)
        built = json.loads(measured["stdout"].strip().splitlines()[-1])
        run = {"runtime": runtime, "cache": "warm" if warm else "cold", "repeat": repeat, **built,
               "chunks_per_s": round(built["chunks"] / built["build_s"], 1), "process_wall_s": measured["wall_s"],
               "process_cpu_s": measured["cpu_s"], "peak_rss_mb": measured["peak_rss_mb"],
               "loadavg_before": load_before, "loadavg_after": loadavg()}
        runs.append(run)
        print(f"{runtime:10} {run['cache']} build {run['build_s']:7.1f} s  {run['chunks']} chunks "
              f"({run['embedded']} embedded, {run['from_cache']} cached)  {run['chunks_per_s']:6.1f} chunks/s  "
              f"peak RSS {run['peak_rss_mb']:.0f} MB  (load {load_before} -> {run['loadavg_after']})", flush=True)

    try:
        for repeat in range(args.repeats):
            for runtime in runtimes:
                build(runtime, repeat, warm=False)
                if repeat == args.repeats - 1 and not args.no_warm:
                    build(runtime, repeat, warm=True)
                if repeat < args.repeats - 1:
                    shutil.rmtree(scratch / f"{runtime}-{repeat}", ignore_errors=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    summary = {}
    for runtime in runtimes:
        for cache in ("cold", "warm"):
            mine = [r for r in runs if r["runtime"] == runtime and r["cache"] == cache]
            if mine:
                summary[f"{runtime} {cache}"] = {
                    "build_s": median([r["build_s"] for r in mine]),
                    "chunks_per_s": median([r["chunks_per_s"] for r in mine]),
                    "peak_rss_mb": median([r["peak_rss_mb"] for r in mine]),
                    "builds": len(mine),
                }
    if {"torch-bf16 cold", "torch-fp32 cold"} <= set(summary):
        summary["bf16_over_fp32_throughput"] = round(
            summary["torch-bf16 cold"]["chunks_per_s"] / summary["torch-fp32 cold"]["chunks_per_s"], 3)
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
