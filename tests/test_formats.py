"""Office, e-book, e-mail and markup formats (index/formats/): loaders, structure, locators, hostile files,
and a real index over one file of each, asked a question each file answers."""

from __future__ import annotations

import io
import time
import zipfile
from pathlib import Path

import pytest

from askdocs.index.build import build_index, load_corpus
from askdocs.index.documents import SUPPORTED_SUFFIXES, LoadError, load_document
from askdocs.index.formats.base import MAX_UNZIPPED_BYTES
from askdocs.index.locators import ROW, SLIDE, Locators, decode_locators, encode_locators
from askdocs.index.settings import Settings
from askdocs.index.store import open_stored_index
from askdocs.index.structure import check_blocks
from askdocs.search import open_index

from . import format_fixtures as fx
from .fixtures import section_of

FILES = fx.all_files()


def _load(tmp_path: Path, name: str, data: bytes | None = None):
    path = tmp_path / name
    path.write_bytes(FILES[name] if data is None else data)
    return load_document(path, name, 50_000_000)



def test_every_format_is_a_supported_suffix():
    for name in FILES:
        assert Path(name).suffix in SUPPORTED_SUFFIXES


@pytest.mark.parametrize("name", sorted(FILES))
def test_each_format_loads_with_exact_blocks_and_a_title(tmp_path, name):
    doc = _load(tmp_path, name)
    check_blocks(doc.text, doc.blocks)
    assert doc.blocks and doc.title.strip()
    for block in doc.blocks:
        assert doc.text[block.start:block.end].strip() == doc.text[block.start:block.end]


def test_docx_headings_lists_tables_in_reading_order(tmp_path):
    doc = _load(tmp_path, "handbook.docx")
    assert doc.title == "Lighthouse keeping handbook"  # core properties
    kinds = [(b.kind, doc.text[b.start:b.end]) for b in doc.blocks]
    assert ("list_item", "Paraffin is ordered in March") in kinds
    assert ("table_row", "Wicks | Harbour chandlery of Tobermory") in kinds
    order = [text for _, text in kinds]
    assert order.index("Fuel supplies") < order.index("Paraffin is ordered in March") < \
        order.index("Wicks | Harbour chandlery of Tobermory") < order.index("Storm watch")
    assert section_of(doc, "Spare mantles")[-2:] == ("Lamp maintenance", "Fuel supplies")
    assert section_of(doc, "barometer")[-1] == "Storm watch"


def test_odt_headings_become_section_paths(tmp_path):
    doc = _load(tmp_path, "bees.odt")
    assert doc.title == "Beekeeping calendar"
    assert section_of(doc, "seven frames") == ("Beekeeping calendar", "Spring inspection")
    assert section_of(doc, "Mouse guards") == ("Beekeeping calendar", "Winter care")
    kinds = {doc.text[b.start:b.end]: b.kind for b in doc.blocks}
    assert kinds["Hive tool and spare frames"] == "list_item"
    assert kinds["August | Heather honey, eleven kilograms"] == "table_row"


def test_pptx_one_run_per_slide_with_notes_and_slide_numbers(tmp_path):
    doc = _load(tmp_path, "volcano.pptx")
    assert doc.locators.unit == SLIDE and doc.locators.numbers == (1, 2, 3)
    notes = doc.text.index("helicopter survey")
    assert doc.locators.locate(notes, notes + 10) == {"slide": 3}
    assert doc.locators.locate(doc.text.index("412 events"), doc.text.index("412 events") + 3) == {"slide": 2}
    assert section_of(doc, "412 events") == ("Seismic activity",)
    assert doc.text.count("Seismic activity") == 1, "the title placeholder is not repeated as body text"


def test_spreadsheet_rows_keep_their_header_and_their_numbers(tmp_path):
    doc = _load(tmp_path, "observatory.xlsx")
    assert doc.title == "Observatory equipment"
    row = "Instrument: Schmidt camera | Aperture: 300 mm | Location: West dome"
    assert row in doc.text
    start = doc.text.index(row)
    # Row 4 is empty in the sheet: skipped, and the Schmidt camera keeps its row number 5.
    assert doc.locators.locate(start, start + len(row)) == {"sheet": "Telescopes", "row_start": 5, "row_end": 5}
    first = doc.text.index("Instrument: Refractor")
    assert doc.locators.locate(first, start + len(row)) == {"sheet": "Telescopes", "row_start": 2, "row_end": 5}
    staff = doc.text.index("Name: Ingrid")
    assert doc.locators.locate(staff, staff + 5) == {"sheet": "Staff", "row_start": 2, "row_end": 2}
    assert section_of(doc, "Ingrid") == ("Staff",)


