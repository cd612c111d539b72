"""The approximate (IVF) vector index against exact (flat) search: recall@10, latency, build time, memory.

    python bench/ann.py                                  # SciFact sweep + synthetic 1M run (~10 min, ~4 GB RAM)
    python bench/ann.py --synthetic-n 100000 --skip-scifact   # a quick smoke run
    python bench/ann.py --sizes 50000,100000,200000 --skip-scifact --skip-synthetic   # flat latency by size

(a) SciFact: the chunk vectors of an existing eval index (torch-built, read-only; see --scifact-index) and
    the SciFact test questions embedded with the same model. IVF is built by ``index.vectors.faiss_store.build``, the
    code a build runs, with its default nlist for that size and a sweep of nprobe.
(b) Synthetic: ``--synthetic-n`` vectors (default 1,000,000), 384-d, normalised. Uniform random vectors
    are no stand-in for embeddings (in 384-d they are all nearly orthogonal, with no clusters for IVF to
    find and no near neighbours to find), so each synthetic vector is a real SciFact chunk vector plus
    noise drawn from the real vectors' own covariance (``--noise`` times it), then normalised: the data
    keeps the clusters, the anisotropy and the neighbourhood structure of MiniLM embeddings while the
    count grows 80-fold. The JSON records the cosine of each point to its seed and the nearest-neighbour
    cosines, next to those of the real chunks, to show what that noise amounts to.
    Queries: the real SciFact test questions plus held-out synthetic points made the same way (not in
    the index). Ground truth is exact, by a flat index over the same vectors (batched, all threads).

Latency is one question at a time with FAISS on one OpenMP thread, as ``search.retrieve.dense`` runs it;
flat and IVF are timed alternately, question by question, so machine load hits both alike.
Writes bench/results/ann.json (``--out``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import faiss
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import RESULTS, SCIFACT, machine, peak_rss_mb, write_result  # noqa: E402
from askdocs.index import beir  # noqa: E402
from askdocs.index.vectors import Selection  # noqa: E402
from askdocs.index.vectors import faiss_store as ann  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
# A worktree has no var/ of its own: the main checkout's eval indexes are read, never written.
EVAL_FOLDERS = (ROOT / "var" / "eval", ROOT.parent / "main" / "var" / "eval")
K = 10


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def torch_scifact_index() -> Path:
    """An eval index of SciFact built with torch (the build backend), found by its manifest."""
    for manifest in sorted(m for folder in EVAL_FOLDERS for m in folder.glob("scifact-*/generations/*/manifest.json")):
        data = json.loads(manifest.read_text())
        # The manifest says "runtime" (older ones "backend").
        built_with = data["model"].get("runtime", data["model"].get("backend"))
        if built_with == "torch" and data["vectors"]["type"] == "flat":
            return manifest.parent
    raise SystemExit(f"no torch-built SciFact index under {EVAL_FOLDERS[0]}: run `askdocs eval {SCIFACT}` first")


def scifact_queries(model: str) -> np.ndarray:
    from askdocs.index.embedder import load_embedder

    queries = beir.load_queries(SCIFACT)
    wanted = sorted(beir.load_qrels(SCIFACT, "test"))
    embedder = load_embedder(model, "torch")
    return embedder.encode_queries([queries[q] for q in wanted]).astype(np.float32)


def recall_at_k(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(f[f >= 0]) & set(t)) / K for f, t in zip(found, truth)]))


def percentiles(ms: list[float]) -> dict:
    return {"p50_ms": round(float(np.percentile(ms, 50)), 3), "p95_ms": round(float(np.percentile(ms, 95)), 3)}


def timed_sweep(flat: faiss.Index, ivf: faiss.Index, queries: np.ndarray, nprobes: list[int],
                flat_every: int = 1) -> tuple[list[float], dict[int, list[float]]]:
    """Per-question ms, one thread; flat and every nprobe alternate question by question."""
    faiss.omp_set_num_threads(1)
    flat_ms, ivf_ms = [], {p: [] for p in nprobes}
    params = {p: faiss.SearchParametersIVF(nprobe=p) for p in nprobes}
    for i, query in enumerate(queries):
        query = query.reshape(1, -1)
        if i % flat_every == 0:
            started = time.perf_counter()
            flat.search(query, K)
            flat_ms.append((time.perf_counter() - started) * 1000)
        for p in nprobes:
            started = time.perf_counter()
            ivf.search(query, K, params=params[p])
            ivf_ms[p].append((time.perf_counter() - started) * 1000)
    faiss.omp_set_num_threads(os.cpu_count() or 1)
    return flat_ms, ivf_ms


def sweep(flat: faiss.Index, ivf: faiss.Index, queries: np.ndarray, nprobes: list[int], timed_queries: int,
          groups: dict[str, slice], flat_every: int = 1) -> dict:
    _, truth = flat.search(queries, K)
    nprobes = [p for p in nprobes if p <= ivf.nlist]
    rows = []
    timed = queries[:timed_queries] if timed_queries < len(queries) else queries
    for q in timed[:20]:  # warm caches and page in both indexes before timing
        flat.search(q.reshape(1, -1), K)
        ivf.search(q.reshape(1, -1), K, params=faiss.SearchParametersIVF(nprobe=max(nprobes)))
    flat_ms, ivf_ms = timed_sweep(flat, ivf, timed, nprobes, flat_every)
    for p in nprobes:
        _, found = ivf.search(queries, K, params=faiss.SearchParametersIVF(nprobe=p))
        row = {"nprobe": p, "recall@10": round(recall_at_k(found, truth), 4),
               **{f"recall@10_{name}": round(recall_at_k(found[s], truth[s]), 4) for name, s in groups.items()},
               **percentiles(ivf_ms[p])}
        rows.append(row)
        print(f"  nprobe {p:4}: recall@10 {row['recall@10']:.4f} "
              + " ".join(f"{name} {row[f'recall@10_{name}']:.4f}" for name in groups)
              + f"  p50 {row['p50_ms']:.2f} ms  p95 {row['p95_ms']:.2f} ms", flush=True)
    flat_row = percentiles(flat_ms)
    print(f"  flat:       p50 {flat_row['p50_ms']:.2f} ms  p95 {flat_row['p95_ms']:.2f} ms", flush=True)
    return {"flat": flat_row, "ivf": rows, "timed_queries": len(timed), "recall_queries": len(queries)}


def filtered(flat: faiss.Index, ivf: faiss.Index, queries: np.ndarray, nprobe: int, selectivities: list[float],
             timed_queries: int, direct_up_to: int = 32768) -> list[dict]:
    """Filtered dense search at 1M both ways a filter can run: scoring the matching rows one by one
    (reconstruct + dot product, only while they are few) and the IVF selector with nprobe widened by
    selectivity (``IVFStore.parameters``, as the read path does). Matching rows are random."""
    rows = []
    rng = np.random.default_rng(11)
    faiss.omp_set_num_threads(1)
    for selectivity in selectivities:
        only = Selection(rng.random(flat.ntotal) < selectivity)
        exact = ann.FlatStore(flat).parameters(only)
        truth = np.array([flat.search(q.reshape(1, -1), K, params=exact)[1][0] for q in queries[:timed_queries]])
        paths = {"ivf-selector": ann.IVFStore(ivf, nprobe).parameters(only)}
        if only.count <= direct_up_to:
            paths["direct"] = None
        found = {path: [] for path in paths}
        ms = {path: [] for path in paths}
        for query in queries[:timed_queries]:
            query = query.reshape(1, -1)
            for path, params in paths.items():  # alternated per question
                started = time.perf_counter()
                if params is None:  # what the FAISS store does for a small selection
                    scores = ivf.reconstruct_batch(only.rows) @ query[0]
                    top = only.rows[np.argsort(-scores)[:K]]
                else:
                    top = ivf.search(query, K, params=params)[1][0]
                ms[path].append((time.perf_counter() - started) * 1000)
                found[path].append(top)
        for path, params in paths.items():
            row = {"selectivity": selectivity, "matching": only.count, "path": path,
                   "nprobe": None if params is None else params.nprobe,
                   "recall@10": round(recall_at_k(np.array(found[path]), truth), 4), **percentiles(ms[path])}
            print(f"  filter {selectivity:>5.1%} ({only.count} chunks, {path}, nprobe {row['nprobe']}): "
                  f"recall@10 {row['recall@10']:.4f}  p50 {row['p50_ms']:.2f} ms  p95 {row['p95_ms']:.2f} ms",
                  flush=True)
            rows.append(row)
    faiss.omp_set_num_threads(os.cpu_count() or 1)
    return rows


def index_bytes(index: faiss.Index) -> int:
    with tempfile.TemporaryDirectory(dir=RESULTS) as folder:
        path = Path(folder) / "index.faiss"
        faiss.write_index(index, str(path))
        return path.stat().st_size


def build_ivf(vectors: np.ndarray, nlist: int | None) -> tuple[faiss.Index, dict, float]:
    section = ann.plan(len(vectors), "ivf", nlist=nlist or 0)
    started = time.perf_counter()
    index = ann.build(vectors, section)
    return index, section, time.perf_counter() - started


def flat_view(flat: faiss.IndexFlat) -> np.ndarray:
    """The flat index's own storage as an array: IVF is built from it without a second copy."""
    return faiss.rev_swig_ptr(flat.get_xb(), flat.ntotal * flat.d).reshape(flat.ntotal, flat.d)


