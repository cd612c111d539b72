"""What BM25 and the model see for a chunk: the document's title line, its section line, then the chunk text.

Kept apart from the build so that an incremental build derives the very same text (and so the very
same reuse key) for a stored chunk as a fresh build derives for a new one.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence

from .embedder import Embedder
from .structure import SECTION_TOKENS, section_prefix

Span = tuple[int, int]

# Tokens kept free in every chunk for the document title that is prepended before embedding.
TITLE_TOKENS = 32
# And for the section path after it (index.structure.SECTION_TOKENS).
PREFIX_TOKENS = TITLE_TOKENS + SECTION_TOKENS


def title_prefix(title: str, embedder: Embedder) -> str:
    """The title line prepended to every chunk's retrieval text, cut to TITLE_TOKENS model tokens."""
    title = " ".join(title.split())
    if not title:
        return ""
    spans = embedder.token_spans([title])[0]
    if len(spans) > TITLE_TOKENS:
        title = title[: spans[TITLE_TOKENS][0]].rstrip()
    return title + "\n"


def chunk_prefix(title_line: str, section: Sequence[str], title: str, chunk_text: str, embedder: Embedder) -> str:
    """Title line (unless the chunk opens with it) and section line (unless empty) for one chunk."""
    # A chunk that already opens with the title does not need it twice.
    head = "" if title_line and chunk_text.startswith(title_line.strip()) else title_line
    return head + (section_prefix(section, title, embedder.token_spans) if section else "")


def chunk_retrieval_text(title_line: str, section: Sequence[str], title: str, chunk_text: str, char_start: int,
                         sentences: Iterable[Span], furniture: Sequence[Span], embedder: Embedder,
                         ) -> tuple[str, list[Span]]:
    """One chunk's retrieval text and its sentences' spans in it: the one derivation a fresh build, a chunk taken
    over unchanged and the reuse keys of an incremental build all share, so equal chunks get equal keys."""
    prefix = chunk_prefix(title_line, section, title, chunk_text, embedder)
    return retrieval_text(prefix, chunk_text, char_start, sentences, furniture)


def retrieval_text(prefix: str, chunk_text: str, char_start: int, sentences: Iterable[Span],
                   furniture: Sequence[Span] = ()) -> tuple[str, list[Span]]:
    """The chunk's retrieval text and its sentences' spans in it (``sentences``, ``furniture``: document offsets).

    Furniture inside the chunk (a running header between two pages) is left out; no sentence overlaps it.
    """
    pieces, removed_before = [prefix], []  # removed_before: (document offset, chars removed up to there)
    position, removed = char_start, 0
    for start, end in furniture:
        pieces.append(chunk_text[position - char_start : start - char_start])
        removed += end - start
        removed_before.append((end, removed))
        position = end
    pieces.append(chunk_text[position - char_start :])
    out = []
    for s, e in sentences:
        s, e = int(s), int(e)
        cut = 0
        for boundary, total in removed_before:
            if boundary <= s:
                cut = total
        shift = len(prefix) - char_start - cut
        out.append((s + shift, e + shift))
    return "".join(pieces), out


def chunk_key(text: str, spans: list[Span]) -> str:
    """Equal keys mean the model would be given the same input, so a stored chunk's vectors can be reused."""
    return hashlib.sha256(json.dumps([text, spans], ensure_ascii=False).encode()).hexdigest()
