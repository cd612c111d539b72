"""The citation invariant: every chunk's offsets slice its document's text to exactly the chunk text."""

from __future__ import annotations

from dataclasses import fields, replace
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from askdocs.index.build import make_chunker
from askdocs.index.chunking import split_sentences
from askdocs.index.documents import Document
from askdocs.index.embedder import load_embedder
from askdocs.index.settings import Settings
from askdocs.index.store import ChunkTable, open_stored_index


@pytest.fixture(scope="module")
def embedder():
    return load_embedder("all-MiniLM-L6-v2")


def _document(text: str, page_starts=()) -> Document:
    return Document("doc.txt", "t", "doc.txt", "0" * 64, text, "text", len(text), 0.0, tuple(page_starts))


def _check_chunks(text: str, chunks, embedder) -> None:
    assert chunks or not text.strip()
    token_counts = [len(spans) for spans in embedder.token_spans([text[c.char_start : c.char_end] for c in chunks])]
    for chunk, n_tokens in zip(chunks, token_counts):
        assert 0 <= chunk.char_start < chunk.char_end <= len(text)
        piece = text[chunk.char_start : chunk.char_end]
        assert piece == piece.strip(), "chunks start and end on text, not whitespace"
        assert chunk.text == piece and chunk.sentence_count == len(chunk.sentences)
        assert chunk.line_start == text.count("\n", 0, chunk.char_start) + 1
        assert chunk.line_end == text.count("\n", 0, chunk.char_end - 1) + 1
        # The model must never silently truncate a chunk.
        assert n_tokens <= embedder.max_content_tokens
        for start, end in chunk.sentences:
            assert chunk.char_start <= start < end <= chunk.char_end
    # Every non-blank character of the document is in some chunk.
    covered = [False] * len(text)
    for chunk in chunks:
        covered[chunk.char_start : chunk.char_end] = [True] * (chunk.char_end - chunk.char_start)
    assert all(covered[i] for i, ch in enumerate(text) if not ch.isspace())


def test_every_chunk_of_every_index_slices_its_document(seeds_index, corpus_index):
    for index in (seeds_index, corpus_index):
        stored = open_stored_index(index)
        for row in range(stored.n_chunks):
            doc = stored.document(stored.doc_ids[stored.chunks.doc_row[row]])
            start, end = int(stored.chunks.char_start[row]), int(stored.chunks.char_end[row])
            assert doc.text[start:end] == stored.chunk_texts([row])[0]
            first, count = int(stored.chunks.sentence_first[row]), int(stored.chunks.sentence_count[row])
            for s, e in stored.sentence_spans[first : first + count]:
                assert start <= s < e <= end
        stored.close()


def test_seed_document_chunks(embedder):
    text = (Path(__file__).parent.parent / "seeds").glob("*.txt").__next__().read_text()
    chunks = make_chunker(embedder, Settings()).chunk(_document(text))
    assert len(chunks) >= 2
    _check_chunks(text, chunks, embedder)


def test_sentence_longer_than_a_chunk_is_cut_at_word_boundaries(embedder):
    text = " ".join(f"word{i} antidisestablishmentarianism" for i in range(400))  # no full stop at all
    chunks = make_chunker(embedder, Settings(chunk_tokens=64, chunk_overlap=8)).chunk(_document(text))
    assert len(chunks) > 5
    _check_chunks(text, chunks, embedder)
    for chunk in chunks:
        assert chunk.char_start == 0 or text[chunk.char_start - 1] == " "


def test_overlap_repeats_trailing_sentences(embedder):
    text = " ".join(f"Sentence number {i} talks about topic {i}." for i in range(60))
    chunks = make_chunker(embedder, Settings(chunk_tokens=60, chunk_overlap=20)).chunk(_document(text))
    assert len(chunks) > 3
    for previous, current in zip(chunks, chunks[1:]):
        assert current.char_start < previous.char_end, "consecutive chunks share a sentence"
        assert current.char_start > previous.char_start, "every chunk moves forward"


def test_headings_and_lines_end_sentences():
    text = "Ordering beans\nBeans come from Ghent. Budget is fixed\n\n- first item\n- second item"
    sentences = [text[s:e] for s, e in split_sentences(text)]
    assert sentences == ["Ordering beans", "Beans come from Ghent.", "Budget is fixed", "- first item", "- second item"]


def test_hard_wrapped_lines_stay_one_sentence():
    text = (
        "This sentence was wrapped by an old editor at a fixed width of seventy\n"
        "characters, so the newline in the middle is not the end of anything."
    )
    assert len(split_sentences(text)) == 1


def test_the_chunk_table_a_question_reads_is_the_stored_chunks(seeds_index):
    # Two forms of one record: the columns opened into memory and the rows the build wrote must agree, row by row.
    stored = open_stored_index(seeds_index)
    try:
        chunks = stored.all_chunks()
        assert len(chunks) == stored.n_chunks
        table = ChunkTable.of(chunks)
        for column in fields(ChunkTable):
            assert np.array_equal(getattr(table, column.name), getattr(stored.chunks, column.name)), column.name
        for row, chunk in enumerate(chunks):
            assert stored.chunks.chunk(row) == replace(chunk, chunk_id="", n_tokens=0, text="", section=())
            assert chunk.chunk_id == stored.chunk_ids([row])[0]
            assert chunk.text == stored.chunk_texts([row])[0] and chunk.sentences == ()
    finally:
        stored.close()


