"""Structure of each format: the stored text and its typed blocks (see ``index.structure``).

HTML is walked with lxml: navigation, headers/footers, permalink markers and link-only lists are dropped,
paragraph text is unwrapped, ``<pre>`` keeps its lines. Markdown and plain text are stored as they are and
only typed. PDF pages come cleaned from ``index.pdf`` (hyphenation at line ends joined); here running
headers/footers, page numbers and table-of-contents lines (``index.contents`` finds those without dot leaders) are
marked ``furniture``.
"""

from __future__ import annotations

import re
import textwrap
from collections import Counter
from collections.abc import Sequence

from .contents import contents_lines
from .structure import Block, line_spans, trimmed_block

# --------------------------------------------------------------------------- assembling text from blocks

_TIGHT = {"list_item", "term", "description", "table_row"}


class TextBuilder:
    """Stored text made of blocks: each block's offsets are taken as it is appended."""

    def __init__(self):
        self.parts: list[str] = []
        self.length = 0
        self.blocks: list[Block] = []

    def add(self, kind: str, text: str, level: int = 0) -> None:
        text = text.strip()
        if not text:
            return
        if self.blocks:
            previous = self.blocks[-1].kind
            self._append("\n" if previous in _TIGHT and kind in _TIGHT else "\n\n")
        start = self.length
        self._append(text)
        self.blocks.append(Block(kind, start, self.length, level))

    def _append(self, piece: str) -> None:
        self.parts.append(piece)
        self.length += len(piece)

    def text(self) -> str:
        return "".join(self.parts)


# --------------------------------------------------------------------------- HTML

_HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
_DROP_TAGS = {"script", "style", "noscript", "template", "head", "title", "meta", "link", "iframe", "svg", "math",
              "button", "select", "input", "textarea", "form", "object", "embed", "canvas", "map", "nav", "aside"}
_BLOCK_TAGS = {"p", "div", "section", "article", "main", "body", "html", "blockquote", "ul", "ol", "li", "dl", "dt",
               "dd", "table", "thead", "tbody", "tfoot", "tr", "td", "th", "caption", "figure", "figcaption", "hr",
               "address", "center", "details", "summary", "header", "footer", "fieldset", "menu", "dir", "legend",
               "listing", "xmp", "plaintext", *_HEADINGS, "pre"}
_CONTEXT_KIND = {"li": "list_item", "dt": "term", "dd": "description", "caption": "caption", "figcaption": "caption",
                 "th": "table_row", "td": "table_row"}
_NAV_ROLES = {"navigation", "banner", "contentinfo", "search", "menu", "menubar", "complementary"}
_NAV_CLASS = re.compile(
    r"^(nav|navbar|navheader|navfooter|navigation|breadcrumbs?|crumbs|menu|mainmenu|submenu|sidebar|footer|"
    r"site-?footer|site-?header|skip-?links?|searchmenu|searchbox|tagline|toc|pagination|pager|share|social|"
    r"cookie-?banner|headerlink|id_link|anchor-?link|docnav)$", re.IGNORECASE)
# A part of a compound class name that marks navigation in any theme: "md-nav", "wy-nav-side", "topNav" (javadoc),
# "pagination-nav", "td-sidebar-nav", "wy-breadcrumbs".
_NAV_PARTS = {"nav", "navbar", "navigation", "breadcrumb", "breadcrumbs", "docnav", "navheader", "navfooter"}
# ...unless the name also says it wraps the page: sphinx_rtd_theme puts the whole document inside "wy-grid-for-nav",
# "wy-nav-content-wrap" and "wy-nav-content", and dropping those left nothing (then everything, navigation too, was kept).
_LAYOUT_PARTS = {"content", "contents", "body", "main", "wrap", "wrapper", "grid", "container", "page", "article",
                 "document", "shift"}
