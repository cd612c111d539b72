"""Metadata filters turned into an exact set of chunk rows.

Retrieval is restricted to those rows before ranking (FAISS searches through an ID selector, BM25
scores are masked), never by over-fetching and dropping: every chunk returned matches the filter.

On a flat index the result is exact: when at least k chunks match, exactly k come back, the same ones
an exhaustive search over the matching chunks would return.

On an approximate (IVF) index a filter searches the IVF lists through the selector, probing more lists
the fewer chunks match: ``nprobe`` times all chunks over matching chunks, up to every list, so it
examines about as many matching candidates as an unfiltered search does. That keeps it exact too while
the filter matches at most ``nprobe/nlist`` of the chunks (every list is then probed; 31k of 1M chunks
with the defaults) or at most DIRECT_SCORING_LIMIT (scored one by one). A broader filter is approximate
like an unfiltered search, with about its recall (bench/ann.py: 0.996-0.999 recall@10 at 1M for 10-30%
filters), and returns fewer than k only if fewer than k matching chunks lie in the probed lists.
BM25 is exhaustive either way.
"""

from __future__ import annotations

import fnmatch
import math
import re
from dataclasses import dataclass
from functools import cached_property

import faiss
import numpy as np

from index.store import StoredIndex

from .models import Filters

# Under this many matching chunks, scoring them directly beats a selector-filtered scan of all vectors.
DIRECT_SCORING_LIMIT = 4096


@dataclass
class ChunkFilter:
    mask: np.ndarray  # bool per chunk row

    @cached_property
    def rows(self) -> np.ndarray:
        return np.flatnonzero(self.mask)

    @property
    def count(self) -> int:
        return len(self.rows)

    @cached_property
    def _bitmap(self) -> np.ndarray:
        return np.packbits(self.mask, bitorder="little")

    def faiss_params(self, nprobe: int | None = None, nlist: int = 0) -> faiss.SearchParameters:
        """Search parameters restricted to the matching rows; ``nprobe`` (IVF) is widened by selectivity."""
        # The selector only points into the bitmap, so the bitmap must outlive the search: it is cached on self.
        selector = faiss.IDSelectorBitmap(len(self.mask), faiss.swig_ptr(self._bitmap))
        if nprobe is None:
            return faiss.SearchParameters(sel=selector)
        # The probed lists hold about nprobe/nlist of the matching chunks, few when few match; probing more
        # lists in proportion examines as many matching candidates as an unfiltered search examines chunks.
        wider = min(nlist, math.ceil(nprobe * len(self.mask) / max(1, self.count)))
        return faiss.SearchParametersIVF(sel=selector, nprobe=wider)


class DocumentTable:
    """Per-document columns of an opened index, arranged so each filter is a few numpy operations."""

    def __init__(self, stored: StoredIndex):
        self.stored = stored
        self.kinds = np.array(stored.doc_kinds)
        self.mtimes = np.array(stored.doc_mtimes, dtype=np.float64)
        # One string with an id per line: a compiled glob scans it at C speed instead of a Python loop per doc.
        self._ids_blob = "\n".join(stored.doc_ids)
        self._line_starts = np.array([0] + [m.end() for m in re.finditer("\n", self._ids_blob)], dtype=np.int64)
        self._meta_index: dict[str, dict[object, list[int]]] = {}
        for row, meta in enumerate(stored.doc_meta):
            for key, value in meta.items():
                for item in value if isinstance(value, list) else [value]:
                    self._meta_index.setdefault(key, {}).setdefault(_key(item), []).append(row)

    def documents(self, filters: Filters) -> np.ndarray:
        n = len(self.kinds)
        mask = np.ones(n, dtype=bool)
        if filters.source is not None:
            mask &= self._glob(filters.source)
        if filters.doc_ids is not None:
            wanted = np.zeros(n, dtype=bool)
            rows = [self.stored.doc_row_by_id[d] for d in filters.doc_ids if d in self.stored.doc_row_by_id]
            wanted[rows] = True
            mask &= wanted
        if filters.types is not None:
            mask &= np.isin(self.kinds, filters.types)
        if filters.modified_after is not None:
            mask &= self.mtimes >= filters.modified_after.timestamp()
        if filters.modified_before is not None:
            mask &= self.mtimes < filters.modified_before.timestamp()
        for key, expected in (filters.meta or {}).items():
            values = self._meta_index.get(key, {})
            wanted = np.zeros(n, dtype=bool)
            for item in expected if isinstance(expected, list) else [expected]:
                wanted[values.get(_key(item), [])] = True
            mask &= wanted
        return mask

    def _glob(self, pattern: str) -> np.ndarray:
        # fnmatch's regex, made to match one whole line (one id): no DOTALL, anchored at both ends.
        body = fnmatch.translate(pattern).replace("(?s:", "(?:", 1).removesuffix(r"\Z")
        regex = re.compile(f"^{body}$", re.MULTILINE)
        hits = np.zeros(len(self.kinds), dtype=bool)
        starts = [match.start() for match in regex.finditer(self._ids_blob)]
        hits[np.searchsorted(self._line_starts, starts)] = True
        return hits


def _key(value) -> object:
    # YAML gives 2024 for `year: 2024` while JSON filters may say "2024"; booleans stay distinct from 1/0.
    if isinstance(value, bool):
        return ("bool", value)
    return str(value)


def document_selection(stored: StoredIndex, only: ChunkFilter | None) -> tuple[list[str] | None, bool]:
    """``only`` as document ids for a vector store that filters by document (Milvus): (ids, exclude).

    A filter selects whole documents, so its chunks are exactly the chunks of those documents. The shorter
    list is sent: the selected documents, or (exclude=True) the documents with chunks that it leaves out.
    """
    if only is None:
        return None, False
    doc_rows = stored.chunks["doc_row"]
    selected = np.unique(doc_rows[only.rows])
    others = np.setdiff1d(np.unique(doc_rows), selected)
    if len(others) < len(selected):
        return ([stored.doc_ids[r] for r in others], True) if len(others) else (None, False)
    return [stored.doc_ids[r] for r in selected], False


def chunk_filter(table: DocumentTable, filters: Filters | None) -> ChunkFilter | None:
    if filters is None or filters.is_empty():
        return None
    doc_mask = table.documents(filters)
    return ChunkFilter(mask=doc_mask[table.stored.chunks["doc_row"]])
