"""One page of an indexed PDF as a PNG, rendered by pdfium on demand and cached on disk beside the index.

Only the page asked for is rendered (a 500-page PDF opens at its cited page), from the file the index read,
and only while that file still has the indexed content (its sha256): a changed file is refused, not shown
with highlights that belong to other text. The cache (``page_cache/`` in the index folder) is keyed by
content, page and width, and bounded by total bytes: the least recently used pages go first.
"""

from __future__ import annotations

import hashlib
import io
import math
import os
import threading
from pathlib import Path

from .errors import Conflict, NotFound
from .reading import COMPRESSED_SUFFIX, LoadError, gunzip, read_regular

FOLDER = "page_cache"
MAX_WIDTH = 2000  # px: a screen's width at 2x; wider only costs memory and bytes
MIN_WIDTH = 50
MAX_PIXELS = 2000 * 3000  # a page of odd shape (a long receipt, a poster) is scaled down to this
CACHE_BYTES = 200_000_000

_lock = threading.Lock()  # one render at a time: pdfium is not thread-safe, and two renders double the memory


class PageUnavailable(Conflict):
    """The page cannot be shown: why, in words for the user."""

    code = "page_unavailable"


class NoSuchPage(NotFound, IndexError):
    """A page number the document does not have."""

    code = "no_such_page"


def render_page(index_dir: Path, source: Path, sha256: str, page: int, width: int, max_bytes: int,
                cache_bytes: int = CACHE_BYTES) -> bytes:
    """PNG of 1-based ``page`` at ``width`` px (clamped to MIN_WIDTH..MAX_WIDTH); PageUnavailable if the file
    is gone, changed or will not render; NoSuchPage for a page the document does not have."""
    width = max(MIN_WIDTH, min(MAX_WIDTH, width))
    cache = Path(index_dir) / FOLDER
    cached = cache / f"{sha256}-{page}-{width}.png"
    try:
        data = cached.read_bytes()
        os.utime(cached)  # recently used
        return data
    except OSError:
        pass
    png = _render(source, sha256, page, width, max_bytes)
    _store(cache, cached, png, cache_bytes)
    return png


def _render(source: Path, sha256: str, page: int, width: int, max_bytes: int) -> bytes:
    import pypdfium2 as pdfium

    try:
        data, _ = read_regular(source, max_bytes)
        if source.suffix.lower() == COMPRESSED_SUFFIX:
            data_for_hash, data = data, gunzip(data, max_bytes)
        else:
            data_for_hash = data
    except (LoadError, OSError) as exc:
        raise PageUnavailable(f"the PDF cannot be read now ({exc})") from None
    if hashlib.sha256(data_for_hash).hexdigest() != sha256:
        raise PageUnavailable("the file has changed since it was indexed",
                              "build the index again (build-index) to see its pages")
    with _lock:
        try:
            document = pdfium.PdfDocument(data)
        except pdfium.PdfiumError as exc:
            raise PageUnavailable(f"the PDF cannot be rendered ({exc})") from None
        try:
            if not 1 <= page <= len(document):
                raise NoSuchPage(f"no page {page} (the document has {len(document)})")
            pdf_page = document[page - 1]
            try:
                points_wide, points_high = pdf_page.get_size()
                scale = width / points_wide
                if width * points_high / points_wide > MAX_PIXELS / width:
                    scale = (MAX_PIXELS / (points_wide * points_high)) ** 0.5
                    # pdfium's bitmap is the page's size times scale, each side rounded up: keep that in bound.
                    while math.ceil(points_wide * scale) * math.ceil(points_high * scale) > MAX_PIXELS:
                        scale *= 0.999
                bitmap = pdf_page.render(scale=scale)
                image = bitmap.to_pil()
                out = io.BytesIO()
                image.save(out, format="PNG", optimize=False)
                return out.getvalue()
            finally:
                pdf_page.close()
        except pdfium.PdfiumError as exc:
            raise PageUnavailable(f"page {page} cannot be rendered ({exc})") from None
        finally:
            document.close()


def _store(cache: Path, path: Path, png: bytes, cache_bytes: int) -> None:
    # The cache only saves time: a full or read-only disk costs a render next time, never the answer.
    try:
        cache.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}-{threading.get_ident()}")
        tmp.write_bytes(png)
        os.replace(tmp, path)
        entries = sorted(((p.stat().st_mtime, p.stat().st_size, p) for p in cache.glob("*.png")),
                         key=lambda e: e[0])
        total = sum(size for _, size, _ in entries)
        for _, size, old in entries:
            if total <= cache_bytes or old == path:
                break
            old.unlink(missing_ok=True)
            total -= size
    except OSError:
        pass