_CLASS_PARTS = re.compile(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])")
# Class names that both site navigation and documents use: DocBook's sidebar is a titled box of content ("TIP",
# "BACK TO BASICS"); a theme's sidebar is a column of links. Only the second is navigation.
_CONTENT_TOO = {"sidebar"}
_PERMALINKS = {"¶", "#", "§", "🔗", "⚓", "◆"}
# Links that only point further ("Initialize the configuration. More..." in Doxygen's member tables).
_MORE_LINKS = {"more...", "more…", "more", "read more", "read more...", "read more…", "[more]"}
# Elements a browser does not show: Doxygen's member tooltips (class "ttc", display:none in its CSS) repeat a
# member's documentation inside every code example that names it.
_HIDDEN_CLASSES = {"ttc"}
# Line-number gutters of code listings (Doxygen "lineno", Pygments "linenos"/"linenodiv"): not part of the code.
_GUTTER_CLASSES = {"lineno", "linenos", "linenodiv", "linenumber", "line-number", "line-numbers", "gutter"}
_MARKER_CLASSES = _GUTTER_CLASSES | {"permalink"}  # elements _strip_markers drops whole
# What Doxygen says of the source files rather than of the code: "Definition at line 71 of file allocator.h.",
# "References ...", "Referenced by ...", and the closing "The documentation for this class was generated from the
# following files:" with the list of files. Recognised by class and wording together: "definition" and "reference"
# are class names a glossary may use for its content.
_SOURCE_NOTES = {"definition": re.compile(r"^\s*Definition at line \d+ of file "),
                 "reference": re.compile(r"^\s*References "), "referencedby": re.compile(r"^\s*Referenced by ")}
_GENERATED_FROM = re.compile(r"^\s*The documentation for this [\w ]+ was generated from the following files?:\s*$")
# Texinfo's "Next: Memory Handling, Previous: Exceptions, Up: MPFR Basics [Index]": once its links are taken
# out, only these words as labels ("Next:") and punctuation are left. A bare word is not enough: Doxygen's
# "PathArgument (ArrayIndex index)" leaves "( index)".
_NAV_WORDS = re.compile(
    r"^[\s\[\](),;|·»«<>\-–—]*(?:(?:next|prev|previous|up|home|top|index|contents|table of contents|back)\s*:"
    r"[\s\[\](),;|·»«<>\-–—]*)+$", re.IGNORECASE)
_LETTER_BAR = re.compile(r"^\s*(?:jump to:)?[\s|·,\-–—]*$", re.IGNORECASE)
_NAV_LINE = re.compile(
    r"^[►▼▶◀»«\s]*(?:(?:next|prev|previous|up|home|top|index|contents|table of contents|back|"
    r"return to main contents|back to top)\b[\s|:·»«<>\-–—]*)+$", re.IGNORECASE)
_ADMONITIONS = {"note", "warning", "tip", "caution", "important", "hint", "danger", "attention", "see also"}
_XML_DECLARATION = re.compile(r"\A\s*<\?xml[^>]*\?>")
_HTTP_HEADERS = re.compile(r"\A(?:[A-Za-z][A-Za-z-]*:[^\n<]*\n)+(?=\s*<)")


def _classes(el) -> list[str]:
    return (el.get("class") or "").split() + ([el.get("id")] if el.get("id") else [])


def _is_hidden(el) -> bool:
    """Dialogs and tooltips the page hides until asked (MkDocs' search and keyboard-shortcut dialogs). Not any
    aria-hidden element: KaTeX hides its visible rendering of a formula from screen readers that way."""
    dialog = (el.get("role") or "").lower() in ("dialog", "alertdialog")
    return (el.get("hidden") is not None or (dialog and (el.get("aria-hidden") or "").lower() == "true")
            or bool(_HIDDEN_CLASSES.intersection((el.get("class") or "").split())))


def _text_outside_links(el) -> str:
    pieces: list[str] = []

    def visit(node) -> None:
        if node.tag == "a":
            return
        pieces.append(node.text or "")
        for child in node:
            if isinstance(child.tag, str):
                visit(child)
            pieces.append(child.tail or "")

    visit(el)
    return "".join(pieces)


def _link_words_only(el) -> bool:
    """A line of links labelled only by navigation words (texinfo's Next/Previous/Up header), or an index's
    letter bar ("A | C | D | E ..." in Sphinx's genindex, "Jump to: A C E" in texinfo's indexes)."""
    links = [_collapse("".join(a.itertext())) for a in el.iter("a") if a.get("href")]
    if not links:
        return False
    outside = _text_outside_links(el)
    if len(links) >= 5 and all(len(label) <= 2 for label in links):
        return bool(_LETTER_BAR.match(outside))
    return bool(_NAV_WORDS.match(outside))


