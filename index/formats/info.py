"""GNU Info manuals (``makeinfo`` output: ``bash.info``, a split manual's ``find.info-1``), stored as a reader sees
them in an Info browser.

An Info file is a header, then nodes, each opened by a 0x1F byte and a navigation line (``File: bc.info,  Node:
Numbers,  Next: Variables,  Up: Basic Elements``), then the tag table that maps node names to byte offsets. Only
the nodes' text is stored: the header, separators, navigation lines, the indirect and tag tables, the ``Local
Variables`` trailer, menus and index nodes are navigation, which an Info browser turns into keystrokes and a
passage would only repeat (issue 15: an answer that was a "Next: ..., Up: ..." line). Menus are dropped rather
than kept as furniture: an entry only names a node whose own heading is stored anyway, and the node listing of
a large manual's Top node is a thousand lines no question is about.

makeinfo lays text out by indentation, and that is what types the blocks: a title underlined with ``*``, ``=``,
``-`` or ``.`` is a heading of level 1 to 4; a line at the margin with lines 5 columns in below it is an
``@table`` term and its description (`` -- Function: ...`` definitions likewise); ``•``/``*`` and ``1.`` items
are list items; a filled block 5 columns in is a quotation (paragraph), any other indented block an
``@example`` (code, its lines kept). Paragraphs keep their lines, as plain text does. Cross-references
(``*Note Fuel::``, ``(*note Label: Node.)``) are stored as the words a reader reads ("See Fuel", "(see Label)").
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from ..reading import EMPTY, Extracted, LoadError, decode_text_format
from .base import Builder

# A node, an indirect table or a tag table opens with 0x1F, an optional form feed, and a newline (Info's spec).
_INFO_SIGN = re.compile(rb"\x1f\f?\r?\n(?:File:[^\n]*\bNode:|Indirect:|Tag Table:)")
_SEPARATOR = re.compile(r"\x1f\f?\n")
_HEADER_FIELD = re.compile(r"(File|Node|Next|Prev|Previous|Up):\s*([^,\t\n]*)")
_PRODUCED = re.compile(r"^This is (\S+?)(?:\.info)?, produced by", re.MULTILINE)
# makeinfo's inline markers, NUL BS [ ... NUL BS ]: "[index]" opens an index node's menu, "[image src=...]"
# stands for a picture. Their NULs go before decoding (text has no NUL: decoding calls that binary).
_MARKER_BYTES = re.compile(rb"\x00\x08([\[\]])")
_MARKER = re.compile(r"\x08\[(.*?)\x08\]", re.DOTALL)
# gnuplot's Top node is headed "Master Menu": a heading about the menu, not the manual's title.
_NOT_A_TITLE = re.compile(r"master menu|top|menu|table of contents", re.IGNORECASE)
_UNDERLINE_LEVEL = {"*": 1, "=": 2, "-": 3, ".": 4}
_UNDERLINE = re.compile(r"^([*=\-.])\1+$")
_FOOTNOTES = "---------- Footnotes ----------"
_DEFINITION = re.compile(r"^-- [^:\n]+: ")
# A quoted term, perhaps with a note after it: ‘color’ (CSS2 spec, section 14.1).
_QUOTED = re.compile(r"^[‘'`\"][^‘’'`\"]+[’'\"](?:$|\s+\()")
_ITEM = re.compile(r"^(?:[•*-]|\d{1,3}\.|[a-zA-Z]\.)\s+\S")
_MENU = "* Menu:"
# A description or example sits 5 columns in from its term or paragraph (texinfo's @table and @example indent);
# a line at least 4 further in than the one above it has gone in a step.
_DESCRIPTION = 5
_STEP = 4
# makeinfo fills text to column 72: a filled line is one the next word would not have fitted on.
_FILL_COLUMN = 72
# *Note Node::  /  *note Label: Node.  /  *note Label: (manual)Node,  -- a node name may be quoted in DEL bytes.
_XREF = re.compile(
    r"\*(?P<note>[Nn]ote)\s+(?:(?P<name>[^:*]{1,200}?)::"
    r"|(?P<label>[^:*]{1,200}?):\s+(?P<node>(?:\([^)\n]*\))?(?:\x7f[^\x7f]*\x7f|[^.,\t\x7f]){0,200}?)"
    r"(?P<end>[.,]|\t|$))")


def looks_like_info(data: bytes) -> bool:
    """Whether ``data`` is an Info file (nodes or a split manual's tables), whatever the file's name says."""
    return _INFO_SIGN.search(data) is not None


@dataclass(frozen=True)
class _Line:
    indent: int
    text: str  # without its indentation


def _lines(raw: str) -> list[_Line]:
    out = []
    for line in raw.split("\n"):
        expanded = line.expandtabs().rstrip()
        stripped = expanded.lstrip()
        out.append(_Line(len(expanded) - len(stripped), stripped))
    return out


def _reference(text: str, match: re.Match) -> str:
    before = text[:match.start()].rstrip(" ")
    # *Note opens a sentence (@xref) and (*note a parenthesis (@pxref): both read "see". A bare *note is @ref,
    # already inside a sentence ("as the *note oil chapter: Fuel. explains").
    lead = "See " if match["note"] == "Note" else "see " if before.endswith("(") else ""
    if match["name"] is not None:
        return lead + _node_words(match["name"])
    end = match["end"]
    if end == ".":
        # makeinfo ends a labelled reference with a period when the source had no punctuation after it: a
        # period is the sentence's own only where a new sentence (or nothing) follows.
        after = text[match.end():].lstrip()
        end = "." if not after or after[0].isupper() else ""
    elif end != ",":
        end = ""
    return lead + " ".join(match["label"].split()) + end


def _node_words(name: str) -> str:
    name = " ".join(name.replace("\x7f", "").split())
    if name.startswith("(") and ")" in name:  # (coreutils)ls invocation: a node of another manual
        manual, _, node = name[1:].partition(")")
        return f"{node.strip()} in {manual}" if node.strip() else manual
    return name


def _readable(text: str) -> str:
    return _XREF.sub(lambda m: _reference(text, m), text)


def _is_filled(lines: list[_Line]) -> bool:
    """Whether an indented block is filled prose (an @quotation) rather than an @example's lines."""
    if len(lines) < 2:
        only = lines[0].text if lines else ""
        words = only.split()
        return len(words) >= 6 and only[0].isupper() and only.endswith((".", ":")) and _wordy(only)
    for line, following in zip(lines, lines[1:], strict=False):
        next_word = following.text.split()[0]
        if line.indent + len(line.text) + 2 + len(next_word) <= _FILL_COLUMN:
            return False
    return _wordy(" ".join(line.text for line in lines))


def _wordy(text: str) -> bool:
    return sum(c.isalpha() or c == " " for c in text) >= 0.85 * len(text)


def _are_terms(lines: list[_Line]) -> bool:
    """Whether lines above an indented block are @item lines, not a paragraph ending "Example:" (or "is
    equivalent to executing") above an example, nor the first line of an example above its output."""
    for line in lines:
        text = line.text
        if text.endswith((".", ":", ",", ";", "\\", "{", "(")):
            return False
        if _QUOTED.match(text):
            continue
        words = len(text.split())
        if text.startswith(("$ ", "# ", "#!", "eg$ ")) or words >= 8 or (words >= 3 and text[0].islower()) or \
                len(text) > _FILL_COLUMN:
            return False
    return len(lines) == 1 or not _is_filled(lines)


def _split_runs(group: list[_Line]) -> list[list[_Line]]:
    """A group cut where a term or definition starts right after the previous description (no blank line)."""
    runs = [[group[0]]]
    for i in range(1, len(group)):
        line, previous = group[i], group[i - 1]
        following = group[i + 1] if i + 1 < len(group) else None
        opens_table = line.indent + _STEP <= previous.indent and \
            (following is None or following.indent >= line.indent + _STEP)
        # A list right under its lead-in line: "... can be used in two cases:" then "  1. In a regex ...".
        opens_list = line.indent >= 1 and _ITEM.match(line.text) is not None and \
            not (runs[-1][0].indent == line.indent and _ITEM.match(runs[-1][0].text))
        if opens_table or opens_list:
            runs.append([])
        runs[-1].append(line)
    return runs


def _is_heading(run: list[_Line]) -> bool:
    """A title at the margin underlined as wide as it is (makeinfo matches the title's width)."""
    return len(run) >= 2 and run[0].indent == 0 and run[1].indent == 0 and _UNDERLINE.match(run[1].text) is not None \
        and 0.5 * len(run[0].text) <= len(run[1].text) <= 2 * len(run[0].text) + 2


class _Node:
    """One node's text, typed into blocks."""

    def __init__(self, out: Builder):
        self.out = out
        self.descriptions: list[int] = []  # indents of the @table descriptions the text is inside

    def add(self, kind: str, lines: list[_Line]) -> None:
        # References read as words in examples too: an Info browser shows them as links wherever they are.
        self.out.add(kind, _readable("\n".join(line.text for line in lines)))

    def group(self, group: list[_Line], following: list[_Line]) -> None:
        runs = _split_runs(group)
        for k, run in enumerate(runs):
            self.run(run, following if k == len(runs) - 1 else [])

    def run(self, run: list[_Line], following: list[_Line]) -> None:
        first = run[0]
        if _is_heading(run):
            self.descriptions.clear()
            self.out.add("heading", _readable(first.text), _UNDERLINE_LEVEL[run[1].text[0]])
            if run[2:]:
                self.group(run[2:], following)
            return
        if first.text == _FOOTNOTES:
            self.descriptions.clear()
            self.out.add("furniture", first.text)
            if run[1:]:
                self.group(run[1:], following)
            return
        if _DEFINITION.match(first.text):
            self.definition(run)
            return
        if first.indent >= 1 and _ITEM.match(first.text):
            self.items(run)
            return
        # The description starts where a line goes a step in; the @item lines are the last lines above it at
        # one indent. A lead-in line without a blank line below it ("The tank gauge reads:" above 'full', bash's
        # "'echo' interprets the following escape sequences:" above '\a') is a paragraph of its own.
        terms = next((j for j in range(1, len(run)) if run[j].indent >= run[j - 1].indent + _STEP), len(run))
        top = terms - 1
        while top > 0 and run[top - 1].indent == run[terms - 1].indent:
            top -= 1
        lead = next((k for k in range(max(top, terms - 7), terms) if _are_terms(run[k:terms])), terms)
        # An @item sits at the margin of the text it is in; further in, only a quoted one (@table @code, @samp:
        # bash's 'allexport' under 'set -o') is an item: other lines there with lines below them further still
        # are an example ("eg$ cat log" above its output).
        indent = run[lead].indent if lead < terms else 0
        margin = next((d for d in reversed(self.descriptions) if d <= indent), 0)
        if lead < terms < len(run) and all(line.indent >= indent + _STEP for line in run[terms:]) and \
                (indent == margin or all(_QUOTED.match(t.text) for t in run[lead:terms])):
            if lead:
                self.block(run[:lead])
            self.table_item(run[lead:terms], run[terms:])
            return
        if len(run) == 1 and following and following[0].indent == first.indent + _DESCRIPTION and \
                _QUOTED.match(first.text) and _are_terms(run):
            # An @item with a blank line below it ('-o OPTION-NAME' in bash's set): its description is the
            # next group. Only a quoted one: "The general synopsis of grep is" above an example is a paragraph.
            self.table_item(run, [])
            return
        self.block(run)

    def definition(self, run: list[_Line]) -> None:
        """`` -- Function: name ARGS`` lines (wrapped lines 10 columns in), then the description 5 columns in."""
        head = run[0].indent
        self.leave(head)
        k = 0
        while k < len(run) and (_DEFINITION.match(run[k].text) and run[k].indent == head):
            j = k + 1
            while j < len(run) and run[j].indent >= head + 2 * _STEP:  # a definition line wrapped
                j += 1
            self.add("term", run[k:j])
            k = j
        self.descriptions.append(head - 1 + _DESCRIPTION)  # " -- Function:" is 1 in
        if run[k:]:
            self.block(run[k:])

    def table_item(self, terms: list[_Line], rest: list[_Line]) -> None:
        self.leave(terms[0].indent)
        for term in terms:
            self.add("term", [term])
        # 5 columns in from the term, whatever comes first (bash's builtins open with a synopsis 10 in).
        self.descriptions.append(terms[0].indent + _DESCRIPTION)
        if rest:
            self.block(rest)

    def items(self, run: list[_Line]) -> None:
        head = run[0].indent
        item: list[_Line] = []
        for line in run:
            if item and line.indent == head and _ITEM.match(line.text):
                self.add("list_item", item)
                item = []
            item.append(line)
        self.add("list_item", item)

    def leave(self, indent: int) -> None:
        """Text at ``indent`` is outside every @table description that starts further in."""
        while self.descriptions and self.descriptions[-1] > indent:
            self.descriptions.pop()

    def block(self, run: list[_Line]) -> None:
        body = min(line.indent for line in run[1:]) if len(run) > 1 else run[0].indent
        self.leave(body)
        base = self.descriptions[-1] if self.descriptions else 0
        prose = "description" if self.descriptions else "paragraph"
        # A paragraph's first line may be indented 3 more than the rest (texinfo's @paragraphindent).
        if body == base or (len(run) == 1 and body - base <= 3):
            self.add(prose, run)
        elif _is_filled(run):
            self.add(prose, run)
        else:
            least = min(line.indent for line in run)
            self.add("code", [_Line(0, " " * (line.indent - least) + line.text) for line in run])


def _node_body(body: str) -> str | None:
    """The node's text without its menus; None for an index node (a menu of index entries, nothing to read)."""
    if any(m.group(1) == "index" for m in _MARKER.finditer(body)):
        return None
    lines = _MARKER.sub("", body).split("\n")
    kept: list[str] = []
    in_menu, i = False, 0
    while i < len(lines):
        if lines[i].startswith(_MENU):
            in_menu, i = True, i + 1
            continue
        if not in_menu or not lines[i].strip():
            kept.append(lines[i])
            i += 1
            continue
        end = _group_end(lines, i)
        after = end
        while after < len(lines) and not lines[after].strip():
            after += 1
        if not _in_menu(lines[i:end], lines[after:_group_end(lines, after)]):
            in_menu = False
            kept.extend(lines[i:end])
        i = end
    return "\n".join(kept)


def _group_end(lines: list[str], start: int) -> int:
    end = start
    while end < len(lines) and lines[end].strip() and not lines[end].startswith(_MENU):
        end += 1
    return end


def _in_menu(group: list[str], following: list[str]) -> bool:
    """Whether a blank-line group after ``* Menu:`` still belongs to the menu: entries (``* Node::`` and their
    wrapped descriptions), or a one-line menu comment ("Common Options", "Indicating Definitions, Commands, etc."
    above more entries). Prose after the menu (bash puts a section's text below its menu) and the footnotes are
    the node's again."""
    if group[0].strip() == _FOOTNOTES:
        return False
    if any(line.startswith("* ") for line in group):
        return True
    return len(group) == 1 and (any(line.startswith("* ") for line in following) or not group[0].endswith("."))


def _groups(body: str) -> list[list[_Line]]:
    groups: list[list[_Line]] = [[]]
    for line in _lines(body):
        if line.text:
            groups[-1].append(line)
        elif groups[-1]:
            groups.append([])
    return [g for g in groups if g]


def load_info(data: bytes, max_chars: int) -> Extracted:
    text, meta = decode_text_format(_MARKER_BYTES.sub(lambda m: b"\x08" + m.group(1), data))
    parts = _SEPARATOR.split(text)
    out = Builder(max_chars)
    top_title, indirect, nodes = "", [], 0
    levels: dict[str, int] = {}
    for part in parts[1:]:  # parts[0] is the file's header: who produced it, its dir entry, its @copying
        header, _, body = part.partition("\n")
        if header.startswith("Indirect:"):
            indirect = [line.split(":")[0].strip() for line in body.split("\n") if line.strip()]
            continue
        fields = dict(_HEADER_FIELD.findall(header))
        if not header.startswith("File:") or "Node" not in fields:
            continue  # the tag table, its end, the Local Variables trailer
        nodes += 1
        node_text = _node_body(body)
        if node_text is None:
            continue
        name = fields["Node"].strip()
        before = len(out.blocks)
        groups = _groups(node_text)
        if groups and name != "Top" and not _is_heading(groups[0]):
            # A node without a title of its own is still a section a citation should name: its name, one
            # level below the node above it.
            out.add("heading", name, min(levels.get(fields.get("Up", "").strip(), 0) + 1, 4))
        node = _Node(out)
        for k, group in enumerate(groups):
            node.group(group, groups[k + 1] if k + 1 < len(groups) else [])
        added = out.blocks[before:]
        first_heading = next((b for b in added if b.kind == "heading"), None)
        if first_heading is not None:
            levels[name] = first_heading.level
            heading = out.text()[first_heading.start:first_heading.end] if name == "Top" else ""
            if heading and not top_title and not _NOT_A_TITLE.fullmatch(heading):
                top_title = heading
    if not out.blocks:
        if indirect and not nodes:
            raise LoadError(f"the table of a split Info manual: its text is in {', '.join(indirect)}", EMPTY)
        raise LoadError("an Info file with no text in its nodes (index nodes and menus only)", EMPTY)
    produced = _PRODUCED.search(parts[0])
    extracted = out.extracted(top_title or (produced.group(1) if produced else ""))
    return replace(extracted, meta=meta)
