"""Text from pictures of text: scanned PDF pages and image files, read by RapidOCR (the optional ``ocr`` extra).

``rapidocr`` 3.10 ships its default models (PP-OCRv6 small detection and recognition, the mobile direction
classifier; ONNX) inside its wheel and runs them with onnxruntime; with the default configuration used here it
only checks their checksums, and never downloads (checked with sockets disabled). Without the extra, a scanned page is
reported in the build summary and an image file is skipped with the reason, never indexed as empty.

The work is bounded by pixels: pages are rendered at OCR_DPI, and pages and images are scaled down to at most
OCR_MAX_PIXELS before recognition; an image file over IMAGE_MAX_PIXELS is refused before it is decoded.
"""

from __future__ import annotations

import io
import threading
import warnings
from array import array

from .pdf import PdfPage, PdfText
from .reading import LoadError, too_much_text

# Print-size text is 20+ pixels tall at 150 DPI, which the recognition model reads; time grows with the pixels
# (a letter page, 1.9 Mpx: 2 to 5 s on two shared cores).
OCR_DPI = 150
OCR_MAX_PIXELS = 4_000_000
# Decoding alone costs 4 bytes a pixel: past this an image file is a bomb, not a scan.
IMAGE_MAX_PIXELS = 100_000_000
INSTALL_HINT = "install askdocs[ocr]"

_engine = None
_engine_lock = threading.Lock()  # one model, and onnxruntime sessions are not meant to be built twice at once


def available() -> bool:
    try:
        import rapidocr  # noqa: F401
    except ImportError:
        return False
    return True


def _recognise(pixels) -> str:
    """The text of an RGB numpy image, lines in reading order, a blank line where a gap parts paragraphs."""
    global _engine
    with _engine_lock:
        if _engine is None:
            from rapidocr import RapidOCR

            _engine = RapidOCR(params={"Global.log_level": "error"})
        result = _engine(pixels)
    if result.boxes is None or result.txts is None:
        return ""
    return _layout(zip(result.boxes.tolist(), result.txts))


def _layout(result) -> str:
    boxes = []
    for box, text in result:
        text = " ".join(str(text).split())
        if text:
            ys = [point[1] for point in box]
            boxes.append((min(ys), max(ys), min(point[0] for point in box), text))
    if not boxes:
        return ""
    boxes.sort()
    lines: list[list[tuple]] = []
    for box in boxes:
        # A box whose middle lies within the current line's height continues that line (columns of a table row).
        if lines and box[0] + (box[1] - box[0]) / 2 < lines[-1][0][1]:
            lines[-1].append(box)
        else:
            lines.append([box])
    heights = sorted(line[0][1] - line[0][0] for line in lines)
    typical = heights[len(heights) // 2] or 1
    out: list[str] = []
    previous_bottom = None
    for line in lines:
        top = min(b[0] for b in line)
        if previous_bottom is not None:
            out.append("\n\n" if top - previous_bottom > 0.9 * typical else "\n")
        out.append(" ".join(b[3] for b in sorted(line, key=lambda b: b[2])))
        previous_bottom = max(b[1] for b in line)
    return "".join(out)


def _bounded(image):
    """``image`` as RGB pixels of at most OCR_MAX_PIXELS."""
    import numpy as np

    width, height = image.size
    if width * height > OCR_MAX_PIXELS:
        scale = (OCR_MAX_PIXELS / (width * height)) ** 0.5
        image = image.resize((max(1, int(width * scale)), max(1, int(height * scale))))
    return np.asarray(image.convert("RGB"))


def pdf_page_reader():
    """A callable(pdfium page) -> text for PDF pages without a text layer, or None without the extra."""
    if not available():
        return None

    def read(page) -> str:
        width, height = page.get_size()  # points, 1/72 inch
        scale = OCR_DPI / 72
        pixels = width * height * scale * scale
        if pixels > OCR_MAX_PIXELS:
            scale *= (OCR_MAX_PIXELS / pixels) ** 0.5
        bitmap = page.render(scale=scale)
        try:
            return _recognise(_bounded(bitmap.to_pil()))
        finally:
            bitmap.close()

    return read


def read_image_pages(data: bytes, max_pages: int, max_chars: int) -> PdfText:
    """An image file's frames (a multi-page TIFF has several) as OCR'd pages."""
    if not available():
        raise LoadError(f"image: reading it needs OCR; {INSTALL_HINT}")
    from PIL import Image, ImageSequence, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            # Pillow warns past 89 Mpx and refuses past 179 Mpx as it opens; the size check below says it plainly.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as exc:
        raise LoadError(f"image too large ({exc})") from None
    except UnidentifiedImageError:
        raise LoadError("corrupt or unsupported image (Pillow cannot identify it)") from None
    except (OSError, ValueError) as exc:
        raise LoadError(f"corrupt or unsupported image ({exc})") from None
    width, height = image.size
    if width * height > IMAGE_MAX_PIXELS:
        raise LoadError(f"image too large ({width} x {height} pixels > {IMAGE_MAX_PIXELS:,} limit)")
    frames = getattr(image, "n_frames", 1)
    if frames > max_pages:
        raise LoadError(f"too many pages ({frames} frames > {max_pages} limit, max_pdf_pages)")
    pages: list[PdfPage] = []
    empty: list[int] = []
    total = 0
    try:
        for number, frame in enumerate(ImageSequence.Iterator(image), 1):
            if frame.size[0] * frame.size[1] > IMAGE_MAX_PIXELS:
                raise LoadError(f"image too large (frame {number}: {frame.size[0]} x {frame.size[1]} pixels)")
            text = _recognise(_bounded(frame))
            if not text:
                empty.append(number)
            pages.append(PdfPage(text, array("i", [-1]) * len(text), source="ocr" if text else "ocr_empty"))
            total += len(text)
            if total > max_chars:
                raise LoadError(too_much_text(max_chars, f" by page {number}"))
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise LoadError(f"corrupt or unsupported image ({exc})") from None
    notes = []
    if not total:
        notes.append("no text found by OCR")
    elif len(pages) > 1:
        notes.append(f"OCR read {len(pages)} pages" + (f"; no text found on pages {', '.join(map(str, empty))}"
                                                         if empty else ""))
    else:
        notes.append("read by OCR")
    return PdfText(pages, "", [], notes)
