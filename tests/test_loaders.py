"""Each loader on a file the test makes, and files that must be skipped without stopping the build."""

from __future__ import annotations

from pathlib import Path

import pytest

from askdocs.index.build import BuildError, build_index, load_corpus
from askdocs.index.documents import LoadError, load_document
from askdocs.index.settings import Settings
from askdocs.index.store import open_stored_index

from .fixtures import HTML_PAGE, MARKDOWN_NOTE, PDF_PAGES, PLAIN_NOTE, make_pdf, write_corpus


def test_text_title_is_first_line_and_text_is_kept_exactly(tmp_path):
    path = tmp_path / "bicycle.txt"
    path.write_text(PLAIN_NOTE)
    doc = load_document(path, "bicycle.txt", 10**6)
    assert doc.title == "Bicycle maintenance"
    assert doc.text == PLAIN_NOTE
    assert len(doc.sha256) == 64 and doc.kind == "text"


def test_crlf_is_normalised_so_lines_count_right(tmp_path):
    path = tmp_path / "dos.txt"
    path.write_bytes(b"First line here\r\nSecond line here\r\n")
    assert load_document(path, "dos.txt", 10**6).text == "First line here\nSecond line here\n"


def test_markdown_title_is_first_heading_after_front_matter(tmp_path):
    path = tmp_path / "coffee.md"
    path.write_text(MARKDOWN_NOTE)
    doc = load_document(path, "coffee.md", 10**6)
    assert doc.title == "Office coffee machine"
    assert "descaled every Friday" in doc.text


def test_html_keeps_main_text_and_drops_scripts_and_navigation(tmp_path):
    path = tmp_path / "solar.html"
    path.write_text(HTML_PAGE)
    doc = load_document(path, "solar.html", 10**6)
    assert doc.title == "Solar power at home"
    assert "photovoltaic cells made of silicon" in doc.text
    assert "lithium iron phosphate" in doc.text
    assert "do not index me" not in doc.text
    assert "color: red" not in doc.text


def test_html_without_main_content_still_yields_its_text(tmp_path):
    path = tmp_path / "tiny.html"
    path.write_text("<html><head><title>Tiny</title></head><body><div>Opening hours: 9 to 5.</div></body></html>")
    doc = load_document(path, "tiny.html", 10**6)
    assert "Opening hours: 9 to 5." in doc.text
    assert doc.title == "Tiny"


def test_pdf_text_title_and_pages(tmp_path):
    path = tmp_path / "tea.pdf"
    path.write_bytes(make_pdf(PDF_PAGES, title="Tea from leaf to cup"))
    doc = load_document(path, "tea.pdf", 10**6)
    assert doc.title == "Tea from leaf to cup"
    assert len(doc.page_starts) == 2
    second_page = doc.text[doc.page_starts[1] :]
    assert second_page.startswith("Processing")
    assert doc.page_at(doc.text.index("Black tea")) == 2
    assert doc.page_at(doc.text.index("Tea plants")) == 1


def test_pdf_pages_reach_chunk_citations(corpus_index):
    stored = open_stored_index(corpus_index)
    pdf_row = stored.doc_row_by_id["tea.pdf"]
    rows = [r for r in range(stored.n_chunks) if stored.chunks.doc_row[r] == pdf_row]
    assert rows and all(stored.chunks.page[r] >= 1 for r in rows)
    stored.close()