_text = st.lists(
    st.one_of(
        st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=0, max_size=80),
        st.sampled_from([". ", "\n", "\n\n", "\r\n", "  ", "Dr. ", "e.g. ", "3.14 ", "😀", "中文。", "# Heading\n"]),
    ),
    max_size=60,
).map("".join)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=_text)
def test_offsets_hold_for_arbitrary_text(embedder, text):
    chunker = make_chunker(embedder, Settings(chunk_tokens=24, chunk_overlap=6))
    _check_chunks(text, chunker.chunk(_document(text)), embedder)


def test_a_sentence_cut_by_a_page_break_is_one_sentence_again():
    from askdocs.index.chunking import join_across_pages

    pages = ["The lens was ground in Paris and then shipped to Scotland", "in forty crates. Keepers cleaned it daily.",
             "Page three opens a new thought.", "and this page starts in lower case after a closed sentence."]
    text = "\n\n".join(pages)
    starts = [0]
    for page in pages[:-1]:
        starts.append(starts[-1] + len(page) + 2)
    typed = [(span, "paragraph") for span in split_sentences(text)]
    joined = [text[s:e] for (s, e), _ in join_across_pages(text, typed, starts)]
    assert joined[0] == "The lens was ground in Paris and then shipped to Scotland\n\nin forty crates."
    assert "Page three opens a new thought." in joined  # the previous page ended its sentence
    assert joined[-1] == pages[3]  # a closed sentence before the break: lower case or not, two sentences
    # Page furniture (a running footer) between the parts: they stay apart rather than carry it.
    footer = pages[0] + "\n\n12\n\n" + pages[1]
    typed = [(span, "paragraph") for span in split_sentences(footer) if footer[span[0]:span[1]] != "12"]  # furniture
    kept = join_across_pages(footer, typed, [0, len(pages[0]) + 6])
    assert [footer[s:e] for (s, e), _ in kept][:2] == ["The lens was ground in Paris and then shipped to Scotland",
                                                       "in forty crates."]
    # An empty page between (a blank page before a chapter, a scan with no text): a sentence never runs over it. The
    # Debian live-manual PDF, drawn without most of its text, had a contents line and a URL pages apart made one.
    blank = pages[0] + "\n\n" + "\n\n" + pages[1]
    typed = [(span, "paragraph") for span in split_sentences(blank)]
    kept = join_across_pages(blank, typed, [0, len(pages[0]) + 2, len(pages[0]) + 4])
    assert [blank[s:e] for (s, e), _ in kept][:2] == ["The lens was ground in Paris and then shipped to Scotland",
                                                      "in forty crates."]


def _definition_list(entries: list[tuple[str, str]]) -> tuple[str, list, Document]:
    """A document of terms, each with its description on the next line, typed as the loaders type them."""
    from askdocs.index.structure import Block

    parts, blocks, at = [], [], 0
    for term, description in entries:
        for kind, line in (("term", term), ("description", description)):
            blocks.append(Block(kind, at, at + len(line)))
            parts.append(line)
            at += len(line) + 1
    text = "\n".join(parts)
    return text, blocks, replace(_document(text), blocks=tuple(blocks))


def test_a_chunk_never_opens_with_a_description_without_its_term(embedder):
    """An option list cut between chunks left a chunk opening with "run up to N processes at a time", the option it
    describes only in the chunk before: no answer in that chunk could name the option."""
    text, blocks, document = _definition_list([
        (f"-{chr(97 + i % 26)}{i}, --option-{i}", f"make the tool do thing number {i}" + " and report it" * (i % 4))
        for i in range(40)])
    chunks = make_chunker(embedder, Settings(chunk_tokens=48, chunk_overlap=8)).chunk(document)
    assert len(chunks) > 5
    _check_chunks(text, chunks, embedder)
    descriptions = {b.start for b in blocks if b.kind == "description"}
    assert not [c.text[:40] for c in chunks if c.char_start in descriptions]


def test_a_chunk_ends_before_an_entry_rather_than_cutting_it(embedder):
    """A reference page of settings, each a term and a description of a few sentences: "max_wal_size (integer)" and
    its first sentences in one chunk, "The default is 1 GB." in the next, answered "how big by default?" in
    neither. A chunk that is half full ends before the next entry instead, and the next chunk opens at its term."""
    text, blocks, document = _definition_list([
        (f"setting_{i} (integer)", f"Sets how much memory worker {i} may use before it spills to disk. "
         + "It is read when the server starts. " * (i % 3) + f"The default is {i + 1} megabytes.")
        for i in range(30)])
    chunks = make_chunker(embedder, Settings(chunk_tokens=100, chunk_overlap=20)).chunk(document)
    _check_chunks(text, chunks, embedder)
    terms = [b for b in blocks if b.kind == "term"]
    # every entry (a term and its whole description) is inside one chunk
    for term, description in zip(terms, [b for b in blocks if b.kind == "description"]):
        assert any(c.char_start <= term.start and description.end <= c.char_end for c in chunks), text[term.start:term.end]
    # and every chunk opens at a term: no chunk carries the tail of the entry before it
    assert {c.char_start for c in chunks} <= {t.start for t in terms}
