"""What OCR read from each picture, kept beside the index so that a build never recognises the same pixels twice.

OCR costs 2-5 s a page on two cores, and a full build reads every file again: after an upgrade that changes what
the loaders keep (the structure version), after a settings change, or when a rebuild is forced. The text of a page does
not change with any of those, so the first build's reading is kept in ``ocr-cache.sqlite`` in the index folder,
beside the embedding cache, and later builds take it from there.

The key is the picture itself (a hash of the pixels OCR would be given: a re-rendered page that came out different
is read again) with what turns pixels into text: the RapidOCR version and OCR_LAYOUT_VERSION, to be bumped when
index.ocr changes how it lays out what RapidOCR returns.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

OCR_CACHE_FILE = "ocr-cache.sqlite"  # in the index folder, beside generations/ and the embedding cache
OCR_LAYOUT_VERSION = 1


@dataclass
class OcrCacheUse:
    """How many pictures a build recognised and how many it took from the cache (the build summary says)."""

    recognised: int = 0
    cached: int = 0


class OcrCache:
    def __init__(self, path: Path):
        self.path = path
        self.use = OcrCacheUse()
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        try:
            rapidocr = version("rapidocr")
        except PackageNotFoundError:
            rapidocr = None
        self._engine = f"rapidocr {rapidocr}; layout {OCR_LAYOUT_VERSION}"

    def key(self, pixels) -> str:
        digest = hashlib.sha256(pixels.tobytes())
        digest.update(f"{pixels.shape} {pixels.dtype} {self._engine}".encode())
        return digest.hexdigest()

    def get(self, key: str) -> tuple[str, list] | None:
        with self._lock:
            db = self._open()
            row = db.execute("SELECT text, boxes FROM ocr WHERE key = ?", (key,)).fetchone() if db else None
        if row is None:
            return None
        self.use.cached += 1
        return row[0], [tuple(box) if box is not None else None for box in json.loads(row[1])]

    def put(self, key: str, text: str, boxes: list) -> None:
        self.use.recognised += 1
        with self._lock:
            db = self._open()
            if db is not None:
                db.execute("INSERT OR REPLACE INTO ocr (key, text, boxes) VALUES (?, ?, ?)",
                           (key, text, json.dumps(boxes)))
                db.commit()

    def _open(self) -> sqlite3.Connection | None:
        if self._db is None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._db = sqlite3.connect(self.path, check_same_thread=False)
                self._db.execute("CREATE TABLE IF NOT EXISTS ocr (key TEXT PRIMARY KEY, text TEXT, boxes TEXT)")
            except sqlite3.Error:
                # A cache that cannot be opened (read-only folder, damaged file) costs time, never the build.
                self._db = None
                return None
        return self._db

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None


_active: OcrCache | None = None


def active() -> OcrCache | None:
    """The cache of the build reading files now (None: OCR outside a build, or no cache)."""
    return _active


@contextmanager
def cache_at(path: Path):
    """Within the block, OCR looks in (and adds to) the cache at ``path``; yields its OcrCacheUse."""
    global _active
    cache = OcrCache(path)
    previous, _active = _active, cache
    try:
        yield cache.use
    finally:
        _active = previous
        cache.close()
