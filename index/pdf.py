"""PDF pages as text, read with pdfium: each stored character keeps the pdfium char index it came from.

pdfium (pypdfium2) reads the text: it places the spaces between words from the glyph positions, where pypdf
lost them on real manuals ("thepackage"), and it knows each character's box, which a page view can draw.
pypdf is still used for one thing pdfium cannot do: measure a page's decoded content streams, with a decoding
limit, before anything parses them. pdfium parses a page's whole content as the page loads and has no limit
of its own, and its text page costs about 170 bytes per character (a 20 MB stream: 9 s, 3 GB), so a bomb
must be refused before pdfium sees it.

``PdfPage.chars[i]`` is the pdfium char index (on that page) of ``PdfPage.text[i]``, or -1 for a character
the loader wrote itself (a line break after a kept hyphen) or read by OCR.
"""

from __future__ import annotations

import io
import re
import unicodedata
from array import array
from dataclasses import dataclass, field

from .reading import LoadError, too_much_text

# pypdf's own per-stream output limits default to 75 MB. A text page's content stream is kilobytes, and
# images are never decoded for text, so a stream that inflates past this is a bomb, not a page.
PDF_STREAM_BYTES = 16_000_000
# Parsing content streams is what text extraction spends its time on, and pages can share one stream, so
# the decoded content a PDF may make us parse is bounded too, relative to the text it may yield.
PDF_CONTENT_PER_TEXT_CHAR = 4
# One page's decoded content pdfium may parse for text: a dense text page is tens of KB, a detailed map a
# few MB. Past this a page's text page alone would take gigabytes; its text is left out, and said so.
PAGE_CONTENT_BYTES = 4_000_000
# OCR'd text with fewer letters and digits than this is not indexed, and is reported: a callout icon's digit, a
# chapter page's big number, a rule or a box read as a character ("二") answer no question.
MIN_OCR_TEXT = 3


def scant_ocr_text(text: str) -> bool:
    """OCR read something, but fewer than MIN_OCR_TEXT letters and digits: too little to index."""
    return bool(text) and sum(c.isalnum() for c in text) < MIN_OCR_TEXT

_LINE_END_HYPHEN = "\x02"  # pdfium's mark for a hyphen it found at the end of a line (and joined the lines)


@dataclass
class PdfPage:
    text: str
    chars: array  # array('i'): pdfium char index of each character of ``text``; -1 where none
    label: str = ""  # the page's own label ("iv", "9") where the PDF defines page labels
    # How the text was read: "text" (the text layer), "ocr", "no_text" (it draws something but has no text
    # layer, and there is no OCR), "ocr_empty" (OCR found no text), "ocr_scant" (under MIN_OCR_TEXT letters and
    # digits, left out), "blank" (draws nothing), "too_busy".
    source: str = "text"
    scant: str = ""  # an "ocr_scant" page's text, for the summary
    # The box of each character of ``text`` as pdfium gives it (left, bottom, right, top in PDF points,
    # 4 floats a character; NaN where ``chars`` is -1), or on an OCR'd page as OCR placed it (index.ocr), and
    # the page's crop box and rotation, which say where those points fall on the rendered page
    # (index.page_boxes). None for pages read otherwise.
    boxes: array | None = None
    geometry: tuple[float, float, float, float, int] | None = None  # crop left, bottom, right, top; rotation


@dataclass
class PdfText:
    pages: list[PdfPage]
    title: str
    outline: list[tuple[str, int, int]]  # (title, 0-based page, depth 1..)
    notes: list[str] = field(default_factory=list)  # what the build summary should say about this file


def read_pdf(data: bytes, max_pages: int, max_chars: int, ocr=None) -> PdfText:
    """The pages of a PDF; ``ocr``: a callable(pdfium page) -> str for pages with no text layer, or None."""
    import pypdfium2 as pdfium
    import pypdfium2.raw as raw

    try:
        document = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        if getattr(exc, "err_code", None) in (raw.FPDF_ERR_PASSWORD, raw.FPDF_ERR_SECURITY):
            raise LoadError("encrypted PDF (needs a password)") from None
        raise LoadError(f"corrupt PDF ({exc})") from None
    try:
        count = len(document)
        if count > max_pages:
            raise LoadError(f"too many pages ({count} > {max_pages} limit, max_pdf_pages)")
        budget = _ContentBudget(data, count, max_chars)
        pages: list[PdfPage] = []
        drawn: dict[tuple, PdfPage] = {}  # page text by what draws it (_ContentBudget.key)
        total = 0
        for number in range(count):
            key, content = budget.page(number)
            if key is not None and key in drawn:
                # The same content stream drawn with the same resources on a page of the same shape gives the
                # same text: extracting it again would only cost time (a bomb shares one stream).
                page = PdfPage(drawn[key].text, drawn[key].chars, source=drawn[key].source,
                               boxes=drawn[key].boxes, geometry=drawn[key].geometry, scant=drawn[key].scant)
            elif content > PAGE_CONTENT_BYTES:
                page = PdfPage("", array("i"), source="too_busy")
            else:
                page = _read_page(document, number, raw, ocr)
                if key is not None:
                    drawn[key] = page
            page.label = _label(document, number)
            pages.append(page)
            total += len(page.text)
            if total > max_chars:
                raise LoadError(too_much_text(max_chars, f" by page {len(pages)}"))
        title = (document.get_metadata_value("Title") or "").strip()
        outline = _outline(document, raw)
    except LoadError:
        raise
    except pdfium.PdfiumError as exc:
        raise LoadError(f"corrupt PDF ({exc})") from None
    finally:
        document.close()
    return PdfText(pages, title, outline, _notes(pages))


