"""Chunk vectors in a FAISS file of the generation folder (``vectors.faiss``): the ``faiss`` vector store.

Which FAISS index holds them: exact (flat) for small corpora, IVF above a size threshold, or, when the setting
asks for it, IVF over 8-bit scalar-quantised vectors (``ivf-sq8``): a quarter of IVF-Flat's memory, for a
million chunks and more (docs/scaling.md). SQ8 keeps only approximations, and the store must give vectors back
bit for bit (incremental builds take them over), so that kind also writes the exact float32 vectors as a plain
``vectors.npy`` beside it, read only by ``get`` / ``all`` and the re-ranking of candidates, row by row: serving
reads a few hundred rows of it per question and never maps it.

A flat index scans every vector for every question: on one core here 0.7 ms for 12k 384-d vectors but
16 ms for 100k and 400 ms for 1M once they no longer fit in cache (README "Large corpora"). IVF clusters the
vectors into ``nlist`` lists and scans only the ``nprobe`` lists nearest the question. It was chosen over
HNSW because it keeps what the read path relies on: ID-selector filters, exact ``reconstruct`` through a
direct map (IVFFlat stores the vectors unchanged, so incremental builds take them back bit for bit), and
a build that takes under a minute for 1M vectors on 2 cores, where HNSW's graph build takes far longer.

Everything a reader needs to search the index the way it was built goes into the manifest's "vectors"
section; training samples and clusters with a fixed seed, so the same vectors give the same index.

On an IVF index a filter (a ``Selection``) searches the IVF lists through the selector, probing more lists
the fewer chunks match: ``nprobe`` times all chunks over matching chunks, up to every list, so it
examines about as many matching candidates as an unfiltered search does. That keeps it exact too while
the filter matches at most ``nprobe/nlist`` of the chunks (every list is then probed; 31k of 1M chunks
with the defaults) or at most DIRECT_SCORING_LIMIT (scored one by one). A broader filter is approximate
like an unfiltered search, with about its recall (bench/ann.py: 0.996-0.999 recall@10 at 1M for 10-30%
filters), and returns fewer than k only if fewer than k matching chunks lie in the probed lists.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

from ..npy_rows import NpyRows, RowsFileError
from .base import Hits, ReadOptions, Selection, VectorIndexError, VectorStore, VectorWriter, top_rows

FILE = "vectors.faiss"
EXACT_FILE = "vectors.npy"  # ivf-sq8 only: the exact vectors the quantised index approximates


@dataclass(frozen=True)
class IndexKind:
    """A FAISS index a build can write: the manifest's "vectors" type names it."""

    label: str  # how messages and descriptions name it
    holds: type  # the FAISS class vectors.faiss must hold
    quantised: bool = False  # keeps approximations only: the exact vectors go to vectors.npy beside it


INDEX_KINDS = {
    "flat": IndexKind("flat", faiss.IndexFlat),
    "ivf": IndexKind("IVF", faiss.IndexIVFFlat),
    "ivf-sq8": IndexKind("IVF-SQ8", faiss.IndexIVFScalarQuantizer, quantised=True),
}
KINDS = ("auto", *INDEX_KINDS)  # what the setting may ask for
# Kinds whose store gives back exactly the float32 vectors written.
EXACT_KINDS = frozenset(name for name, kind in INDEX_KINDS.items() if not kind.quantised)

SEED = 1234
# k-means wants a few dozen points per centroid; more buys little and costs training time linearly.
TRAIN_POINTS_PER_LIST = 64
MIN_POINTS_PER_LIST = 39  # FAISS warns under this; fewer lists is better than badly trained ones
KMEANS_ITERATIONS = 20