def test_csv_and_tsv_rows(tmp_path):
    doc = _load(tmp_path, "bridges.csv")
    row = "City: Porto | River: Douro | Bridges: 6, including the Dom Luis I bridge"
    start = doc.text.index(row)  # the quoted cell with a comma stays one cell
    assert doc.locators.locate(start, start + len(row)) == {"sheet": None, "row_start": 5, "row_end": 5}
    tsv = _load(tmp_path, "ferries.tsv")
    assert "Ferry: MV Isle of Mull | Route: Oban to Craignure | Crossing minutes: 46" in tsv.text


def test_epub_chapters_in_spine_order_with_titles_as_sections(tmp_path):
    doc = _load(tmp_path, "orchard.epub")
    assert doc.title == "The orchard almanac"
    assert doc.text.index("Conference pear") < doc.text.index("Bramley scion"), "spine order, not file order"
    assert section_of(doc, "Conference pear") == ("Pruning pears", "Summer pruning")
    assert section_of(doc, "Bramley scion") == ("Grafting apples",)


def test_email_subject_headers_body_and_filterable_metadata(tmp_path):
    doc = _load(tmp_path, "choir.eml")
    assert doc.title == "Choir rehearsal moved"
    assert doc.meta == {"from": "maren.holt@example.org", "to": ["altos@example.org", "tenors@example.org"],
                        "date": "2024-03-05T09:30:00+01:00"}
    assert "crypt of St Columba's church" in doc.text


MAIL_WITH_ATTACHMENTS = (("seating.docx", fx.make_docx()), ("../../plan.csv", fx.CSV.encode()),
                         ("broken.pptx", b"PK\x03\x04 no deck"), ("tune.mp3", b"ID3 not text"))


def test_email_attachments_become_documents_with_the_mail_as_parent(tmp_path):
    doc = _load(tmp_path, "choir.eml", fx.make_eml(MAIL_WITH_ATTACHMENTS))
    children = {a.doc_id: a for a in doc.attachments}
    assert set(children) == {"choir.eml/seating.docx", "choir.eml/plan.csv"}, "no path in a name shapes an id"
    seating = children["choir.eml/seating.docx"]
    assert seating.kind == "docx" and seating.title == "Lighthouse keeping handbook"
    assert seating.meta["parent"] == "choir.eml" and seating.meta["from"] == "maren.holt@example.org"
    check_blocks(seating.text, seating.blocks)
    assert children["choir.eml/plan.csv"].locators.unit == ROW
    # Every attachment is accounted for in the mail itself, the unreadable and unsupported ones with why.
    line = doc.text[doc.blocks[-1].start:doc.blocks[-1].end]
    assert doc.blocks[-1].kind == "furniture"
    assert "seating.docx (indexed)" in line and "plan.csv (indexed)" in line
    assert "broken.pptx (not indexed: corrupt PowerPoint deck" in line
    assert "tune.mp3 (not indexed: unsupported type .mp3)" in line


def test_email_text_attachments_are_documents_the_store_can_write(tmp_path):
    # A text, Markdown or HTML attachment's loader result once landed in the wrong fields (its format metadata
    # read as locators), so a mail carrying one could not be stored.
    notes = ("notes.txt", b"Kettle notes\n\nThe whistle is loud and the handle stays cool.\n")
    page = ("page.html", b"<html><head><title>Descaling</title></head><body><p>Use citric acid.</p></body></html>")
    doc = _load(tmp_path, "choir.eml", fx.make_eml((notes, page)))
    children = {a.doc_id: a for a in doc.attachments}
    assert set(children) == {"choir.eml/notes.txt", "choir.eml/page.html"}
    for child in children.values():
        assert child.locators is None and encode_locators(child.locators) == "{}"
        assert child.meta["parent"] == "choir.eml"
        check_blocks(child.text, child.blocks)
    assert children["choir.eml/notes.txt"].text.startswith("Kettle notes")
    assert children["choir.eml/page.html"].title == "Descaling"


