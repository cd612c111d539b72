"""Sentence-aware chunking that records exact offsets.

Offsets are computed here, once, and never recomputed from text later: every chunk
satisfies ``document.text[chunk.char_start:chunk.char_end] == chunk_text``.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import sentencex

from .documents import Document
from .structure import KIND_CODE, SECTION_TOKENS, Block, Sections, section_prefix, trimmed_span

_TERM, _DESCRIPTION, _HEADING = KIND_CODE["term"], KIND_CODE["description"], KIND_CODE["heading"]
# A window at least this full ends before an entry (a heading, or a term with its description) that would not fit
# in what is left, rather than cutting the entry in two: "max_wal_size (integer) Maximum size to let the WAL grow
# ..." in one chunk and "The default is 1 GB." in the next answered the question in neither.
_ENTRY_FILL = 0.5

Span = tuple[int, int]
# Counts tokens of each text, no special tokens; returns the token char spans of each text too.
TokenCounter = Callable[[Sequence[str]], list[list[Span]]]

_BLANK_LINE = re.compile(r"\n[ \t]*\n")
_LINE_ENDS_THOUGHT = re.compile(r"[.!?:;\"”’)\]]\s*$")
_LINE_STARTS_ITEM = re.compile(r"^\s*(#{1,6}\s|[>*+\-•|]\s?|\d+[.)]\s|[A-Z][A-Z0-9 ]{2,}$)")
# Lines shorter than this are headings, list items, table rows or the last line of a paragraph,
# not a hard-wrapped line in the middle of a sentence.
_SHORT_LINE = 60


@dataclass(frozen=True)
class Chunk:
    """One chunk of a document: where it is in the stored text, and its sentences.

    The one chunk record, in three stages. The chunker makes it with its sentences. The build places it in a
    generation (``placed``): from then on its sentences live in the generation's sentence arrays, from
    ``sentence_first`` for ``sentence_count``, and it is what ``index.store`` writes and reads back
    (``StoredIndex.all_chunks``). A question reads the numeric fields of every chunk as columns
    (``index.store.ChunkTable``), which gives a row back as a Chunk.
    """

    ordinal: int
    char_start: int
    char_end: int
    line_start: int
    line_end: int
    page: int | None
    sentence_count: int
    # Where the build placed it: its document's row and its first sentence's row in the generation; -1 before.
    doc_row: int = -1
    sentence_first: int = -1
    # The next four are kept in chunks.sqlite but not in ChunkTable's columns: a Chunk a ChunkTable gives has
    # "", 0, "" and () for them.
    chunk_id: str = ""  # chunk_id_for(its document's id, ordinal)
    n_tokens: int = 0
    text: str = ""  # the document's text[char_start:char_end]
    # The headings above the chunk's start, outermost first (empty for a document without headings).
    section: tuple[str, ...] = ()
    # Only until the chunk is placed (empty after): the document offsets of its sentences, the block kind code
    # (index.structure.KINDS) of each ("paragraph" for a document without blocks), and the furniture spans
    # inside it (in its text, left out of its retrieval text).
    sentences: tuple[Span, ...] = ()
    kinds: tuple[int, ...] = ()
    furniture: tuple[Span, ...] = ()

    def placed(self, doc_row: int, sentence_first: int) -> Chunk:
        """This chunk at its place in a generation, its sentences left to the generation's sentence arrays."""
        return replace(self, doc_row=doc_row, sentence_first=sentence_first, sentences=(), kinds=(), furniture=())


def _entry_starts(kinds: list[int]) -> list[int]:
    """Sentences that open an entry: a heading, or the first of a run of terms ("-R" then "--write-recovery-conf")."""
    return [i for i in range(1, len(kinds))
            if kinds[i] == _HEADING or (kinds[i] == _TERM and kinds[i - 1] != _TERM)]


def chunk_id_for(doc_id: str, ordinal: int) -> str:
    return f"{doc_id}#{ordinal}"