def _is_boilerplate(el, lists_too: bool) -> bool:
    tag = el.tag
    if tag in ("header",) or (el.get("role") or "").lower() == "banner":
        return not el.xpath(".//h1|.//h2|.//h3")
    if tag == "footer" or (el.get("role") or "").lower() in _NAV_ROLES:
        return True
    for name in _classes(el):
        if _NAV_CLASS.match(name) and (lists_too or name.lower() != "toc"):
            return name.lower() not in _CONTENT_TOO or _link_share(el) >= 0.5
        if "-" in name or "_" in name or name[1:] != name[1:].lower():
            parts = {part.lower() for part in _CLASS_PARTS.findall(name)}
            if parts & _NAV_PARTS and not parts & _LAYOUT_PARTS:
                return True
    return False


def _link_share(el) -> float:
    """The share of an element's letters that are link text (1.0 for an element with no text)."""
    letters = len("".join("".join(el.itertext()).split()))
    if not letters:
        return 1.0
    return sum(len("".join("".join(a.itertext()).split())) for a in el.iter("a") if a.get("href")) / letters


def _link_only(el) -> bool:
    """A list or table whose text is (almost) all links: a menu, an index of the page, a TOC."""
    return bool("".join(el.itertext()).strip()) and _link_share(el) >= 0.9


def _has_block_children(el) -> bool:
    return any(isinstance(d.tag, str) and d.tag in ("p", "div", "ul", "ol", "dl", "table", "pre", "blockquote",
                                                     *_HEADINGS) for d in el.iterdescendants())


def _layout_cell(cell) -> bool:
    """A table cell holding paragraphs or lists; one div wrapping the whole cell (javadoc's ``<td><div
    class="block">`` description) is still a plain cell, unless it is a box's title (asciidoc's admonition icon
    cell ``<td class="icon"><div class="title">Note</div></td>``)."""
    children = [c for c in cell if isinstance(c.tag, str)]
    if (len(children) == 1 and children[0].tag == "div" and not _is_title_class(children[0])
            and not (cell.text or "").strip() and not (children[0].tail or "").strip()):
        return _has_block_children(children[0])
    return _has_block_children(cell)


def _cells(tr) -> list[str]:
    return [_collapse("".join(cell.itertext())) for cell in tr
            if isinstance(cell.tag, str) and cell.tag.lower() in ("td", "th")]


def _signature(table) -> str | None:
    """Doxygen lays a signature out as a table, a parameter a row: "bool Json::Reader::parse", "(", "const char *",
    "beginDoc,", ... ")". Its cells read as one line, not as columns."""
    rows = [row for row in table.iter("tr")]
    if not rows or table.xpath(".//table") or any(_layout_cell(cell) for row in rows for cell in row):
        return None
    cells = [c for row in rows for c in _cells(row) if c]
    if not ({"(", "()"} & set(cells) and {")", "()"} & set(cells)):
        return None
    return " ".join(cells)


def _layout_item(li) -> bool:
    """An item holding headings is a layout box, not an item; so is javadoc's ``li.blockList``, which holds a
    class's whole description (signature, definition list, text) even where that has no heading."""
    return bool(li.xpath(".//h1|.//h2|.//h3|.//h4|.//h5|.//h6")) or bool(
        {"blockList", "blockListLast"}.intersection((li.get("class") or "").split()))


def _is_title_class(el) -> bool:
    return any(name == "title" or name.endswith("-title") for name in (el.get("class") or "").split())


def _is_line_listing(el) -> bool:
    """Doxygen's code: a div.fragment of one div.line per line, no pre."""
    lines = [child for child in el if isinstance(child.tag, str) and not _is_hidden(child)]
    return bool(lines) and all(child.tag == "div" and "line" in (child.get("class") or "").split() for child in lines)


# Invisible in a browser, yet they split words for search: javadoc writes "compile&#8203;(String xpath)".
_INVISIBLE = str.maketrans("", "", "\u200b\u00ad\ufeff")


