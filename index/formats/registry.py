"""The formats this package reads: suffixes, the module that loads each kind, and the library it uses."""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from ..reading import Extracted


class FormatLoader(Protocol):
    def __call__(self, data: bytes, max_chars: int) -> Extracted:
        """The stored text, title, blocks (and locators) of one file; LoadError with the reason otherwise.

        ``max_chars`` bounds the stored text: a loader stops reading once it is passed, whatever the file.
        """


@dataclass(frozen=True)
class Format:
    kind: str
    suffixes: tuple[str, ...]
    module: str  # under index.formats; it defines load_<kind>
    library: str  # what reads it (README "Formats")
    locator: str  # what a citation points at, beyond characters and lines


FORMATS = (
    Format("docx", (".docx",), "word", "python-docx", "section (headings)"),
    Format("odt", (".odt",), "word", "odfpy", "section (headings)"),
    Format("pptx", (".pptx",), "slides", "python-pptx", "slide number"),
    Format("xlsx", (".xlsx", ".xlsm"), "sheets", "openpyxl (read-only, streamed)", "sheet and row range"),
    Format("csv", (".csv",), "sheets", "Python csv", "row range"),
    Format("tsv", (".tsv", ".tab"), "sheets", "Python csv", "row range"),
    Format("epub", (".epub",), "ebook", "ebooklib + the HTML walker", "chapter (section)"),
    Format("email", (".eml",), "email", "Python email", "section (headers, body)"),
    Format("rst", (".rst", ".rest"), "markup", "docutils", "section (headings)"),
    Format("rtf", (".rtf",), "markup", "striprtf", "section (headings)"),
    Format("man", (".man",), "man", "its own troff reader (man.py, troff.py)", "section (headings)"),
    Format("info", (".info",), "info", "its own reader (no maintained library)", "section (nodes and headings)"),
)
SUFFIXES = {suffix: f.kind for f in FORMATS for suffix in f.suffixes}
# Manual pages are also named by their section, which no fixed list holds: ls.1, CA.pl.1ssl, Carp.3perl.
# A name like that is a page only when its content is troff (index.formats.man.is_man_page): app.log.1 is not.
MAN_SECTION_SUFFIX = re.compile(r"\.[1-9][a-z]*", re.IGNORECASE)
_BY_KIND = {f.kind: f for f in FORMATS}


def load_format(kind: str, data: bytes, max_chars: int) -> Extracted:
    loader: FormatLoader = getattr(importlib.import_module(f"{__package__}.{_BY_KIND[kind].module}"), f"load_{kind}")
    return loader(data, max_chars)