def _notes(pages: list[PdfPage]) -> list[str]:
    def numbers(source: str) -> list[int]:
        return [n for n, page in enumerate(pages, 1) if page.source == source]

    notes = []
    if ocred := numbers("ocr"):
        notes.append(f"OCR read {_pages(ocred)} (no text layer)")
    if no_text := numbers("no_text"):
        notes.append(f"{_pages(no_text)} {'has' if len(no_text) == 1 else 'have'} no text layer; "
                     "install askdocs[ocr] to read scanned pages")
    if empty := numbers("ocr_empty"):
        notes.append(f"{_pages(empty)}: no text layer, and OCR found no text")
    if scant := numbers("ocr_scant"):
        found = ", ".join(repr(" ".join(pages[n - 1].scant.split())) for n in scant[:5])
        notes.append(f"{_pages(scant)}: no text layer, and OCR found too little text to index "
                     f"({found}{', ...' if len(scant) > 5 else ''})")
    if too_busy := numbers("too_busy"):
        notes.append(f"{_pages(too_busy)}: text not read (over {PAGE_CONTENT_BYTES:,} bytes of drawing content "
                     "on one page)")
    return notes


def _pages(numbers: list[int]) -> str:
    shown = ", ".join(map(str, numbers[:20])) + (f" and {len(numbers) - 20} more" if len(numbers) > 20 else "")
    return f"page{'s' if len(numbers) > 1 else ''} {shown}"


def _read_page(document, number: int, raw, ocr) -> PdfPage:
    page = document[number]
    try:
        textpage = page.get_textpage()
        try:
            text = _page_chars(textpage, raw)
            text, chars = clean_page(text, array("i", range(len(text))))
            boxes = _char_boxes(textpage, chars, raw) if text else None
        finally:
            textpage.close()
        if text:
            return PdfPage(text, chars, boxes=boxes, geometry=(*page.get_cropbox(), page.get_rotation()))
        if raw.FPDFPage_CountObjects(page.raw) == 0:
            return PdfPage("", chars, source="blank")
        if ocr is None:
            return PdfPage("", chars, source="no_text")
        ocr_text, ocr_boxes = ocr(page)
        if scant_ocr_text(ocr_text):
            return PdfPage("", array("i"), source="ocr_scant", scant=ocr_text)
        # The boxes are where OCR read each character (NaN where it placed none); the geometry places them.
        return PdfPage(ocr_text, array("i", [-1]) * len(ocr_text), source="ocr" if ocr_text else "ocr_empty",
                       boxes=ocr_boxes if ocr_text else None, geometry=(*page.get_cropbox(), page.get_rotation()))
    finally:
        page.close()


def _char_boxes(textpage, chars: array, raw) -> array:
    """pdfium's box of each stored character, the tight one (the glyph's ink), as a page view draws it.

    The raw call with four doubles reused: pypdfium2's get_charbox makes new ones per character, which took
    twice as long (bash manual: 26 ms a page against 11)."""
    import ctypes

    nan = float("nan")
    left, right, bottom, top = (ctypes.c_double() for _ in range(4))
    pointers = [ctypes.byref(v) for v in (left, right, bottom, top)]
    get_box, handle = raw.FPDFText_GetCharBox, textpage.raw
    boxes = array("f")
    for index in chars:
        if index >= 0 and get_box(handle, index, *pointers):
            boxes.extend((left.value, bottom.value, right.value, top.value))
        else:
            boxes.extend((nan, nan, nan, nan))
    return boxes


