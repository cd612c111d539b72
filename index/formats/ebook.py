"""E-books: .epub (ebooklib), chapters in spine order, each chapter's XHTML through the HTML walker.

Each chapter opens with its table-of-contents title (else its XHTML <title>) as a level-1 heading, unless its
own first heading says the same, so every passage's section path starts with its chapter.
"""

from __future__ import annotations

import io
import posixpath
import warnings

from ..extract import html_structure
from ..reading import Extracted
from .base import Builder, checked_zip, load_error


def load_epub(data: bytes, max_chars: int) -> Extracted:
    from ebooklib import ITEM_DOCUMENT, epub

    checked_zip(data, "EPUB")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # ebooklib warns about options of its own future defaults
            book = epub.read_epub(io.BytesIO(data), {"ignore_ncx": False})
    except Exception as exc:  # ebooklib raises EpubException, KeyError, XML errors... for a damaged file
        raise load_error(f"corrupt EPUB ({type(exc).__name__}: {exc})") from None
    toc_titles = _toc_titles(book.toc)
    out = Builder(max_chars)
    for item_id, _linear in book.spine:
        item = book.get_item_with_id(item_id)
        if item is None or item.get_type() != ITEM_DOCUMENT:
            continue
        try:
            text, title, blocks = html_structure(item.get_content().decode("utf-8", "replace"))
        except Exception as exc:  # lxml raises several unrelated types for broken markup
            raise load_error(f"corrupt EPUB chapter {item.get_name()} ({type(exc).__name__}: {exc})") from None
        chapter = toc_titles.get(posixpath.normpath(item.get_name())) or title
        opening = text[blocks[0].start:blocks[0].end] if blocks and blocks[0].kind == "heading" else ""
        if chapter and " ".join(chapter.split()).casefold() != " ".join(opening.split()).casefold():
            out.add("heading", chapter, 1)
        out.extend(text, blocks)
    titles = book.get_metadata("DC", "title")
    return out.extracted(titles[0][0] if titles else "")


def _toc_titles(toc) -> dict[str, str]:
    """Chapter file -> its first table-of-contents title (an entry may point into a file with #fragment)."""
    found: dict[str, str] = {}

    def visit(entries):
        for entry in entries:
            if isinstance(entry, tuple):  # (Section, [children])
                section, children = entry
                _add(section)
                visit(children)
            else:
                _add(entry)

    def _add(link):
        href, title = getattr(link, "href", None), getattr(link, "title", None)
        if href and title:
            found.setdefault(posixpath.normpath(href.split("#", 1)[0]), " ".join(title.split()))

    visit(toc)
    return found
