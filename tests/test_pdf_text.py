"""PDF text read with pdfium: each stored character maps back to its pdfium character; encryption; page labels."""

from __future__ import annotations

import io
import unicodedata

import pytest

from askdocs.index.documents import PAGE_SEPARATOR, LoadError, load_document
from askdocs.index.pdf import read_pdf

from .fixtures import (
    PDF_PAGES, make_labelled_pdf, make_pdf, make_pdf_bomb, make_placed_words_pdf, make_structured_pdf,
)

FIXTURES = {
    "tea.pdf": lambda: make_pdf(PDF_PAGES, title="Tea from leaf to cup"),
    "structured.pdf": make_structured_pdf,
    "structured-outline.pdf": lambda: make_structured_pdf(outline=True),
    "placed-words.pdf": lambda: make_placed_words_pdf(["Debian keeps every package in its own archive area",
                                                       "and the words here are placed one by one"]),
    "shared-stream.pdf": lambda: make_pdf_bomb(pages=3, stream_bytes=2_000),
}


def _pdfium_chars(data: bytes) -> list[list[str]]:
    """Every page's characters as pdfium itself lists them (the reference the char map must point into)."""
    import pypdfium2 as pdfium
    import pypdfium2.raw as raw

    document = pdfium.PdfDocument(data)
    pages = []
    for number in range(len(document)):
        textpage = document[number].get_textpage()
        pages.append([chr(raw.FPDFText_GetUnicode(textpage.raw, i)) for i in range(textpage.count_chars())])
    return pages


def _same_character(stored: str, pdfium_char: str) -> bool:
    if stored == pdfium_char:
        return True
    if stored == "\n":
        return pdfium_char in "\r\n"  # pdfium's line break
    if stored == "-":
        return pdfium_char == "\x02"  # pdfium's line-end hyphen, kept where it joins no word
    return stored in unicodedata.normalize("NFKC", pdfium_char)


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_every_stored_character_maps_to_its_pdfium_character(name):
    data = FIXTURES[name]()
    read = read_pdf(data, 100, 10**6)
    reference = _pdfium_chars(data)
    assert len(read.pages) == len(reference)
    for number, (page, chars) in enumerate(zip(read.pages, reference), 1):
        assert len(page.chars) == len(page.text) and page.text
        mapped = [i for i in page.chars if i >= 0]
        assert mapped == sorted(set(mapped)), f"page {number}: the map goes back or repeats"
        for position, (stored, index) in enumerate(zip(page.text, page.chars)):
            if index == -1:
                assert stored == "\n" and page.text[position - 1] == "-", (number, position)
                continue
            assert _same_character(stored, chars[index]), (name, number, position, stored, chars[index])
    # The stored document is these page texts at their page offsets, so the map covers every stored character.
    doc_text = load_document_bytes(data)
    assert doc_text.text == PAGE_SEPARATOR.join(page.text for page in read.pages)
    for page, start in zip(read.pages, doc_text.page_starts):
        assert doc_text.text[start:start + len(page.text)] == page.text


def load_document_bytes(data: bytes):
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "doc.pdf"
        path.write_bytes(data)
        return load_document(path, "doc.pdf", 10**7)


def test_words_placed_one_by_one_keep_their_spaces():
    doc = load_document_bytes(FIXTURES["placed-words.pdf"]())
    assert doc.text == ("Debian keeps every package in its own archive area\n"
                        "and the words here are placed one by one")


def test_the_line_end_hyphen_joins_a_word_and_maps_to_no_stored_character():
    read = read_pdf(make_structured_pdf(), 100, 10**6)
    page = read.pages[1]
    assert "identical bushes" in page.text and "identi-" not in page.text
    reference = _pdfium_chars(make_structured_pdf())[1]
    hyphen = reference.index("\x02")
    assert hyphen not in page.chars  # joined: no stored character comes from it
    at = page.text.index("identical") + len("identi")
    assert page.chars[at - 1] == hyphen - 1 and page.chars[at] == hyphen + 1


