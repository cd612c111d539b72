"""Scanned PDFs and images (issue 16): OCR'd into real documents with exact citations, or reported, never empty."""

from __future__ import annotations

import io
import sys

import pytest

from askdocs.index import ocr
from askdocs.index.build import build_index
from askdocs.index.documents import LoadError, load_document
from askdocs.index.settings import Settings

from .fixtures import PDF_PAGES, SCANNED_PAGES, make_pdf, make_png, make_scanned_pdf

MENU = "Tea house menu\n\nMatcha latte costs four euros.\nA pot of jasmine tea costs six euros."


def _mixed_pdf() -> bytes:
    """Two pages with a text layer, then one scanned page."""
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter()
    writer.append(PdfReader(io.BytesIO(make_pdf(PDF_PAGES))))
    writer.append(PdfReader(io.BytesIO(make_scanned_pdf(SCANNED_PAGES[1:]))))
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


@pytest.fixture(scope="module")
def ocr_index(tmp_path_factory):
    root = tmp_path_factory.mktemp("ocr")
    docs = root / "docs"
    docs.mkdir()
    (docs / "oolong-scan.pdf").write_bytes(make_scanned_pdf(SCANNED_PAGES))
    (docs / "menu.png").write_bytes(make_png(MENU, width=1000, height=500))
    (docs / "blank.png").write_bytes(make_png("", width=600, height=400))
    (docs / "mixed.pdf").write_bytes(_mixed_pdf())
    report = build_index([docs], Settings(index=root / "index"), progress=False)
    return root / "index", report, docs


def _exact(engine, doc_id, span, text):
    stored = engine.document(doc_id).text
    assert stored[span.char_start:span.char_end] == text


def test_scanned_pages_are_read_and_cited_by_page(ocr_index):
    from askdocs.search import open_index

    index, report, docs = ocr_index
    assert (str(docs / "oolong-scan.pdf"), "OCR read pages 1, 2 (no text layer)") in report.notes
    assert (str(docs / "mixed.pdf"), "OCR read page 3 (no text layer)") in report.notes
    assert "OCR read pages 1, 2" in report.summary()
    engine = open_index(index)
    try:
        response = engine.ask("At what temperature should oolong be brewed?", top_k=3)
        answer = response.answer
        assert answer is not None and "90 degrees" in answer.text
        assert answer.citation.doc_id in ("oolong-scan.pdf", "mixed.pdf")
        assert answer.citation.page == (2 if answer.citation.doc_id == "oolong-scan.pdf" else 3)
        _exact(engine, answer.citation.doc_id, answer.citation, answer.text)
        for passage in response.passages:
            _exact(engine, passage.citation.doc_id, passage.citation, passage.text)
            _exact(engine, passage.citation.doc_id, passage.highlight, passage.highlight.text)
        document = engine.document("oolong-scan.pdf")
        assert len(document.page_starts) == 2
        assert document.text[document.page_starts[1]:].startswith("Brewing")
    finally:
        engine.close()


def test_an_image_becomes_a_document(ocr_index):
    from askdocs.search import open_index

    index, report, docs = ocr_index
    assert (str(docs / "menu.png"), "read by OCR") in report.notes
    engine = open_index(index)
    try:
        response = engine.ask("How much does a matcha latte cost?", top_k=3)
        answer = response.answer
        assert answer is not None and answer.citation.doc_id == "menu.png"
        assert "four euros" in answer.text and answer.citation.page is None
        _exact(engine, answer.citation.doc_id, answer.citation, answer.text)
        assert engine.document("menu.png").title == "Tea house menu"
    finally:
        engine.close()


def test_an_image_with_no_text_is_reported(ocr_index):
    _, report, docs = ocr_index
    reasons = {s.path: s.reason for s in report.skipped}
    assert reasons == {str(docs / "blank.png"): "no text found by OCR"}


@pytest.mark.integration  # OCR's ONNX models
def test_a_scanned_page_with_no_text_is_reported(tmp_path):
    path = tmp_path / "photo.pdf"
    path.write_bytes(make_scanned_pdf([""]))
    with pytest.raises(LoadError, match=r"^page 1: no text layer, and OCR found no text$"):
        load_document(path, "photo.pdf", 10**7)


@pytest.mark.integration  # OCR's ONNX models
def test_a_scanned_page_with_a_character_or_two_is_reported_not_indexed(tmp_path):
    """A chapter's opening page showing only its number, or a page drawn without its text (the Debian live-manual
    PDF lost its fonts: OCR read its empty boxes as '二'): a passage nothing can be answered from."""
    from PIL import Image, ImageDraw, ImageFont

    from .fixtures import text_image

    number = Image.new("RGB", (1275, 1650), "white")
    ImageDraw.Draw(number).text((500, 600), "12", fill="black", font=ImageFont.load_default(size=200))
    out = io.BytesIO()
    text_image(SCANNED_PAGES[0]).save(out, "PDF", resolution=150, save_all=True, append_images=[number])
    path = tmp_path / "chapter.pdf"
    path.write_bytes(out.getvalue())
    doc = load_document(path, "chapter.pdf", 10**7)
    assert "Oolong tea is partly oxidised" in doc.text and "12" not in doc.text
    assert doc.notes == ("OCR read page 1 (no text layer)",
                         "page 2: no text layer, and OCR found too little text to index ('12')")


