"""Contents pages of a PDF, found by their entries whether or not dot leaders join title and page number.

Sphinx's LaTeX, dblatex and LaTeX book classes print chapter lines of the contents without leaders ("1 Foreword
3", "Chapter 2. Installing 17"); gnuplot's prints many entries without a number at all ("Copyright 21"). Such a
line reads like text and matches a question's words, so it is told by its page: one of the first pages (or the
page after another contents page) where most lines are entries and their page numbers rise.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence

Span = tuple[int, int]

# "1 Foreword 3", "4.10Questions groups 7", "Chapter 2. Installing 17", "Appendix C GNU FDL . . 174", "I Gnuplot 21"
_NUMBERED = re.compile(r"^(?:(?i:chapter|part|appendix|section)\s+[\dA-Z]{1,4}[.:]?|[A-Z]?\d{1,3}(?:\.\d{1,3})*\.?"
                       r"|[IVXLC]{1,6}\.?(?=\s))\s*(?=\D)")
_PAGE_AT_END = re.compile(r"(?:\s|\.)(\d{1,4}|[ivxlc]{1,7})$")
_BARE_NUMBER = re.compile(r"^(?i:chapter|part|appendix|section)\s+[\dA-Z]{1,4}[.:]?$")
_CONTENTS_TITLE = re.compile(r"^(?:table of contents|(?:short )?contents)$", re.IGNORECASE)
_MAX_ENTRY_WORDS = 20
_MIN_ENTRY_LETTERS = 3
# Contents start on one of the first pages: 10, or the first twentieth of a long manual's (front matter, list of
# figures); a contents page after another may come later (a reference manual's contents run for pages).
_FRONT_PAGES = 10
_FRONT_SHARE = 0.05
_MIN_NUMBERED = 3  # entries with a section number or leaders a page needs, so a short list does not count
_MIN_ENTRY_SHARE = 0.6  # of the page's lines (running headers and page numbers aside)
_MIN_RISING_SHARE = 0.8  # of successive page numbers that do not fall (a wrapped title or roman front matter may)


def contents_lines(text: str, pages: Sequence[Sequence[Span]], leader_lines: Collection[Span],
                   edge_furniture: Collection[Span]) -> set[Span]:
    """The lines of the contents pages that are entries, parts of entries, or the contents' title.

    ``pages``: each page's non-blank lines; ``leader_lines``: lines already known as entries by their dot leaders;
    ``edge_furniture``: running headers and page numbers, which count as neither entries nor text.
    """
    front = max(_FRONT_PAGES, round(_FRONT_SHARE * len(pages)))
    found: set[Span] = set()
    previous = False
    for index, lines in enumerate(pages):
        if index >= front and not previous:
            break
        marked = _contents_page(text, lines, leader_lines, edge_furniture, len(pages), previous)
        previous = bool(marked)
        found |= marked
    return found


def _entry(line: str) -> tuple[bool, int | None] | None:
    """(numbered, arabic page number or None) when ``line`` could be a contents entry, else None."""
    page = _PAGE_AT_END.search(line)
    if not page or len(line.split()) > _MAX_ENTRY_WORDS:
        return None
    number = _NUMBERED.match(line)
    if _BARE_NUMBER.match(line):
        return None  # a chapter's opening line ("Chapter 1"), its number taken for a page
    title = line[number.end() if number else 0:page.start()]
    if sum(c.isalpha() for c in title) < _MIN_ENTRY_LETTERS:
        return None  # a row of a table of numbers
    return number is not None, int(page.group(1)) if page.group(1).isdigit() else None


def _contents_page(text: str, lines: Sequence[Span], leader_lines: Collection[Span],
                   edge_furniture: Collection[Span], page_count: int, after_contents: bool) -> set[Span]:
    body = [span for span in lines if span not in edge_furniture]
    kinds: dict[Span, str] = {}
    numbers: list[int] = []
    for span in body:
        line = " ".join(text[span[0]:span[1]].split())
        entry = _entry(line)
        if span in leader_lines:
            kinds[span] = "numbered"
        elif _CONTENTS_TITLE.match(line):
            kinds[span] = "title"
        elif entry:
            kinds[span] = "numbered" if entry[0] else "entry"
        if entry and entry[1] is not None and kinds.get(span) in ("numbered", "entry"):
            numbers.append(entry[1])
    numbered = sum(kind == "numbered" for kind in kinds.values())
    entries = sum(kind in ("numbered", "entry") for kind in kinds.values())
    if numbered < _MIN_NUMBERED or entries < _MIN_ENTRY_SHARE * (len(body) - len(kinds) + entries):
        return set()
    pairs = list(zip(numbers, numbers[1:]))
    if pairs and sum(b >= a for a, b in pairs) < _MIN_RISING_SHARE * len(pairs):
        return set()  # a table whose last column is a number
    # Without leaders, a title or a contents page before it, a page is contents only if every page it names is in
    # the document (printed page numbers never run past the PDF's pages): a short document's rising table is not.
    evidence = after_contents or any(kind == "title" for kind in kinds.values()) or any(s in leader_lines for s in body)
    if not evidence and numbers and max(numbers) > page_count:
        return set()
    marked = set(kinds)
    # A wrapped entry's first line has no page number ("7.18 Why does the output from anova() depend on the"); it
    # lies between entries, where a chapter's heading at the top of an index page ("2 Hierarchical Index") does not.
    for before, span, following in zip(body, body[1:], body[2:]):
        if (span not in kinds and before in marked and following in kinds
                and _NUMBERED.match(" ".join(text[span[0]:span[1]].split()))):
            marked.add(span)
    return marked