def _blocks(text: str) -> list[Span]:
    """Split text into runs that no sentence may cross: paragraphs, and lines that end a thought."""
    blocks: list[Span] = []
    start = 0
    for match in _BLANK_LINE.finditer(text):
        blocks.extend(_line_blocks(text, start, match.start()))
        start = match.end()
    blocks.extend(_line_blocks(text, start, len(text)))
    return blocks


def _paragraphs(text: str, start: int, end: int) -> list[Span]:
    spans, position = [], start
    for match in _BLANK_LINE.finditer(text, start, end):
        spans.append((position, match.start()))
        position = match.end()
    spans.append((position, end))
    return spans


def _line_blocks(text: str, start: int, end: int) -> list[Span]:
    blocks: list[Span] = []
    block_start = start
    pos = start
    while True:
        newline = text.find("\n", pos, end)
        if newline == -1:
            break
        line = text[pos:newline]
        next_end = text.find("\n", newline + 1, end)
        next_line = text[newline + 1 : end if next_end == -1 else next_end]
        if len(line.strip()) < _SHORT_LINE or _LINE_ENDS_THOUGHT.search(line) or _LINE_STARTS_ITEM.match(next_line):
            blocks.append((block_start, newline))
            block_start = newline + 1
        pos = newline + 1
    blocks.append((block_start, end))
    return blocks


# Blocks whose text is one sentence (cut by tokens only if longer than a chunk).
_ONE_SENTENCE = {"heading", "term", "table_row", "caption"}


def structured_sentences(text: str, blocks: Sequence[Block], language: str = "en") -> list[tuple[Span, str]]:
    """Sentences with their block kind: never across a block, never inside furniture."""
    out: list[tuple[Span, str]] = []
    for block in blocks:
        if block.kind == "furniture":
            continue
        if block.kind in _ONE_SENTENCE:
            if span := trimmed_span(text, block.start, block.end):
                out.append((span, block.kind))
            continue
        if block.kind == "code":
            for line_start, line_end in _line_blocks(text, block.start, block.end):
                if span := trimmed_span(text, line_start, line_end):
                    out.append((span, "code"))
            continue
        out.extend((span, block.kind) for span in split_sentences(text, language, block.start, block.end))
    return out


# A page that ends mid-sentence: no closing punctuation before the break, lower case after it.
_SENTENCE_CLOSED = re.compile(r"""[.!?:;…"'”’)\]]\s*$""")
_JOINABLE = {"paragraph", "list_item", "description"}


def join_across_pages(text: str, typed: list[tuple[Span, str]], page_starts: Sequence[int]) -> list[tuple[Span, str]]:
    """Sentences of running text that a page break cut in two, made one again (so an answer or a highlight is the
    whole sentence, boxed on both pages). Only where nothing but the page separator lies between the two parts:
    across a running header or footer the parts stay apart, since the sentence would carry the furniture, and so
    they do across an empty page."""
    if len(page_starts) < 2 or len(typed) < 2:
        return typed
    out = [typed[0]]
    for (start, end), kind in typed[1:]:
        (prev_start, prev_end), prev_kind = out[-1]
        gap = text[prev_end:start]
        page = bisect.bisect_right(page_starts, start) - 1
        # The part before the break ends on the page before: across an empty page no sentence runs on.
        if (page > 0 and bisect.bisect_right(page_starts, prev_end - 1) == page and not gap.strip() and kind in _JOINABLE
                and prev_kind in _JOINABLE and text[start].islower()
                and not _SENTENCE_CLOSED.search(text[prev_start:prev_end])):
            out[-1] = ((prev_start, end), prev_kind)
        else:
            out.append(((start, end), kind))
    return out


def split_sentences(text: str, language: str = "en", start: int = 0, end: int | None = None) -> list[Span]:
    spans: list[Span] = []
    end = len(text) if end is None else end
    segments = _blocks(text) if (start, end) == (0, len(text)) else [
        span for m_start, m_end in _paragraphs(text, start, end) for span in _line_blocks(text, m_start, m_end)]
    for block_start, block_end in segments:
        block = text[block_start:block_end]
        if not block.strip():
            continue
        for boundary in sentencex.get_sentence_boundaries(language, block):
            span = trimmed_span(text, block_start + boundary["start_index"], block_start + boundary["end_index"])
            if span:
                spans.append(span)
    return spans