def _collapse(text: str) -> str:
    return " ".join(text.translate(_INVISIBLE).split())


class _HtmlWalker:
    def __init__(self, clean: bool, lists_too: bool = True):
        """``clean``: drop navigation; ``lists_too``: also link-only lists and tables of contents."""
        self.clean = clean
        self.lists_too = lists_too
        self.out = TextBuilder()
        self.buffer: list[str] = []
        self.buffer_kind = "paragraph"
        self.kinds = ["paragraph"]
        self.link_chars = 0

    def _code(self, raw: str) -> None:
        code = textwrap.dedent(raw.replace("\r", "").translate(_INVISIBLE)).strip("\n")
        self.out.add("code", "\n".join(line.rstrip() for line in code.split("\n")))

    def text(self, piece: str | None) -> None:
        if not piece:
            return
        if not self.buffer or not "".join(self.buffer).strip():
            self.buffer_kind = self.kinds[-1]
        self.buffer.append(piece)

    def flush(self) -> None:
        text = _collapse("".join(self.buffer))
        links, self.buffer, self.link_chars = self.link_chars, [], 0
        if not text:
            return
        if self.clean and self.buffer_kind == "paragraph" and (
                _NAV_LINE.match(text) or (links >= 0.9 * len(text.replace(" ", "")) and len(text) < 100
                                          and "://" not in text)):
            # "Prev Up Home Next", "Index Return to Main Contents": navigation, not content. A link that shows its
            # address ("... will lead to: https://example.com/...") is what the page says.
            return
        self.out.add(self.buffer_kind, text)

    def walk(self, el) -> None:
        tag = el.tag
        if not isinstance(tag, str):  # comments, processing instructions
            return
        tag = tag.lower()
        if tag in _DROP_TAGS or _is_hidden(el) or (self.clean and (_is_boilerplate(el, self.lists_too) or (
                self.lists_too and tag in ("ul", "ol", "dl", "table", "menu") and _link_only(el)) or (
                tag in ("p", "div", "tr") and not _has_block_children(el) and _link_words_only(el)))):
            return
        if tag == "br":
            self.flush()
            return
        if tag == "a" and el.get("href"):
            self.link_chars += len("".join("".join(el.itertext()).split()))
        if tag not in _BLOCK_TAGS:
            self.text(el.text)
            for child in el:
                self.walk(child)
                self.text(child.tail)
            return
        self.flush()
        if tag in _HEADINGS:
            heading = _collapse("".join(el.itertext()))
            # A box title ("Note", "Warning") labels a box inside a section; it opens no section of its own.
            if heading.casefold().rstrip(":") in _ADMONITIONS:
                self.out.add("caption", heading)
            else:
                self.out.add("heading", heading, _HEADINGS[tag])
        elif tag in ("pre", "listing", "xmp", "plaintext"):
            self._code("".join(el.itertext()))
        elif _is_line_listing(el):
            # Doxygen separates its (dropped) line number from the code with a no-break space
            self._code("\n".join("".join(line.itertext()).removeprefix("\xa0") for line in el
                                  if isinstance(line.tag, str) and not _is_hidden(line)))
        elif tag == "table" and (signature := _signature(el)):
            self.out.add("table_row", signature)
        elif tag == "tr" and not any(_layout_cell(cell) for cell in el):
            self.out.add("table_row", " | ".join(c for c in _cells(el) if c))
        elif tag in ("hr",):
            pass
        else:
            # A layout table's cell (a row with paragraphs or lists inside) holds ordinary text.
            kind = None if tag in ("td", "th") else _CONTEXT_KIND.get(tag)
            if tag in ("p", "div") and _is_title_class(el) and not _has_block_children(el):
                # DocBook's title of a box, example, figure or table, Sphinx's and MkDocs' "Note" of an
                # admonition: it labels, it does not say. Doxygen's page title is a div.title too: before any
                # heading, a title is the page's heading.
                title = _collapse("".join(el.itertext()))
                if not any(b.kind == "heading" for b in self.out.blocks) and title.casefold().rstrip(":") not in (
                        _ADMONITIONS):
                    self.flush()
                    self.out.add("heading", title, 1)
                    return
                kind = "caption"
            elif tag == "li" and _layout_item(el):
                kind = "paragraph"
            self.kinds.append(kind or self.kinds[-1])
            self.text(el.text)
            for child in el:
                self.walk(child)
                self.text(child.tail)
            self.flush()
            self.kinds.pop()