def _page_chars(textpage, raw) -> str:
    """pdfium's characters of a page, ``result[i]`` being its char ``i``.

    One call for the whole page (pdfium's own text) when it lines up with the char list, which it does
    unless a character lies outside the BMP or pdfium left one out; else one call per character, ten
    times slower.
    """
    count = textpage.count_chars()
    whole = textpage.get_text_range(0, count, errors="surrogatepass") if count else ""
    if "\ufffe" in whole and len(whole) == count:
        # pdfium's whole-page text writes the line-end hyphen it reports per character as 2 as U+FFFE instead.
        marked = [i for i, c in enumerate(whole) if c == "\ufffe"
                  and raw.FPDFText_GetUnicode(textpage.raw, i) == ord(_LINE_END_HYPHEN)]
        pieces = list(whole)
        for i in marked:
            pieces[i] = _LINE_END_HYPHEN
        whole = "".join(pieces)
    if len(whole) == count and not any("\ud800" <= c <= "\udfff" for c in whole):
        step = max(1, count // 64)
        if all(_char(raw.FPDFText_GetUnicode(textpage.raw, i)) == _char(ord(whole[i]))
               for i in range(0, count, step)):
            return "".join(map(_char_of, whole)) if _ODD.search(whole) else whole
    return "".join(_char(raw.FPDFText_GetUnicode(textpage.raw, i)) for i in range(count))


_ODD = re.compile("[\x00\ud800-\udfff]")


def _char_of(c: str) -> str:
    return _char(ord(c))


def _char(code: int) -> str:
    # pdfium reports code 0 (or surrogate halves) for glyphs it has no Unicode for.
    if code == 0 or 0xD800 <= code <= 0xDFFF or code > 0x10FFFF:
        return "\ufffd"
    return chr(code)


# What becomes of pdfium's characters in the stored text, before any offset is taken.
_CLEAN = re.compile(
    # An identifier broken after an underscore ("the environment variable R_" / "LIBS_USER"): texinfo and LaTeX
    # break \code{} there, and prose never ends a line with one. Joined, so "R_LIBS_USER" matches.
    r"(?P<identifier>(?<=[A-Za-z0-9]_)\r\n?(?=[A-Za-z0-9]))"
    r"|\r\n?"  # pdfium's line break
    r"|[ \t]+(?=\r|\n|$)"  # spaces at line ends
    r"|(?<=[a-z])\x02(?=[a-z])"  # a word hyphenated across lines: identi-cal -> identical
    r"|[\x00\x01\x03-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]"  # control characters pdfium passes through
)


def clean_page(text: str, chars: array) -> tuple[str, array]:
    """Page text as stored, and the pdfium index of each of its characters (``chars`` maps ``text``)."""
    out: list[str] = []
    kept = array("i")
    position = 0
    for match in _CLEAN.finditer(text):
        out.append(text[position:match.start()])
        kept.extend(chars[position:match.start()])
        piece = match.group()
        if piece.startswith("\r") and not match.group("identifier"):
            out.append("\n")
            kept.append(chars[match.start() + len(piece) - 1])
        position = match.end()
    out.append(text[position:])
    kept.extend(chars[position:])
    cleaned = "".join(out)
    if _LINE_END_HYPHEN in cleaned:
        # Not between two lowercase letters ("Foo-Bar", "x-1"): a real hyphen that ended a line, kept as one
        # with its line break (which the loader writes, so it maps to no pdfium character).
        pieces, mapped = [], array("i")
        for ch, index in zip(cleaned, kept):
            if ch == _LINE_END_HYPHEN:
                pieces.append("-\n")
                mapped.extend((index, -1))
            else:
                pieces.append(ch)
                mapped.append(index)
        cleaned, kept = "".join(pieces), mapped
    # Compatibility forms (ligatures "ﬁ", full-width letters) as the letters people type: words must match.
    normal = unicodedata.normalize("NFKC", cleaned)
    if normal != cleaned:
        cleaned, kept = _nfkc(cleaned, kept)
    start = len(cleaned) - len(cleaned.lstrip())
    end = len(cleaned.rstrip())
    return cleaned[start:end], kept[start:end]


def _nfkc(text: str, chars: array) -> tuple[str, array]:
    """NFKC character by character, so each output character keeps the index of the one it came from."""
    pieces, mapped = [], array("i")
    for ch, index in zip(text, chars):
        normal = unicodedata.normalize("NFKC", ch) if ord(ch) > 127 else ch
        pieces.append(normal)
        mapped.extend([index] * len(normal))
    return "".join(pieces), mapped


def _label(document, number: int) -> str:
    try:
        return document.get_page_label(number).strip()
    except Exception:  # a broken label tree costs the label, not the page
        return ""


def _outline(document, raw) -> list[tuple[str, int, int]]:
    """The bookmarks as (title, 0-based page, depth); empty when there are none or they cannot be read."""
    found: list[tuple[str, int, int]] = []
    try:
        for bookmark in document.get_toc(max_depth=15):
            try:
                title = bookmark.get_title()
                page = _bookmark_page(document, bookmark, raw)
            except Exception:  # a broken bookmark costs that bookmark only
                continue
            if page is not None and page >= 0 and title.strip():
                found.append((title, page, bookmark.level + 1))
            if len(found) > 20_000:
                break
    except Exception:  # an unreadable outline: fall back to the numbering heuristics
        return []
    return found


def _bookmark_page(document, bookmark, raw) -> int | None:
    dest = raw.FPDFBookmark_GetDest(document.raw, bookmark.raw)
    if not dest:
        # Most producers link a bookmark through a GoTo action rather than a destination of its own.
        action = raw.FPDFBookmark_GetAction(bookmark.raw)
        if not action or raw.FPDFAction_GetType(action) != raw.PDFACTION_GOTO:
            return None
        dest = raw.FPDFAction_GetDest(document.raw, action)
        if not dest:
            return None
    index = raw.FPDFDest_GetDestPageIndex(document.raw, dest)
    return index if index >= 0 else None


class _ContentBudget:
    """Each page's decoded content size and drawing key, read with pypdf under decoding limits."""

    def __init__(self, data: bytes, count: int, max_chars: int):
        from pypdf import PdfReader

        self.max_content = PDF_CONTENT_PER_TEXT_CHAR * max_chars
        self.content = 0
        self.seen: set[tuple] = set()
        try:
            with self._limits():
                self.reader = PdfReader(io.BytesIO(data))
                if self.reader.is_encrypted and not self.reader.decrypt(""):
                    raise LoadError("encrypted PDF (needs a password)")
                self.pages = self.reader.pages
                # pdfium rebuilds broken page trees where pypdf may count otherwise; the keys say which pages
                # share a drawing only when both read the same pages.
                self.same_pages = len(self.pages) == count
        except LoadError:
            raise
        except Exception as exc:
            raise self._error(exc) from None

    @staticmethod
    def _limits():
        from pypdf import apply_configuration

        return apply_configuration(**{name: PDF_STREAM_BYTES for name in (
            "zlib_maximum_output_length", "lzw_maximum_output_length", "run_length_maximum_output_length",
            "array_based_stream_maximum_output_length", "brotli_maximum_output_length")})

    @staticmethod
    def _error(exc: Exception) -> LoadError:
        from pypdf.errors import DependencyError, LimitReachedError

        if isinstance(exc, LimitReachedError):
            return LoadError(f"PDF over a decoding limit ({exc})")
        if isinstance(exc, DependencyError):
            return LoadError(f"encrypted PDF ({exc})")
        return LoadError(f"corrupt PDF ({type(exc).__name__}: {exc})")

    def page(self, number: int) -> tuple[tuple | None, int]:
        """(drawing key or None, decoded content bytes) of a page; LoadError past the document's budget.

        A page drawn like one seen before costs nothing more: its text is taken from that page, unparsed.
        """
        if number >= len(self.pages):
            raise LoadError(f"corrupt PDF (page {number + 1} missing from the page tree)")
        try:
            with self._limits():
                page = self.pages[number]
                key = _drawing_key(page) if self.same_pages else None
                if key is not None and key in self.seen:
                    return key, 0
                size = _content_bytes(page)
        except LoadError:
            raise
        except Exception as exc:
            raise self._error(exc) from None
        if key is not None:
            self.seen.add(key)
        self.content += size
        if self.content > self.max_content:
            raise LoadError(f"too much page content (over {self.max_content:,} decoded bytes by page "
                            f"{number + 1}; {PDF_CONTENT_PER_TEXT_CHAR} x max_text_chars)")
        return key, size


def _drawing_key(page) -> tuple | None:
    """What decides a page's extracted text, when its content streams are shared objects; else None."""
    from pypdf.generic import IndirectObject

    raw = page.raw_get("/Contents") if "/Contents" in page else None
    target = raw.get_object() if isinstance(raw, IndirectObject) else raw
    refs = list(target) if isinstance(target, list) else [raw]
    if not all(isinstance(ref, IndirectObject) for ref in refs):
        return None
    # Resources may be inherited from the page tree, so the parent is part of what draws the page.
    inherited = page.raw_get("/Parent") if "/Parent" in page else None
    resources = page.raw_get("/Resources") if "/Resources" in page else None
    return (tuple((ref.idnum, ref.generation) for ref in refs), repr(resources), repr(inherited),
            repr(page.get("/Rotate")), repr(page.mediabox))


def _content_bytes(page) -> int:
    contents = page.get("/Contents")
    if contents is None:
        return 0
    contents = contents.get_object()
    parts = [part.get_object() for part in contents] if isinstance(contents, list) else [contents]
    return sum(len(part.get_data()) for part in parts if hasattr(part, "get_data"))

