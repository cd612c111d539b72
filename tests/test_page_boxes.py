"""Page boxes: the highlight of every chunk of fixture PDFs is made of exactly its characters' pdfium boxes."""

from __future__ import annotations

import io
import sqlite3

import numpy as np
import pytest

from askdocs.index import page_boxes
from askdocs.index.build import build_index
from askdocs.index.documents import load_document
from askdocs.index.pdf import read_pdf
from askdocs.index.settings import Settings
from askdocs.index.store import read_current

from .fixtures import PDF_PAGES, make_pdf, make_placed_words_pdf, make_rotated_pdf, make_structured_pdf

ROTATIONS = [0, 90, 180, 270]
ROTATED_PAGES = [f"This page is turned {turn} degrees as it is shown.\nThe keeper of the lighthouse logs the weather."
                 for turn in ROTATIONS]

FIXTURES = {
    "tea.pdf": lambda: make_pdf(PDF_PAGES, title="Tea from leaf to cup"),
    "structured.pdf": make_structured_pdf,
    "structured-outline.pdf": lambda: make_structured_pdf(outline=True),
    "placed-words.pdf": lambda: make_placed_words_pdf(["Debian keeps every package in its own archive area",
                                                       "and the words here are placed one by one"]),
    "rotated.pdf": lambda: make_rotated_pdf(ROTATED_PAGES, ROTATIONS),
}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    docs = tmp_path_factory.mktemp("pdfs") / "docs"
    docs.mkdir()
    for name, make in FIXTURES.items():
        (docs / name).write_bytes(make())
    (docs / "notes.txt").write_text("Plain text has no pages and so no boxes.\n")
    index = tmp_path_factory.mktemp("pdf-index") / "index"
    build_index([docs], Settings(index=index), progress=False)
    return docs, index


def _chunks(index):
    generation, _ = read_current(index)
    connection = sqlite3.connect(generation / "chunks.sqlite")
    try:
        return connection.execute(
            "SELECT d.doc_id, d.sha256, d.text, c.char_start, c.char_end FROM chunks c "
            "JOIN documents d ON d.row = c.doc_row ORDER BY c.row").fetchall()
    finally:
        connection.close()


def _reference(data: bytes):
    """Per page (the reference): pdfium's own box of every char index; each box where pdfium draws it on the
    rendered page (FPDF_PageToDevice: crop box and /Rotate applied), as x0, y0, x1, y1 in points from the
    top-left corner; and the rendered page's size in points."""
    import pypdfium2 as pdfium

    document = pdfium.PdfDocument(data)
    pages = []
    for number in range(len(document)):
        page = document[number]
        textpage = page.get_textpage()
        boxes = [textpage.get_charbox(i) for i in range(textpage.count_chars())]
        size = page.get_size()
        pages.append((boxes, [_drawn(page, size, box) for box in boxes], size))
    return pages


def _drawn(page, size, box) -> tuple[float, ...]:
    import ctypes

    import pypdfium2.raw as raw

    fine = 10_000  # device units per point: FPDF_PageToDevice answers in whole device pixels
    corners = []
    for x, y in ((box[0], box[1]), (box[2], box[3])):
        dx, dy = ctypes.c_int(), ctypes.c_int()
        assert raw.FPDF_PageToDevice(page.raw, 0, 0, round(size[0] * fine), round(size[1] * fine), 0, x, y, dx, dy)
        corners.append((dx.value / fine, dy.value / fine))
    (ax, ay), (bx, by) = corners
    return min(ax, bx), min(ay, by), max(ax, bx), max(ay, by)