def test_ocr_work_is_bounded_by_pixels(tmp_path):
    from askdocs.index import ocr

    huge = tmp_path / "huge.png"
    from PIL import Image

    Image.new("1", (12_000, 9_000), 1).save(huge)  # 108 Mpx, a few KB on disk
    with pytest.raises(LoadError, match=r"image too large \(12000 x 9000 pixels > 100,000,000 limit\)"):
        load_document(huge, "huge.png", 10**7)
    assert ocr.OCR_MAX_PIXELS <= 4_000_000


@pytest.fixture
def without_ocr(monkeypatch):
    """The ocr extra not installed: importing rapidocr fails as it does then."""
    monkeypatch.setitem(sys.modules, "rapidocr", None)


def test_without_ocr_a_scanned_page_is_reported_not_silently_empty(tmp_path, without_ocr):
    mixed = tmp_path / "mixed.pdf"
    mixed.write_bytes(_mixed_pdf())
    doc = load_document(mixed, "mixed.pdf", 10**7)
    assert doc.notes == ("page 3 has no text layer; install askdocs[ocr] to read scanned pages",)
    assert "Black tea" in doc.text and len(doc.page_starts) == 3
    scan = tmp_path / "scan.pdf"
    scan.write_bytes(make_scanned_pdf(SCANNED_PAGES))
    with pytest.raises(LoadError, match=r"^pages 1, 2 have no text layer; install askdocs\[ocr\]"):
        load_document(scan, "scan.pdf", 10**7)
    image = tmp_path / "menu.png"
    image.write_bytes(make_png(MENU, width=1000, height=500))
    with pytest.raises(LoadError, match=r"install askdocs\[ocr\]"):
        load_document(image, "menu.png", 10**7)


@pytest.mark.skipif(not ocr.available(), reason="needs the ocr extra (rapidocr): pip install 'askdocs[ocr]'")
def test_a_span_on_an_ocr_page_is_boxed_where_ocr_read_it(ocr_index):
    from PIL import Image

    from askdocs.index.page_render import render_page
    from askdocs.search import open_index

    index, _, docs = ocr_index
    engine = open_index(index)
    try:
        document = engine.document("mixed.pdf")
        third = document.page_starts[2]
        assert document.text[third:].startswith("Brewing")  # page 3 is the scanned one
        start = document.text.index("Brew oolong", third)
        end = document.text.index("five times.", start) + len("five times.")
        found = engine.document("mixed.pdf", start=third - 30, end=end).span_boxes
        assert [(p.page, p.ocr) for p in found] == [(2, False), (3, True)]
        scanned = engine.document("mixed.pdf", start=start, end=end).span_boxes
        assert [(p.page, p.ocr, len(p.boxes)) for p in scanned] == [(3, True, 2)]  # one box per cited line
        page = scanned[0]
        assert (page.width, page.height) == pytest.approx((612, 792), abs=1)
        png = render_page(index, docs / "mixed.pdf", document.sha256, 3, 1000, 10**8)
        pixels = Image.open(io.BytesIO(png)).convert("L")
        scale = pixels.width / page.width
        for x0, y0, x1, y1 in page.boxes:
            inside = [pixels.getpixel((x, y)) for x in range(int(x0 * scale), int(x1 * scale))
                      for y in range(int(y0 * scale), int(y1 * scale))]
            assert sum(1 for v in inside if v < 128) > 0.1 * len(inside)  # on the line's ink, not beside it
        line_boxes = sorted(page.boxes, key=lambda b: b[1])
        assert line_boxes[0][3] <= line_boxes[1][1] + 2  # the two lines, one above the other
    finally:
        engine.close()


def test_ocr_characters_keep_their_boxes_only_where_ocr_spelled_the_line_exactly():
    placed = [("T", 0.9, [[10, 5], [18, 5], [18, 25], [10, 25]]), ("o", 0.9, [[19, 9], [26, 9], [26, 25], [19, 25]]),
              ("e", 0.9, [[35, 9], [42, 9], [42, 25], [35, 25]])]
    assert ocr._char_boxes("To e", placed) == [(10, 5, 18, 25), (19, 9, 26, 25), (26, 9, 26, 25), (35, 9, 42, 25)]
    assert ocr._char_boxes("Toe!", placed) is None  # OCR's characters do not spell the line: no boxes at all
    text, boxes = ocr._layout([([[10, 5], [42, 5], [42, 25], [10, 25]], "To  e", placed),
                               ([[10, 40], [42, 40], [42, 60], [10, 60]], "next", None)])
    assert text == "To e\nnext" and len(boxes) == len(text)
    assert boxes[4:] == [None] * 5 and boxes[0] == (10, 5, 18, 25)