class Chunker:
    def __init__(self, count_tokens: TokenCounter, target_tokens: int, overlap_tokens: int, max_tokens: int,
                 section_prefix: bool = False):
        """``max_tokens``: what the model takes besides the title line; ``section_prefix``: a section line
        (up to SECTION_TOKENS) is prepended too, so each chunk gives up the tokens its own section line takes."""
        if overlap_tokens >= target_tokens:
            raise ValueError("chunk overlap must be smaller than the chunk size")
        self.count_tokens = count_tokens
        self.target = min(target_tokens, max_tokens)
        self.overlap = overlap_tokens
        self.max_tokens = max_tokens
        self.section_prefix = section_prefix

    def settings(self) -> dict:
        return {
            "splitter": "sentencex+lines+blocks+pages+terms+entries",
            "target_tokens": self.target,
            "overlap_tokens": self.overlap,
            "max_tokens": self.max_tokens,
        }

    def chunk(self, document: Document) -> list[Chunk]:
        text = document.text
        blocks = document.blocks
        sections = Sections(text, blocks)
        typed = structured_sentences(text, blocks) if blocks else []
        typed = join_across_pages(text, typed, document.page_starts)
        # A sentence cut into pieces must leave room for the longest section line a chunk may carry.
        cut_at = min(self.target, self.max_tokens - SECTION_TOKENS) if self.section_prefix and sections.starts \
            else self.target
        if typed:
            spans, lengths, kinds = self._sized_sentences(text, [span for span, _ in typed], [k for _, k in typed],
                                                          cut_at)
        else:
            plain = join_across_pages(text, [(span, "paragraph") for span in split_sentences(text)], document.page_starts)
            spans, lengths, kinds = self._sized_sentences(text, [span for span, _ in plain], None, cut_at)
        limits = self._limits(sections, document.title, spans)
        # A chunk never runs across a top-level section boundary: sentence i opens a new chunk if it starts one.
        tops = [sections.top_section_at(start) for start, _ in spans]
        breaks = {i for i in range(1, len(spans)) if tops[i] != tops[i - 1]}
        furniture = [(b.start, b.end) for b in blocks if b.kind == "furniture"]
        furniture_starts = [s for s, _ in furniture]
        newlines = [m.start() for m in re.finditer("\n", text)]
        # A description must not open a chunk without its term: "Run up to max-procs processes at a time" says nothing
        # of which option it describes, and the option was then the answer nowhere.
        held = {i for i in range(1, len(kinds)) if kinds[i] == _DESCRIPTION and kinds[i - 1] == _TERM}
        windows = self._windows(lengths, breaks, limits, held, _entry_starts(kinds))
        chunks: list[Chunk] = []
        for first, last in windows:
            char_start, char_end = spans[first][0], spans[last - 1][1]
            lo = bisect.bisect_left(furniture_starts, char_start)
            hi = bisect.bisect_left(furniture_starts, char_end)
            chunks.append(
                Chunk(
                    ordinal=len(chunks),
                    char_start=char_start,
                    char_end=char_end,
                    line_start=bisect.bisect_left(newlines, char_start) + 1,
                    line_end=bisect.bisect_left(newlines, char_end - 1) + 1,
                    page=document.page_at(char_start),
                    sentence_count=last - first,
                    chunk_id=chunk_id_for(document.doc_id, len(chunks)),
                    n_tokens=sum(lengths[first:last]),
                    text=text[char_start:char_end],
                    sentences=tuple(spans[first:last]),
                    section=sections.path_at(char_start),
                    kinds=tuple(kinds[first:last]),
                    furniture=tuple(furniture[lo:hi]),
                )
            )
        return chunks

    def _limits(self, sections: Sections, title: str, spans: list[Span]) -> list[int] | None:
        """Per sentence, the size of a chunk that starts there: the target, less what its section line takes."""
        if not self.section_prefix or not sections.starts:
            return None
        cost: dict[tuple[str, ...], int] = {}
        limits = []
        for start, _ in spans:
            path = sections.path_at(start)
            if path not in cost:
                line = section_prefix(path, title, self.count_tokens).strip()
                cost[path] = len(self.count_tokens([line])[0]) if line else 0
            limits.append(min(self.target, self.max_tokens - cost[path]))
        return limits

    def _sized_sentences(self, text: str, spans: list[Span], kinds: list[str] | None,
                         cut_at: int) -> tuple[list[Span], list[int], list[int]]:
        """Sentences with their token counts and kind codes; a sentence longer than a chunk is cut at word starts."""
        token_spans = self.count_tokens([text[s:e] for s, e in spans])
        sized: list[Span] = []
        lengths: list[int] = []
        codes: list[int] = []
        for i, ((start, end), tokens) in enumerate(zip(spans, token_spans)):
            code = KIND_CODE[kinds[i] if kinds else "paragraph"]
            if len(tokens) <= cut_at:
                sized.append((start, end))
                lengths.append(len(tokens))
                codes.append(code)
                continue
            for piece_start, piece_end, piece_tokens in self._cut(text, start, end, tokens, cut_at):
                sized.append((piece_start, piece_end))
                lengths.append(piece_tokens)
                codes.append(code)
        return sized, lengths, codes

    def _cut(self, text: str, start: int, end: int, tokens: list[Span], cut_at: int):
        piece_first = 0
        while piece_first < len(tokens):
            piece_last = min(piece_first + cut_at, len(tokens))
            if piece_last < len(tokens):
                # Back off to a token that starts a word, so no word is split between two chunks.
                cut = piece_last
                while cut > piece_first + 1 and tokens[cut][0] == tokens[cut - 1][1]:
                    cut -= 1
                if cut > piece_first + 1:
                    piece_last = cut
            # Pieces tile the sentence: characters the tokenizer drops (control characters) stay cited.
            piece_start = start if piece_first == 0 else start + tokens[piece_first][0]
            piece_end = start + tokens[piece_last][0] if piece_last < len(tokens) else end
            span = trimmed_span(text, piece_start, piece_end)
            if span:
                yield span[0], span[1], piece_last - piece_first
            piece_first = piece_last

    def _windows(self, lengths: list[int], breaks: set[int] = frozenset(),
                 limits: list[int] | None = None, held: set[int] = frozenset(),
                 entries: list[int] = ()) -> list[Span]:
        """Windows of sentences (first, last) of up to the limit's tokens, overlapping by up to ``overlap`` tokens;
        a window never opens at a sentence of ``held`` (a description) without the one before it (its term).

        ``entries`` (sorted) are sentences that open an entry: a window _ENTRY_FILL full ends before the last one
        it would cut, and a window that ends before an entry is followed by one that opens at the entry itself, with
        no overlap (the tail of the entry before says nothing of this one)."""
        windows: list[Span] = []
        first = 0
        while first < len(lengths):
            last = first
            total = 0
            limit = limits[first] if limits else self.target
            while last < len(lengths) and (last == first or (total + lengths[last] <= limit
                                                             and last not in breaks)):
                total += lengths[last]
                last += 1
            at_entry = False
            if last < len(lengths) and last not in breaks and entries:
                # the last entry opening inside this window, if the window is full enough before it
                k = bisect.bisect_left(entries, last)
                if k < len(entries) and entries[k] == last:
                    at_entry = True
                elif k > 0 and entries[k - 1] > first and sum(lengths[first:entries[k - 1]]) >= _ENTRY_FILL * limit:
                    last, at_entry = entries[k - 1], True
            windows.append((first, last))
            if last >= len(lengths):
                break
            if at_entry:
                first = last
                continue
            # Repeat trailing sentences worth up to `overlap` tokens, but always move forward.
            next_first = last
            carried = 0
            # (never back across a section boundary)
            while (next_first - 1 > first and carried + lengths[next_first - 1] <= self.overlap
                   and next_first not in breaks):
                carried += lengths[next_first - 1]
                next_first -= 1
            if next_first in held and next_first - 1 > first:
                next_first -= 1
            first = next_first
        return windows
