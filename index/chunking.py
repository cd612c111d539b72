"""Sentence-aware chunking that records exact offsets.

Offsets are computed here, once, and never recomputed from text later: every chunk
satisfies ``document.text[chunk.char_start:chunk.char_end] == chunk_text``.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import sentencex

from .documents import Document

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
    ordinal: int
    char_start: int
    char_end: int
    line_start: int
    line_end: int
    page: int | None
    n_tokens: int
    sentences: tuple[Span, ...]  # document offsets of the sentences inside this chunk


def _blocks(text: str) -> list[Span]:
    """Split text into runs that no sentence may cross: paragraphs, and lines that end a thought."""
    blocks: list[Span] = []
    start = 0
    for match in _BLANK_LINE.finditer(text):
        blocks.extend(_line_blocks(text, start, match.start()))
        start = match.end()
    blocks.extend(_line_blocks(text, start, len(text)))
    return blocks


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


def _trim(text: str, start: int, end: int) -> Span | None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return (start, end) if end > start else None


def split_sentences(text: str, language: str = "en") -> list[Span]:
    spans: list[Span] = []
    for block_start, block_end in _blocks(text):
        block = text[block_start:block_end]
        if not block.strip():
            continue
        for boundary in sentencex.get_sentence_boundaries(language, block):
            span = _trim(text, block_start + boundary["start_index"], block_start + boundary["end_index"])
            if span:
                spans.append(span)
    return spans


class Chunker:
    def __init__(self, count_tokens: TokenCounter, target_tokens: int, overlap_tokens: int, max_tokens: int):
        if overlap_tokens >= target_tokens:
            raise ValueError("chunk overlap must be smaller than the chunk size")
        self.count_tokens = count_tokens
        self.target = min(target_tokens, max_tokens)
        self.overlap = overlap_tokens
        self.max_tokens = max_tokens

    def settings(self) -> dict:
        return {
            "splitter": "sentencex+lines",
            "target_tokens": self.target,
            "overlap_tokens": self.overlap,
            "max_tokens": self.max_tokens,
        }

    def chunk(self, document: Document) -> list[Chunk]:
        text = document.text
        spans, lengths = self._sized_sentences(text)
        newlines = [m.start() for m in re.finditer("\n", text)]
        windows = self._windows(lengths)
        chunks: list[Chunk] = []
        for first, last in windows:
            char_start, char_end = spans[first][0], spans[last - 1][1]
            chunks.append(
                Chunk(
                    ordinal=len(chunks),
                    char_start=char_start,
                    char_end=char_end,
                    line_start=bisect.bisect_left(newlines, char_start) + 1,
                    line_end=bisect.bisect_left(newlines, char_end - 1) + 1,
                    page=document.page_at(char_start),
                    n_tokens=sum(lengths[first:last]),
                    sentences=tuple(spans[first:last]),
                )
            )
        return chunks

    def _sized_sentences(self, text: str) -> tuple[list[Span], list[int]]:
        """Sentences with their token counts; a sentence longer than a chunk is cut at word starts."""
        spans = split_sentences(text)
        token_spans = self.count_tokens([text[s:e] for s, e in spans])
        sized: list[Span] = []
        lengths: list[int] = []
        for (start, end), tokens in zip(spans, token_spans):
            if len(tokens) <= self.target:
                sized.append((start, end))
                lengths.append(len(tokens))
                continue
            for piece_start, piece_end, piece_tokens in self._cut(text, start, end, tokens):
                sized.append((piece_start, piece_end))
                lengths.append(piece_tokens)
        return sized, lengths

    def _cut(self, text: str, start: int, end: int, tokens: list[Span]):
        piece_first = 0
        while piece_first < len(tokens):
            piece_last = min(piece_first + self.target, len(tokens))
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
            span = _trim(text, piece_start, piece_end)
            if span:
                yield span[0], span[1], piece_last - piece_first
            piece_first = piece_last

    def _windows(self, lengths: list[int]) -> list[Span]:
        windows: list[Span] = []
        first = 0
        while first < len(lengths):
            last = first
            total = 0
            while last < len(lengths) and (last == first or total + lengths[last] <= self.target):
                total += lengths[last]
                last += 1
            windows.append((first, last))
            if last >= len(lengths):
                break
            # Repeat trailing sentences worth up to `overlap` tokens, but always move forward.
            next_first = last
            carried = 0
            while next_first - 1 > first and carried + lengths[next_first - 1] <= self.overlap:
                carried += lengths[next_first - 1]
                next_first -= 1
            first = next_first
        return windows
