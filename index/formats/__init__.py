"""Loaders for office, e-book, e-mail and markup formats, one module per format family.

``registry`` maps file suffixes to kinds and kinds to loaders; ``index.documents`` consults it beside its own
text, Markdown, HTML and PDF loaders. A loader module is imported only when a file of its kind is read, so a
corpus of plain text never imports python-pptx.
"""

from .registry import FORMATS, MAN_SECTION_SUFFIX, SUFFIXES, Format, load_format

__all__ = ["FORMATS", "MAN_SECTION_SUFFIX", "SUFFIXES", "Format", "load_format"]
