"""Content-hash embedding cache: a text the model has seen once is never embedded again.

The key is a sha256 over everything that decides what ``Embedder.encode`` returns for one chunk: the parts of
a build whose change moves vectors (``manifest.embedding_parts``: the model, its runtime and precision, its
token window, the tokenizer library's version), the exact retrieval text and the sentence spans pooled from
the same forward pass. The value is the chunk vector (float32, exact) and its
sentence vectors (float16, which is what an index stores for them), with a CRC so a damaged row reads as a
miss instead of a wrong vector.

One SQLite file in WAL mode, so concurrent builds into different indexes can share it: SQLite serialises
their writes, and readers never block. The cache is an optimisation only: any error opening, reading or
writing it is logged once and the build goes on embedding, never fails because of it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
import struct
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from .embedder import Embedder
from .manifest import cache_namespace, embedding_parts

log = logging.getLogger("askdocs.build")

FORMAT = 1
_QUERY_ROWS = 500  # keys per SELECT, well under SQLite's 32,766 bound variables

_SCHEMA = """
CREATE TABLE IF NOT EXISTS vectors (
    key BLOB PRIMARY KEY,     -- sha256 of the model's whole input, see EmbeddingCache.key
    sentences INTEGER NOT NULL,
    vector BLOB NOT NULL,     -- float32 x dimension
    sentence_vectors BLOB NOT NULL,  -- float16 x sentences x dimension
    crc INTEGER NOT NULL      -- crc32 of vector + sentence_vectors
) WITHOUT ROWID
"""

# Chunk vector (dim,) float32; sentence vectors (n, dim) float16, the precision they are stored in (cache and index)
# alike: a build holds every chunk's sentence vectors until it writes, and at float32 that was half its memory.
Cached = tuple[np.ndarray, np.ndarray]


class EmbeddingCache:
    """Chunk and sentence vectors by content hash, for one embedder's model, runtime and precision."""

    def __init__(self, path: Path, embedder: Embedder):
        self.path = Path(path)
        self.dimension = embedder.dimension
        # The keys the cache has always hashed (Part.cache_as), so caches filled before keep serving.
        self._namespace = json.dumps({"format": FORMAT, **cache_namespace(embedding_parts(embedder))},
                                     sort_keys=True).encode()
        self._db: sqlite3.Connection | None = None
        self._failed = False

    # ------------------------------------------------------------------ keys

    def key(self, text: str, spans: Sequence[Sequence[int]]) -> bytes:
        digest = hashlib.sha256(self._namespace)
        encoded = text.encode("utf-8", "surrogatepass")
        # Lengths first, so no text/spans pair can run into another's bytes.
        digest.update(struct.pack("<QQ", len(encoded), len(spans)))
        digest.update(encoded)
        digest.update(np.asarray(spans, dtype="<i8").reshape(-1, 2).tobytes())
        return digest.digest()

    # ------------------------------------------------------------------ storage

    def get(self, keys: list[bytes], sentence_counts: list[int]) -> list[Cached | None]:
        """What is stored for each key (None: not there, or not usable), in order."""
        found: dict[bytes, tuple] = {}
        db = self._connect()
        if db is not None and keys:
            try:
                unique = list(dict.fromkeys(keys))
                for start in range(0, len(unique), _QUERY_ROWS):
                    part = unique[start : start + _QUERY_ROWS]
                    rows = db.execute(
                        f"SELECT key, sentences, vector, sentence_vectors, crc FROM vectors "
                        f"WHERE key IN ({','.join('?' * len(part))})", part,
                    ).fetchall()
                    found.update((row[0], row[1:]) for row in rows)
            except sqlite3.Error as exc:
                self._give_up("read", exc)
                found = {}
        return [self._decode(found.get(key), count) for key, count in zip(keys, sentence_counts)]

    def put(self, items: list[tuple[bytes, np.ndarray, np.ndarray]]) -> None:
        """Store (key, chunk vector, sentence vectors) rows; a failure only costs the next build time."""
        db = self._connect()
        if db is None or not items:
            return
        rows = []
        for key, vector, sentence_vectors in items:
            vector_bytes = np.asarray(vector, dtype="<f4").tobytes()
            sentence_bytes = np.asarray(sentence_vectors, dtype="<f2").reshape(-1, self.dimension).tobytes()
            rows.append((key, len(sentence_vectors), vector_bytes, sentence_bytes,
                         zlib.crc32(sentence_bytes, zlib.crc32(vector_bytes))))
        try:
            with db:  # one transaction: a crash leaves every row or none
                db.executemany("INSERT OR REPLACE INTO vectors VALUES (?, ?, ?, ?, ?)", rows)
        except sqlite3.Error as exc:
            self._give_up("write", exc)

    def close(self) -> None:
        if self._db is not None:
            try:
                self._db.close()
            except sqlite3.Error:
                pass
            self._db = None

    def _decode(self, row: tuple | None, sentences: int) -> Cached | None:
        if row is None:
            return None
        count, vector_bytes, sentence_bytes, crc = row
        if (count != sentences or len(vector_bytes) != 4 * self.dimension
                or len(sentence_bytes) != 2 * self.dimension * sentences
                or zlib.crc32(sentence_bytes, zlib.crc32(vector_bytes)) != crc):
            return None  # damaged or foreign: embed it again (and the new row replaces it)
        vector = np.frombuffer(vector_bytes, dtype="<f4").astype(np.float32)
        return vector, np.frombuffer(sentence_bytes, dtype=np.float16).reshape(sentences, self.dimension)

    def _connect(self) -> sqlite3.Connection | None:
        if self._db is not None or self._failed:
            return self._db
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # A concurrent build's write lock is waited for, not failed on.
            db = sqlite3.connect(self.path, timeout=60)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: a power cut may lose the last rows, never corrupt
            db.execute(_SCHEMA)
            self._db = db
        except (sqlite3.Error, OSError) as exc:
            self._give_up("open", exc)
        return self._db

    def _give_up(self, action: str, exc: Exception) -> None:
        log.warning("embedding cache %s: cannot %s it (%s); embedding without it for the rest of this build "
                    "(delete the file if it stays broken)", self.path, action, exc)
        self._failed = True
        self.close()