def run_scifact(args, real: np.ndarray, queries: np.ndarray) -> dict:
    print(f"(a) SciFact: {len(real)} chunk vectors, {len(queries)} test questions", flush=True)
    flat = ann.build(real, {"type": "flat"})
    ivf, section, seconds = build_ivf(real, None)
    print(f"  IVF nlist {section['nlist']}: built in {seconds:.1f} s", flush=True)
    result = sweep(flat, ivf, queries, args.nprobes, len(queries), {})
    return {"chunks": len(real), "queries": len(queries), "nlist": section["nlist"], "build_s": round(seconds, 2),
            **result}


def covariance_noise(real: np.ndarray):
    """A sampler of noise shaped like the real vectors' spread around their mean (its covariance)."""
    centred = real - real.mean(axis=0)
    eigenvalues, eigenvectors = np.linalg.eigh(centred.T @ centred / len(real))
    transform = (eigenvectors * np.sqrt(np.clip(eigenvalues, 0, None))).T.astype(np.float32)
    return lambda rng, count: rng.standard_normal((count, real.shape[1]), dtype=np.float32) @ transform


def synthetic_block(real: np.ndarray, noise, scale: float, rng: np.random.Generator, count: int):
    seeds = rng.integers(0, len(real), count)
    block = real[seeds] + scale * noise(rng, count)
    block /= np.linalg.norm(block, axis=1, keepdims=True)
    return block, seeds