def test_line_end_hyphens_on_a_full_page_are_read_as_on_a_short_one():
    # pdfium's whole-page text marks a line-end hyphen U+FFFE where its per-character text says 2; a page long
    # enough to be read whole (found on the R, gnuplot and DocBook manuals) lost every such hyphen ("UTF8",
    # "MITstyle") instead of keeping those that join no word.
    prose = "Green tea is steamed or pan fired right after picking to stop oxidation of the leaves."
    lines = [prose] * 12 + ["Every file of the package must be saved as UTF-", "8 before it is built, and the",
                            "licence is a MIT-", "style one; the leaves of identi-", "cal bushes are picked by hand."]
    read = read_pdf(make_pdf(["\n".join(lines)]), 100, 10**6)
    text = read.pages[0].text
    assert "saved as UTF-\n8 before" in text
    assert "a MIT-\nstyle one" in text
    assert "leaves of identical bushes" in text
    assert "\ufffe" not in text


def test_an_identifier_broken_after_an_underscore_is_one_word_again():
    """texinfo's PDFs break \\code{} after an underscore: "R_" ends one line and "LIBS_USER" opens the next, so the
    variable a user asks for was in no stored text. A line that ends in an underscore after something else stays."""
    lines = ["Users can have libraries, normally specified by the environment variable R_", "LIBS_USER. The",
             "separator is __", "then the rest.", "A blank is written as _", "(an underscore)."]
    text = read_pdf(make_pdf(["\n".join(lines)]), 100, 10**6).pages[0].text
    assert "environment variable R_LIBS_USER. The" in text
    assert "separator is __\nthen the rest." in text
    assert "written as _\n(an underscore)." in text


def _encrypted(user_password: str, owner_password: str = "owner") -> bytes:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(make_pdf(PDF_PAGES, title="Tea"))))
    writer.encrypt(user_password=user_password, owner_password=owner_password, algorithm="AES-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_a_password_protected_pdf_is_refused_as_encrypted(tmp_path):
    path = tmp_path / "secret.pdf"
    path.write_bytes(_encrypted("secret"))
    with pytest.raises(LoadError, match=r"^encrypted PDF \(needs a password\)$"):
        load_document(path, "secret.pdf", 10**6)


def test_an_encrypted_pdf_with_an_empty_user_password_is_read(tmp_path):
    # Owner-password-only encryption (printing or copying restrictions) opens for anyone: it is not a secret.
    path = tmp_path / "restricted.pdf"
    path.write_bytes(_encrypted(""))
    doc = load_document(path, "restricted.pdf", 10**6)
    assert "Black tea is fully oxidised before drying." in doc.text and len(doc.page_starts) == 2


def test_page_labels_are_kept_per_page():
    doc = load_document_bytes(make_labelled_pdf())
    assert doc.page_labels == ("i", "1", "2", "3")
    assert doc.page_label_at(doc.text.index("Black tea")) == "3"
    assert doc.page_at(doc.text.index("Black tea")) == 4
    # Labels that only repeat the page numbers say nothing: none are kept.
    assert load_document_bytes(make_pdf(PDF_PAGES)).page_labels == ()


def test_citations_carry_the_page_label(tmp_path):
    from askdocs.index.build import build_index
    from askdocs.index.settings import Settings
    from askdocs.search import open_index
    from askdocs.search.context import page_name

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "handbook.pdf").write_bytes(make_labelled_pdf())
    (docs / "tea.pdf").write_bytes(make_pdf(PDF_PAGES, title="Tea"))
    build_index([docs], Settings(index=tmp_path / "index"), progress=False)
    engine = open_index(tmp_path / "index")
    try:
        response = engine.ask("What gives black tea a darker colour?", top_k=5)
        answer = response.answer
        assert answer is not None and answer.citation.doc_id == "handbook.pdf"
        assert (answer.citation.page, answer.citation.page_label) == (4, "3")
        handbook = [p for p in response.passages if p.citation.doc_id == "handbook.pdf"]
        assert handbook and all(p.citation.page_label == handbook_label(p.citation.page) for p in handbook)
        others = [p for p in response.passages if p.citation.doc_id == "tea.pdf"]
        assert all(p.citation.page_label is None and p.citation.page for p in others)
        assert engine.document("handbook.pdf").page_labels == ["i", "1", "2", "3"]
        assert engine.document("tea.pdf").page_labels == []
        assert page_name(4, "3") == "page 3 (PDF page 4)" and page_name(2, None) == page_name(2, "2") == "page 2"
    finally:
        engine.close()


def handbook_label(page: int) -> str:
    return ["i", "1", "2", "3"][page - 1]
