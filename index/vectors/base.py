"""What every vector store answers, and what every vector writer does, whatever holds the vectors.

A generation's chunk rows are numbered 0..n-1 in ``chunks.sqlite``; row i has vector i in the store. Readers
(``search/``) only ever see ``VectorStore``; builds only ever see ``VectorWriter``. Which implementation
stands behind them is decided once, by ``factory`` from the manifest's "vectors" section (reading) or the
vector-store setting (writing).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import BadInput


class VectorIndexError(BadInput, ValueError):
    """A vector index that cannot be built (an unknown kind, more IVF lists than chunks) or a file that is not
    the index its manifest describes. A store that cannot be reached or lacks rows raises index.errors'
    IndexUnavailable / IndexCorrupt / IndexMismatch like the rest of the index."""

    code = "vector_index"


@dataclass(frozen=True)
class Hits:
    """One question's nearest rows, best first (equal scores: lower row first); at most k of them."""

    ids: np.ndarray  # int64 chunk rows
    scores: np.ndarray  # float32 inner products (cosines: the vectors are L2-normalised)


class Selection:
    """The chunk rows a search may return: a metadata filter, once resolved, as one object every store
    translates its own way (FAISS: an ID-selector bitmap; Milvus: an expression)."""

    def __init__(self, mask: np.ndarray):
        self.mask = np.asarray(mask, dtype=bool)  # one bool per chunk row

    @classmethod
    def of_rows(cls, rows, n: int) -> Selection:
        mask = np.zeros(n, dtype=bool)
        mask[np.asarray(rows, dtype=np.int64)] = True
        return cls(mask)

    @cached_property
    def rows(self) -> np.ndarray:
        """The allowed rows, ascending."""
        return np.flatnonzero(self.mask)

    @property
    def count(self) -> int:
        return len(self.rows)

    @cached_property
    def bitmap(self) -> np.ndarray:
        """One bit per row, least significant first (FAISS' IDSelectorBitmap layout); cached, so a selector
        pointing into it can outlive the call that made it."""
        return np.packbits(self.mask, bitorder="little")


@dataclass(frozen=True)
class RowDocuments:
    """The document of every chunk row: a store that filters by document (Milvus) needs it to translate a
    selection; the others ignore it."""

    doc_rows: np.ndarray  # per chunk row, an index into doc_ids
    doc_ids: Sequence[str]


@dataclass(frozen=True)
class ReadOptions:
    """What a reader may override of what the build recorded."""

    nprobe: int = 0  # IVF lists probed per question; 0: the manifest's
    address: str | None = None  # where the store is (Milvus URI), e.g. with credentials or another host name
    token: str | None = None


def top_rows(scores: np.ndarray, k: int) -> np.ndarray:
    """Positions of the k highest scores, best first; equal scores go to the lower position, so results never
    wobble between runs or stores."""
    k = min(k, len(scores))
    if k <= 0:
        return np.zeros(0, np.int64)
    if k < len(scores):
        kth = np.partition(scores, len(scores) - k)[len(scores) - k]
        above = np.flatnonzero(scores > kth)
        top = np.concatenate([above, np.flatnonzero(scores == kth)[: k - len(above)]])
    else:
        top = np.arange(len(scores))
    return top[np.lexsort((top, -scores[top]))]


class VectorStore(ABC):
    """A generation's chunk vectors, opened for reading. Safe to share between threads; ``close`` once."""

    @property
    @abstractmethod
    def dimension(self) -> int: ...

    @property
    def approximate(self) -> bool:
        """Whether a search may miss some of the true nearest rows (IVF)."""
        return False

    @abstractmethod
    def count(self) -> int:
        """Rows in this generation (not in a shared collection)."""

    @abstractmethod
    def search(self, queries: np.ndarray, k: int, selection: Selection | None = None) -> list[Hits]:
        """Each query's k nearest rows by inner product, only rows ``selection`` allows (fewer when fewer
        are allowed)."""

    @abstractmethod
    def get(self, ids: np.ndarray) -> np.ndarray:
        """The stored vectors of rows ``ids``, in that order, bit for bit as written: (len(ids), dimension)."""

    def all(self) -> np.ndarray:
        """Every row's vector, in row order (an incremental build takes them over)."""
        return self.get(np.arange(self.count(), dtype=np.int64))

    @abstractmethod
    def describe(self) -> str:
        """One line for GET /health: what kind of index, searched how."""

    def close(self) -> None:
        """Release what the store holds (a connection, a file); calling it again does nothing."""


class VectorWriter(ABC):
    """Writes one build's vectors into a generation folder (and wherever else the store keeps them).

    The order a build follows: ``check`` (before any embedding), ``plan(n)`` (the manifest section, before
    embedding too, so an impossible setting costs nothing), ``write`` into the temporary generation folder,
    then ``published`` once ``CURRENT`` names it, or ``discard`` if anything failed. ``close`` at the end.
    """

    # Whether a build whose documents did not change still publishes a generation: a store shared between
    # generations (Milvus) removes the rows nobody uses only when a generation is published.
    publishes_unchanged = False

    def check(self) -> None:
        """Fail now if the store cannot be reached, not after the embedding."""

    @abstractmethod
    def plan(self, n: int) -> dict:
        """The manifest's "vectors" section for ``n`` rows, as far as it is known before ``write``."""

    @abstractmethod
    def write(self, folder: Path, vectors: np.ndarray, doc_ids: list[str], ordinals: list[int],
              previous: Path | None) -> dict:
        """Store ``vectors`` (row i of the generation is vector i) for the generation being written in ``folder``;
        ``previous`` is the live generation's folder, if any. Returns the final manifest "vectors" section."""

    def discard(self, previous: Path | None) -> None:
        """The generation was not published: undo what ``write`` put outside its folder."""

    def published(self, keep: list[Path], dropped: list[Path]) -> None:
        """``CURRENT`` moved: what only ``dropped`` generations used may go."""

    def worker_target(self) -> dict | None:
        """Where Ray workers may write rows themselves (index/distributed.py), or None: the driver writes."""
        return None

    def written_elsewhere(self, ids: set[str]) -> None:
        """Rows Ray workers already wrote for this build: ``write`` need not send them again."""

    def remove(self, ids: list[str]) -> None:
        """Remove rows written for a build that will not publish (Ray workers' rows after a failure)."""

    def close(self) -> None:
        """Release what the writer holds; calling it again does nothing."""
