"""Where each character of a PDF's stored text is drawn on its page, kept at load time next to the index.

A highlight is drawn from these boxes by stored-text offsets alone: ``boxes[i]`` is the box of ``text[i]``,
so the characters of ``text[start:end]`` are never searched for again. One file per PDF content
(``page_boxes/<sha256>.npz`` in the index folder, shared by every generation holding that file): the boxes
as float32 (16 bytes a stored character, NaN for characters the loader wrote itself, page separators and OCR
text OCR did not place), each page's crop box and rotation, and which pages were read by OCR (their boxes are
where OCR read the characters; where it placed none, a view must say so rather than draw nothing). An index
built before boxes were kept has no file: "no boxes".

pdfium gives a character's box in the page's own space, before its /Rotate; pages are rendered rotated, so
the rectangles of a span are turned with the page (``_turn``) before they are handed out.
"""

from __future__ import annotations

import bisect
import functools
import io
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

FOLDER = "page_boxes"  # in the index folder, beside generations/


@dataclass(frozen=True)
class PageBoxes:
    page_starts: tuple[int, ...]
    boxes: np.ndarray  # (len(text), 4) float32: left, bottom, right, top in PDF points; NaN where none
    geometry: np.ndarray  # (pages, 5) float64: crop left, bottom, right, top, rotation; NaN for a page not placed
    ocr: np.ndarray  # (pages,) bool: the page's text was recognised by OCR, so its characters have no boxes

    def encode(self) -> bytes:
        out = io.BytesIO()
        np.savez_compressed(out, boxes=self.boxes, geometry=self.geometry, ocr=self.ocr,
                            page_starts=np.asarray(self.page_starts, dtype=np.int64))
        return out.getvalue()

    def page_of(self, offset: int) -> int:
        """0-based page of a stored-text offset."""
        return max(0, bisect.bisect_right(self.page_starts, offset) - 1)

    def page_size(self, page: int) -> tuple[float, float] | None:
        """(width, height) in points as the page is shown, or None when its boxes cannot be placed."""
        left, bottom, right, top, rotation = self.geometry[page]
        if np.isnan(rotation):
            return None
        return (top - bottom, right - left) if int(rotation) in (90, 270) else (right - left, top - bottom)

    def span(self, start: int, end: int) -> list[dict]:
        """The highlight of ``text[start:end]``: per page it touches, its rectangles, one per run of characters
        on one line, in points from the top-left corner of the page as rendered (turned by its /Rotate). A page
        read by OCR is listed with ``ocr`` true, and no rectangles where OCR placed none of the span's characters."""
        start, end = max(0, start), min(end, len(self.boxes))
        pages: dict[int, dict] = {}
        current: list[float] | None = None
        current_page = -1
        for offset in range(start, end):
            box = self.boxes[offset]
            placed = not np.isnan(box[0])
            page = self.page_of(offset)
            if not placed and not self.ocr[page]:
                current = None  # a line break, a page separator: the next character starts a new rectangle
                continue
            entry = pages.get(page)
            if entry is None:
                size = self.page_size(page)
                entry = pages[page] = {"page": page + 1, "width": size[0] if size else None,
                                       "height": size[1] if size else None, "boxes": [],
                                       "ocr": bool(self.ocr[page])}
                current = None
            if not placed or entry["width"] is None:
                continue
            left, bottom, right, top = (float(v) for v in box)
            if right <= left or top <= bottom:
                continue  # a space pdfium gives no ink: nothing to draw, and it must not stretch a line's box
            crop_left, _, _, crop_top, _ = self.geometry[page]
            rect = [left - crop_left, crop_top - top, right - crop_left, crop_top - bottom]  # x0, y0, x1, y1
            if current is not None and page == current_page and _same_line(current, rect):
                current[0], current[1] = min(current[0], rect[0]), min(current[1], rect[1])
                current[2], current[3] = max(current[2], rect[2]), max(current[3], rect[3])
            else:
                current = rect
                current_page = page
                entry["boxes"].append(current)
        for page, entry in pages.items():
            # Runs are joined in the page's own space, where its lines are level; then turned as rendered.
            entry["boxes"] = [_turn(rect, self.geometry[page]) for rect in entry["boxes"]]
        return [pages[p] for p in sorted(pages)]


