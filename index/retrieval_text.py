"""What BM25 and the model see for a chunk: the document's title line, then the chunk text.

Kept apart from the build so that an incremental build derives the very same text (and so the very
same reuse key) for a stored chunk as a fresh build derives for a new one.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable

from .embedder import Embedder

Span = tuple[int, int]

# Tokens kept free in every chunk for the document title that is prepended before embedding.
TITLE_TOKENS = 32


def title_prefix(title: str, embedder: Embedder) -> str:
    """The title line prepended to every chunk's retrieval text, cut to TITLE_TOKENS model tokens."""
    title = " ".join(title.split())
    if not title:
        return ""
    spans = embedder.token_spans([title])[0]
    if len(spans) > TITLE_TOKENS:
        title = title[: spans[TITLE_TOKENS][0]].rstrip()
    return title + "\n"


def retrieval_text(prefix: str, chunk_text: str, char_start: int, sentences: Iterable[Span]) -> tuple[str, list[Span]]:
    """The chunk's retrieval text and its sentences' spans in it (``sentences`` are document offsets)."""
    # A chunk that already opens with the title does not need it twice.
    chunk_prefix = "" if chunk_text.startswith(prefix.strip()) else prefix
    shift = len(chunk_prefix) - char_start
    return chunk_prefix + chunk_text, [(int(s) + shift, int(e) + shift) for s, e in sentences]


def chunk_key(text: str, spans: list[Span]) -> str:
    """Equal keys mean the model would be given the same input, so a stored chunk's vectors can be reused."""
    return hashlib.sha256(json.dumps([text, spans], ensure_ascii=False).encode()).hexdigest()