def _drop_with_brackets(a) -> None:
    """Drop a link and the brackets around it: SQLite writes "... transactional. (more...)"."""
    previous = a.getprevious()
    before = (previous.tail if previous is not None else a.getparent().text) or ""
    if before.rstrip().endswith(("(", "[")) and (a.tail or "").lstrip().startswith((")", "]")):
        before = before.rstrip()[:-1]
        if previous is not None:
            previous.tail = before
        else:
            a.getparent().text = before
        a.tail = a.tail.lstrip()[1:]
    a.drop_tree()


def _strip_markers(tree) -> None:
    """Drop what marks the page rather than says something: permalinks, line-number gutters, "More..." links,
    Doxygen's notes on source files."""
    for el in list(tree.iter()):
        if not isinstance(el.tag, str):
            continue
        classes = (el.get("class") or "").split()
        if _MARKER_CLASSES.intersection(classes) or any(
                c in _SOURCE_NOTES and _SOURCE_NOTES[c].match(el.text_content()) for c in classes):
            el.drop_tree()
        elif "mlabel" in classes:
            # Doxygen's badges ("abstract", "static") sit flush against the title: "Class Referenceabstract"
            el.text = " " + (el.text or "")
    for hr in list(tree.iter("hr")):
        if hr.tail and _GENERATED_FROM.match(hr.tail):
            hr.tail = None
            files = hr.getnext()
            if files is not None and files.tag in ("ul", "ol"):
                files.drop_tree()
    for a in list(tree.iter("a")):
        label = "".join(a.itertext()).strip()
        if label.casefold() in _MORE_LINKS:
            _drop_with_brackets(a)
        elif label in _PERMALINKS or any(_NAV_CLASS.match(c) and c.lower() in ("headerlink", "id_link", "anchor-link",
                                                                           "anchorlink") for c in _classes(a)):
            a.drop_tree()


def _walked(root, clean: bool, lists_too: bool = True) -> _HtmlWalker:
    walker = _HtmlWalker(clean, lists_too)
    walker.walk(root)
    walker.flush()
    return walker


def html_structure(markup: str) -> tuple[str, str, list[Block]]:
    """(stored text, title, blocks) of an HTML page; raises ValueError for markup lxml cannot parse."""
    from lxml import html as lxml_html

    markup = _HTTP_HEADERS.sub("", _XML_DECLARATION.sub("", markup, count=1), count=1)
    tree = lxml_html.document_fromstring(markup)
    title = _collapse(tree.findtext(".//title") or "")
    _strip_markers(tree)
    body = tree.find("body")
    root = body if body is not None else tree
    walker = _walked(root, clean=True)
    if walker.out.length < 2000:
        # A page that is mostly a list of links (an index of commands with one line each) keeps its lists;
        # one where everything looked like boilerplate keeps its visible text rather than nothing.
        fuller = _walked(root, clean=True, lists_too=False)
        if walker.out.length < 0.2 * fuller.out.length:
            walker = fuller
        if not walker.out.blocks:
            walker = _walked(root, clean=False)
    text, blocks = walker.out.text(), walker.out.blocks
    headings = [(b, text[b.start:b.end]) for b in blocks if b.kind == "heading"]
    if not title or title.casefold() in _ADMONITIONS:
        first_h1 = next((t for b, t in headings if b.level == 1), None)
        title = first_h1 or next((t for _, t in headings if t.casefold() not in _ADMONITIONS), "") or title
    return text, title, blocks


# --------------------------------------------------------------------------- Markdown and plain text