def test_every_chunk_highlights_exactly_its_characters(built):
    docs, index = built
    chunks = [c for c in _chunks(index) if c[0].endswith(".pdf")]
    assert {c[0] for c in chunks} == set(FIXTURES)
    for doc_id, sha256, text, start, end in chunks:
        data = (docs / doc_id).read_bytes()
        boxes = page_boxes.load(index, sha256)
        assert boxes is not None, doc_id
        read = read_pdf(data, 100, 1_000_000)
        reference = _reference(data)
        assert text[start:end] and len(boxes.boxes) == len(text)
        # Which pdfium chars the span is, from the char map the loader kept (tested in test_pdf_text).
        wanted: dict[int, set[int]] = {}
        for offset in range(start, end):
            page = boxes.page_of(offset)
            index_on_page = offset - boxes.page_starts[page]
            if index_on_page >= len(read.pages[page].text):
                assert np.isnan(boxes.boxes[offset]).all()  # a page separator
                continue
            char = read.pages[page].chars[index_on_page]
            if char < 0:
                assert np.isnan(boxes.boxes[offset]).all()
                continue
            expected = np.asarray(reference[page][0][char], dtype=np.float32)
            assert (boxes.boxes[offset] == expected).all(), (doc_id, offset, text[offset])
            wanted.setdefault(page, set()).add(char)
        highlight = boxes.span(start, end)
        inked = {p for p, chars in wanted.items() if any(_inked(reference[p][0][c]) for c in chars)}
        assert [h["page"] - 1 for h in highlight if h["boxes"]] == sorted(inked), doc_id
        for entry in highlight:
            page = entry["page"] - 1
            char_boxes, drawn, size = reference[page]
            assert (entry["width"], entry["height"]) == pytest.approx(size)
            rects = entry["boxes"]
            for char, box in enumerate(char_boxes):
                if not _inked(box):
                    continue
                x0, y0, x1, y1 = drawn[char]
                inside = [r for r in rects if r[0] - 1e-3 <= x0 and x1 <= r[2] + 1e-3 and r[1] - 1e-3 <= y0
                          and y1 <= r[3] + 1e-3]
                centre = ((x0 + x1) / 2, (y0 + y1) / 2)
                covered = any(r[0] <= centre[0] <= r[2] and r[1] <= centre[1] <= r[3] for r in rects)
                if char in wanted.get(page, ()):
                    assert inside, (doc_id, page, char)  # every cited character is highlighted
                else:
                    assert not covered, (doc_id, page, char, rects)  # and no other character is
            for rect in rects:  # each rectangle is tight: its edges are edges of cited characters
                mine = [drawn[c] for c, b in enumerate(char_boxes) if c in wanted.get(page, ()) and _inked(b)]
                contained = [m for m in mine if rect[0] - 1e-3 <= m[0] and m[2] <= rect[2] + 1e-3
                             and rect[1] - 1e-3 <= m[1] and m[3] <= rect[3] + 1e-3]
                assert contained
                assert np.allclose(rect, [min(m[0] for m in contained), min(m[1] for m in contained),
                                          max(m[2] for m in contained), max(m[3] for m in contained)], atol=1e-3)


def _inked(box) -> bool:
    return box[2] > box[0] and box[3] > box[1]


def test_a_span_across_a_page_break_is_highlighted_on_both_pages(built):
    docs, index = built
    document = load_document(docs / "tea.pdf", "tea.pdf", 10_000_000)
    boxes = page_boxes.load(index, document.sha256)
    second = document.page_starts[1]
    highlight = boxes.span(second - 20, second + 20)
    assert [h["page"] for h in highlight] == [1, 2]
    assert all(h["boxes"] for h in highlight)


def test_other_formats_and_old_indexes_have_no_boxes(built, tmp_path):
    docs, index = built
    text_doc = load_document(docs / "notes.txt", "notes.txt", 10_000)
    assert text_doc.page_boxes is None
    assert page_boxes.load(index, text_doc.sha256) is None
    assert page_boxes.load(tmp_path, "0" * 64) is None  # an index built before boxes were kept


@pytest.fixture(scope="module")
def server(built):
    from .conftest import Server

    running = Server(built[1])
    yield running
    running.stop()


def test_the_api_gives_a_spans_boxes_from_the_stored_ones(built, server):
    docs, index = built
    with server.client() as client:
        document = client.get("/documents/tea.pdf").json()
        assert document["span_boxes"] is None  # no span asked for
        second = document["page_starts"][1]
        found = client.get("/documents/tea.pdf", params={"start": second - 20, "end": second + 20}).json()
        expected = page_boxes.load(index, document["sha256"]).span(second - 20, second + 20)
        assert [h["page"] for h in found["span_boxes"]] == [1, 2]
        assert [h["boxes"] for h in found["span_boxes"]] == [h["boxes"] for h in expected]
        stale = client.get("/documents/tea.pdf", params={"start": 0, "end": 5, "sha256": "0" * 64}).json()
        assert stale["span_boxes"] is None  # offsets of another version are not drawn on this one
        text = client.get("/documents/notes.txt", params={"start": 0, "end": 5}).json()
        assert text["span_boxes"] is None


def test_a_page_renders_at_the_width_asked_and_is_cached(built, server):
    from PIL import Image

    docs, index = built
    with server.client() as client:
        response = client.get("/documents/tea.pdf/pages/2.png", params={"width": 600})
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "image/png"
        image = Image.open(io.BytesIO(response.content))
        assert image.format == "PNG" and image.width == 600 and abs(image.height - 600 * 792 / 612) < 1
        cached = list((index / "page_cache").glob("*-2-600.png"))
        assert len(cached) == 1 and cached[0].read_bytes() == response.content
        # From the cache now: served with the PDF gone, while a page never rendered cannot be.
        moved = docs / "tea.pdf.away"
        (docs / "tea.pdf").rename(moved)
        try:
            again = client.get("/documents/tea.pdf/pages/2.png", params={"width": 600})
            assert again.status_code == 200 and again.content == response.content
            missing = client.get("/documents/tea.pdf/pages/1.png", params={"width": 600})
            assert missing.status_code == 409 and "cannot be read" in missing.json()["detail"]
        finally:
            moved.rename(docs / "tea.pdf")
        assert client.get("/documents/tea.pdf/pages/99.png").status_code == 404
        assert client.get("/documents/tea.pdf/pages/0.png").status_code == 404
        assert client.get("/documents/notes.txt/pages/1.png").status_code == 404
        assert client.get("/documents/tea.pdf/pages/1.png", params={"width": 5000}).status_code == 422