def neighbour_cosines(vectors: np.ndarray, flat: faiss.Index, sample: int, rng) -> dict:
    """Cosine of sampled points to their nearest other point in ``flat`` (itself excluded)."""
    rows = rng.choice(len(vectors), sample, replace=False)
    scores, found = flat.search(np.ascontiguousarray(vectors[rows]), 2)
    nearest = np.where(found[:, 0] == rows, scores[:, 1], scores[:, 0])
    return {"nn_cosine_p10": round(float(np.percentile(nearest, 10)), 3),
            "nn_cosine_p50": round(float(np.percentile(nearest, 50)), 3),
            "nn_cosine_p90": round(float(np.percentile(nearest, 90)), 3)}


def run_synthetic(args, real: np.ndarray, real_queries: np.ndarray) -> dict:
    n, dimension = args.synthetic_n, real.shape[1]
    print(f"(b) synthetic: {n} vectors around {len(real)} real ones, noise {args.noise}", flush=True)
    rng = np.random.default_rng(7)
    noise = covariance_noise(real)
    rss_start = rss_mb()
    flat = faiss.IndexFlatIP(dimension)
    started = time.perf_counter()
    to_seed = []
    for start in range(0, n, 65536):
        block, seeds = synthetic_block(real, noise, args.noise, rng, min(65536, n - start))
        to_seed.append(np.einsum("ij,ij->i", block, real[seeds]))
        flat.add(block)
    to_seed = np.concatenate(to_seed)
    generated_s = time.perf_counter() - started
    rss_flat = rss_mb()
    vectors = flat_view(flat)
    real_flat = ann.build(real, {"type": "flat"})
    shape = {
        "synthetic": {"cosine_to_seed_p50": round(float(np.median(to_seed)), 3),
                      **neighbour_cosines(vectors, flat, 2000, rng)},
        "real_scifact": neighbour_cosines(real, real_flat, 2000, rng),
    }
    print(f"  generated in {generated_s:.0f} s; shape {shape}", flush=True)
    held_out, _ = synthetic_block(real, noise, args.noise, np.random.default_rng(99), args.held_out)
    queries = np.ascontiguousarray(np.concatenate([real_queries, held_out]), dtype=np.float32)
    groups = {"real_questions": slice(0, len(real_queries)), "held_out": slice(len(real_queries), None)}
    runs = []
    for nlist in args.nlists or [None]:
        ivf, section, seconds = build_ivf(vectors, nlist)
        rss_both = rss_mb()
        size = index_bytes(ivf)
        print(f"  IVF nlist {section['nlist']}: built (train {section['train_size']} + add) in {seconds:.0f} s, "
              f"{size / 2**20:.0f} MiB on disk; RSS flat only {rss_flat - rss_start:.0f} MB, "
              f"with IVF {rss_both - rss_start:.0f} MB", flush=True)
        result = sweep(flat, ivf, queries, args.nprobes, args.timed_queries, groups,
                       flat_every=args.flat_every)
        filter_rows = filtered(flat, ivf, queries, section["nprobe"], args.selectivities, args.filter_queries)
        runs.append({"nlist": section["nlist"], "default_nprobe": section["nprobe"], "filtered": filter_rows, "train_size": section["train_size"], "build_s": round(seconds, 1),
                     "index_bytes": size, "rss_mb_flat": round(rss_flat - rss_start),
                     "rss_mb_flat_plus_ivf": round(rss_both - rss_start), **result})
        del ivf
    return {"vectors": n, "dimension": dimension, "noise": args.noise, "generate_s": round(generated_s, 1),
            "flat_bytes": n * dimension * 4, "shape": shape, "held_out_queries": args.held_out,
            "real_queries": len(real_queries), "runs": runs}