def test_a_strip_too_thin_for_text_is_reported_without_being_recognised(tmp_path):
    """HTML generators ship gradient strips and bars beside their pages (Doxygen's nav_f.png is 1 x 56 pixels,
    splitbar.png 6 x 1024). The detector scaled their short side up to 736 pixels: 3.4 and 7.7 GB of memory and
    27 and 89 s each, for no text. The unit tier fails a test that loads a model, so this one proves no OCR ran."""
    from PIL import Image

    for width, height in [(1, 56), (6, 1024)]:
        strip = tmp_path / f"strip{width}.png"
        Image.new("RGB", (width, height), (40, 90, 160)).save(strip)
        reason = rf"^too small to hold text \({width} x {height} pixels\): a bar or border\?$"
        with pytest.raises(LoadError, match=reason):
            load_document(strip, strip.name, 10**7)


@pytest.mark.integration  # OCR's ONNX models
def test_a_long_thin_banner_is_read(tmp_path):
    """A one-line banner far wider than tall is padded (OCR_MAX_RATIO) rather than scaled up whole, and still read."""
    from PIL import Image, ImageDraw, ImageFont

    banner = Image.new("RGB", (1400, 40), "white")
    ImageDraw.Draw(banner).text((10, 4), "Configure the proxy server before the first build", fill="black",
                                font=ImageFont.load_default(size=28))
    path = tmp_path / "banner.png"
    banner.save(path)
    assert ocr._bounded(banner).shape[:2] == (175, 1400)
    assert load_document(path, "banner.png", 10**7).text == "Configure the proxy server before the first build"


@pytest.mark.integration  # OCR's ONNX models
def test_an_icon_with_a_digit_or_two_is_reported_not_indexed(tmp_path):
    """DocBook and Publican folders ship callout icons (a "1" in a circle): OCR reads the digit, and a document whose
    whole text is "12" would only clutter the index and the document list."""
    icon = tmp_path / "12.png"
    icon.write_bytes(make_png("12", width=260, height=220))
    with pytest.raises(LoadError, match=r"^too little text found by OCR to index \('12': an icon\?\)$"):
        load_document(icon, "12.png", 10**7)
    label = tmp_path / "deb.png"  # three letters are a label worth finding
    label.write_bytes(make_png("DEB", width=300, height=220))
    assert load_document(label, "deb.png", 10**7).text == "DEB"


@pytest.mark.integration  # OCR's ONNX models
def test_a_full_rebuild_takes_what_ocr_read_from_the_cache(tmp_path):
    """A full build reads every file again (an upgrade, a setting, --rebuild), but OCR costs seconds a page: the
    pictures it read before come from ocr-cache.sqlite in the index folder, with the same text and boxes."""
    from askdocs.index.ocr_cache import OCR_CACHE_FILE

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "menu.png").write_bytes(make_png(MENU, width=1000, height=500))
    (docs / "oolong-scan.pdf").write_bytes(make_scanned_pdf(SCANNED_PAGES))
    settings = Settings(index=tmp_path / "index")
    first = build_index([docs], settings, progress=False)
    assert (first.ocr.recognised, first.ocr.cached) == (1 + len(SCANNED_PAGES), 0)
    assert (tmp_path / "index" / OCR_CACHE_FILE).is_file()
    again = build_index([docs], settings, progress=False, rebuild=True)
    assert (again.ocr.recognised, again.ocr.cached) == (0, 1 + len(SCANNED_PAGES))
    assert f"OCR: 0 pictures recognised, {1 + len(SCANNED_PAGES)} taken from the OCR cache" in again.summary()
    from askdocs.index import ocr_cache

    read_now = load_document(docs / "oolong-scan.pdf", "oolong-scan.pdf", 10**7)  # no cache outside a build
    with ocr_cache.cache_at(tmp_path / "index" / OCR_CACHE_FILE) as use:
        from_cache = load_document(docs / "oolong-scan.pdf", "oolong-scan.pdf", 10**7)
    assert use.cached == len(SCANNED_PAGES) and use.recognised == 0
    assert from_cache.text == read_now.text
    assert from_cache.page_boxes.encode() == read_now.page_boxes.encode()  # every character's box, exactly
    # A picture that changed is read again; the others still come from the cache.
    (docs / "menu.png").write_bytes(make_png(MENU.replace("four", "five"), width=1000, height=500))
    changed = build_index([docs], settings, progress=False, rebuild=True)
    assert (changed.ocr.recognised, changed.ocr.cached) == (1, len(SCANNED_PAGES))