def _turn(rect: list[float], geometry) -> list[float]:
    """``rect`` (x0, y0, x1, y1 from the crop box's top-left corner, before /Rotate) on the page as pdfium renders
    it, turned clockwise by its rotation; checked against pdfium's own FPDF_PageToDevice in tests/test_page_boxes."""
    left, bottom, right, top, rotation = geometry
    width, height = right - left, top - bottom
    x0, y0, x1, y1 = rect
    turn = int(rotation) % 360
    if turn == 90:
        return [height - y1, x0, height - y0, x1]
    if turn == 180:
        return [width - x1, height - y1, width - x0, height - y0]
    if turn == 270:
        return [y0, width - x1, y1, width - x0]
    return rect


def _same_line(line: list[float], rect: list[float]) -> bool:
    # Same line: the glyph continues to the right of the line so far and overlaps it vertically at all (a comma
    # hangs below the letters, a superscript above). The next line starts back at the left, so it never joins.
    overlap = min(line[3], rect[3]) - max(line[1], rect[1])
    return rect[0] >= line[2] - 1 and overlap > 0


def from_pages(pages, page_starts: tuple[int, ...], length: int) -> PageBoxes | None:
    """The boxes of a document of ``length`` characters made of ``pages`` (index.pdf.PdfPage), each starting at
    its ``page_starts`` offset; None when no page has any, nor was read by OCR."""
    ocr = np.array([page.source == "ocr" for page in pages], dtype=bool)
    if not any(page.boxes for page in pages) and not ocr.any():
        return None
    boxes = np.full((length, 4), np.nan, dtype=np.float32)
    geometry = np.full((len(pages), 5), np.nan, dtype=np.float64)
    for number, (page, start) in enumerate(zip(pages, page_starts)):
        if page.geometry is not None:
            geometry[number] = page.geometry
        if page.boxes is not None:
            boxes[start:start + len(page.text)] = np.frombuffer(page.boxes, dtype=np.float32).reshape(-1, 4)
    return PageBoxes(tuple(page_starts), boxes, geometry, ocr)


def decode(data: bytes) -> PageBoxes:
    with np.load(io.BytesIO(data), allow_pickle=False) as arrays:
        # Files written before OCR pages were marked have no "ocr": no page of theirs is known to be OCR'd.
        ocr = arrays["ocr"] if "ocr" in arrays.files else np.zeros(len(arrays["geometry"]), dtype=bool)
        return PageBoxes(tuple(int(s) for s in arrays["page_starts"]), arrays["boxes"], arrays["geometry"], ocr)


def path_for(index_dir: Path, sha256: str) -> Path:
    return Path(index_dir) / FOLDER / f"{sha256}.npz"


def save(index_dir: Path, sha256: str, boxes: PageBoxes) -> None:
    """Written once per content; a temporary file renamed over it, so a reader never sees half a file."""
    path = path_for(index_dir, sha256)
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_bytes(boxes.encode())
    os.replace(tmp, path)


def load(index_dir: Path, sha256: str) -> PageBoxes | None:
    """The boxes kept for this content, or None (not a PDF, built before boxes were kept, unreadable)."""
    try:
        return _decoded(str(path_for(index_dir, sha256)))
    except (OSError, ValueError, KeyError):
        return None


# A file is named by its content's hash and never rewritten, so a decoded one stays right for as long as it is
# kept: paging through one PDF's citations decodes its boxes once. Failures raise, so they are not remembered.
@functools.lru_cache(maxsize=16)
def _decoded(path: str) -> PageBoxes:
    return decode(Path(path).read_bytes())


def prune(index_dir: Path, kept: set[str] | None) -> int:
    """Remove the boxes of content no generation on disk holds (files removed or changed since); call after a
    generation is published, under the build lock. ``kept``: the sha256 of every document some generation
    holds (index.store.published_digests), None when that cannot be told: then everything stays. Returns how
    many were removed."""
    folder = Path(index_dir) / FOLDER
    if kept is None or not folder.is_dir():
        return 0
    removed = 0
    for path in folder.glob("*.npz"):
        if path.stem not in kept:
            path.unlink(missing_ok=True)
            removed += 1
    return removed
