"""Blocks of plain text (README, FAQ, NEWS, INSTALL, *.txt manuals, Vim help), from the layout alone.

Groups of lines between blank lines are the unit: a heading stands alone (or over its underline), a paragraph
is the rest of its group. Rule lines (a run of one punctuation character) are furniture, never a heading's
underline unless they sit under the group's first line: a 78-column "=====" closing a paragraph is a separator.
"""

from __future__ import annotations

import re

from .structure import Block, line_spans, trimmed_block

_NUMBERED = re.compile(r"^(\d{1,2}(?:\.\d{1,3})*)\.?[ \t\xa0]+(\S.{0,78})$")
_CAPS = re.compile(r"^[A-Z][A-Z0-9 &/,'()-]{1,58}$")
# A line of one repeated character: an underline, an overline or a separator. "+----+----+" draws a table's
# border, which reads as nothing either.
_RULE = re.compile(r"^[ \t]*(?:([-=*~_#+.^])\1{2,}|\+[-=+]*\+)[ \t]*$")
_TITLE_RULE = re.compile(r"^[ \t]*([-=*~#^])\1{2,}[ \t]*$")  # the rules that underline or overline a title
_TABLE_ROW = re.compile(r"^[ \t]*\|(?:[^|\n]*\|){2,}[ \t]*$")
_LEVEL_ONE = "=*#"
# GNU NEWS files are Emacs outlines: "* Noteworthy changes in release 1.12 (2022-04-07) [stable]" is a release,
# "** Bug fixes" a part of it.
_OUTLINE = re.compile(r"^(\*{1,4}) (\S.{0,118})$")
_OUTLINE_MODE = re.compile(r"-\*-\s*(?:mode:\s*)?outline\s*(?:;.*)?-\*-", re.IGNORECASE)
_OUTLINE_TWO = re.compile(r"^\*\* \S", re.MULTILINE)
# Vim help's tags after a title ("1. Undo and redo commands        *undo-commands*") are link targets, not words.
_TRAILING_TAGS = re.compile(r"(?:[ \t]+\*[^*\s]+\*)+[ \t]*$")
# An option at the head of a line, then two spaces or a tab and what it does (or nothing: the description is on
# the lines below): "  -h, --help            show this help message and exit", "  --width WIDTH, -w WIDTH".
_ARGUMENT = r"(?:[= ]?(?:\{[^}\s]*\}|[<\[A-Z][^\s,]*))?"  # --width WIDTH, --out-ver {1.1,1.2}, -o<file>
_OPTION = re.compile(rf"^([ \t]{{0,8}})(--?[A-Za-z0-9?#][-\w.#]*{_ARGUMENT}(?:,[ \t]?--?[A-Za-z0-9?#][-\w.#]*{_ARGUMENT})*)"
                     r"(?:(?:[ ]{2,}|\t+)(\S.*))?$")
# Vim help opens "*undo.txt*      For Vim version 9.0.  Last change: 2022 Jun 02", then "VIM REFERENCE MANUAL    by
# Bram Moolenaar", then the title ("Undo and redo    *undo-redo*").
_HELP_FIRST = re.compile(r"\A\*([^*\s]+)\*[ \t]+For Vim version")
_HELP_BYLINE = re.compile(r"^\s*VIM [A-Z ]*MANUAL\b")
_QUESTION = re.compile(r"^\S.{5,118}\?$")