# Chunks embedded between two writes to the cache: what an interrupted build can lose, at most.
CACHE_SLICE = 1024


# Encodes the items at the given positions; calls its progress argument with the number of items each finished
# batch held; returns (vectors, sentence vectors per item) in the order of the positions.
Encode = Callable[[list[int], Callable[[int], object] | None], tuple[Sequence[np.ndarray], Sequence[np.ndarray]]]


def embed_with_cache(embedder: Embedder, cache_path: Path | None, items: list[tuple[str, Sequence]],
                     batch_size: int, progress: Callable[[int], object] | None = None,
                     encode: Encode | None = None, slice_size: int | None = CACHE_SLICE,
                     ) -> tuple[list[Cached], int, int]:
    """Vectors of each (retrieval text, sentence spans) item: from the cache at ``cache_path`` where it has them,
    else from ``encode`` (the local model by default; a Ray build passes its cluster). Returns them in order,
    the number of texts embedded and the number of items cached. ``slice_size`` texts are encoded between two
    writes to the cache (None: all in one call, for an encoder that is costly to start).

    A text that occurs twice is embedded once, with or without a cache.
    """
    if encode is None:
        def encode(positions: list[int], report) -> tuple[np.ndarray, list[np.ndarray]]:
            encoded = embedder.encode([items[p][0] for p in positions], spans=[items[p][1] for p in positions],
                                      batch_size=batch_size, progress=report)
            return encoded.vectors, encoded.span_vectors

    cache = EmbeddingCache(cache_path, embedder) if cache_path is not None else None
    results: list[Cached | None] = [None] * len(items)
    try:
        if cache is not None:
            keys = [cache.key(text, spans) for text, spans in items]
            results = cache.get(keys, [len(spans) for _, spans in items])
        else:
            keys = [repr((text, [tuple(span) for span in spans])).encode("utf-8", "surrogatepass") for text, spans in items]
        from_cache = sum(r is not None for r in results)
        if progress is not None and from_cache:
            progress(from_cache)
        missing: dict[bytes, list[int]] = {}  # key -> positions of the items with that input
        for position, (key, hit) in enumerate(zip(keys, results)):
            if hit is None:
                missing.setdefault(key, []).append(position)
        # Longest first (encode then cuts each slice's batches by token count), in slices stored as they
        # finish: an interrupted build leaves its work in the cache for the next one.
        todo = sorted(missing, key=lambda k: len(items[missing[k][0]][0]), reverse=True)
        step = slice_size or max(1, len(todo))
        for start in range(0, len(todo), step):
            part = todo[start : start + step]
            vectors, span_vectors = encode([missing[key][0] for key in part], progress)
            span_vectors = [np.asarray(v, dtype=np.float16) for v in span_vectors]  # as stored, and half the memory
            for key, vector, sentence_vectors in zip(part, vectors, span_vectors):
                for position in missing[key]:
                    results[position] = (vector, sentence_vectors)
                if progress is not None and len(missing[key]) > 1:
                    progress(len(missing[key]) - 1)  # the copies of a text embedded once
            if cache is not None:
                cache.put(list(zip(part, vectors, span_vectors)))
    finally:
        if cache is not None:
            cache.close()
    return results, len(todo), from_cache