def default_nlist(n: int) -> int:
    """About sqrt(n) lists, a power of two: scanning the centroids and the probed lists then cost alike."""
    wanted = 2 ** round(math.log2(max(1.0, math.sqrt(n))))
    return max(1, min(wanted, n // MIN_POINTS_PER_LIST))


# Lists probed per question. With about sqrt(n) lists, the recall a number of probes buys hardly moved with
# the corpus size in bench/ann.py: 32 probes gave recall@10 0.97-0.98 on real SciFact questions at 12k,
# 100k and 1M vectors (16 gave 0.91-0.95), at 1.7 ms and 13 ms p50 for 100k and 1M on one busy core.
DEFAULT_NPROBE = 32

# ivf-sq8 fetches this many times k candidates by their 8-bit scores and orders them by exact inner products
# from vectors.npy: 8-bit scores reorder near ties. bench/ann_sq8.py at 1M chunks: without it recall@10 0.978
# and 41% of questions ranked as IVF-Flat ranks them; with 2 (or 4) IVF-Flat's ranking for all 1,000 and its
# recall, 0.992, for 0.6 ms more per question of 100 candidates (p50 2.27 ms against IVF-Flat's 2.03 ms);
# 4 buys nothing more and reads twice the rows.
RERANK_FACTOR = 2


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
    if INDEX_KINDS[chosen].quantised:
        section.update(file=FILE, exact_file=EXACT_FILE, rerank_factor=RERANK_FACTOR)
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
    if section["type"] == "ivf-sq8":
        # Residuals to the list centroid quantised to 8 bits per dimension (FAISS' default, as index_factory's
        # "IVF1024,SQ8" that bench/ann_memory.py measured).
        index = faiss.IndexIVFScalarQuantizer(quantizer, dimension, section["nlist"],
                                              faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT)
    else:
        index = faiss.IndexIVFFlat(quantizer, dimension, section["nlist"], faiss.METRIC_INNER_PRODUCT)
    index.own_fields = True
    quantizer.this.disown()  # the IVF index frees it
    index.cp.seed = section["seed"]
    index.cp.niter = section["kmeans_iterations"]
    index.cp.spherical = True  # centroids stay on the unit sphere, like the vectors
    index.cp.max_points_per_centroid = TRAIN_POINTS_PER_LIST  # our sample is the training set, no resampling
    sample = np.sort(np.random.default_rng(section["seed"]).choice(n, section["train_size"], replace=False))
    index.train(np.ascontiguousarray(vectors[sample], dtype=np.float32))
    if INDEX_KINDS[section["type"]].quantised:  # vectors.npy answers reconstruct's questions, exactly
        for start in range(0, n, add_batch):
            index.add(np.ascontiguousarray(vectors[start : start + add_batch], dtype=np.float32))
        return index
    # An array direct map: reconstruct(id) for dense_cosines and incremental builds, 8 bytes per vector.
    index.set_direct_map_type(faiss.DirectMap.Array)
    for start in range(0, n, add_batch):
        index.add(np.ascontiguousarray(vectors[start : start + add_batch], dtype=np.float32))
    return index


def check_opened(index: faiss.Index, section: dict, nprobe_override: int = 0) -> int | None:
    """Refuse an index file that is not what the manifest says; return the nprobe to search it with."""
    kind = section.get("type", "flat")
    if kind not in INDEX_KINDS:
        raise VectorIndexError(f"unknown vector index type {kind!r} in the manifest")
    expected = INDEX_KINDS[kind].holds
    if kind == "flat":
        if not isinstance(index, expected):
            raise VectorIndexError(f"the manifest says a flat index, the file holds {type(index).__name__}")
        return None
    if not isinstance(index, expected) or index.nlist != section.get("nlist"):
        raise VectorIndexError(
            f"the manifest says {INDEX_KINDS[kind].label} with {section.get('nlist')} lists, the file holds "
            f"{type(index).__name__}"
            + (f" with {index.nlist} lists" if isinstance(index, faiss.IndexIVF) else "")
        )
    if kind == "ivf" and index.direct_map.type != faiss.DirectMap.Array:
        index.make_direct_map()  # a file written without one; reconstruct needs it
    return max(1, min(index.nlist, nprobe_override or section["nprobe"]))


def describe(section: dict) -> str:
    kind = section.get("type")
    if kind not in INDEX_KINDS or kind == "flat":
        return "flat (exact)"
    quantised = INDEX_KINDS[kind].quantised
    rerank = section.get("rerank_factor", 0) if quantised else 0
    return (f"{INDEX_KINDS[kind].label}{' (8-bit vectors)' if quantised else ''}, {section['nlist']} lists, "
            f"{section['nprobe']} probed per question" + (f", {rerank}×k candidates re-ranked exactly" if rerank else ""))


# Under this many allowed rows, scoring them one by one beats a selector-filtered scan of all vectors; it is also
# what keeps a narrow filter exact on an IVF index.
DIRECT_SCORING_LIMIT = 4096


class FlatStore(VectorStore):
    """An exact (flat, inner product) FAISS index: every search scans every allowed vector."""

    def __init__(self, index: faiss.Index):
        self.index = index

    @property
    def dimension(self) -> int:
        return self.index.d

    def count(self) -> int:
        return self.index.ntotal

    def search(self, queries: np.ndarray, k: int, selection: Selection | None = None) -> list[Hits]:
        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        k = min(k, self.count() if selection is None else selection.count)
        if k <= 0:
            return [Hits(np.zeros(0, np.int64), np.zeros(0, np.float32)) for _ in queries]
        if selection is not None and selection.count <= DIRECT_SCORING_LIMIT:
            allowed = selection.rows
            vectors = self.get(allowed)
            found = []
            for query in queries:
                scores = vectors @ query
                top = top_rows(scores, k)
                found.append(Hits(allowed[top], scores[top]))
            return found
        # One question scans the vectors once; OpenMP threads for that cost more than they save: measured 0.8 ms
        # with one thread against 19 ms with two on a busy 2-core machine (SciFact, 12k chunks). The setting is
        # per calling thread in OpenMP, and requests arrive on a thread pool, so it is made here, every time.
        faiss.omp_set_num_threads(1)
        scores, rows = self.index.search(queries, k, params=self.parameters(selection))
        return [Hits(r[r >= 0], s[r >= 0]) for s, r in zip(scores, rows)]

    def parameters(self, selection: Selection | None) -> faiss.SearchParameters | None:
        return None if selection is None else faiss.SearchParameters(sel=_selector(selection))

    def get(self, ids: np.ndarray) -> np.ndarray:
        ids = np.asarray(ids, dtype=np.int64)
        if len(ids) == 0:
            return np.zeros((0, self.dimension), np.float32)
        return self.index.reconstruct_batch(ids)

    def all(self) -> np.ndarray:
        return self.index.reconstruct_n(0, self.index.ntotal)

    def describe(self) -> str:
        return describe({"type": "flat"})


class IVFStore(FlatStore):
    """An IVF index: a search scans the ``nprobe`` lists nearest the question (more when a filter is narrow)."""

    def __init__(self, index: faiss.IndexIVFFlat, nprobe: int):
        super().__init__(index)
        self.nprobe = nprobe  # what the manifest recorded, or the reader's override within the number of lists

    @property
    def approximate(self) -> bool:
        return True

    def parameters(self, selection: Selection | None) -> faiss.SearchParameters:
        if selection is None:
            return faiss.SearchParametersIVF(nprobe=self.nprobe)
        # The probed lists hold about nprobe/nlist of the allowed rows, few when few are allowed; probing more
        # lists in proportion examines as many allowed candidates as an unfiltered search examines rows
        # (search/filters.py says what that keeps exact).
        wider = min(self.index.nlist, math.ceil(self.nprobe * self.count() / max(1, selection.count)))
        return faiss.SearchParametersIVF(sel=_selector(selection), nprobe=wider)

    def describe(self) -> str:
        # The lists probed are the served ones: a reader may override what the build recorded.
        return describe({"type": "ivf", "nlist": self.index.nlist, "nprobe": self.nprobe})


class SQ8Store(IVFStore):
    """An IVF index over 8-bit vectors, searched like IVF; the exact vectors come from vectors.npy, which also
    re-ranks the candidates."""

    def __init__(self, index: faiss.IndexIVFScalarQuantizer, nprobe: int, exact: NpyRows, rerank_factor: int):
        super().__init__(index, nprobe)
        self.exact = exact
        self.rerank_factor = rerank_factor

    def search(self, queries: np.ndarray, k: int, selection: Selection | None = None) -> list[Hits]:
        if self.rerank_factor <= 1:
            return super().search(queries, k, selection)
        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        found = []
        for query, candidates in zip(queries, super().search(queries, k * self.rerank_factor, selection)):
            scores = self.get(candidates.ids) @ query
            top = top_rows(scores, k)
            found.append(Hits(candidates.ids[top], scores[top]))
        return found

    def get(self, ids: np.ndarray) -> np.ndarray:
        return self.exact.rows(np.asarray(ids, dtype=np.int64))

    def all(self) -> np.ndarray:
        return self.exact.copy()

    def describe(self) -> str:
        return describe({"type": "ivf-sq8", "nlist": self.index.nlist, "nprobe": self.nprobe,
                         "rerank_factor": self.rerank_factor})

    def close(self) -> None:
        self.exact.close()


def open_exact_vectors(path: Path, count: int, dimension: int) -> NpyRows:
    """vectors.npy, read row by row with positional reads (index/npy_rows.py): memory-mapped, the re-ranking's
    scattered rows would map most of the file into the serving process' RSS (bench/README.md, "ivf-sq8")."""
    try:
        exact = NpyRows.open_npy(path)
    except RowsFileError as exc:
        raise VectorIndexError(f"the exact vectors cannot be read: {exc}") from None
    if exact.dtype != np.float32 or exact.shape != (count, dimension):
        exact.close()
        raise VectorIndexError(f"the exact vectors {path} hold {exact.dtype} {exact.shape}, the index "
                               f"{count} float32 vectors of {dimension}")
    return exact


def _selector(selection: Selection) -> faiss.IDSelector:
    # The selector only points into the bitmap, which the selection caches: it lives as long as the selection.
    return faiss.IDSelectorBitmap(len(selection.mask), faiss.swig_ptr(selection.bitmap))


def open_store(folder: Path, section: dict, options: ReadOptions) -> FlatStore:
    """The FAISS index of the generation in ``folder``, refused (ValueError, RuntimeError) unless it is what
    ``section`` (the manifest's) says."""
    # Memory-mapped: a generation's files never change once published, and every `serve --workers` process then
    # shares one copy of the vectors in the page cache instead of reading its own.
    index = faiss.read_index(str(Path(folder) / FILE), faiss.IO_FLAG_MMAP_IFC)
    nprobe = check_opened(index, section, options.nprobe)
    if nprobe is None:
        return FlatStore(index)
    if INDEX_KINDS[section["type"]].quantised:
        exact = open_exact_vectors(Path(folder) / section.get("exact_file", EXACT_FILE), index.ntotal, index.d)
        return SQ8Store(index, nprobe, exact, int(section.get("rerank_factor", 0)))
    return IVFStore(index, nprobe)


class FaissWriter(VectorWriter):
    """Writes ``vectors.faiss``: flat, or IVF when the setting or the corpus size says so (``plan``); with
    ivf-sq8 also ``vectors.npy``."""

    def __init__(self, kind: str = "auto", threshold: int = 100_000, nlist: int = 0, nprobe: int = 0):
        self._settings = (kind, threshold, nlist, nprobe)
        self._planned: dict | None = None

    def plan(self, n: int) -> dict:
        self._planned = plan(n, *self._settings)
        return self._planned

    def write(self, folder: Path, vectors: np.ndarray, doc_ids: list[str], ordinals: list[int],
              previous: Path | None) -> dict:
        section = self._planned if self._planned is not None else self.plan(len(vectors))
        index = build(vectors, section)
        faiss.write_index(index, str(Path(folder) / FILE))
        if INDEX_KINDS[section["type"]].quantised:
            # Written in blocks: the vectors may be a memory map larger than what should be copied at once.
            exact = np.lib.format.open_memmap(Path(folder) / section["exact_file"], mode="w+", dtype=np.float32,
                                              shape=vectors.shape)
            for start in range(0, len(vectors), 65536):
                exact[start : start + 65536] = vectors[start : start + 65536]
            exact.flush()
            del exact
        return section