class _Reader:
    def __init__(self, text: str):
        self.text = text
        self.blocks: list[Block] = []
        self.outline = bool(_OUTLINE_MODE.search(text[:300]) or _OUTLINE_TWO.search(text))
        self.level = 0  # of the last heading the layout itself ranks (underlined, numbered, outline)

    def line(self, span: tuple[int, int]) -> str:
        return self.text[span[0]:span[1]]

    def emit(self, kind: str, span: tuple[int, int], level: int = 0) -> None:
        start, end = span
        if kind == "heading":
            if tags := _TRAILING_TAGS.search(self.text, start, end):
                end = tags.start() if tags.start() > start and self.text[start:tags.start()].strip() else end
        if (block := trimmed_block(self.text, kind, start, end, level)) is not None:
            self.blocks.append(block)

    def heading(self, span: tuple[int, int], level: int, ranked: bool = True) -> None:
        self.emit("heading", span, level)
        if ranked:
            self.level = level

    def group(self, group: list[tuple[int, int]], next_group: list[tuple[int, int]] | None) -> None:
        lines = [self.line(span).strip() for span in group]
        rules = [bool(_RULE.match(line)) for line in lines]
        titled = [bool(_TITLE_RULE.match(line)) for line in lines]
        rows = [bool(_TABLE_ROW.match(line)) for line in lines]
        table = sum(rows) >= 2 or (any(rows) and any(r and lines[m].startswith("+") for m, r in enumerate(rules)))
        # A title over its underline: the group's first line, or a line at the margin whose underline is drawn to
        # its length (a short line in a drawing or a table over a border is neither).
        drawn = [m + 1 < len(group) and abs(len(lines[m + 1]) - len(lines[m])) <= 3 and len(lines[m]) <= 70
                 for m in range(len(group))]
        underlined = [m + 1 < len(group) and titled[m + 1] and not rules[m] and not rows[m]
                      and (drawn[m] or not lines[m].endswith((".", ",", ";")))  # "Timing guarantees, races, etc."
                      and (_underlines(lines[m + 1], lines[m]) if m == 0 else
                           drawn[m] and not self.line(group[m])[:1].isspace() and "|" not in lines[m])
                      for m in range(len(group))]
        k = 0
        while k < len(group):
            line = lines[k]
            if rules[k]:
                self.emit("furniture", group[k])
                if titled[k] and k + 1 < len(group) and not rules[k + 1]:
                    # An overline: a rule, one line, then nothing ("====\n*01.1*\tTwo manuals", Vim's sections) or a
                    # rule at least as long or of another character ("*****\nHPUX 11.x build failure\n-----").
                    if (k + 2 == len(group) and not self.line(group[k + 1])[:1].isspace()) or \
                            (k + 2 < len(group) and titled[k + 2] and (len(lines[k + 2]) >= len(lines[k + 1]) - 1
                                                                         or lines[k + 2][0] != line[0])):
                        self.heading(group[k + 1], 1 if line[0] in _LEVEL_ONE else 2)
                        k += 2
                        continue
                    # Between two equal rules of dashes or dots: a listing (AsciiDoc's "----" blocks in git's docs).
                    close = next((m for m in range(k + 2, len(group)) if rules[m]), None)
                    if close is not None and lines[close] == line and line[0] in "-.":
                        self.emit("code", (group[k + 1][0], group[close - 1][1]))
                        self.emit("furniture", group[close])
                        k = close + 1
                        continue
                k += 1
                continue
            if table and rows[k]:
                self.emit("table_row", group[k])
                k += 1
                continue
            if underlined[k]:
                self.heading(group[k], 1 if lines[k + 1][0] in _LEVEL_ONE else 2)
                self.emit("furniture", group[k + 1])
                k += 2
                continue
            if len(group) == 1 and self.single_line_heading(group[0], line, next_group):
                return
            stop = next((m for m in range(k + 1, len(group)) if rules[m] or underlined[m] or (table and rows[m])),
                        len(group))
            self.run(group[k:stop])
            k = stop

    def run(self, spans: list[tuple[int, int]]) -> None:
        """A paragraph, or, where two or more of its lines are options ("  -c    compact output"), the options as
        terms and what follows each (on its line, or on the deeper lines below) as descriptions."""
        options = [_OPTION.match(self.line(span)) for span in spans]
        if sum(1 for o in options if o) < 2:
            self.emit("paragraph", (spans[0][0], spans[-1][1]))
            return
        j = 0
        while j < len(spans):
            if not options[j]:
                end = next((m for m in range(j + 1, len(spans)) if options[m]), len(spans))
                self.emit("paragraph", (spans[j][0], spans[end - 1][1]))
                j = end
                continue
            option, start = options[j], spans[j][0]
            indent = len(option.group(1).expandtabs())
            m = j + 1  # the description's lines below: deeper than the option, not options themselves
            while m < len(spans) and not options[m] and _indent(self.line(spans[m])) > indent:
                m += 1
            self.emit("term", (start + option.start(2), start + option.end(2)))
            if option.group(3) or m > j + 1:
                described = start + option.start(3) if option.group(3) else spans[j + 1][0]
                self.emit("description", (described, spans[m - 1][1]))
            j = m

    def single_line_heading(self, span: tuple[int, int], line: str, next_group) -> bool:
        if self.outline and (outline := _OUTLINE.match(self.line(span))):
            depth = len(outline.group(1))
            below = _OUTLINE.match(self.line(next_group[0])) if next_group else None
            # An entry with nothing under it but its siblings is a change in the list, not a heading over one
            # (wget's "** Fix a double free in FTP ..."): typed a heading, it could never be an answer.
            if line.endswith(".") or next_group is None or (below is not None and len(below.group(1)) <= depth):
                self.emit("list_item", span)
                return True
            # The stars are the outline's markup, as Markdown's "#" is: the heading starts after them.
            self.heading((span[0] + outline.start(2), span[1]), depth)
            return True
        numbered = _NUMBERED.match(line)
        # zlib's FAQ numbers statements too ("5. deflate() or inflate() returns Z_BUF_ERROR."): over an answer
        # indented deeper, a numbered line is the entry's title whatever it ends with.
        deeper = next_group is not None and _indent(self.line(next_group[0])) > _indent(self.line(span))
        # A step that leads in to its example ("4. Create a database owned by joe:") stays a paragraph.
        if numbered and not line.endswith((",", ";", ":")) and (deeper or not line.endswith(".")):
            self.heading(span, numbered.group(1).count(".") + 1)
            return True
        if _CAPS.match(line) and sum(c.isalpha() for c in line) >= 3:
            self.heading(span, 1)
            return True
        # A FAQ's question at the margin over its indented answer (procps' FAQ): the question names the section.
        if next_group and _QUESTION.match(self.line(span)) and self.line(next_group[0])[:1] in (" ", "\t"):
            self.heading(span, min(self.level + 1, 6), ranked=False)
            return True
        return False


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip()) if not line.startswith("\t") else len(line.expandtabs()) - len(line.lstrip())


