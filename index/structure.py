"""Typed blocks of a document's stored text: what each span is (heading, paragraph, list item, ...).

Every loader returns, beside the stored text, a list of ``Block``s in text order whose offsets slice that
text exactly (``text[block.start:block.end]``), never overlapping. Text covered by no block is separator
whitespace. ``furniture`` blocks are page furniture kept in the stored text (PDF running headers, page
numbers, table-of-contents lines, Markdown front matter and fence lines): never sentences, never answers,
left out of the retrieval text.

Headings give each offset its *section path*: the titles of the headings above it, outermost first.
"""

from __future__ import annotations

import bisect
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

# Stored as small integers (in sentences.npz, in the documents table): the order is part of the format.
KINDS = ("paragraph", "heading", "list_item", "term", "description", "code", "table_row", "caption", "furniture")
KIND_CODE = {kind: code for code, kind in enumerate(KINDS)}
# Bump when what the loaders keep, drop or type changes: the index must then be built again from scratch (an
# unchanged file is otherwise taken over as it was read). 2: DocBook sidebars kept, compound navigation classes
# dropped, block titles captions (HTML); icons' OCR text not indexed; Markdown comments and link definitions
# furniture. 3: HTML from Doxygen, javadoc, texinfo, MkDocs and Read the Docs themes (texinfo's Next/Up line and
# hidden dialogs dropped, Doxygen listings as code, javadoc member rows as rows, admonition titles captions,
# zero-width spaces dropped); PDF running headers that name their section furniture, line-end hyphens on pages
# read whole kept, quoted outline titles found, near-empty OCR pages left out. 4: Doxygen's notes on its source
# files dropped; manual pages (troff) read by a loader of their own (they were plain text). 5: GNU Info manuals
# (.info, .info-N) read as Info (navigation, menus and index nodes not stored; they were plain text or binary).
# 6: PDF contents entries without dot leaders ("1 Foreword 3"), a wrapped entry's first line and the contents
# title furniture; PDF identifiers broken after an underscore at a line end joined ("R_" + "LIBS_USER"); plain
# text: rule lines furniture (not underlines), overlined titles (Vim help), GNU NEWS outlines, FAQ questions, bar
# tables, AsciiDoc listings, option lists (terms); README.Debian-like names read as text (they were unsupported);
# terminal formatting (SGR escapes, backspace overstrike) taken off text files.
STRUCTURE_VERSION = 6
# Model tokens kept free in every chunk for the section path prepended to its retrieval text.
SECTION_TOKENS = 32
SECTION_SEPARATOR = " > "


@dataclass(frozen=True)
class Block:
    kind: str
    start: int
    end: int
    level: int = 0  # headings: 1 (outermost) .. 6; 0 for every other kind

    def __post_init__(self):
        if self.kind not in KIND_CODE:
            raise ValueError(f"unknown block kind {self.kind!r}")


def line_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of every line of ``text``, without its newline."""
    spans, start = [], 0
    for match in re.finditer("\n", text):
        spans.append((start, match.start()))
        start = match.end()
    spans.append((start, len(text)))
    return spans


def trimmed_span(text: str, start: int, end: int) -> tuple[int, int] | None:
    """``(start, end)`` without the leading and trailing whitespace of ``text[start:end]``; None when nothing is
    left."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return (start, end) if end > start else None


def trimmed_block(text: str, kind: str, start: int, end: int, level: int = 0) -> Block | None:
    """A block of ``text[start:end]`` without its leading and trailing whitespace; None when nothing is left."""
    span = trimmed_span(text, start, end)
    return Block(kind, *span, level) if span else None


def check_blocks(text: str, blocks: Sequence[Block]) -> None:
    """Raise ValueError unless the blocks are in order, disjoint, inside ``text`` and trimmed (tests, loaders)."""
    previous_end = 0
    for block in blocks:
        if not (previous_end <= block.start < block.end <= len(text)):
            raise ValueError(f"block {block} out of order or out of the text")
        piece = text[block.start:block.end]
        if piece != piece.strip():
            raise ValueError(f"block {block} is not trimmed: {piece!r}")
        previous_end = block.end


