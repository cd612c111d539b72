"""Citations built from stored chunk rows: the one place that turns a row into a `Citation`."""

from __future__ import annotations

from askdocs.index.store import StoredIndex

from .models import Citation


def chunk_citation(stored: StoredIndex, row: int, chunk_id: str, section: list[str] | None = None) -> Citation:
    """``section``: the chunk's section path when the caller has read it already (StoredIndex.chunk_sections)."""
    chunk = stored.chunks.chunk(row)
    doc_row = chunk.doc_row
    return Citation(
        doc_id=stored.doc_ids[doc_row],
        title=stored.doc_titles[doc_row],
        source=stored.doc_sources[doc_row],
        chunk_id=chunk_id,
        char_start=chunk.char_start,
        char_end=chunk.char_end,
        line_start=chunk.line_start,
        line_end=chunk.line_end,
        page=chunk.page,
        page_label=stored.page_label_at(doc_row, chunk.char_start),
        section=stored.chunk_sections([row])[0] if section is None else section,
        sha256=stored.doc_sha256[doc_row],
        generation=stored.manifest.generation,
        **stored.locate(doc_row, chunk.char_start, chunk.char_end),
    )


def sentence_citation(stored: StoredIndex, passage_citation: Citation, passage_text: str,
                      char_start: int, char_end: int) -> Citation:
    """Narrow a passage's citation to one sentence inside it; lines, page, slide, rows and section follow from the
    stored chunk."""
    before = passage_text[: char_start - passage_citation.char_start]
    inside = passage_text[char_start - passage_citation.char_start : char_end - passage_citation.char_start]
    line_start = passage_citation.line_start + before.count("\n")
    doc_row = stored.doc_row_by_id[passage_citation.doc_id]
    return passage_citation.model_copy(
        update={
            "char_start": char_start,
            "char_end": char_end,
            "line_start": line_start,
            "line_end": line_start + inside.count("\n"),
            "page": stored.page_at(doc_row, char_start),
            "page_label": stored.page_label_at(doc_row, char_start),
            # The sentence's own section: a chunk may hold the end of one subsection and the start of the next.
            "section": stored.section_at(doc_row, char_start) if stored.has_structure else passage_citation.section,
            **stored.locate(doc_row, char_start, char_end),
        }
    )
