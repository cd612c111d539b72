"""Memory at a million chunks: compressed vector indexes (IVF-SQ8, IVF-PQ, flat SQ8) against IVF-Flat, and
what a serving process holds with them.

    python bench/ann_memory.py                                 # 1M synthetic vectors (~25 min on 2 cores)
    python bench/ann_memory.py --synthetic-n 100000 --kinds IVF1024,Flat IVF1024,SQ8   # a smoke run

The vectors are bench/ann.py's synthetic ones (real SciFact chunk vectors plus noise shaped like their own
covariance, normalised), the questions the 300 SciFact test questions plus 700 held-out synthetic points, and
the truth an exact flat search over the same float32 vectors. For each FAISS factory string: build time, file
size, recall@10 by nprobe (all, real questions, held out) and the one-thread p50/p95 per question, every kind
timed alternately question by question so machine load hits all alike.

Serving memory, per kind, in a fresh child process doing what a serving process does at that size: load the
cached int8 question model (an ONNX Runtime session, as `serve` does), open the vector file the way
``faiss_store.open_store`` does (``IO_FLAG_MMAP_IFC``), memory-map float16 sentence vectors at SciFact's
sentences per chunk (4.44: 4.44M x 384 float16 = 3.4 GB at 1M chunks, a file as the index's sentences.npz is),
then answer the questions: embed, search 100 candidates, and score the sentences of every candidate (the rows
a real question touches). Reported: VmRSS (and its anonymous / file-backed parts) and VmHWM after all the
questions. Not in the child: chunks.sqlite (read through SQLite's small page cache) and BM25 (at SciFact's
size 0.5 MB of matrices per 1,000 chunks, memory-mapped): bench/README.md says what they add.
Writes bench/results/ann-memory.json (``--out``).
"""

from __future__ import annotations

import argparse
import json
import mmap
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import faiss
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.ann import (K, covariance_noise, percentiles, recall_at_k, scifact_queries,  # noqa: E402
                       synthetic_block, torch_scifact_index)
from bench.common import RESULTS, machine, peak_rss_mb  # noqa: E402
from askdocs.index.vectors import faiss_store  # noqa: E402

SENTENCES_PER_CHUNK = 54799 / 12336  # the SciFact eval index's counts
CANDIDATES = 100  # chunks each retriever hands the fusion, whose sentences are then scored


def build(kind: str, vectors: np.ndarray, seed: int = faiss_store.SEED) -> faiss.Index:
    """A FAISS index from a factory string, trained the way faiss_store trains IVF (spherical, seeded)."""
    n, dimension = vectors.shape
    index = faiss.index_factory(dimension, kind, faiss.METRIC_INNER_PRODUCT)
    ivf = faiss.try_extract_index_ivf(index)
    train_size = n
    if ivf is not None:
        ivf.cp.seed = seed
        ivf.cp.niter = faiss_store.KMEANS_ITERATIONS
        ivf.cp.spherical = True
        ivf.cp.max_points_per_centroid = faiss_store.TRAIN_POINTS_PER_LIST
        train_size = min(n, max(faiss_store.TRAIN_POINTS_PER_LIST * ivf.nlist, 65536))
    elif not index.is_trained:
        train_size = min(n, 65536)
    if not index.is_trained:
        sample = np.sort(np.random.default_rng(seed).choice(n, train_size, replace=False))
        index.train(np.ascontiguousarray(vectors[sample]))
    for start in range(0, n, 65536):
        index.add(np.ascontiguousarray(vectors[start : start + 65536]))
    return index


def search_params(index: faiss.Index, nprobe: int | None):
    return faiss.SearchParametersIVF(nprobe=nprobe) if faiss.try_extract_index_ivf(index) is not None else None


def measure(kinds: dict[str, faiss.Index], queries: np.ndarray, truth: np.ndarray, nprobes: list[int],
            timed: int, groups: dict[str, slice]) -> dict[str, list[dict]]:
    """Recall@10 and one-thread latency per (kind, nprobe); every configuration timed in turn per question."""
    configs = [(name, p) for name, index in kinds.items()
               for p in (nprobes if faiss.try_extract_index_ivf(index) is not None else [None])]
    params = {c: search_params(kinds[c[0]], c[1]) for c in configs}
    faiss.omp_set_num_threads(1)
    for query in queries[:20]:  # warm up: page in every index once
        for c in configs:
            kinds[c[0]].search(query.reshape(1, -1), K, params=params[c])
    ms = {c: [] for c in configs}
    for query in queries[:timed]:
        query = query.reshape(1, -1)
        for c in configs:
            started = time.perf_counter()
            kinds[c[0]].search(query, K, params=params[c])
            ms[c].append((time.perf_counter() - started) * 1000)
    faiss.omp_set_num_threads(os.cpu_count() or 1)
    rows: dict[str, list[dict]] = {name: [] for name in kinds}
    for c in configs:
        _, found = kinds[c[0]].search(queries, K, params=params[c])
        row = {"nprobe": c[1], "recall@10": round(recall_at_k(found, truth), 4),
               **{f"recall@10_{g}": round(recall_at_k(found[s], truth[s]), 4) for g, s in groups.items()},
               **percentiles(ms[c])}
        print(f"  {c[0]:>16} nprobe {str(c[1]):>4}: recall@10 {row['recall@10']:.4f} "
              + " ".join(f"{g} {row[f'recall@10_{g}']:.4f}" for g in groups)
              + f"  p50 {row['p50_ms']:.2f} ms  p95 {row['p95_ms']:.2f} ms", flush=True)
        rows[c[0]].append(row)
    return rows


