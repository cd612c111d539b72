"""Which FAISS index holds the chunk vectors: exact (flat) for small corpora, IVF above a size threshold.

A flat index scans every vector for every question: on one core here 0.7 ms for 12k 384-d vectors but
16 ms for 100k and 400 ms for 1M once they no longer fit in cache (README "Large corpora"). IVF clusters the
vectors into ``nlist`` lists and scans only the ``nprobe`` lists nearest the question. It was chosen over
HNSW because it keeps what the read path relies on: ID-selector filters, exact ``reconstruct`` through a
direct map (IVFFlat stores the vectors unchanged, so incremental builds take them back bit for bit), and
a build that takes under a minute for 1M vectors on 2 cores, where HNSW's graph build takes far longer.

Everything a reader needs to search the index the way it was built goes into the manifest's "vectors"
section; training samples and clusters with a fixed seed, so the same vectors give the same index.
"""

from __future__ import annotations

import math

import faiss
import numpy as np

from .errors import BadInput

KINDS = ("auto", "flat", "ivf")
SEED = 1234
# k-means wants a few dozen points per centroid; more buys little and costs training time linearly.
TRAIN_POINTS_PER_LIST = 64
MIN_POINTS_PER_LIST = 39  # FAISS warns under this; fewer lists is better than badly trained ones
KMEANS_ITERATIONS = 20


class VectorIndexError(BadInput, ValueError):
    code = "vector_index"


def default_nlist(n: int) -> int:
    """About sqrt(n) lists, a power of two: scanning the centroids and the probed lists then cost alike."""
    wanted = 2 ** round(math.log2(max(1.0, math.sqrt(n))))
    return max(1, min(wanted, n // MIN_POINTS_PER_LIST))


# Lists probed per question. With about sqrt(n) lists, the recall a number of probes buys hardly moved with
# the corpus size in bench/ann.py: 32 probes gave recall@10 0.97-0.98 on real SciFact questions at 12k,
# 100k and 1M vectors (16 gave 0.91-0.95), at 1.7 ms and 13 ms p50 for 100k and 1M on one busy core.
DEFAULT_NPROBE = 32


def default_nprobe(nlist: int) -> int:
    return max(1, min(nlist, DEFAULT_NPROBE))


def plan(n: int, kind: str = "auto", threshold: int = 100_000, nlist: int = 0, nprobe: int = 0) -> dict:
    """The manifest's "vectors" section for ``n`` chunks: what ``build`` makes and readers search with."""
    if kind not in KINDS:
        raise VectorIndexError(f"vector index must be one of {', '.join(KINDS)}, not {kind!r}")
    chosen = kind if kind != "auto" else ("ivf" if n >= threshold else "flat")
    section = {"type": chosen, "metric": "inner_product", "chosen_by": "auto" if kind == "auto" else "setting"}
    if chosen == "flat":
        return section
    lists = nlist or default_nlist(n)
    if lists > n:
        raise VectorIndexError(f"an IVF index of {lists} lists needs at least {lists} chunks, there are {n}")
    section.update(
        nlist=lists,
        nprobe=min(lists, nprobe or default_nprobe(lists)),
        train_size=min(n, TRAIN_POINTS_PER_LIST * lists),
        kmeans_iterations=KMEANS_ITERATIONS,
        seed=SEED,
    )
    return section


def build(vectors: np.ndarray, section: dict, add_batch: int = 65536) -> faiss.Index:
    """The index ``section`` describes, holding ``vectors`` (row i is id i). Reads ``vectors`` in place."""
    n, dimension = vectors.shape
    if section["type"] == "flat":
        index = faiss.IndexFlatIP(dimension)
        for start in range(0, n, add_batch):
            index.add(np.ascontiguousarray(vectors[start : start + add_batch], dtype=np.float32))
        return index
    quantizer = faiss.IndexFlatIP(dimension)
    index = faiss.IndexIVFFlat(quantizer, dimension, section["nlist"], faiss.METRIC_INNER_PRODUCT)
    index.own_fields = True
    quantizer.this.disown()  # the IVF index frees it
    index.cp.seed = section["seed"]
    index.cp.niter = section["kmeans_iterations"]
    index.cp.spherical = True  # centroids stay on the unit sphere, like the vectors
    index.cp.max_points_per_centroid = TRAIN_POINTS_PER_LIST  # our sample is the training set, no resampling
    sample = np.sort(np.random.default_rng(section["seed"]).choice(n, section["train_size"], replace=False))
    index.train(np.ascontiguousarray(vectors[sample], dtype=np.float32))
    # An array direct map: reconstruct(id) for dense_cosines and incremental builds, 8 bytes per vector.
    index.set_direct_map_type(faiss.DirectMap.Array)
    for start in range(0, n, add_batch):
        index.add(np.ascontiguousarray(vectors[start : start + add_batch], dtype=np.float32))
    return index


def check_opened(index: faiss.Index, section: dict, nprobe_override: int = 0) -> int | None:
    """Refuse an index file that is not what the manifest says; return the nprobe to search it with."""
    kind = section.get("type", "flat")
    if kind == "flat":
        if not isinstance(index, faiss.IndexFlat):
            raise VectorIndexError(f"the manifest says a flat index, the file holds {type(index).__name__}")
        return None
    if kind != "ivf":
        raise VectorIndexError(f"unknown vector index type {kind!r} in the manifest")
    if not isinstance(index, faiss.IndexIVFFlat) or index.nlist != section.get("nlist"):
        raise VectorIndexError(
            f"the manifest says IVF with {section.get('nlist')} lists, the file holds {type(index).__name__}"
            + (f" with {index.nlist} lists" if isinstance(index, faiss.IndexIVF) else "")
        )
    if index.direct_map.type != faiss.DirectMap.Array:
        index.make_direct_map()  # a file written without one; reconstruct needs it
    return max(1, min(index.nlist, nprobe_override or section["nprobe"]))


def describe(section: dict) -> str:
    if section.get("type") == "ivf":
        return f"IVF, {section['nlist']} lists, {section['nprobe']} probed per question"
    return "flat (exact)"