def encode_blocks(blocks: Iterable[Block]) -> str:
    """Blocks as compact JSON for the documents table: ``[[kind code, start, end, level], ...]``."""
    return json.dumps([[KIND_CODE[b.kind], b.start, b.end, b.level] for b in blocks], separators=(",", ":"))


def decode_blocks(data: str | None) -> tuple[Block, ...]:
    if not data:
        return ()
    return tuple(Block(KINDS[k], s, e, lv) for k, s, e, lv in json.loads(data))


# Inline Markdown a heading may carry, which a section path shows as the reader would see it rendered:
# "`path.join([...paths])`" -> "path.join([...paths])", "**Note** on [venv](venv.md)" -> "Note on venv".
_CODE_SPAN = re.compile(r"(`+)(?=\S)(.+?)(?<=\S)\1")
_STRONG = re.compile(r"(\*\*)(?=\S)(.+?)(?<=\S)\1")  # not __: Python's __init__
_LINK = re.compile(r"\[([^\]]+)\]\([^)\s]*\)")


def plain_heading(heading: str) -> str:
    """A heading's text as a section path shows it: whitespace collapsed, Markdown's inline markup taken off."""
    return " ".join(_STRONG.sub(r"\2", _LINK.sub(r"\1", _CODE_SPAN.sub(r"\2", heading))).split())


class Sections:
    """The section path at any offset of one document, from its heading blocks."""

    def __init__(self, text: str, blocks: Sequence[Block]):
        self.starts: list[int] = []
        self.paths: list[tuple[str, ...]] = []
        self.levels: list[int] = []
        stack: list[tuple[int, str]] = []
        for block in blocks:
            if block.kind != "heading":
                continue
            while stack and stack[-1][0] >= block.level:
                stack.pop()
            stack.append((block.level, plain_heading(text[block.start:block.end])))
            self.starts.append(block.start)
            self.levels.append(block.level)
            self.paths.append(tuple(title for _, title in stack))
        levels = [b.level for b in blocks if b.kind == "heading"]
        # The level a chunk may not run across: the outermost level that divides the document in two or more.
        self.break_level = next((lv for lv in sorted(set(levels)) if levels.count(lv) >= 2), min(levels, default=0))

    def path_at(self, offset: int) -> tuple[str, ...]:
        i = bisect.bisect_right(self.starts, offset) - 1
        return self.paths[i] if i >= 0 else ()

    def top_section_at(self, offset: int) -> int:
        """An id of the top-level section holding ``offset``: equal ids may share a chunk."""
        i = bisect.bisect_right(self.starts, offset) - 1
        while i >= 0 and self.levels[i] > self.break_level:
            i -= 1
        return i


def kind_at(blocks: Sequence[Block], starts: Sequence[int], offset: int) -> str | None:
    """The kind of the block holding ``offset`` (``starts``: the blocks' starts), None between blocks."""
    i = bisect.bisect_right(starts, offset) - 1
    if i >= 0 and offset < blocks[i].end:
        return blocks[i].kind
    return None


def section_prefix(path: Sequence[str], title: str, token_spans, max_tokens: int = SECTION_TOKENS) -> str:
    """The section line prepended to a chunk's retrieval text (after the title line), cut to ``max_tokens``.

    Headings equal to the title are left out (an HTML page's h1 usually is its title).
    """
    title_key = " ".join(title.split()).casefold()
    parts = [p for p in path if p.casefold() != title_key]
    line = SECTION_SEPARATOR.join(parts)
    if not line:
        return ""
    spans = token_spans([line])[0]
    if len(spans) > max_tokens:
        line = line[: spans[max_tokens][0]].rstrip()
    return line + "\n"


def furniture_within(blocks: Sequence[Block], start: int, end: int) -> tuple[tuple[int, int], ...]:
    """Spans of the furniture blocks inside ``[start, end)``, in order."""
    return tuple((b.start, b.end) for b in blocks if b.kind == "furniture" and start <= b.start and b.end <= end)
