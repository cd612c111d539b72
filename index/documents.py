"""The loaders that turn files into documents: which kind a file is, and reading it as that kind.

A ``Document``'s ``text`` is the reference every citation points into: offsets are
always offsets in this stored text, never in the raw file bytes. The records themselves
(``Extracted``, ``Document``, ``Skipped``, ``LoadError``) and the bounded reads live in
``index.reading``, below every loader; they are re-exported here.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from .decoding import NotText, decode_text
from .extract import html_structure, markdown_structure, pdf_structure
from .plaintext import help_title, text_structure
from .formats import MAN_SECTION_SUFFIX
from .formats import SUFFIXES as FORMAT_SUFFIXES
from .formats import load_format
from .page_boxes import from_pages
from .reading import (  # noqa: F401 (the records and reads are re-exported: index.documents is where they were)
    BAD_NAME, BINARY, COMPRESSED_SUFFIX, CORRUPT, DUPLICATE, EMPTY, EXCLUDED, FORMAT_META_KEYS, HIDDEN,
    MAX_PDF_PAGES, MAX_TEXT_CHARS, SYMLINK, TOO_LARGE, UNREADABLE, UNSUPPORTED, Document, Extracted, LoadError,
    Skipped, Unreadable, decode_text_format, gunzip, inside_folder, read_regular, sha256_regular, too_large,
    too_much_text,
)
from .structure import check_blocks, plain_heading

if TYPE_CHECKING:
    from .pdf import PdfText

SUPPORTED_SUFFIXES = {".txt": "text", ".md": "markdown", ".markdown": "markdown", ".html": "html", ".htm": "html",
                      ".pdf": "pdf", **FORMAT_SUFFIXES}
# Pictures of text (scans, screenshots), read by OCR (index.ocr).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp")
SUPPORTED_SUFFIXES.update({suffix: "image" for suffix in IMAGE_SUFFIXES})
PAGE_SEPARATOR = "\n\n"
_TITLE_CHARS = 200
_WORD = re.compile(r"[^\W\d_]{2,}")


# Lines that open many READMEs and source files but never name them.
# "Copyright Release for Contributions" is a title; "Copyright (c) 2020 ...", "Copyright 2020", "Copyright:" not.
_NOT_A_TITLE = re.compile(r"^(?:copyright(?:\s*$|\s*(?:\(c\)|©|\d{4}|by\b|notice\b|:))|\(c\)|©|all rights reserved"
                          r"|spdx-license-identifier|license\s*:)", re.IGNORECASE)
_UNDERLINE = re.compile(r"^(=|-|~|\*)\1{2,}$")
# Emacs's file variables ("GNU grep NEWS    -*- outline -*-", "-*-indented-text-*-") tell an editor the mode.
_MODE_LINE = re.compile(r"-\*-.*?-\*-")


def _first_line(text: str) -> str:
    """The first line that reads like a title; "" when none does (the caller falls back to the file name).

    A heading wins whatever its length: "# askdocs", or a line underlined with === or --- (setext). Other
    lines need two words, since scraped text often opens with stray fragments like "in ,". Copyright and
    licence lines and rules of punctuation are never titles.
    """
    lines = [line.strip() for line in text.splitlines()]
    fallback = ""
    for i, raw in enumerate(lines):
        line = _MODE_LINE.sub("", raw.lstrip("#")).strip()
        if not line or _NOT_A_TITLE.match(line) or not any(c.isalnum() for c in line):
            continue
        underlined = i + 1 < len(lines) and _UNDERLINE.match(lines[i + 1]) is not None
        if raw.startswith("#") or underlined or len(_WORD.findall(line)) >= 2:
            return line[:_TITLE_CHARS]
        fallback = fallback or line
    return fallback[:_TITLE_CHARS]


# Terminal formatting in text saved from a terminal (`man ls > ls.txt`, grotty's output as man-db ships its
# manual): SGR escapes ("\x1b[1m") and backspace overstrike ("N\bNA\bA" bold, "_\bx" underline). A reader sees the
# letters; a question's words must match them. Taken off before any offset is taken.
_SGR = re.compile(r"\x1b\[[0-9;]*m")
_OVERSTRUCK = re.compile(r"[^\n\b]\x08(?=[^\n\b])")


def load_text(data: bytes) -> Extracted:
    text, meta = decode_text_format(data)
    if "\x1b[" in text or "\x08" in text:
        text = _OVERSTRUCK.sub("", _SGR.sub("", text))
    return Extracted(text, help_title(text) or _first_line(text), blocks=text_structure(text), meta=meta)


_FRONT_MATTER = re.compile(r"\A---\n.*?\n---\n", re.DOTALL)


def load_markdown(data: bytes) -> Extracted:
    text, meta = decode_text_format(data)
    front_title, blocks = markdown_structure(text)
    heading = next((b for b in blocks if b.kind == "heading"), None)
    body = text[m.end():] if (m := _FRONT_MATTER.match(text)) else text
    title = front_title or (plain_heading(text[heading.start:heading.end]) if heading else _first_line(body))
    return Extracted(text, title[:_TITLE_CHARS], blocks=blocks, meta=meta)


def load_html(data: bytes) -> Extracted:
    markup, meta = decode_text_format(data)
    try:
        text, title, blocks = html_structure(markup)
    except Exception as exc:  # lxml raises several unrelated types for broken markup
        raise LoadError(f"unparseable HTML ({type(exc).__name__}: {exc})") from None
    return Extracted(text, (title.strip() or _first_line(text))[:_TITLE_CHARS], blocks=blocks, meta=meta)


def load_pdf(data: bytes, max_pages: int = MAX_PDF_PAGES, max_chars: int = MAX_TEXT_CHARS) -> Extracted:
    return paged_document(read_pdf_pages(data, max_pages, max_chars))


def read_pdf_pages(data: bytes, max_pages: int, max_chars: int) -> PdfText:
    from .ocr import pdf_page_reader
    from .pdf import read_pdf

    return read_pdf(data, max_pages, max_chars, ocr=pdf_page_reader())


def paged_document(read: PdfText) -> Extracted:
    """A document made of pages (a PDF, a scanned image): the pages joined by PAGE_SEPARATOR, and their blocks."""
    page_starts: list[int] = []
    parts: list[str] = []
    offset = 0
    for page in read.pages:
        page_starts.append(offset)
        parts.append(page.text)
        offset += len(page.text) + len(PAGE_SEPARATOR)
    text = PAGE_SEPARATOR.join(parts)
    blocks = pdf_structure(text, page_starts, read.outline)
    first = next((text[b.start:b.end] for b in blocks if b.kind != "furniture"), "")
    title = (read.title.strip() or _first_line(first or text))[:_TITLE_CHARS]
    labels = tuple(page.label for page in read.pages)
    # Labels only where the PDF gives pages names of their own: "1", "2", ... says nothing the page number does not.
    if all(label == str(n) or not label for n, label in enumerate(labels, 1)):
        labels = ()
    boxes = from_pages(read.pages, tuple(page_starts), len(text))
    return Extracted(text, title, tuple(page_starts), blocks, page_labels=labels, notes=tuple(read.notes),
                     page_boxes=boxes)


# The format registry: a file's suffix names its kind, the kind its loader, ``loader(data: bytes) -> Extracted``.
# index.formats reads the other kinds (its SUFFIXES are in SUPPORTED_SUFFIXES); a file without a suffix is read
# as text when it is text, NAME.gz is decompressed and read as NAME, and a manual page's name (ls.1) is read as one
# when its content is troff, an Info manual's (bash.info, find.info-1) when its content has Info nodes (file_kind).
LOADERS = {"text": load_text, "markdown": load_markdown, "html": load_html, "pdf": load_pdf}


def file_kind(name: str) -> str | None:
    """The kind a file of this name is read as; None for a type no loader reads.

    "" for a name without a suffix (README, COPYING), or a documentation file's name with a suffix no loader
    knows (README.Debian, TODO.ssp): text, if its content is. NAME.gz is read as NAME, and
    as text when NAME has no suffix or one no loader knows (changelog.Debian.gz); only its content decides.
    "man" for a manual page's name (ls.1, CA.pl.1ssl.gz, ls.man), which the content confirms: one that is not
    troff (app.log.1, a rotated log) is read as a name without a suffix is.
    """
    suffix = Path(name).suffix.lower()
    if suffix == COMPRESSED_SUFFIX:
        return _suffix_kind(Path(name[: -len(suffix)]).suffix.lower()) or ""
    if not suffix:
        return ""
    kind = _suffix_kind(suffix)
    # README.Debian, README.ssp, TODO.Debian, INSTALL.unix: a suffix no loader knows after a documentation file's
    # capitalised name says which README it is, not what format; every Debian package ships such files.
    return "" if kind is None and _DOC_NAME.match(name) else kind


# The names projects give their documentation files, in the capitals they are written in (not MANIFEST.sha256,
# not PACKAGES.versions: lists, not prose).
_DOC_NAME = re.compile(r"(?:README|NEWS|INSTALL|TODO|FAQ|BUGS|CHANGES|ChangeLog|HISTORY|AUTHORS|THANKS|HACKING|"
                       r"COPYING|LICEN[CS]E|NOTES|RELEASE[-_]NOTES|CONTRIBUTING|USAGE|FEATURES|PROBLEMS|PORTING|"
                       r"CREDITS|MAINTAINERS|SECURITY|UPGRADING|UPGRADE|MIGRATION)\.")


# The parts of a split Info manual: find.info-1, find.info-2 (their table is find.info).
_INFO_PART = re.compile(r"\.info-\d+")


def _suffix_kind(suffix: str) -> str | None:
    return SUPPORTED_SUFFIXES.get(suffix) or ("man" if MAN_SECTION_SUFFIX.fullmatch(suffix) else None) or \
        ("info" if _INFO_PART.fullmatch(suffix) else None)


def load_document(path: Path, doc_id: str, max_bytes: int, *, max_pdf_pages: int = MAX_PDF_PAGES,
                  max_text_chars: int = MAX_TEXT_CHARS, root: Path | None = None) -> Document:
    """``root``: the resolved folder a sidecar may resolve into (None: anywhere)."""
    kind = file_kind(path.name)
    if kind is None:
        raise LoadError(f"unsupported file type {path.suffix}", UNSUPPORTED)
    data, stat = read_regular(path, max_bytes)
    if not data.strip():
        raise LoadError("empty file", EMPTY)
    content = data
    if path.suffix.lower() == COMPRESSED_SUFFIX:
        content = gunzip(data, max_bytes)
        if not content.strip():
            raise LoadError("empty file (once decompressed)", EMPTY)
    what = f"{Path(path.name).suffix} (compressed)" if path.suffix.lower() == COMPRESSED_SUFFIX else \
        f"{path.suffix} after a documentation file's name" if path.suffix else "without an extension"
    if kind in _UNCONFIRMED and not _content_confirms(kind, content):
        kind, what = "", _UNCONFIRMED[kind].format(suffix=Path(_inner_name(path)).suffix)
    if kind == "":  # no suffix, or a compressed file of no known type: text if its content is
        try:
            decode_text(content)
        except NotText as exc:
            raise LoadError(f"unsupported file type: {what}, and not text ({exc})", UNSUPPORTED) from None
        kind = "text"
    if kind in ("pdf", "image"):
        from .ocr import read_image_pages

        read = (read_pdf_pages(content, max_pdf_pages, max_text_chars) if kind == "pdf"
                else read_image_pages(content, max_pdf_pages, max_text_chars))
        extracted = paged_document(read)
        if kind == "image":
            # One picture has no pages to cite; its boxes are not kept (they are a PDF's, for its page view).
            one = len(extracted.page_starts) == 1
            extracted = replace(extracted, page_starts=() if one else extracted.page_starts, page_boxes=None)
    elif kind in LOADERS:
        extracted = LOADERS[kind](content)
    else:
        extracted = load_format(kind, content, max_text_chars)
    text, notes = extracted.text, extracted.notes
    check_blocks(text, extracted.blocks)
    if len(text) > max_text_chars:
        raise LoadError(too_much_text(max_text_chars), TOO_LARGE)
    if not text.strip():
        raise LoadError("; ".join(notes) if notes else "no extractable text", EMPTY)
    from .metadata import document_metadata

    document = Document(
        doc_id=doc_id,
        title=extracted.title.strip() or _name_title(path),
        source=str(path),
        sha256=hashlib.sha256(data).hexdigest(),
        text=text,
        kind=kind,
        size=stat.st_size,
        mtime=stat.st_mtime,
        page_starts=extracted.page_starts,
        meta={**extracted.meta, **document_metadata(path, text, kind, root)},
        blocks=tuple(extracted.blocks),
        locators=extracted.locators,
        page_labels=extracted.page_labels,
        notes=notes,
        page_boxes=extracted.page_boxes,
    )
    if extracted.attachments:
        from .formats.attachments import attachment_documents

        document = replace(document, attachments=attachment_documents(document, extracted.attachments,
                                                                      max_text_chars))
    return document


# Kinds a name only suggests (ls.1, bash.info): the content must confirm it. What a file that does not is called
# when it is not text either: a rotated log named app.log.1, PKG-INFO-like metadata named x.info.
_UNCONFIRMED = {"man": "{suffix} (not a manual page)", "info": "{suffix}, not an Info manual"}


def _content_confirms(kind: str, content: bytes) -> bool:
    if kind == "man":
        from .formats.man import is_man_page

        return is_man_page(content)
    from .formats.info import looks_like_info

    return looks_like_info(content)


def _inner_name(path: Path) -> str:
    """The file's name without ``.gz``: the name its content is read by."""
    return path.name[: -len(COMPRESSED_SUFFIX)] if path.suffix.lower() == COMPRESSED_SUFFIX else path.name


def _name_title(path: Path) -> str:
    """The title of last resort: the file's name without its type (README.gz -> README)."""
    name = _inner_name(path)
    stem = Path(name).stem if _suffix_kind(Path(name).suffix.lower()) else name
    return (stem or name)[:_TITLE_CHARS]
