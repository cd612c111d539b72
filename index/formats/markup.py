"""Markup formats stored as their rendered text: reStructuredText (docutils) and RTF (striprtf).

reStructuredText is parsed to a docutils document tree and walked: section titles become headings at their
nesting depth, bullet and enumerated items list items, literal blocks code, table rows "cell | cell". Markup
characters are not stored, so citations point at the text a reader sees. File inclusion and raw passthrough
directives are disabled: an ``.. include:: /etc/passwd`` must not put another file into the index.
"""

from __future__ import annotations

import re

from ..reading import Extracted
from .base import Builder, decode_text, load_error

_DOCUTILS_SETTINGS = {
    "report_level": 5,  # no system messages in the output or on stderr: a malformed table stays its text
    "halt_level": 5,
    "file_insertion_enabled": False,
    "raw_enabled": False,
    "_disable_config": True,
    "input_encoding": "unicode",
    "warning_stream": False,
    "doctitle_xform": True,
}


def load_rst(data: bytes, max_chars: int) -> Extracted:
    from docutils import nodes
    from docutils.core import publish_doctree

    source = decode_text(data)
    try:
        tree = publish_doctree(source, settings_overrides=_DOCUTILS_SETTINGS)
    except Exception as exc:  # a docutils bug on strange input costs this file only
        raise load_error(f"unparseable reStructuredText ({type(exc).__name__}: {exc})") from None
    out = Builder(max_chars)
    title = tree.get("title", "")
    skip = (nodes.system_message, nodes.raw, nodes.Invisible)  # comments, targets, substitution definitions

    def walk(node, depth: int) -> None:
        for child in node.children:
            visit(child, depth)

    def visit(child, depth: int) -> None:
        if isinstance(child, skip):
            return
        if isinstance(child, nodes.section):
            walk(child, depth + 1)
        elif isinstance(child, nodes.title):
            out.add("heading", child.astext(), min(max(depth, 1), 6))
        elif isinstance(child, nodes.list_item):
            for part in child.children:
                if isinstance(part, nodes.paragraph):
                    out.add("list_item", " ".join(part.astext().split()))
                else:
                    visit(part, depth)  # a nested list, a code block inside the item
        elif isinstance(child, (nodes.literal_block, nodes.doctest_block)):
            out.add("code", child.astext())
        elif isinstance(child, nodes.row):
            cells = [" ".join(entry.astext().split()) for entry in child.children]
            out.add("table_row", " | ".join(c for c in cells if c))
        elif isinstance(child, nodes.term):
            out.add("term", child.astext())
        elif isinstance(child, nodes.caption):
            out.add("caption", child.astext())
        elif isinstance(child, nodes.TextElement):
            out.add("paragraph", " ".join(child.astext().split()))
        else:
            walk(child, depth)

    # Under doctitle_xform a lone top title is the document's own (level 1), not a section: sections below it
    # are level 2. Without one, top-level sections are level 1.
    walk(tree, 1 if title else 0)
    extracted = out.extracted(title)
    if not extracted.text.strip() and (included := _INCLUDE.findall(source)):
        # Sphinx projects keep a page that only includes another file ("CONTRIBUTING.rst" -> the repository's);
        # "no extractable text" alone would not say why.
        from dataclasses import replace

        return replace(extracted, notes=(f"only includes {', '.join(included[:3])}, and include directives are "
                                         "not followed",))
    return extracted


_INCLUDE = re.compile(r"^\.\.\s+(?:literal)?include::\s*(\S+)", re.MULTILINE)


_RTF_TITLE = re.compile(rb"\{\\title\s+([^{}]*)\}")
_RTF_ESCAPE = re.compile(rb"\\'([0-9a-fA-F]{2})")


def load_rtf(data: bytes, max_chars: int) -> Extracted:
    from striprtf.striprtf import rtf_to_text

    if not data.lstrip().startswith(b"{\\rtf"):
        raise load_error("not an RTF file (it does not start with {\\rtf)")
    try:
        text = rtf_to_text(data.decode("latin-1"), encoding="cp1252", errors="replace")
    except Exception as exc:
        raise load_error(f"corrupt RTF ({type(exc).__name__}: {exc})") from None
    from ..plaintext import text_structure

    # Cleaned before any offset is taken.
    # Every \par is a paragraph end, so each non-blank line is a paragraph of its own.
    lines = (line.strip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"))
    text = "\n\n".join(line for line in lines if line)
    if "\x00" in text:
        raise load_error("corrupt RTF (binary data in its text)")
    if len(text) > max_chars:
        raise load_error(f"too much text (over {max_chars:,} characters; limit max_text_chars)")
    blocks = text_structure(text)
    found = _RTF_TITLE.search(data)
    title = _RTF_ESCAPE.sub(lambda m: bytes([int(m.group(1), 16)]), found.group(1)).decode("cp1252", "replace") \
        if found else ""
    first = next((text[b.start:b.end] for b in blocks), "")
    return Extracted(text, " ".join((title or first).split())[:200], blocks=blocks)