def test_email_attachments_are_indexed_and_kept_by_an_incremental_build(tmp_path):
    folder = tmp_path / "mail"
    folder.mkdir()
    (folder / "choir.eml").write_bytes(fx.make_eml(MAIL_WITH_ATTACHMENTS))
    index = tmp_path / "index"
    settings = Settings(index=index)
    build_index([folder], settings, progress=False)
    engine = open_index(index)
    try:
        top = engine.ask("How often is the Fresnel lens of the Skerryvore lighthouse polished?").passages[0]
        assert top.citation.doc_id == "choir.eml/seating.docx"
        assert engine.document("choir.eml/seating.docx").meta["parent"] == "choir.eml"
        found = engine.ask("Fresnel lens", filters={"meta": {"parent": "choir.eml"}}).passages
        assert found and {p.citation.doc_id for p in found} <= {"choir.eml/seating.docx", "choir.eml/plan.csv"}
    finally:
        engine.close()
    report = build_index([folder], settings, progress=False)
    stored = open_stored_index(index)
    try:
        assert set(stored.doc_ids) == {"choir.eml", "choir.eml/seating.docx", "choir.eml/plan.csv"}
        assert report.changes is not None and not report.changes.removed, report.summary()
    finally:
        stored.close()


def test_rst_is_stored_as_rendered_text_with_sections_and_no_file_inclusion(tmp_path):
    doc = _load(tmp_path, "sourdough.rst")
    assert doc.title == "Sourdough field notes"
    assert section_of(doc, "cast iron pot") == ("Sourdough field notes", "Baking", "Oven spring")
    assert "=====" not in doc.text and ".. code-block" not in doc.text
    assert "root:" not in doc.text, "the include directive must not read another file"
    kinds = {doc.text[b.start:b.end]: b.kind for b in doc.blocks}
    assert kinds["Keep a spare in the fridge"] == "list_item"
    assert kinds["bake 20 minutes lid on, 25 minutes lid off"] == "code"


def test_an_rst_page_that_only_includes_another_file_says_so(tmp_path):
    """Sphinx projects ship pages that are one include directive (pip's vendoring-policy.rst, lazr's
    CONTRIBUTING.rst); the directive is not followed, and the reason says that, not only "no extractable text"."""
    page = tmp_path / "CONTRIBUTING.rst"
    page.write_text(".. include:: ../../CONTRIBUTING.rst\n")
    with pytest.raises(LoadError, match=r"^only includes \.\./\.\./CONTRIBUTING\.rst, and include directives are "
                                        r"not followed$"):
        load_document(page, "CONTRIBUTING.rst", 10**6)


def test_rtf_text_and_title(tmp_path):
    doc = _load(tmp_path, "canal.rtf")
    assert doc.title == "Canal lock rota"
    assert "The lock keeper at Caen Hill opens the flight at eight o'clock from Easter to October." in doc.text
    assert "\\par" not in doc.text and "{" not in doc.text


def test_locators_survive_encoding():
    rows = Locators(ROW, (0, 10, 20), (2, 3, 1), ("A", "A", "B"))
    assert decode_locators(rows.encode()) == rows
    slides = Locators(SLIDE, (0, 5), (1, 3))
    assert decode_locators(slides.encode()) == slides
    assert rows.locate(5, 25) == {"sheet": "A", "row_start": 2, "row_end": 3}, "a span into the next sheet"


# ------------------------------------------------------------------ hostile and corrupt files

