"""Where a generation's chunk vectors live, behind one interface (the model: txtai's ``ann/``).

``VectorStore`` is what the read path searches (``search``, ``get``, ``count``, ``describe``, ``close``);
``VectorWriter`` is what a build writes through (``plan``, ``write``, then ``published`` or ``discard``).
A metadata filter reaches a store as one ``Selection`` of chunk rows, which each store translates.
``factory`` is the one place that knows which implementation a manifest or a setting means:

- ``faiss_store``: ``vectors.faiss`` in the generation folder, flat (exact), IVF (approximate) or IVF over 8-bit
  vectors with the exact ones in ``vectors.npy``;
- ``milvus_store``: rows in a Milvus collection shared by the index's generations.
"""

from .base import (Hits, ReadOptions, RowDocuments, Selection, VectorIndexError, VectorStore, VectorWriter,
                   top_rows)
from .factory import STORES, describe, new_writer, open_store, store_name

__all__ = ["STORES", "Hits", "ReadOptions", "RowDocuments", "Selection", "VectorIndexError", "VectorStore",
           "VectorWriter", "describe", "new_writer", "open_store", "store_name", "top_rows"]
