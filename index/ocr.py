"""Text from pictures of text: scanned PDF pages and image files, read by RapidOCR (the optional ``ocr`` extra).

``rapidocr`` 3.10 ships its default models (PP-OCRv6 small detection and recognition, the mobile direction
classifier; ONNX) inside its wheel and runs them with onnxruntime; with the default configuration used here it
only checks their checksums, and never downloads (checked with sockets disabled). Without the extra, a scanned page is
reported in the build summary and an image file is skipped with the reason, never indexed as empty.

The work is bounded by pixels: pages are rendered at OCR_DPI, and pages and images are scaled down to at most
OCR_MAX_PIXELS before recognition; an image file over IMAGE_MAX_PIXELS is refused before it is decoded.

RapidOCR also says where it read each character (its single-character boxes, placed from the recognition
model's output along the detected line): a scanned PDF page keeps them as the boxes of its stored characters
(index.page_boxes), so a citation is highlighted on the scan as on a page with a text layer. A line whose
characters RapidOCR does not place one by one keeps no boxes, and the view says so.
"""

from __future__ import annotations

import io
import threading
import warnings
from array import array

from . import ocr_cache
from .pdf import PdfPage, PdfText, scant_ocr_text
from .reading import LoadError, too_much_text

# Print-size text is 20+ pixels tall at 150 DPI, which the recognition model reads; time grows with the pixels
# (a letter page, 1.9 Mpx: 2 to 5 s on two shared cores).
OCR_DPI = 150
OCR_MAX_PIXELS = 4_000_000
# Decoding alone costs 4 bytes a pixel: past this an image file is a bomb, not a scan.
IMAGE_MAX_PIXELS = 100_000_000
# No line of text fits in fewer pixels than this; such images are bars, borders and gradient strips (a web page's
# "splitbar.png", 6 x 1024). The detector scales an image's shorter side up to 736 pixels, so a 1 x 56 strip
# became a 736 x 41,216 image: 3.4 GB and 27 s for nothing, 7.7 GB for the 6 x 1024 bar.
OCR_MIN_SIDE = 8
# For the same reason a long, thin picture (a one-line banner) is padded to at most this ratio of its sides.
OCR_MAX_RATIO = 8
INSTALL_HINT = "install askdocs[ocr]"

_engine = None
_engine_lock = threading.Lock()  # one model, and onnxruntime sessions are not meant to be built twice at once


def available() -> bool:
    try:
        import rapidocr  # noqa: F401
    except ImportError:
        return False
    return True


def _recognise(pixels) -> tuple[str, list]:
    """The text of an RGB numpy image, lines in reading order, a blank line where a gap parts paragraphs; and
    each character's box in the image's pixels (_layout). From the build's OCR cache when these pixels were read
    before (index.ocr_cache)."""
    cache = ocr_cache.active()
    key = cache.key(pixels) if cache is not None else None
    if key is not None and (found := cache.get(key)) is not None:
        return found
    text, boxes = _recognise_now(pixels)
    if key is not None:
        cache.put(key, text, boxes)
    return text, boxes


def _recognise_now(pixels) -> tuple[str, list]:
    global _engine
    with _engine_lock:
        if _engine is None:
            from rapidocr import RapidOCR

            _engine = RapidOCR(params={"Global.log_level": "error"})
        result = _engine(pixels, return_word_box=True, return_single_char_box=True)
    if result.boxes is None or result.txts is None:
        return "", []
    words = result.word_results
    if not words or len(words) != len(result.txts):  # lines without placed characters were left out: unaligned
        words = [None] * len(result.txts)
    return _layout(zip(result.boxes.tolist(), result.txts, words))


def _char_boxes(text: str, placed) -> list | None:
    """Per character of ``text`` (one detected line, spaces normalised), its box (x0, y0, x1, y1) from RapidOCR's
    placed characters ``[(chars, score, quadrilateral), ...]``; a space gets an empty box where the character
    before it ends (no ink, so it joins the run without widening it). None unless they spell ``text`` exactly."""
    if not placed:
        return None
    pieces = []
    for chars, _, quad in placed:
        xs, ys = [float(point[0]) for point in quad], [float(point[1]) for point in quad]
        pieces += [(min(xs), min(ys), max(xs), max(ys))] * len(str(chars))
    if "".join(str(chars) for chars, _, _ in placed) != text.replace(" ", ""):
        return None
    out, pieces = [], iter(pieces)
    for char in text:
        if char == " ":
            x0, y0, x1, y1 = out[-1]
            out.append((x1, y0, x1, y1))
        else:
            out.append(next(pieces))
    return out


def _layout(result) -> tuple[str, list]:
    """The text, and per character its box in pixels or None (line breaks, gaps between columns, lines whose
    characters were not placed)."""
    boxes = []
    for box, text, placed in result:
        text = " ".join(str(text).split())
        if text:
            ys = [point[1] for point in box]
            boxes.append((min(ys), max(ys), min(point[0] for point in box), text, _char_boxes(text, placed)))
    if not boxes:
        return "", []
    boxes.sort(key=lambda b: b[:4])
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
    char_boxes: list = []
    previous_bottom = None
    for line in lines:
        top = min(b[0] for b in line)
        if previous_bottom is not None:
            gap = "\n\n" if top - previous_bottom > 0.9 * typical else "\n"
            out.append(gap)
            char_boxes += [None] * len(gap)
        for n, piece in enumerate(sorted(line, key=lambda b: b[2])):
            if n:
                out.append(" ")
                char_boxes.append(None)
            out.append(piece[3])
            char_boxes += piece[4] or [None] * len(piece[3])
        previous_bottom = max(b[1] for b in line)
    return "".join(out), char_boxes