def test_pages_go_through_the_same_key_and_collection_rules_as_documents(built, tmp_path):
    from .conftest import Server

    keyed = Server(built[1], env={"ASKDOCS_API_KEYS": "page-test-key-0123456789abcdef"})
    try:
        with keyed.client() as client:
            assert client.get("/documents/tea.pdf/pages/1.png").status_code == 401
            headers = {"authorization": "Bearer page-test-key-0123456789abcdef"}
            assert client.get("/documents/tea.pdf/pages/1.png", headers=headers).status_code == 200
            unknown = client.get("/documents/tea.pdf/pages/1.png", headers=headers, params={"collection": "nope"})
            assert unknown.status_code == 404 and "nope" in unknown.text
    finally:
        keyed.stop()


def test_boxes_of_a_pdf_no_generation_holds_are_removed(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    settings = Settings(index=tmp_path / "index")
    shas = []
    for version in range(3):
        (docs / "tea.pdf").write_bytes(make_pdf([f"Version {version} of the tea notes.", "Second page."]))
        build_index([docs], settings, progress=False)
        shas.append(load_document(docs / "tea.pdf", "tea.pdf", 10_000_000).sha256)
    held = {p.stem for p in (settings.index / page_boxes.FOLDER).glob("*.npz")}
    # The live generation and the one before it are kept on disk; the first version is in neither.
    assert held == {shas[1], shas[2]}


def test_only_the_page_asked_is_rendered_and_a_huge_page_is_scaled_to_the_pixel_bound(tmp_path):
    import hashlib
    import math

    from PIL import Image
    from pypdf import PdfReader, PdfWriter
    from pypdf.generic import RectangleObject

    from askdocs.index.page_render import FOLDER, MAX_PIXELS, render_page

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(make_pdf([f"Page {n} of the long manual." for n in
                                                                   range(1, 501)]))))
    writer.pages[436].mediabox = RectangleObject([0, 0, 612, 20_000])  # a poster-length page
    out = io.BytesIO()
    writer.write(out)
    source = tmp_path / "manual.pdf"
    source.write_bytes(out.getvalue())
    sha256 = hashlib.sha256(out.getvalue()).hexdigest()
    poster = Image.open(io.BytesIO(render_page(tmp_path, source, sha256, 437, 2000, 10**8)))
    assert poster.width * poster.height <= MAX_PIXELS
    assert poster.height / poster.width == pytest.approx(20_000 / 612, rel=0.01)
    plain = Image.open(io.BytesIO(render_page(tmp_path, source, sha256, 3, 2000, 10**8)))
    assert plain.size == (2000, math.ceil(2000 * 792 / 612))
    # A 500-page PDF: the two pages asked for were rendered, no other.
    assert sorted(p.name for p in (tmp_path / FOLDER).glob("*.png")) == [f"{sha256}-3-2000.png",
                                                                      f"{sha256}-437-2000.png"]


def test_an_ocr_page_where_ocr_placed_no_character_is_listed_saying_so_not_left_out():
    nan = np.nan
    # Page 1 has a text layer; page 2 was read by OCR, which placed its first word and not its second line.
    boxes = np.array([[72, 700, 80, 710], [80, 700, 88, 710], [nan] * 4, [nan] * 4,
                      [72, 600, 80, 610], [80, 600, 88, 610], [nan] * 4, [nan] * 4, [nan] * 4], dtype=np.float32)
    geometry = np.array([[0, 0, 612, 792, 0], [0, 0, 612, 792, 0]], dtype=np.float64)
    pages = page_boxes.PageBoxes((0, 4), boxes, geometry, np.array([False, True]))
    assert page_boxes.decode(pages.encode()).span(0, 9) == pages.span(0, 9)
    assert [(p["page"], p["ocr"], len(p["boxes"])) for p in pages.span(0, 9)] == [(1, False, 1), (2, True, 1)]
    unplaced = pages.span(7, 9)
    assert unplaced == [{"page": 2, "width": 612, "height": 792, "boxes": [], "ocr": True}]
    # A file written before OCR pages were marked reads as one without OCR pages.
    old = io.BytesIO()
    np.savez_compressed(old, boxes=boxes, geometry=geometry, page_starts=np.array([0, 4]))
    assert page_boxes.decode(old.getvalue()).span(7, 9) == []