_ATX = re.compile(r"^[ ]{0,3}(#{1,6})[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$")
_SETEXT = re.compile(r"^[ ]{0,3}(=+|-+)[ \t]*$")
_FENCE = re.compile(r"^[ ]{0,3}(`{3,}|~{3,})")
_LIST_ITEM = re.compile(r"^\s*(?:[-*+•]|\d{1,3}[.)])\s+\S")
_TABLE_SEPARATOR = re.compile(r"^\s*\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$")
_FRONT_MATTER = re.compile(r"\A---\n(.*?\n)?---\n", re.DOTALL)
_FRONT_TITLE = re.compile(r"^title:[ \t]*(.+?)[ \t]*$", re.MULTILINE)
# Never shown by a Markdown renderer: HTML comments (Node.js keeps each API's version history in one, GitHub
# READMEs their badge markers) and link reference definitions ("[`path.win32`]: #pathwin32").
_COMMENT_OPEN = re.compile(r"^[ ]{0,3}<!--")
_LINK_DEFINITION = re.compile(r"^[ ]{0,3}\[[^\]]+\]:[ \t]*\S")


def _emit(blocks: list[Block], block: Block | None) -> None:
    if block is not None:
        blocks.append(block)


def markdown_structure(text: str) -> tuple[str | None, list[Block]]:
    """(front matter title or None, blocks) of Markdown text, stored as it is."""
    blocks: list[Block] = []
    front_title = None
    offset_lines = line_spans(text)
    i = 0
    if match := _FRONT_MATTER.match(text):
        _emit(blocks, trimmed_block(text, "furniture", 0, match.end()))
        if (found := _FRONT_TITLE.search(match.group(1) or "")) is not None:
            front_title = found.group(1).strip().strip("'\"").strip() or None
        while i < len(offset_lines) and offset_lines[i][0] < match.end():
            i += 1
    paragraph: list[tuple[int, int]] = []

    def end_paragraph():
        if paragraph:
            _emit(blocks, trimmed_block(text, "paragraph", paragraph[0][0], paragraph[-1][1]))
            paragraph.clear()

    while i < len(offset_lines):
        start, end = offset_lines[i]
        line = text[start:end]
        if not line.strip():
            end_paragraph()
            i += 1
            continue
        if fence := _FENCE.match(line):
            end_paragraph()
            _emit(blocks, trimmed_block(text, "furniture", start, end))
            j = i + 1
            while j < len(offset_lines) and not text[offset_lines[j][0]:offset_lines[j][1]].strip().startswith(
                    fence.group(1)):
                j += 1
            if j > i + 1:
                _emit(blocks, trimmed_block(text, "code", offset_lines[i + 1][0], offset_lines[j - 1][1]))
            if j < len(offset_lines):
                _emit(blocks, trimmed_block(text, "furniture", *offset_lines[j]))
            i = j + 1
            continue
        if _COMMENT_OPEN.match(line):
            end_paragraph()
            j = i
            while j + 1 < len(offset_lines) and "-->" not in text[offset_lines[j][0]:offset_lines[j][1]]:
                j += 1
            _emit(blocks, trimmed_block(text, "furniture", start, offset_lines[j][1]))
            i = j + 1
            continue
        if not paragraph and _LINK_DEFINITION.match(line):
            _emit(blocks, trimmed_block(text, "furniture", start, end))
            i += 1
            continue
        if atx := _ATX.match(line):
            end_paragraph()
            _emit(blocks, trimmed_block(text, "heading", start + atx.start(2), start + atx.end(2), len(atx.group(1))))
            i += 1
            continue
        following = text[offset_lines[i + 1][0]:offset_lines[i + 1][1]] if i + 1 < len(offset_lines) else ""
        if not paragraph and _SETEXT.match(following) and not _LIST_ITEM.match(line) and len(following.strip()) >= 2:
            _emit(blocks, trimmed_block(text, "heading", start, end, 1 if following.strip()[0] == "=" else 2))
            _emit(blocks, trimmed_block(text, "furniture", *offset_lines[i + 1]))
            i += 2
            continue
        if line.lstrip().startswith("|"):
            end_paragraph()
            _emit(blocks, trimmed_block(text, "furniture" if _TABLE_SEPARATOR.match(line) else "table_row", start, end))
            i += 1
            continue
        if _LIST_ITEM.match(line):
            end_paragraph()
            j = i + 1  # continuation lines: indented, not blank, not a new item
            while j < len(offset_lines):
                nxt = text[offset_lines[j][0]:offset_lines[j][1]]
                if not nxt.strip() or _LIST_ITEM.match(nxt) or not nxt[:1].isspace():
                    break
                j += 1
            _emit(blocks, trimmed_block(text, "list_item", start, offset_lines[j - 1][1]))
            i = j
            continue
        paragraph.append((start, end))
        i += 1
    end_paragraph()
    return front_title, blocks