def run_sizes(args, real: np.ndarray, real_queries: np.ndarray) -> list[dict]:
    """Flat single-thread latency by corpus size: where the threshold for IVF belongs."""
    rows = []
    rng = np.random.default_rng(3)
    noise = covariance_noise(real)
    for size in args.sizes:
        flat = faiss.IndexFlatIP(real.shape[1])
        for start in range(0, size, 65536):
            flat.add(synthetic_block(real, noise, args.noise, rng, min(65536, size - start))[0])
        faiss.omp_set_num_threads(1)
        ms = []
        for query in np.concatenate([real_queries[:20], real_queries]):
            started = time.perf_counter()
            flat.search(query.reshape(1, -1), K)
            ms.append((time.perf_counter() - started) * 1000)
        faiss.omp_set_num_threads(os.cpu_count() or 1)
        row = {"vectors": size, **percentiles(ms[20:])}
        print(f"  flat {size:>8} vectors: p50 {row['p50_ms']:.2f} ms  p95 {row['p95_ms']:.2f} ms", flush=True)
        rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scifact-index", type=Path, default=None, help="generation folder (default: found)")
    parser.add_argument("--synthetic-n", type=int, default=1_000_000)
    parser.add_argument("--noise", type=float, default=0.6, help="noise scale, times the real covariance")
    parser.add_argument("--held-out", type=int, default=700, help="synthetic held-out queries")
    parser.add_argument("--timed-queries", type=int, default=300)
    parser.add_argument("--flat-every", type=int, default=3, help="time flat on every n-th question only")
    parser.add_argument("--nprobes", type=lambda s: [int(x) for x in s.split(",")],
                        default=[1, 2, 4, 8, 16, 32, 48, 64, 96, 128])
    parser.add_argument("--nlists", type=lambda s: [int(x) for x in s.split(",")], default=None,
                        help="IVF list counts for the synthetic run (default: faiss_store's choice)")
    parser.add_argument("--selectivities", type=lambda s: [float(x) for x in s.split(",")],
                        default=[0.001, 0.004, 0.01, 0.03, 0.1, 0.3])
    parser.add_argument("--filter-queries", type=int, default=100)
    parser.add_argument("--sizes", type=lambda s: [int(x) for x in s.split(",")], default=[])
    parser.add_argument("--skip-scifact", action="store_true")
    parser.add_argument("--skip-synthetic", action="store_true")
    parser.add_argument("--out", type=Path, default=RESULTS / "ann.json")
    args = parser.parse_args()

    source = args.scifact_index or torch_scifact_index()
    manifest = json.loads((source / "manifest.json").read_text())
    stored = faiss.read_index(str(source / "vectors.faiss"))
    real = stored.reconstruct_n(0, stored.ntotal)
    del stored
    real_queries = scifact_queries(manifest["model"]["name"].rsplit("/", 1)[-1])
    result = {"machine": machine(), "source_index": str(source), "k": K, "faiss": faiss.__version__,
              "defaults": {"nlist_at_1M": ann.default_nlist(1_000_000),
                           "nprobe_at_1M": ann.default_nprobe(ann.default_nlist(1_000_000))}}
    if args.sizes:
        result["flat_by_size"] = run_sizes(args, real, real_queries)
    if not args.skip_scifact:
        result["scifact"] = run_scifact(args, real, real_queries)
    if not args.skip_synthetic:
        result["synthetic"] = run_synthetic(args, real, real_queries)
    result["peak_rss_mb"] = peak_rss_mb()
    result["machine_after"] = machine()
    path = write_result(args.out.name, result) if args.out.parent == RESULTS else _write(args.out, result)
    print(f"wrote {path}")


def _write(path: Path, result: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    return path


if __name__ == "__main__":
    main()