def _bounded(image):
    """``image`` as RGB pixels of at most OCR_MAX_PIXELS, padded with its border's colour to at most
    OCR_MAX_RATIO between its sides."""
    import numpy as np

    width, height = image.size
    if width * height > OCR_MAX_PIXELS:
        scale = (OCR_MAX_PIXELS / (width * height)) ** 0.5
        image = image.resize((max(1, int(width * scale)), max(1, int(height * scale))))
    pixels = np.asarray(image.convert("RGB"))
    height, width = pixels.shape[:2]
    short_needed = -(-max(width, height) // OCR_MAX_RATIO)
    if min(width, height) >= short_needed:
        return pixels
    border = np.concatenate([pixels[0], pixels[-1], pixels[:, 0], pixels[:, -1]])
    padded = np.empty((max(height, short_needed), max(width, short_needed), 3), dtype=pixels.dtype)
    padded[:] = np.median(border, axis=0).astype(pixels.dtype)
    padded[:height, :width] = pixels
    return padded


def too_small_for_text(width: int, height: int) -> bool:
    return min(width, height) < OCR_MIN_SIDE


def pdf_page_reader():
    """A callable(pdfium page) -> (text, boxes) for PDF pages without a text layer, or None without the extra.
    ``boxes``: array('f'), per character of text left, bottom, right, top in the page's PDF points (as
    index.pdf keeps a text layer's), NaN where OCR placed none."""
    if not available():
        return None

    def read(page) -> tuple[str, array]:
        width, height = page.get_size()  # points, 1/72 inch
        scale = OCR_DPI / 72
        pixels = width * height * scale * scale
        if pixels > OCR_MAX_PIXELS:
            scale *= (OCR_MAX_PIXELS / pixels) ** 0.5
        bitmap = page.render(scale=scale)
        try:
            image = _bounded(bitmap.to_pil())
        finally:
            bitmap.close()
        text, char_boxes = _recognise(image)
        return text, _page_points(page, char_boxes, width / image.shape[1], height / image.shape[0])

    return read


def _page_points(page, char_boxes: list, x_scale: float, y_scale: float) -> array:
    """Boxes in the rendered image's pixels as boxes in the page's own PDF space, by pdfium's own inverse of
    how it renders the page (crop box and /Rotate), so index.page_boxes places them as it places a text layer's."""
    import ctypes

    import pypdfium2.raw as raw

    fine = 1000  # device units per point: FPDF_DeviceToPage takes whole device pixels
    width, height = page.get_size()
    size = (round(width * fine), round(height * fine))
    page_x, page_y = ctypes.c_double(), ctypes.c_double()
    nan = float("nan")
    out = array("f")
    for box in char_boxes:
        if box is None:
            out.extend((nan, nan, nan, nan))
            continue
        corners = []
        for x, y in ((box[0], box[1]), (box[2], box[3])):
            raw.FPDF_DeviceToPage(page.raw, 0, 0, *size, 0, round(x * x_scale * fine), round(y * y_scale * fine),
                                  page_x, page_y)
            corners.append((page_x.value, page_y.value))
        (ax, ay), (bx, by) = corners
        out.extend((min(ax, bx), min(ay, by), max(ax, bx), max(ay, by)))
    return out


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
    if too_small_for_text(width, height):
        return PdfText([PdfPage("", array("i"), source="ocr_empty")], "", [],
                       [f"too small to hold text ({width} x {height} pixels): a bar or border?"])
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
            # an image file is not shown as pages: no boxes kept
            text = "" if too_small_for_text(*frame.size) else _recognise(_bounded(frame))[0]
            if not text:
                empty.append(number)
            pages.append(PdfPage(text, array("i", [-1]) * len(text), source="ocr" if text else "ocr_empty"))
            total += len(text)
            if total > max_chars:
                raise LoadError(too_much_text(max_chars, f" by page {number}"))
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise LoadError(f"corrupt or unsupported image ({exc})") from None
    notes = []
    found = "".join(page.text for page in pages)
    if scant_ocr_text(found):
        # A callout number, a bullet or a logo's letters: recognised, but nothing a question could be answered from.
        pages = [PdfPage("", array("i"), source="ocr_empty") for _ in pages]
        return PdfText(pages, "", [], [f"too little text found by OCR to index ({' '.join(found.split())!r}: an icon?)"])
    if not total:
        notes.append("no text found by OCR")
    elif len(pages) > 1:
        notes.append(f"OCR read {len(pages)} pages" + (f"; no text found on pages {', '.join(map(str, empty))}"
                                                         if empty else ""))
    else:
        notes.append("read by OCR")
    return PdfText(pages, "", [], notes)