# --------------------------------------------------------------------------- PDF

_TOC_LINE = re.compile(r"(?:\.[ \t]?){4,}[ \t]*(?:\d{1,4}|[ivxlc]{1,6})[ \t]*$", re.IGNORECASE)
_PAGE_NUMBER = re.compile(r"^\s*(?:page\s+)?(?:\d{1,4}|[ivxlcdm]{1,7})(?:\s*(?:/|of)\s*\d{1,4})?\s*$", re.IGNORECASE)
_PDF_NUMBERED = re.compile(r"^(?:(?:chapter|appendix|part)\s+[\dA-Z]+\b|\d{1,2}(?:\.\d{1,3})*\.?\s+[A-Z]).{0,70}$",
                           re.IGNORECASE)


def _furniture_key(line: str) -> str:
    return re.sub(r"\d+", "#", " ".join(line.split())).casefold()


_FOLIO = re.compile(r"#|[ivxlcdm]{1,7}")  # a page number in a furniture key: digits (as #) or roman
# A running header is a short line; its frame has a word or two of letters ("gnuplot 5.4", "Chapter 3:"), and is at
# an edge of at least a quarter of the pages (a book's title on every other page, a chapter's kind on most).
_FRAME_MAX_LINE_WORDS = 14
_FRAME_MIN_LETTERS = 6
_FRAME_PAGE_SHARE = 0.25


def _frames(key: str) -> tuple[set[tuple[str, ...]], int, bool]:
    """The running-header frames a page-edge line may carry (its first and last 2-6 words, page number aside),
    its number of words without the page number, and whether a page number ends it; ``key``: the line's
    ``_furniture_key``.

    A header that names the section it is in ("1.2. Getting Set Up  Ubuntu Packaging Guide") repeats whole on a
    page or two, too few to tell it from text; the part that names the book or the chapter kind repeats on most
    pages.
    """
    words = key.split()
    if len(words) > _FRAME_MAX_LINE_WORDS:
        return set(), len(words), False
    inner = words[1 if words and _FOLIO.fullmatch(words[0]) else 0:]
    folio_last = bool(inner) and _FOLIO.fullmatch(inner[-1]) is not None
    inner = inner[:-1] if folio_last else inner
    found = set()
    for k in range(2, min(6, len(inner)) + 1):
        found.add(("^", *inner[:k]))
        found.add(("$", *inner[-k:]))
    return {f for f in found if sum(c.isalpha() for c in "".join(f[1:])) >= _FRAME_MIN_LETTERS}, len(inner), folio_last


def _framed(line_frames: tuple[set[tuple[str, ...]], int, bool], frames: set[tuple[str, ...]]) -> bool:
    """Whether a page-edge line (``line_frames``: its ``_frames``) is a running header by its frame: it holds a
    frequent frame and more than that.

    Just the frame is a title ("Ubuntu Packaging Guide" on the cover), or a heading when a number opens it ("7 R
    Miscellanea" under headers "Chapter 7: R Miscellanea 30"); with a page number after it, a header ("Debian
    Reference xxvii").
    """
    found, length, folio_last = line_frames
    hits = found & frames
    return bool(hits) and (folio_last or max(len(f) - 1 for f in hits) < length)


# Quotes as typeset ("doesn’t", ”$LANG”) and as an outline spells them ("doesn't", "$LANG") compare equal.
_QUOTES = str.maketrans("", "", "'\"`´‘’‚‛“”„‟«»")


def _squash(text: str) -> str:
    return "".join(text.split()).translate(_QUOTES).casefold()


