"""Unix manual pages (man(7), and mdoc(7)'s common macros) stored as the text ``man`` shows a reader.

A page is troff source: requests (``.SH NAME``, ``.TP``, ``.de``, ``.if n``) and text lines carrying escapes
(``\\fB\\-a\\fR``). This reader interprets the macros pages are written with, line by line, and nothing
else: ``.SH``/``.SS`` (mdoc ``.Sh``/``.Ss``) are headings, a ``.TP`` tag or an mdoc ``.It`` of a tag list is a
term and its body a description, bullets are list items, ``.nf``/``.EX`` (mdoc ``.Bd -literal``, ``.Dl``) code.
Conditions are read as nroff reads them, so that pod2man's and DocBook's preambles and branches leave no text; a
macro the page defines for itself (bash's ``.FN``, asciidoctor's ``.URL``) is expanded where it is called; a
request it does not know is dropped, never stored. No system binary (groff, mandoc) is needed.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import replace

from ..reading import EMPTY, Extracted, LoadError, decode_text_format
from . import mdoc
from .base import Builder
from .troff import JOIN, Troff, ends_continued, escape_braces, split_args, strip_comment

# A page opens with a request, a comment (also a bare \" line) or an empty request (".") and holds a title or
# section request somewhere (a `.so` page is a link to another page). A log rotated to app.log.1 has neither.
_OPENING = re.compile(rb"\A\s*(?:[.'][ \t]*(?:[A-Za-z]{1,4}\b|\\\"|\r?\n)|\\\")")
_PAGE_REQUEST = re.compile(rb"^[.'][ \t]*(?:TH|SH|Dd|Dt|Sh|so)\b", re.MULTILINE)
_REQUEST = re.compile(r"[.'][ \t]*([^ \t\\]*)(.*)", re.DOTALL)
_BULLETS = {"•", "*", "-", "o", "·", "+", "—", "–"}
_DRAWN_ITEM = re.compile(r"(?:([•·])|\d{1,3}\.)[ \t]+(?=\S)")
_NUMBERED = re.compile(r"\(?[0-9A-Za-z]{1,3}[.)]")
_FONTS = {"B", "I", "R", "SM", "SB", "CW"}
_ALTERNATING = {"BR", "RB", "BI", "IB", "IR", "RI"}
# Requests and macros whose body (up to "..", or the named end) is not text.
_DEFINITIONS = {"de", "de1", "dei", "am", "am1", "ami", "ig"}
_MAX_LINES = 1_000_000
# A page's own macros may call each other: a loop, or a page that expands into more text than it holds, stops here.
_MAX_DEPTH, _MAX_EXPANDED = 10, 200_000
# What request() reads itself, before any definition of the same name: pod2man defines .Vb, .Sh, .IX, .Sp...
_HANDLED = {"SH", "SS", "Sh", "PP", "LP", "P", "HP", "TP", "TQ", "IP", "Ip", "B", "I", "SM", "SB", "CW", "BR", "RB",
            "BI", "IB", "IR", "RI", "RS", "RE", "nf", "EX", "Vb", "fi", "EE", "Ve", "br", "sp", "Sp", "TH", "SY", "OP",
            "YS", "UE", "ME", "UR", "MT", "ds", "ds1", "as", "tr", "so", "Dd", "Dt", "IX"}


def is_man_page(content: bytes) -> bool:
    """Whether a file named like a manual page (ls.1, CA.pl.1ssl) is troff source, not a rotated log."""
    head = content[:65536]
    return _OPENING.match(head) is not None and _PAGE_REQUEST.search(content) is not None


def load_man(data: bytes, max_chars: int) -> Extracted:
    source, meta = decode_text_format(data)
    page = _Page(max_chars)
    page.read(source.split("\n")[:_MAX_LINES])
    page.flush()
    if not page.out.blocks and page.see_also:
        raise LoadError(f"only a link to another manual page (.so {page.see_also}), not a page of its own", EMPTY)
    return replace(page.out.extracted(page.title()), meta=meta)


class _Page:
    """One page being interpreted: its troff state, the block being gathered, and the stored text so far."""

    def __init__(self, max_chars: int):
        self.out = Builder(max_chars)
        self.troff = Troff()
        self.kind, self.level = "paragraph", 0  # the block being gathered
        self.pieces: list[str] = []
        self.context = "paragraph"  # what text continues as after a break: "description" in a .TP body
        self.one_line = False  # the block is a heading or term, complete at the end of its line
        self.fill = True
        self.joined = False  # the last piece ended in \c
        self.contexts: list[str] = []  # .RS/.RE, mdoc lists: the context to return to
        self.lists: list[str] = []  # mdoc .Bl types
        self.displays: list[bool] = []  # mdoc .Bd: whether each one turned filling off
        self.ie_results: list[bool] = []
        self.mdoc = False
        self.name = ""  # mdoc .Nm
        self.section = ""
        self.th = ""  # .TH / .Dt: "LS(1)"
        self.see_also = ""  # .so target
        self.url = ""
        self.xo = False
        self.enum = 0
        self.spacing, self.first_unspaced = True, False  # mdoc .Sm
        self.reference: list[tuple[str, str]] | None = None  # mdoc .Rs ... .Re: its %A, %T, ... fields
        self.depth = self.expanded = 0  # macro expansion: how deep, how many lines so far
        self.table: str | None = None  # tbl: "format" (its column formats), "data" (rows), None outside tables
        self.tab, self.cells, self.cell = "\t", [], None  # the cell separator, the row's cells, a T{ cell's lines

    # ---------------------------------------------------------------- input

    def read(self, lines: list[str]) -> None:
        i = 0
        while i < len(lines):
            line = strip_comment(lines[i])
            i += 1
            while ends_continued(line) and i < len(lines):
                line = line[:-1] + strip_comment(lines[i])
                i += 1
            i = self.line(line, lines, i)

    def line(self, line: str, lines: list[str], i: int) -> int:
        """Interpret one (joined) input line; the index of the next line to read (definitions skip ahead)."""
        if self.table is not None:
            self.table_line(line)
            return i
        if not line or line[0] not in ".'":
            self.text_line(line)
            return i
        m = _REQUEST.match(line)
        name, rest = m.group(1), m.group(2)
        if name in ("EQ", "PS"):  # eqn and pic pictures: no words a reader would search
            end = "EN" if name == "EQ" else "PE"
            while i < len(lines) and not re.match(rf"[.'][ \t]*{end}\b", lines[i]):
                i += 1
            return i + 1
        if name == "TS":
            self.flush()
            self.table, self.tab, self.cells, self.cell = "format", "\t", [], None
            return i
        if name in _DEFINITIONS:
            args = split_args(rest)
            end = args[1] if len(args) > 1 else "."
            start = i
            while i < len(lines) and not re.fullmatch(rf"[.'][ \t]*{re.escape(end)}[ \t]*", lines[i]):
                i += 1
            if name != "ig" and args:
                body = lines[start:i]
                macros = self.troff.macros
                macros[args[0]] = (macros.get(args[0], []) + body) if name.startswith("am") else body
            return i + 1
        if name in ("als", "rn", "rm"):
            self.rename(name, split_args(rest))
            return i
        if name in ("if", "ie", "el"):
            if name == "el":
                value, body = (not self.ie_results.pop() if self.ie_results else False), rest.lstrip(" \t")
            else:
                value, body = self.troff.condition(rest)
                if name == "ie":
                    self.ie_results.append(value)
            if value:
                body = body[2:] if body.startswith("\\{") else body
                return self.line(body, lines, i) if body.strip() else i
            depth = escape_braces(body)
            while depth > 0 and i < len(lines):
                depth += escape_braces(lines[i])
                i += 1
            return i
        if name in self.troff.macros and name not in _HANDLED and not (self.mdoc and name in mdoc.BLOCKS | mdoc.INLINE):
            self.expand(name, split_args(rest))
            return i
        self.request(name, rest)
        return i

    def expand(self, name: str, args: list[str]) -> None:
        """A macro the page defined for itself (bash's .FN, asciidoctor's .URL), read with its arguments."""
        self.expanded += len(self.troff.macros[name])
        if self.depth >= _MAX_DEPTH or self.expanded > _MAX_EXPANDED:
            return
        body = "\n".join(self.troff.macros[name]).replace("\\\\", "\\")  # read in copy mode when defined

        def argument(m: re.Match) -> str:
            key = m.group(1) or m.group(2) or m.group(3)
            if key in ("*", "@"):
                return " ".join(args)
            if key == "0":
                return name
            return args[int(key) - 1] if key.isdigit() and 0 < int(key) <= len(args) else ""

        self.depth += 1
        self.read(re.sub(r"\\\$(?:\((\d\d)|\[([^\]]*)\]|([0-9*@]))", argument, body).split("\n"))
        self.depth -= 1

    def rename(self, name: str, args: list[str]) -> None:
        """``.als NEW OLD``, ``.rn OLD NEW``, ``.rm NAME``: on macros and strings alike."""
        for table in (self.troff.macros, self.troff.strings):
            if name == "rm":
                for arg in args:
                    table.pop(arg, None)
            elif len(args) > 1:
                new, old = args[:2] if name == "als" else args[1::-1]
                if old in table:
                    table[new] = table[old] if name == "als" else table.pop(old)

    def table_line(self, line: str) -> None:
        """A line between .TS and .TE (tbl): its options and column formats are skipped, each data line is a
        table row with cells joined by " | ", and a T{ ... T} cell holds lines of text."""
        if self.table == "format":
            if m := re.search(r"tab\s*\((.)\)", line):
                self.tab = m.group(1)
            if line.rstrip().endswith("."):
                self.table = "data"
            return
        if line[:1] in (".", "'") and self.cell is None or line.startswith((".TE", ".T&")):
            name = _REQUEST.match(line).group(1)
            if name == "TE":
                self.table = None
                self.start(self.context)
            elif name == "T&":
                self.table = "format"
            return
        if self.cell is not None:
            if not line.startswith("T}"):
                self.cell.append(self.cell_text(line))
                return
            self.cells.append(" ".join(self.cell))
            self.cell, line = None, line[2:]
            if not line.startswith(self.tab):
                self.row()
                return
            line = line[1:]
        elif line.strip() in ("_", "=", "\\_", "\\="):
            return
        for cell in line.split(self.tab):
            if cell.strip() == "T{":
                self.cell = []
                return
            self.cells.append(self.troff.render(cell))
        self.row()

    def cell_text(self, line: str) -> str:
        """A line of a T{ ... T} cell: text, or a font macro's text (other requests lay the cell out)."""
        if line[:1] not in (".", "'"):
            return self.troff.render(line)
        m = _REQUEST.match(line)
        name, args = m.group(1), split_args(m.group(2))
        if name in _FONTS or name in _ALTERNATING:
            return (" " if name in _FONTS else "").join(self.troff.argument(a) for a in args)
        if self.mdoc and name in mdoc.INLINE:
            return self.mdoc_line([name, *args])
        return ""

    def row(self) -> None:
        cells, self.cells = [" ".join(c.replace(JOIN, "").split()) for c in self.cells], []
        self.out.add("table_row", " | ".join(c for c in cells if c))

    def text_line(self, line: str) -> None:
        if not self.fill:
            self.add(self.troff.render(line).rstrip(" \t"))
            return
        if not line.strip():
            self.paragraph_break()
            return
        if line[0] in " \t" and self.pieces and not self.one_line:
            self.pieces.append("\n")  # a line indented in filled text starts a line of its own
        self.add(self.troff.render(line))

    # ---------------------------------------------------------------- blocks

    def add(self, piece: str) -> None:
        joins = piece.endswith(JOIN)
        piece = piece.replace(JOIN, "")
        if self.fill and not piece.strip() and not joins:
            return
        if self.joined and self.pieces:
            self.pieces[-1] += piece
        else:
            self.pieces.append(piece)
        self.joined = joins
        if self.one_line and not joins and not self.xo:
            self.flush()
            self.kind, self.one_line = self.context, False

    def flush(self) -> None:
        pieces, self.pieces, self.joined = self.pieces, [], False
        if not pieces:
            return
        if self.fill:
            text = " ".join(pieces).replace(" \n ", "\n")
            text = "\n".join(" ".join(line.split()) for line in text.split("\n"))
        else:
            text = textwrap.dedent("\n".join(piece.rstrip() for piece in pieces))
        kind = self.kind
        if kind in ("paragraph", "description") and (m := _DRAWN_ITEM.match(text)):
            # DocBook draws its list marks for nroff as text ("\(bu\h'+03'\c" before the item): an item all the same.
            kind, text = "list_item", text[m.end():] if m.group(1) else text
        self.out.add(kind, text, self.level if kind == "heading" else 0)

    def start(self, kind: str, level: int = 0, one_line: bool = False) -> None:
        self.flush()
        self.kind, self.level, self.one_line, self.xo = kind, level, one_line, False

    def paragraph_break(self) -> None:
        if self.one_line:
            return
        if not self.fill:
            self.add("")
            return
        self.start(self.kind if self.kind in ("paragraph", "description", "list_item") else self.context)

    def heading(self, level: int, args: list[str]) -> None:
        self.fill, self.contexts, self.lists, self.displays = True, [], [], []
        self.context = "paragraph"
        self.start("heading", level, one_line=True)
        self.section = ""
        if args:
            text = " ".join(self.troff.argument(a) for a in args)
            self.section = " ".join(text.split()).upper()
            self.add(text)

    def tagged(self, tag: str) -> None:
        """``.IP tag``: a bullet starts a list item, a number a numbered one, anything else a term."""
        tag = " ".join(tag.split())
        if not tag:
            self.start(self.context)
        elif tag in _BULLETS:
            self.start("list_item")
        elif _NUMBERED.fullmatch(tag):
            self.start("list_item")
            self.pieces.append(tag)
        else:
            self.context = "description"
            self.start("term", one_line=True)
            self.add(tag)

    # ---------------------------------------------------------------- requests

    def request(self, name: str, rest: str) -> None:
        if self.mdoc and name in mdoc.BLOCKS | mdoc.INLINE:
            self.mdoc_request(name, split_args(rest))
            return
        args = split_args(rest)
        render = self.troff.argument
        if name in ("SH", "SS", "Sh") and not self.mdoc:
            self.heading(1 if name == "SH" else 2, args)
        elif name in ("PP", "LP", "P", "HP"):
            self.context = "paragraph"
            if self.fill:
                self.start("paragraph")
            else:
                self.paragraph_break()  # a blank line of the unfilled (code) block it is in
        elif name in ("TP", "TQ"):
            if name == "TP" or self.kind != "description":
                self.context = "description"
            self.start("term", one_line=True)
        elif name in ("IP", "Ip"):
            self.tagged(render(args[0]) if args else "")
        elif name in _FONTS or name in _ALTERNATING:
            if args:
                self.add((" " if name in _FONTS else "").join(render(a) for a in args))
        elif name == "RS":
            self.contexts.append(self.context)
            one_line = len(self.pieces) == 1 and not self.joined and len(self.pieces[0]) <= 100
            last = self.pieces[0].rstrip() if one_line else ""
            if self.kind == "paragraph" and last and (last.endswith("...") or not last.endswith((".", ":", ",", ";"))):
                # DocBook writes a variable list as ".PP term" with the body indented (.RS 4 ... .RE).
                self.kind = "term"
                self.start("description")
                self.context = "description"
        elif name == "RE":
            if self.contexts:
                self.context = self.contexts.pop()
            self.start(self.context)
        elif name in ("nf", "EX", "Vb"):
            if self.fill:
                self.start("code")
                self.fill = False
        elif name in ("fi", "EE", "Ve"):
            if not self.fill:
                self.flush()
                self.fill = True
                self.start(self.context)
        elif name == "br":
            if self.fill and self.pieces and not self.one_line:
                self.pieces.append("\n")
                self.joined = False
        elif name in ("sp", "Sp"):
            self.paragraph_break()
        elif name == "TH":
            if args:
                self.th = render(args[0]) + (f"({render(args[1])})" if len(args) > 1 else "")
        elif name == "SY":
            self.context = "paragraph"
            self.start("paragraph")
            self.add(" ".join(render(a) for a in args))
        elif name == "OP":
            self.add("[" + " ".join(render(a) for a in args) + "]")
        elif name == "YS":
            self.start(self.context)
        elif name in ("UE", "ME"):
            self.add(f"<{self.url}>" * bool(self.url) + "".join(render(a) for a in args))
            self.url = ""
        elif name in ("UR", "MT"):
            self.url = render(args[0]) if args else ""
        elif name == "ds" or name == "ds1":
            self.troff.define(rest)
        elif name == "as":
            m = re.match(r"\s*(\S+)\s?(.*)", rest)
            if m:
                self.troff.strings[m.group(1)] = self.troff.strings.get(m.group(1), "") + m.group(2).lstrip('"')
        elif name == "tr":
            self.troff.translate(rest)
        elif name == "so":
            self.see_also = render(args[0]) if args else ""
        elif name in ("Dd", "Dt") and not self.th:
            self.mdoc = True
            if name == "Dt" and args:
                self.mdoc_request(name, args)
        # Anything else (.ad .na .hy .ne .in .ti .ll .ft .ps .IX .PD .nr ..., and macros of other packages that
        # the page did not define) lays out or indexes the page, or is unknown: it shows no text of its own.

    # ---------------------------------------------------------------- mdoc

    def mdoc_request(self, name: str, args: list[str]) -> None:
        line = self.mdoc_line
        if name in ("Sh", "Ss"):
            self.heading(1 if name == "Sh" else 2, [])
            self.add(line(args))
            self.section = " ".join(line(args).split()).upper()
        elif name in ("Pp", "Lp"):
            self.start(self.context)
        elif name == "Dt":
            self.th = f"{args[0]}({args[1]})" if len(args) > 1 else (args[0] if args else "")
        elif name == "Sm":
            # Spacing mode off: the words of the following lines join ("[bind_address:]port:host"), the first
            # after its predecessor's space.
            self.spacing = args[:1] == ["on"] if args else not self.spacing
            self.first_unspaced = True
        elif name in ("Dd", "Os", "Bk", "Ek", "Bf", "Ef"):
            return
        elif name == "Rs":
            self.reference = []
        elif name.startswith("%") and self.reference is not None:
            self.reference.append((name, line(args)))
        elif name == "Re" and self.reference is not None:
            # As mandoc prints a reference: "A, B, and C, Title, Journal, 2006."
            authors = [text for key, text in self.reference if key == "%A"]
            names = authors[0] if len(authors) == 1 else " and ".join(authors) if len(authors) == 2 else \
                ", ".join(authors[:-1]) + ", and " + authors[-1] if authors else ""
            others = sorted((_REFERENCE_ORDER.find(key[1:]), text) for key, text in self.reference if key != "%A")
            parts = [names] * bool(names) + [text for _, text in others]
            self.reference = None
            self.start("paragraph")
            self.add(", ".join(parts) + ".")
            self.start(self.context)
        elif name == "Ed":
            if self.displays and self.displays.pop():
                self.flush()
                self.fill = True
            self.start(self.context)
        elif name == "Bd":
            literal = bool({"-literal", "-unfilled"} & set(args))
            self.displays.append(literal and self.fill)
            self.start("code" if literal else self.context)
            self.fill = self.fill and not literal
        elif name == "Bl":
            kind = next((a for a in args if a.startswith("-") and a not in ("-compact", "-offset", "-width")), "-tag")
            self.lists.append(kind)
            self.contexts.append(self.context)
            self.enum = 0
            self.start(self.context)
        elif name == "El":
            if self.lists:
                self.lists.pop()
            if self.contexts:
                self.context = self.contexts.pop()
            self.start(self.context)
        elif name == "It":
            kind = self.lists[-1] if self.lists else "-tag"
            if kind in ("-bullet", "-dash", "-hyphen", "-item", "-enum"):
                self.context = "list_item"
                self.start("list_item")
                if kind == "-enum":
                    self.enum += 1
                    self.pieces.append(f"{self.enum}.")
            elif kind == "-column":
                self.context = "paragraph"
                self.start("table_row", one_line=True)
                self.add(line(args, cell=" | "))
            else:
                self.context = "description"
                self.start("term", one_line=True)
                self.xo = "Xo" in args
                self.add(line(args) if args else "")
        elif name == "Xc":
            if self.xo:
                self.xo = False
                self.flush()
                self.kind, self.one_line = self.context, False
        elif name == "Dl":
            self.start("code")
            self.pieces.append(line(args))
            self.start(self.context)
        elif name == "Nm" and self.section == "SYNOPSIS" and args:
            self.start("paragraph")
            self.add(line([name, *args]))
        elif name == "Nd":
            self.add("- " + line(args))
        elif name == "Ex":
            names = [a for a in args if a != "-std"] or [self.name]
            self.add(f"The {' '.join(names)} utility exits 0 on success, and >0 if an error occurs.")
        elif name == "Rv":
            names = [a for a in args if a != "-std"] or [self.name]
            self.add(f"The {'(), '.join(names)}() function returns the value 0 if successful; otherwise the value "
                     "-1 is returned and the global variable errno is set to indicate the error.")
        elif name == "D1":
            self.add(line(args))
        elif name in mdoc.INLINE:
            text = line([name, *args])
            if not self.spacing:
                self.joined, self.first_unspaced = self.joined or not self.first_unspaced, False
            self.add(text)

    def mdoc_line(self, tokens: list[str], cell: str = " ") -> str:
        text, self.name = mdoc.line_text(tokens, self.troff.argument, self.name, self.spacing, cell)
        return text

    # ---------------------------------------------------------------- title

    def title(self) -> str:
        """The NAME section's line ("ls - list directory contents"), else the .TH name and section ("LS(1)")."""
        text, blocks = self.out.text(), self.out.blocks
        if len(blocks) > 1 and blocks[0].kind == "heading" and blocks[1].kind != "heading":
            line = text[blocks[1].start:blocks[1].end]
            if text[blocks[0].start:blocks[0].end].upper() in _NAME_SECTION or " - " in line:
                return line
        return self.th


# The first section's title in languages manual pages are translated to (/usr/share/man/LANG/); its line of
# "name - what it does" also names a page.
_NAME_SECTION = {"NAME", "BEZEICHNUNG", "НАЗВАНИЕ", "NOM", "NOMBRE", "NOME", "NAAM", "NAVN", "NAMN", "NIMI", "NÉV",
                 "NAZWA", "JMÉNO", "ИМЯ", "НАЗВА", "ИМЕ", "名前", "名称", "名稱", "이름", "AD", "ADI", "ΟΝΟΜΑ", "NUME",
                 "IME", "NAMA"}
_REFERENCE_ORDER = "TBIJRNVUPQCDO"  # the order mandoc prints a reference's fields in, after its authors