def _zip_bomb_docx(megabytes: int = MAX_UNZIPPED_BYTES // (1 << 20) + 1) -> bytes:
    """A real .docx with a member of ``megabytes`` of zeros, which compress about 1000x."""
    source = zipfile.ZipFile(io.BytesIO(FILES["handbook.docx"]))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as bomb:
        for item in source.infolist():
            bomb.writestr(item, source.read(item.filename))
        with bomb.open("word/padding.bin", "w", force_zip64=True) as member:
            block = b"\0" * (1 << 20)
            for _ in range(megabytes):
                member.write(block)
    return buffer.getvalue()


@pytest.mark.parametrize("megabytes, reason", [(MAX_UNZIPPED_BYTES // (1 << 20) + 1, "would inflate to"),
                                               (32, "inflates 1,0[0-9][0-9]x")])
def test_zip_bomb_docx_is_refused_before_inflating(tmp_path, megabytes, reason):
    """Over the total, or one member far more compressed than XML ever is."""
    data = _zip_bomb_docx(megabytes)
    assert len(data) < 5_000_000
    started = time.perf_counter()
    with pytest.raises(LoadError, match=f"{reason}.*zip bomb"):
        _load(tmp_path, "handbook.docx", data)
    assert time.perf_counter() - started < 2


def _xlsx_with_empty_rows(empty_rows: int) -> bytes:
    """The observatory workbook with a million empty rows written into its first sheet after the data."""
    source = zipfile.ZipFile(io.BytesIO(FILES["observatory.xlsx"]))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as out:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                # Formatted but empty rows, as a spreadsheet whose format was applied to whole columns has.
                empty = "".join(f'<row r="{n}" spans="1:3" s="1" customFormat="1"/>'
                                for n in range(10, 10 + empty_rows))
                tail = f'<row r="{10 + empty_rows}"><c r="A{10 + empty_rows}" t="inlineStr"><is><t>Coronagraph</t>' \
                       f'</is></c></row>'
                data = data.replace(b"</sheetData>", (empty + tail).encode() + b"</sheetData>")
                data = data.replace(b'<dimension ref="A1:C5"/>', f'<dimension ref="A1:C{10 + empty_rows}"/>'.encode())
            out.writestr(item, data)
    return buffer.getvalue()


def test_xlsx_with_a_million_empty_rows_is_streamed_and_keeps_the_row_after_them(tmp_path):
    data = _xlsx_with_empty_rows(1_000_000)
    started = time.perf_counter()
    doc = _load(tmp_path, "observatory.xlsx", data)
    elapsed = time.perf_counter() - started
    start = doc.text.index("Instrument: Coronagraph")
    assert doc.locators.locate(start, start + 5) == {"sheet": "Telescopes", "row_start": 1_000_010,
                                                    "row_end": 1_000_010}
    assert len(doc.locators.starts) == 7, "empty rows leave no trace in the stored text or the locators"
    assert elapsed < 60, f"{elapsed:.0f} s"


CORRUPT = {
    "handbook.docx": (b"PK\x03\x04 not really a zip", "corrupt Word document"),
    "bees.odt": (b"PK\x03\x04 truncated", "corrupt OpenDocument text"),
    "volcano.pptx": (FILES["volcano.pptx"][:3000], "corrupt PowerPoint deck"),
    "observatory.xlsx": (b"this is not a workbook at all", "corrupt Excel workbook"),
    "orchard.epub": (FILES["orchard.epub"][:2000], "corrupt EPUB"),
    "bridges.csv": (b'a,b\n"unterminated,quote\n', "malformed CSV"),
    "ferries.tsv": (b"a\tb\n\x00\x01\x02", "binary file"),
    "choir.eml": (b"just some words without any header at all\n", "not an e-mail"),
    "sourdough.rst": (bytes(range(128, 256)) * 4, "binary file"),
    "canal.rtf": (b"plain text pretending to be RTF", "not an RTF file"),
}


@pytest.mark.parametrize("name", sorted(CORRUPT))
def test_corrupt_file_of_each_format_gets_a_clear_reason(tmp_path, name):
    data, reason = CORRUPT[name]
    with pytest.raises(LoadError, match=reason):
        _load(tmp_path, name, data)


def test_build_skips_corrupt_files_with_reasons_and_goes_on(tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "good.docx").write_bytes(FILES["handbook.docx"])
    for name, (data, _) in CORRUPT.items():
        (folder / f"bad-{name}").write_bytes(data)
    (folder / "bomb.docx").write_bytes(_zip_bomb_docx())
    documents, skipped = load_corpus([folder], Settings())
    assert [d.doc_id for d in documents] == ["good.docx"]
    reasons = {Path(s.path).name: s.reason for s in skipped}
    assert set(reasons) == {f"bad-{name}" for name in CORRUPT} | {"bomb.docx"}
    for name, (_, reason) in CORRUPT.items():
        assert reason in reasons[f"bad-{name}"]


# ------------------------------------------------------------------ a real index over every format

@pytest.fixture(scope="module")
def formats_index(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("formats")
    for name, data in FILES.items():
        (folder / name).write_bytes(data)
    index = tmp_path_factory.mktemp("formats-index")
    report = build_index([folder], Settings(index=index), progress=False)
    assert report.documents == len(FILES) and not report.skipped
    return index


def test_every_chunk_of_every_format_slices_the_stored_text(formats_index):
    stored = open_stored_index(formats_index)
    try:
        texts = {d.doc_id: d.text for d in stored.all_documents()}
        for chunk in stored.all_chunks():
            doc_id = stored.doc_ids[chunk.doc_row]
            assert texts[doc_id][chunk.char_start:chunk.char_end] == chunk.text
            # Each slide and each sheet opens with a level-1 heading, so no passage runs across two of them.
            first = stored.locate(chunk.doc_row, chunk.char_start, chunk.char_start + 1)
            last = stored.locate(chunk.doc_row, chunk.char_end - 1, chunk.char_end)
            assert first.get("slide") == last.get("slide") and first.get("sheet") == last.get("sheet")
    finally:
        stored.close()


@pytest.fixture(scope="module")
def engine(formats_index):
    engine = open_index(formats_index)
    yield engine
    engine.close()


@pytest.mark.parametrize("name", sorted(fx.FACTS))
def test_a_question_about_each_format_cites_its_document_exactly(engine, name):
    question, words, locator = fx.FACTS[name]
    response = engine.ask(question, top_k=3)
    top = response.passages[0]
    assert top.citation.doc_id == name, [p.citation.doc_id for p in response.passages]
    text = engine.document(name).text
    citation = top.citation
    assert text[citation.char_start:citation.char_end] == top.text
    assert all(word in top.text for word in words), top.text
    assert text[top.highlight.char_start:top.highlight.char_end] == top.highlight.text
    for field, value in locator.items():
        assert getattr(citation, field) == value, (field, citation)
    if name.endswith((".xlsx", ".csv", ".tsv")):
        # The cited row range holds the row the fact is in, numbered as the spreadsheet numbers it.
        fact = text.index(words[-1], text.index(words[0]))
        stored = engine.stored
        fact_row = stored.locate(stored.doc_row_by_id[name], fact, fact + 1)["row_start"]
        assert citation.row_start <= fact_row <= citation.row_end, (fact_row, citation)


def test_spreadsheet_question_finds_the_row_that_holds_the_cell(engine):
    # A row is a table row, never an answer sentence (search.candidates reads unpunctuated short lines as
    # headings or terms), so the row is checked in the top passage: its citation names sheet and rows.
    top = engine.ask("Which instrument has a 400 mm aperture?", top_k=3).passages[0]
    assert top.citation.doc_id == "observatory.xlsx" and "Instrument: Dobsonian | Aperture: 400 mm" in top.text
    assert top.citation.sheet == "Telescopes" and top.citation.row_start <= 3 <= top.citation.row_end
    assert top.citation.section == ["Telescopes"]


def test_slide_answer_names_its_slide(engine):
    response = engine.ask("When is the helicopter survey of the fumaroles booked?", top_k=3)
    assert response.answer is not None and response.answer.citation.slide == 3
    assert response.answer.citation.page is None


def test_email_metadata_filters_questions(engine):
    found = engine.ask("rehearsal", top_k=5, filters={"meta": {"from": "maren.holt@example.org"}})
    assert {p.citation.doc_id for p in found.passages} == {"choir.eml"}
    nothing = engine.ask("rehearsal", top_k=5, filters={"meta": {"from": "nobody@example.org"}})
    assert not nothing.passages
    typed = engine.ask("bridges", top_k=5, filters={"types": ["csv", "tsv"]})
    assert typed.passages and {p.citation.doc_id for p in typed.passages} <= {"bridges.csv", "ferries.tsv"}


def test_prompt_context_names_slide_and_rows(engine):
    from askdocs.search.models import Question

    deck = engine.ask(Question(question="When is the helicopter survey of the fumaroles booked?", top_k=1,
                               format="context"))
    assert "(volcano.pptx, slide 3, line" in deck.context
    sheet = engine.ask(Question(question="Which instrument has a 400 mm aperture?", top_k=1, format="context"))
    citation = sheet.passages[0].citation
    rows = f"row {citation.row_start}" if citation.row_start == citation.row_end else \
        f"rows {citation.row_start}-{citation.row_end}"
    assert f"(observatory.xlsx, sheet Telescopes, {rows}, line" in sheet.context


def test_stored_document_carries_its_slides_and_rows(engine):
    deck = engine.document("volcano.pptx")
    assert deck.locators.unit == "slide" and deck.locators.numbers == [1, 2, 3]
    assert deck.text[deck.locators.starts[2]:].startswith("Gas emissions")
    sheet = engine.document("observatory.xlsx")
    assert sheet.locators.unit == "row" and set(sheet.locators.sheets) == {"Telescopes", "Staff"}
    assert engine.document("handbook.docx").locators is None