def status_mb() -> dict:
    fields = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
            fields[key] = round(int(value.split()[0]) / 1024, 1)
    return fields


def serve_probe(args) -> None:
    """The child: what a serving process holds at this size after answering the questions (prints JSON)."""
    from askdocs.index.embedder import load_embedder

    before = status_mb()
    embedder = load_embedder("all-MiniLM-L6-v2", "onnx", threads=1).load()  # the question model serving uses
    questions = json.loads(Path(args.questions).read_text())
    embedder.encode_queries(questions[:1])
    with_model = status_mb()
    index = faiss.read_index(args.probe, faiss.IO_FLAG_MMAP_IFC)
    opened = status_mb()
    sentences = np.load(args.sentences, mmap_mode="r")
    if args.advice == "random":  # no readahead: does it keep the resident share down? (bench/README.md: no)
        sentences._mmap.madvise(mmap.MADV_RANDOM)
    n = index.ntotal
    starts = np.floor(np.arange(n + 1) * SENTENCES_PER_CHUNK).astype(np.int64)
    params = search_params(index, args.nprobe)
    faiss.omp_set_num_threads(1)
    for question in questions:
        query = embedder.encode_queries([question]).astype(np.float32)
        _, rows = index.search(query, CANDIDATES, params=params)
        rows = rows[0][rows[0] >= 0]
        picked = np.concatenate([np.arange(starts[r], starts[r + 1]) for r in rows])
        np.asarray(sentences[picked], dtype=np.float32) @ query[0]
    print(json.dumps({"start": before, "model_loaded": with_model, "index_opened": opened,
                      "after_questions": status_mb(), "questions": len(questions)}))


def exact_top_k(vectors: np.ndarray, queries: np.ndarray, k: int, block: int = 262144) -> np.ndarray:
    """The exact inner-product top k of every query, a block of rows at a time: ``vectors`` may be a memory map
    larger than RAM (5M x 384 float32 is 7.7 GB), and only one block of it is needed in memory at once."""
    heap = faiss.ResultHeap(len(queries), k, keep_max=True)
    for start in range(0, len(vectors), block):
        scores, rows = faiss.knn(queries, np.ascontiguousarray(vectors[start : start + block]), k,
                                 metric=faiss.METRIC_INNER_PRODUCT)
        heap.add_result(scores, np.where(rows >= 0, rows + start, -1))
    heap.finalize()
    return heap.I


