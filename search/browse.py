"""Reading the index without a question: one passage by chunk id, and the documents a page at a time."""

from __future__ import annotations

import re

import numpy as np

from askdocs.index.errors import BadInput
from askdocs.index.store import StoredIndex, chunk_id_for

from .citations import chunk_citation
from .models import DocumentList, DocumentSummary, PassageDetail


# A next_cursor is a document offset: ASCII digits, never more than an index could hold.
CURSOR_PATTERN = r"^[0-9]{1,18}$"


class BadCursor(BadInput, ValueError):
    code = "bad_cursor"
    loc = ("cursor",)


def get_passage(stored: StoredIndex, chunk_id: str, context_chars: int = 0) -> PassageDetail | None:
    """The passage ``chunk_id`` names, with up to ``context_chars`` of its document on either side; None if unknown."""
    row = stored.chunk_row(chunk_id)
    if row is None:
        return None
    chunks = stored.chunks
    doc_row = int(chunks.doc_row[row])
    ordinal = int(chunks.ordinal[row])
    start, end = int(chunks.char_start[row]), int(chunks.char_end[row])
    doc_id = stored.doc_ids[doc_row]
    before = after = ""
    if context_chars:
        before = stored.document_text_slice(doc_row, max(0, start - context_chars), start)
        # substr stops at the end of the text, so no need to know the document's length here.
        after = stored.document_text_slice(doc_row, end, end + context_chars)
    previous_id, next_id = chunk_id_for(doc_id, ordinal - 1), chunk_id_for(doc_id, ordinal + 1)
    return PassageDetail(
        chunk_id=chunk_id,
        text=stored.chunk_texts([row])[0],
        citation=chunk_citation(stored, row, chunk_id),
        context_before=before,
        context_after=after,
        previous_chunk_id=previous_id if ordinal > 0 else None,
        next_chunk_id=next_id if stored.chunk_row(next_id) is not None else None,
    )


def list_documents(stored: StoredIndex, cursor: str | None = None, limit: int = 50,
                   only: np.ndarray | None = None) -> DocumentList:
    """One page of documents in index order. The cursor is opaque to callers; it is the offset of the page
    among the documents listed. ``only``: a bool per document row (a filter's DocumentTable.documents)."""
    counts = np.bincount(stored.chunks.doc_row, minlength=stored.n_documents)
    if only is None:
        total = stored.n_documents
        offset = _offset(cursor, total)
        page = stored.list_documents(offset, limit)
        rows = range(offset, offset + len(page))
    else:
        matching = np.flatnonzero(only)
        total = len(matching)
        offset = _offset(cursor, total)
        rows = [int(row) for row in matching[offset:offset + limit]]
        page = [(stored.doc_ids[row], stored.doc_titles[row], stored.doc_sources[row]) for row in rows]
    end = offset + len(page)
    return DocumentList(
        documents=[
            DocumentSummary(doc_id=doc_id, title=title, source=source, chunks=int(counts[row]))
            for row, (doc_id, title, source) in zip(rows, page)
        ],
        total=total,
        next_cursor=str(end) if end < total else None,
    )


def _offset(cursor: str | None, total: int) -> int:
    if cursor is None:
        return 0
    if int(check_cursor(cursor)) > total:
        raise _bad(cursor)
    return int(cursor)


def check_cursor(cursor: str) -> str:
    """``cursor`` if it can be a next_cursor at all, else BadCursor (a ValueError, so models may call this)."""
    if not re.fullmatch(CURSOR_PATTERN, cursor):
        raise _bad(cursor)
    return cursor


def _bad(cursor: str) -> BadCursor:
    shown = repr(cursor[:24]) + ("..." if len(cursor) > 24 else "")
    return BadCursor(f"invalid cursor {shown}: pass the next_cursor of a previous page, or no cursor to start")