@pytest.mark.parametrize(
    "name, content, reason",
    [
        ("empty.txt", b"", "empty file"),
        ("blank.md", b"  \n\n ", "empty file"),
        ("binary.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary file"),
        ("noise.txt", bytes(range(128, 256)) * 4, "binary file \\(no text encoding fits"),
        ("bad-utf16.txt", b"\xff\xfe" + "ok".encode("utf-16-le") + b"\x00\xd8", "corrupt UTF-16 text"),
        ("broken.pdf", b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog", "corrupt PDF"),
        ("truncated.pdf", make_pdf(PDF_PAGES)[:200], "corrupt PDF"),
    ],
)
def test_unreadable_files_raise_a_reason(tmp_path, name, content, reason):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(LoadError, match=reason):
        load_document(path, name, 10**6)


def test_oversized_file_is_refused_without_reading(tmp_path):
    path = tmp_path / "big.txt"
    path.write_text("word " * 1000)
    with pytest.raises(LoadError, match="too large"):
        load_document(path, "big.txt", 100)


def test_build_skips_bad_files_names_them_and_goes_on(tmp_path, caplog):
    docs = write_corpus(tmp_path / "docs")
    (docs / "binary.txt").write_bytes(b"\x00\x01\x02garbage")
    (docs / "noise.txt").write_bytes(bytes(range(128, 256)) * 4)
    (docs / "broken.pdf").write_bytes(b"%PDF-1.4 nonsense")
    (docs / "archive.zip").write_bytes(b"PK\x03\x04")  # not a supported type: counted, not an error
    (docs / "loop.txt").symlink_to(docs / "loop.txt")
    documents, skipped = load_corpus([docs], Settings())
    assert sorted(d.doc_id for d in documents) == ["notes/bicycle.txt", "notes/coffee.md", "solar.html", "tea.pdf"]
    reasons = {Path(s.path).name: s.reason for s in skipped}
    assert set(reasons) == {"binary.txt", "noise.txt", "broken.pdf", "loop.txt", "archive.zip"}
    for name in reasons.keys() - {"archive.zip"}:
        assert name in caplog.text, "each file that could not be read is named in a warning"

    report = build_index([docs], Settings(index=tmp_path / "index"), progress=False)
    assert report.documents == 4 and len(report.skipped) == 5
    summary = report.summary()
    assert "Not indexed: 5 files and folders" in summary and "broken.pdf" in summary
    assert "unsupported type: 1 (.zip 1)" in summary


def test_build_with_nothing_readable_fails_and_keeps_previous_index(tmp_path, corpus):
    index = tmp_path / "index"
    build_index([corpus], Settings(index=index), progress=False)
    before = (index / "CURRENT").read_text()
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "x.txt").write_bytes(b"\x00")
    with pytest.raises(BuildError, match="no readable documents"):
        build_index([bad], Settings(index=index), progress=False)
    assert (index / "CURRENT").read_text() == before
    assert open_stored_index(index).n_documents == 4


def test_doc_ids_are_paths_relative_to_the_corpus_root(corpus_index):
    stored = open_stored_index(corpus_index)
    assert sorted(stored.doc_ids) == ["notes/bicycle.txt", "notes/coffee.md", "solar.html", "tea.pdf"]
    stored.close()


def test_answer_sentence_cites_its_own_pdf_page(corpus_index):
    from askdocs.search import open_index

    engine = open_index(corpus_index)
    response = engine.ask("Is black tea oxidised before drying?", top_k=3)
    engine.close()
    answer = response.answer
    assert answer is not None and "Black tea" in answer.text
    assert answer.citation.doc_id == "tea.pdf" and answer.citation.page == 2


def test_pages_that_share_one_content_stream_each_get_its_text():
    # The loader extracts a shared stream once and reuses its text (what keeps an inflating PDF cheap); each
    # page must still get exactly the text it draws, at the right offset.
    from askdocs.index.documents import load_pdf

    from .fixtures import make_pdf_bomb

    loaded = load_pdf(make_pdf_bomb(pages=3, stream_bytes=2_000))
    text, page_starts = loaded.text, loaded.page_starts
    pages = [text[start:end].strip() for start, end in zip(page_starts, [*page_starts[1:], len(text)])]
    assert len(pages) == 3 and pages[0] and pages[0] == pages[1] == pages[2]
    assert "lorem ipsum dolor sit amet" in pages[2]
