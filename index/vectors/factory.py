"""Which vector store: decided here only, from the manifest (reading) or the vector-store setting (writing)."""

from __future__ import annotations

from pathlib import Path

from .base import ReadOptions, RowDocuments, VectorStore, VectorWriter

STORES = ("faiss", "milvus")


def store_name(section: dict) -> str:
    """The vector store a manifest's "vectors" section names: milvus, or faiss (flat and IVF; also an index
    written before the section existed)."""
    return "milvus" if section.get("type") == "milvus" else "faiss"


def open_store(folder: Path, section: dict, dimension: int, documents: RowDocuments,
               options: ReadOptions = ReadOptions()) -> VectorStore:
    """The vectors of the generation in ``folder``, as its manifest's "vectors" section says they were written.

    Raises index.errors.IndexUnavailable and its kinds (or, for a damaged FAISS file, RuntimeError / ValueError)."""
    if store_name(section) == "milvus":
        from . import milvus_store  # pymilvus only where Milvus is used

        return milvus_store.open_store(Path(folder), section, dimension, documents, options)
    from . import faiss_store

    return faiss_store.open_store(Path(folder), section, options)


def describe(section: dict) -> str:
    """One line on how a manifest's "vectors" section stores the vectors (a build's summary)."""
    if store_name(section) == "milvus":
        from . import milvus_store

        return milvus_store.describe(section)
    from . import faiss_store

    return faiss_store.describe(section)


def new_writer(settings, model: str, dimension: int) -> VectorWriter:
    """The writer for a build with ``settings`` (index.settings.Settings) of vectors from ``model``."""
    if settings.vector_store == "milvus":
        from . import milvus_store

        index_dir = Path(settings.index)
        uri = settings.milvus_address or milvus_store.default_uri(index_dir)
        collection = settings.milvus_collection or milvus_store.default_collection(index_dir, model, dimension)
        return milvus_store.MilvusWriter(uri, collection, settings.milvus_token.get_secret_value() or None)
    from . import faiss_store

    return faiss_store.FaissWriter(settings.vector_index, settings.ann_threshold, settings.ann_nlist,
                                   settings.ann_nprobe)