def pdf_structure(text: str, page_starts: Sequence[int],
                  outline: Sequence[tuple[str, int, int]] = ()) -> list[Block]:
    """Blocks of cleaned PDF text; ``outline``: (title, 0-based page, depth 1..) of the bookmarks."""
    page_ends = [*[s - 2 for s in page_starts[1:]], len(text)]
    pages = []  # per page: list of (start, end) of non-blank lines
    for start, end in zip(page_starts, page_ends):
        pages.append([(s + start, e + start) for s, e in line_spans(text[start:end]) if text[s + start:e + start].strip()])
    # Running headers and footers: the same line (digits aside) among the first/last two lines of many pages.
    # A line that carries a number (a page or chapter number) needs fewer pages than one without: a "Note" or
    # "Syntax:" box title can open a few pages, a running header with its page number opens many.
    page_edges = [lines[:2] + lines[-2:] for lines in pages]
    edge_keys = {(s, e): _furniture_key(text[s:e]) for edges in page_edges for s, e in edges}
    edge_frames = {span: _frames(key) for span, key in edge_keys.items()}
    edge_counts: Counter = Counter()
    frame_counts: Counter = Counter()
    for edges in page_edges:
        edge_counts.update({edge_keys[span] for span in edges})
        frame_counts.update(set().union(*(edge_frames[span][0] for span in edges)))
    repeated = {key for key, n in edge_counts.items()
                if ("#" in key and n >= 3 and n >= 0.04 * len(pages)) or (n >= 4 and n >= 0.3 * len(pages))}
    frames = {f for f, n in frame_counts.items() if n >= 4 and n >= _FRAME_PAGE_SHARE * len(pages)}
    furniture: set[tuple[int, int]] = set()
    framed: set[tuple[int, int]] = set()  # headers by their frame: furniture unless the outline says heading
    leader_lines: set[tuple[int, int]] = set()  # contents entries with dot leaders
    for lines, edges in zip(pages, page_edges):
        for s, e in edges:
            if edge_keys[(s, e)] in repeated or _PAGE_NUMBER.match(text[s:e]):
                furniture.add((s, e))
            elif _framed(edge_frames[(s, e)], frames):
                framed.add((s, e))
        for s, e in lines:
            if _TOC_LINE.search(text[s:e]):
                leader_lines.add((s, e))
    contents = contents_lines(text, pages, leader_lines, furniture)
    furniture |= contents | leader_lines
    headings: dict[tuple[int, int], int] = {}
    if outline:
        # A contents line the outline names is a heading (the contents title, "Contents", in Sphinx PDFs).
        leaderless = contents - leader_lines
        for title, page, depth in outline:
            if not (0 <= page < len(pages)) or not (key := _squash(title)):
                continue
            # A long chapter's name recurs in its running headers ("User Guide Chapter 2 Graphics and Text with
            # pdfgen"), and its opening line may look framed too: the heading is the line no header frames, if any.
            candidates = [span for span in pages[page]
                          if (span not in furniture or span in leaderless) and span not in headings]
            for s, e in sorted(candidates, key=lambda span: span in framed):
                line = _squash(text[s:e])
                if line == key or (line.endswith(key) and len(line) <= len(key) + 12):
                    headings[(s, e)] = min(depth, 6)
                    break
    furniture = (furniture - headings.keys()) | (framed - headings.keys())
    if not outline:
        for lines in pages:
            for s, e in lines:
                line = " ".join(text[s:e].split())
                if ((s, e) not in furniture and _PDF_NUMBERED.match(line) and not line.endswith((".", ",", ";", ":"))
                        and sum(c.isalpha() for c in line) >= 3):
                    number = re.match(r"\d+(?:\.\d+)*", line)
                    headings[(s, e)] = (number.group(0).count(".") + 1) if number else 1
    blocks: list[Block] = []
    for lines in pages:
        run: list[tuple[int, int]] = []

        def end_run():
            if run:
                _emit(blocks, trimmed_block(text, "paragraph", run[0][0], run[-1][1]))
                run.clear()

        for s, e in lines:
            if (s, e) in furniture:
                end_run()
                _emit(blocks, trimmed_block(text, "furniture", s, e))
            elif (s, e) in headings:
                end_run()
                _emit(blocks, trimmed_block(text, "heading", s, e, headings[(s, e)]))
            else:
                if run and text[run[-1][1]:s].count("\n") > 1:
                    end_run()
                run.append((s, e))
        end_run()
    return blocks