def _underlines(rule: str, line: str) -> bool:
    """Whether ``rule`` under ``line`` is its underline: as long as the line, give or take (a title's underline is
    drawn to its length; a separator runs the page's width whatever is above it)."""
    return len(line) <= 100 and len(rule) >= 0.5 * len(line) and (len(rule) <= 2 * len(line) + 8
                                                                     or _NUMBERED.match(line) is not None
                                                                     or _CAPS.match(line) is not None)


def text_structure(text: str) -> list[Block]:
    """Blocks of plain text: blank-line paragraphs; underlined, overlined, numbered, all-caps, outline ("* ...",
    "** ...") and FAQ-question headings; rule lines furniture."""
    offset_lines = line_spans(text)
    groups: list[list[tuple[int, int]]] = [[]]
    for span in offset_lines:
        if text[span[0]:span[1]].strip():
            groups[-1].append(span)
        elif groups[-1]:
            groups.append([])
    groups = [g for g in groups if g]
    reader = _Reader(text)
    for i, group in enumerate(groups):
        reader.group(group, groups[i + 1] if i + 1 < len(groups) else None)
    return reader.blocks


def help_title(text: str) -> str | None:
    """The title of a Vim help file, "Vim: Undo and redo" (its first line names the file and Vim's version, not
    the subject); None for any other text."""
    if not (first := _HELP_FIRST.match(text)):
        return None
    for line in text.splitlines()[1:8]:
        if line.strip() and not _HELP_BYLINE.match(line):
            title = _TRAILING_TAGS.sub("", line).strip()
            # change.txt has no title line: its first sentence is no title, its file name says more.
            if title and len(title) <= 60 and not title.endswith((".", ",", ";", ":")):
                return f"Vim: {title}"  # the program's name: questions name it, the help's own title does not
            break
    return f"Vim: {first.group(1)}"