def synthetic_corpus(synthetic_n: int, noise_scale: float, held_out_n: int, serve_questions: int,
                     into: Path | None = None):
    """bench/ann.py's synthetic vectors around the real SciFact ones, the real SciFact test questions plus
    held-out synthetic points as queries, and the question texts a serving process is asked: what every
    1M-chunk memory run measures against (the truth is ``exact_top_k`` of the queries). The vectors are held in
    memory, or, with ``into``, written to that float32 .npy file and returned memory-mapped: at 5M they are
    7.7 GB, which an index build beside them would otherwise double in RAM."""
    from askdocs.index import beir
    from bench.common import SCIFACT

    source = torch_scifact_index()
    manifest = json.loads((source / "manifest.json").read_text())
    stored = faiss.read_index(str(source / "vectors.faiss"))
    real = stored.reconstruct_n(0, stored.ntotal)
    del stored
    real_queries = scifact_queries(manifest["model"]["name"].rsplit("/", 1)[-1])
    questions = beir.load_queries(SCIFACT)
    question_texts = [questions[q] for q in sorted(beir.load_qrels(SCIFACT, "test"))][: serve_questions]

    n, dimension = synthetic_n, real.shape[1]
    print(f"{n} synthetic vectors around {len(real)} real ones, noise {noise_scale}", flush=True)
    rng = np.random.default_rng(7)  # bench/ann.py's seed and block size: the same vectors
    noise = covariance_noise(real)
    vectors = (np.empty((n, dimension), np.float32) if into is None
               else np.lib.format.open_memmap(into, mode="w+", dtype=np.float32, shape=(n, dimension)))
    for start in range(0, n, 65536):
        vectors[start : start + 65536] = synthetic_block(real, noise, noise_scale, rng, min(65536, n - start))[0]
    if into is not None:
        vectors.flush()
    held_out, _ = synthetic_block(real, noise, noise_scale, np.random.default_rng(99), held_out_n)
    queries = np.ascontiguousarray(np.concatenate([real_queries, held_out]), dtype=np.float32)
    groups = {"real_questions": slice(0, len(real_queries)), "held_out": slice(len(real_queries), None)}
    return n, dimension, vectors, queries, groups, question_texts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--synthetic-n", type=int, default=1_000_000)
    parser.add_argument("--noise", type=float, default=0.6)
    parser.add_argument("--held-out", type=int, default=700)
    parser.add_argument("--timed-queries", type=int, default=300)
    parser.add_argument("--kinds", nargs="+",
                        default=["IVF1024,Flat", "IVF1024,SQ8", "IVF1024,PQ96", "SQ8"])
    parser.add_argument("--nprobes", type=lambda s: [int(x) for x in s.split(",")], default=[16, 32, 48, 64])
    parser.add_argument("--serve-nprobe", type=int, default=32)
    parser.add_argument("--serve-questions", type=int, default=300)
    parser.add_argument("--work", type=Path, default=None, help="where the index and sentence files go (temp)")
    parser.add_argument("--out", type=Path, default=RESULTS / "ann-memory.json")
    parser.add_argument("--probe", help=argparse.SUPPRESS)
    parser.add_argument("--sentences", help=argparse.SUPPRESS)
    parser.add_argument("--questions", help=argparse.SUPPRESS)
    parser.add_argument("--nprobe", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--advice", choices=["normal", "random"], default="normal", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.probe:
        serve_probe(args)
        return

    n, dimension, vectors, queries, groups, question_texts = synthetic_corpus(
        args.synthetic_n, args.noise, args.held_out, args.serve_questions)
    truth = exact_top_k(vectors, queries, K)

    work = Path(tempfile.mkdtemp(prefix="ann-memory-", dir=args.work))
    sentence_rows = int(np.floor(n * SENTENCES_PER_CHUNK))
    sentence_file = work / "sentences.npy"
    mapped = np.lib.format.open_memmap(sentence_file, mode="w+", dtype=np.float16, shape=(sentence_rows, dimension))
    for start in range(0, sentence_rows, 262144):
        stop = min(sentence_rows, start + 262144)
        mapped[start:stop] = vectors[(np.arange(start, stop) / SENTENCES_PER_CHUNK).astype(np.int64)]
    mapped.flush()
    del mapped
    question_file = work / "questions.json"
    question_texts_all = question_texts * max(1, -(-args.serve_questions // max(1, len(question_texts))))
    question_file.write_text(json.dumps(question_texts_all[: args.serve_questions]))

    built, files = {}, {}
    result_kinds = {}
    for kind in args.kinds:
        started = time.perf_counter()
        index = build(kind, vectors)
        seconds = time.perf_counter() - started
        path = work / (kind.replace(",", "-") + ".faiss")
        faiss.write_index(index, str(path))
        built[kind], files[kind] = index, path
        result_kinds[kind] = {"build_s": round(seconds, 1), "file_bytes": path.stat().st_size}
        print(f"  {kind}: built in {seconds:.0f} s, {path.stat().st_size / 2**20:.0f} MiB", flush=True)
    del vectors

    rows = measure(built, queries, truth, args.nprobes, args.timed_queries, groups)
    for kind in args.kinds:
        result_kinds[kind]["search"] = rows[kind]
    del built

    for kind in args.kinds:
        result_kinds[kind]["serving"] = {}
        # The sentence vectors mapped with the kernel's default readahead, and with MADV_RANDOM (no readahead).
        for advice in ("normal", "random"):
            child = subprocess.run([sys.executable, __file__, "--probe", str(files[kind]), "--sentences",
                                    str(sentence_file), "--questions", str(question_file), "--advice", advice,
                                    *(["--nprobe", str(args.serve_nprobe)] if "IVF" in kind else [])],
                                   capture_output=True, text=True, check=False)
            if child.returncode != 0:
                print(f"  {kind}: serving probe failed: {child.stderr[-2000:]}", flush=True)
                result_kinds[kind]["serving"][advice] = {"error": child.stderr[-2000:]}
                continue
            serving = json.loads(child.stdout.strip().splitlines()[-1])
            result_kinds[kind]["serving"][advice] = serving
            after = serving["after_questions"]
            print(f"  {kind}, sentences {advice}: serving RSS {after['VmRSS']:.0f} MB (anon {after['RssAnon']:.0f}, "
                  f"file {after['RssFile']:.0f}), peak {after['VmHWM']:.0f} MB after {serving['questions']} "
                  "questions", flush=True)
    for path in [*files.values(), sentence_file, question_file]:
        path.unlink()
    work.rmdir()

    result = {"machine": machine(), "vectors": n, "dimension": dimension, "noise": args.noise, "k": K,
              "faiss": faiss.__version__, "sentences_per_chunk": round(SENTENCES_PER_CHUNK, 3),
              "sentence_rows": sentence_rows, "sentence_bytes": sentence_rows * dimension * 2,
              "candidates": CANDIDATES, "serve_nprobe": args.serve_nprobe, "kinds": result_kinds,
              "peak_rss_mb": peak_rss_mb(), "machine_after": machine()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
