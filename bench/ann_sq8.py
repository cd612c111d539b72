"""The ivf-sq8 vector index through the product path against ivf (IVF-Flat) at a million chunks: recall@10,
one-thread p50, what re-ranking candidates with the exact vectors buys, and serving memory.

    python bench/ann_sq8.py                                   # 1M synthetic vectors
    python bench/ann_sq8.py --synthetic-n 100000              # a smoke run
    nice -n 10 python bench/ann_sq8.py --synthetic-n 5000000 --sentence-reads positional \
        --out bench/results/ann-sq8-5m.json                   # 5M: ~35 GB of work files under /tmp at the peak

Unlike bench/ann_memory.py (FAISS factory strings), every index here is written by ``FaissWriter`` (the
code a build runs: ``plan``, ``write``, the default nlist and nprobe for the size) and opened by
``faiss_store.open_store`` (memory-mapped, as serving opens it), and searched through ``VectorStore.search``.
Vectors, questions and truth are bench/ann_memory.py's (bench/ann.py's synthetic vectors, the SciFact test
questions plus held-out synthetic points, exact flat search as truth).

Configurations, timed alternately question by question: ivf; ivf-sq8 without re-ranking; ivf-sq8 re-ranking
F×k candidates by exact inner products from vectors.npy for each ``--rerank`` F. "same_as_ivf": the share of
questions whose top 10 is the same rows in the same order as ivf's (both indexes are trained on the same
sample with the same seed, so they probe the same lists). p50 is also timed at k=100, the candidates a
question asks the dense retriever for.

Serving memory per kind in a fresh child, as bench/ann_memory.py measures it (question model, float16
sentence vectors memory-mapped at SciFact's sentences per chunk, 100 candidates searched and their sentences
scored per question), with the store opened by ``open_store``; with the resident MB of each mapped file
(/proc/self/smaps). Each kind is probed twice (``--sentence-reads``): sentence vectors memory-mapped, as the
store read them before, and read by position per candidate (index/npy_rows.py), as it reads them now. Writes bench/results/ann-sq8.json (``--out``).

The synthetic vectors are written to a float32 file in the work folder (not held in RAM), the truth is searched
a block of rows at a time, and each phase's seconds and this process' memory go into the JSON ("phases"): what
lets the run reach 5M chunks (7.7 GB of float32 vectors) on a 24 GB machine.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import faiss
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.ann import K, percentiles, recall_at_k  # noqa: E402
from bench.ann_memory import CANDIDATES, SENTENCES_PER_CHUNK, exact_top_k, status_mb, synthetic_corpus  # noqa: E402
from bench.common import RESULTS, machine, peak_rss_mb  # noqa: E402
from askdocs.index.npy_rows import NpyRows  # noqa: E402
from askdocs.index.vectors import ReadOptions, faiss_store  # noqa: E402


def ids_of(store, queries: np.ndarray, k: int) -> np.ndarray:
    found = np.full((len(queries), k), -1, np.int64)
    for i, hits in enumerate(store.search(queries, k)):
        found[i, : len(hits.ids)] = hits.ids
    return found


def read_through(path: Path, block: int = 16 << 20) -> None:
    """Read the file once, in order, so its pages are in the page cache."""
    buffer = bytearray(block)
    with open(path, "rb", buffering=0) as handle:
        while handle.readinto(buffer):
            pass


def mapped_mb(under: Path) -> dict[str, float]:
    """Resident MB of each file under ``under`` that this process maps (/proc/self/smaps)."""
    sizes: dict[str, float] = {}
    current = None
    for line in Path("/proc/self/smaps").read_text().splitlines():
        fields = line.split()
        if len(fields) >= 6 and "-" in fields[0] and not fields[0].endswith(":"):
            current = fields[5] if fields[5].startswith(str(under)) else None
        elif current and fields and fields[0] == "Rss:":
            name = str(Path(current).relative_to(under))
            sizes[name] = round(sizes.get(name, 0) + int(fields[1]) / 1024, 1)
    return sizes


def serve_probe(args) -> None:
    """The child: a serving process's memory after answering the questions through the store (prints JSON)."""
    from askdocs.index.embedder import load_embedder

    embedder = load_embedder("all-MiniLM-L6-v2", "onnx", threads=1).load()
    questions = json.loads(Path(args.questions).read_text())
    embedder.encode_queries(questions[:1])
    with_model = status_mb()
    section = json.loads(Path(args.section).read_text())
    store = faiss_store.open_store(Path(args.probe), section, ReadOptions())
    opened = status_mb()
    starts = np.floor(np.arange(store.count() + 1) * SENTENCES_PER_CHUNK).astype(np.int64)
    sentence_ms = []  # reading and scoring one question's candidate sentences
    if args.sentence_reads == "mapped":
        sentences = np.load(args.sentences, mmap_mode="r")
        for question in questions:
            query = embedder.encode_queries([question]).astype(np.float32)
            rows = store.search(query, CANDIDATES)[0].ids
            started = time.perf_counter()
            picked = np.concatenate([np.arange(starts[r], starts[r + 1]) for r in rows])
            np.asarray(sentences[picked], dtype=np.float32) @ query[0]
            sentence_ms.append((time.perf_counter() - started) * 1000)
    else:  # as search/answer.py reads them since: each candidate's sentences, one positional read
        sentences = NpyRows.open_npy(Path(args.sentences))
        for question in questions:
            query = embedder.encode_queries([question]).astype(np.float32)
            rows = store.search(query, CANDIDATES)[0].ids
            started = time.perf_counter()
            for r in rows:
                sentences[starts[r] : starts[r + 1]].astype(np.float32) @ query[0]
            sentence_ms.append((time.perf_counter() - started) * 1000)
    print(json.dumps({"model_loaded": with_model, "index_opened": opened, "after_questions": status_mb(),
                      "mapped_mb": mapped_mb(Path(args.sentences).parent), "questions": len(questions),
                      "store": store.describe(), "sentence_reads": args.sentence_reads,
                      "sentence_ms": percentiles(sentence_ms)}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--synthetic-n", type=int, default=1_000_000)
    parser.add_argument("--noise", type=float, default=0.6)
    parser.add_argument("--held-out", type=int, default=700)
    parser.add_argument("--timed-queries", type=int, default=300)
    parser.add_argument("--rerank", type=lambda s: [int(x) for x in s.split(",")], default=[2, 4])
    parser.add_argument("--serve-questions", type=int, default=300)
    parser.add_argument("--work", type=Path, default=None, help="where the indexes and sentence file go (temp)")
    parser.add_argument("--cold", action="store_true",
                        help="time the search without reading the index files into the page cache first")
    parser.add_argument("--out", type=Path, default=RESULTS / "ann-sq8.json")
    parser.add_argument("--probe", help=argparse.SUPPRESS)
    parser.add_argument("--section", help=argparse.SUPPRESS)
    parser.add_argument("--sentences", help=argparse.SUPPRESS)
    parser.add_argument("--questions", help=argparse.SUPPRESS)
    parser.add_argument("--sentence-reads", default="mapped,positional",
                        help="how serving children read the sentence vectors: memory-mapped (before 2026-12-06), "
                             "positional (index/npy_rows.py, what the store does now), or both")
    args = parser.parse_args()
    if args.probe:
        serve_probe(args)
        return

    started_on = machine()
    work = Path(tempfile.mkdtemp(prefix="ann-sq8-", dir=args.work))
    # Seconds and this process' memory (VmRSS, VmHWM, anonymous / file-backed MB) after each phase.
    phases: dict[str, dict] = {}
    started = time.perf_counter()

    def phase(name: str) -> None:
        nonlocal started
        phases[name] = {"s": round(time.perf_counter() - started, 1), **status_mb()}
        print(f"  phase {name}: {phases[name]}", flush=True)
        started = time.perf_counter()

    # The vectors go to a file, not a flat index in RAM: FaissWriter then builds IVF-Flat (as large again)
    # beside the page cache's copy, which the kernel can drop.
    source_file = work / "synthetic-vectors.npy"
    n, dimension, vectors, queries, groups, question_texts = synthetic_corpus(
        args.synthetic_n, args.noise, args.held_out, args.serve_questions, into=source_file)
    phase("generation")
    truth = exact_top_k(vectors, queries, K)
    phase("truth")

    kinds = {}
    for kind in ("ivf", "ivf-sq8"):
        folder = work / kind
        folder.mkdir()
        writer = faiss_store.FaissWriter(kind)
        started = time.perf_counter()
        section = writer.plan(n)
        writer.write(folder, vectors, [], [], None)
        seconds = time.perf_counter() - started
        (work / f"{kind}.json").write_text(json.dumps(section))
        files = {p.name: p.stat().st_size for p in folder.iterdir()}
        kinds[kind] = {"section": section, "build_s": round(seconds, 1), "file_bytes": files}
        print(f"  {kind}: written in {seconds:.0f} s, {files}", flush=True)
        phase(f"write_{kind}")
    del vectors
    source_file.unlink()  # ivf-sq8's vectors.npy holds the same rows: the sentence file is made from it

    stores = {kind: faiss_store.open_store(work / kind, kinds[kind]["section"], ReadOptions()) for kind in kinds}
    sq8 = stores["ivf-sq8"]
    configs = [("ivf", None), ("ivf-sq8", 0), *(("ivf-sq8", f) for f in args.rerank)]

    def run(config, batch, k):
        kind, factor = config
        if factor is not None:
            sq8.rerank_factor = factor
        return stores[kind].search(batch, k)

    if not args.cold:
        # Timed as an index whose vector file is in the page cache, as just after a build at 1M, where everything
        # fits beside the writes, or in a server that has run a while. At 5M the later writes evict ivf's file,
        # and a list's first touch then times the disk. Not vectors.npy: a question reads a few hundred rows of
        # it, and reading all 7.7 GB as well evicted ivf's file again on this machine (bench/README.md).
        for kind in kinds:
            read_through(work / kind / faiss_store.FILE)
        phase("page_in")
    for query in queries[:20]:  # page in every index once
        for c in configs:
            run(c, query.reshape(1, -1), K)
    ms = {(c, k): [] for c in configs for k in (K, CANDIDATES)}
    for query in queries[: args.timed_queries]:
        query = query.reshape(1, -1)
        for k in (K, CANDIDATES):
            for c in configs:
                started = time.perf_counter()
                run(c, query, k)
                ms[(c, k)].append((time.perf_counter() - started) * 1000)
    found = {}
    for c in configs:
        run(c, queries[:1], K)  # sets the factor
        found[c] = ids_of(stores[c[0]], queries, K)
    rows = []
    for c in configs:
        row = {"kind": c[0], "rerank_factor": c[1], "recall@10": round(recall_at_k(found[c], truth), 4),
               **{f"recall@10_{g}": round(recall_at_k(found[c][s], truth[s]), 4) for g, s in groups.items()},
               "same_as_ivf": round(float(np.mean(np.all(found[c] == found[("ivf", None)], axis=1))), 4),
               "k10": percentiles(ms[(c, K)]), f"k{CANDIDATES}": percentiles(ms[(c, CANDIDATES)])}
        print(f"  {c[0]:>8} rerank {str(c[1]):>4}: recall@10 {row['recall@10']:.4f} "
              + " ".join(f"{g} {row[f'recall@10_{g}']:.4f}" for g in groups)
              + f" same as ivf {row['same_as_ivf']:.3f}  p50 k=10 {row['k10']['p50_ms']:.2f} ms, "
              f"k={CANDIDATES} {row[f'k{CANDIDATES}']['p50_ms']:.2f} ms", flush=True)
        rows.append(row)
    phase("search")
    for store in stores.values():
        store.close()
    stores.clear()
    sq8 = None  # the memory maps go with the last references

    sentence_rows = int(np.floor(n * SENTENCES_PER_CHUNK))
    sentence_file = work / "sentences.npy"
    exact = np.load(work / "ivf-sq8" / faiss_store.EXACT_FILE, mmap_mode="r")
    mapped = np.lib.format.open_memmap(sentence_file, mode="w+", dtype=np.float16, shape=(sentence_rows, dimension))
    for start in range(0, sentence_rows, 262144):
        stop = min(sentence_rows, start + 262144)
        mapped[start:stop] = exact[(np.arange(start, stop) / SENTENCES_PER_CHUNK).astype(np.int64)]
    mapped.flush()
    del mapped, exact
    phase("sentence_file")
    question_file = work / "questions.json"
    repeated = question_texts * max(1, -(-args.serve_questions // max(1, len(question_texts))))
    question_file.write_text(json.dumps(repeated[: args.serve_questions]))
    for kind in kinds:
        for reads in args.sentence_reads.split(","):
            child = subprocess.run([sys.executable, __file__, "--probe", str(work / kind), "--section",
                                    str(work / f"{kind}.json"), "--sentences", str(sentence_file), "--questions",
                                    str(question_file), "--sentence-reads", reads],
                                   capture_output=True, text=True, check=False)
            key = "serving" if reads == "mapped" else f"serving_{reads}"
            if child.returncode != 0:
                print(f"  {kind}, {reads}: serving probe failed: {child.stderr[-2000:]}", flush=True)
                kinds[kind][key] = {"error": child.stderr[-2000:]}
                continue
            serving = json.loads(child.stdout.strip().splitlines()[-1])
            kinds[kind][key] = serving
            after = serving["after_questions"]
            print(f"  {kind} ({serving['store']}), sentences {reads}: serving RSS {after['VmRSS']:.0f} MB "
                  f"(anon {after['RssAnon']:.0f}, file {after['RssFile']:.0f}), peak {after['VmHWM']:.0f} MB; "
                  f"mapped {serving['mapped_mb']}; sentences {serving['sentence_ms']}", flush=True)
            phase(f"probe_{kind}_{reads}")
    for path in sorted(work.rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    work.rmdir()

    result = {"machine": started_on, "vectors": n, "dimension": dimension, "noise": args.noise, "k": K,
              "faiss": faiss.__version__, "candidates": CANDIDATES, "sentence_rows": sentence_rows,
              "page_cache": "cold" if args.cold else "index files read in before timing",
              "kinds": kinds, "search": rows, "phases": phases, "peak_rss_mb": peak_rss_mb(),
              "machine_after": machine()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
