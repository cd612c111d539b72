"""Documents and the loaders that turn files into them.

A ``Document``'s ``text`` is the reference every citation points into: offsets are
always offsets in this stored text, never in the raw file bytes.
"""

from __future__ import annotations

import bisect
import hashlib
import os
import re
import stat as stat_module
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from .decoding import NotText, decode_text
from .errors import BadInput
from .extract import html_structure, markdown_structure, pdf_structure, text_structure
from .formats import SUFFIXES as FORMAT_SUFFIXES
from .formats import load_format
from .locators import Locators
from .page_boxes import PageBoxes, from_pages
from .structure import Block, check_blocks

if TYPE_CHECKING:  # index.pdf imports this module (LoadError)
    from .pdf import PdfText

SUPPORTED_SUFFIXES = {".txt": "text", ".md": "markdown", ".markdown": "markdown", ".html": "html", ".htm": "html",
                      ".pdf": "pdf", **FORMAT_SUFFIXES}
# Pictures of text (scans, screenshots), read by OCR (index.ocr).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp")
SUPPORTED_SUFFIXES.update({suffix: "image" for suffix in IMAGE_SUFFIXES})
PAGE_SEPARATOR = "\n\n"
_TITLE_CHARS = 200
_WORD = re.compile(r"[^\W\d_]{2,}")
# Defaults of Settings.max_pdf_pages / max_text_chars, for callers that load one file without settings.
MAX_PDF_PAGES = 5_000
MAX_TEXT_CHARS = 20_000_000
_FILE_TYPES = {
    stat_module.S_IFIFO: "FIFO", stat_module.S_IFCHR: "character device", stat_module.S_IFBLK: "block device",
    stat_module.S_IFSOCK: "socket", stat_module.S_IFDIR: "folder",
}


# Why a file was not indexed, as the build summary groups them (BuildReport, the manifest's "files").
UNSUPPORTED, HIDDEN, EXCLUDED, SYMLINK = "unsupported type", "hidden", "excluded", "symlink not followed"
EMPTY, TOO_LARGE, BINARY, CORRUPT, UNREADABLE = "empty", "too large", "binary", "corrupt", "unreadable"
BAD_NAME, DUPLICATE = "bad name", "duplicate"


class LoadError(BadInput):
    """A file that cannot become a document; the message is the reason shown in the build summary."""

    code = "unloadable"

    def __init__(self, reason: str, category: str = CORRUPT):
        super().__init__(reason)
        self.category = category


class Unreadable(LoadError):
    """The file exists but could not be read (permissions, an I/O error): says nothing about its content."""

    def __init__(self, reason: str, category: str = UNREADABLE):
        super().__init__(reason, category)


@dataclass(frozen=True)
class Document:
    doc_id: str
    title: str
    source: str
    sha256: str
    text: str
    kind: str
    size: int
    mtime: float
    # Char offset where each PDF page starts in ``text``; empty for formats without pages.
    page_starts: tuple[int, ...] = ()
    meta: dict = field(default_factory=dict)
    # Typed spans of ``text`` in order (index.structure): headings, paragraphs, ..., and page furniture.
    # Empty for documents made without structure (a BEIR corpus, an index built before structure was kept).
    blocks: tuple[Block, ...] = ()
    # Slides of a deck, rows of a spreadsheet (index.locators); None for other formats.
    locators: Locators | None = None
    # An e-mail's attachments, each a document of its own (index.formats.attachments); indexed after it.
    attachments: tuple[Document, ...] = ()
    # Each page's own label ("iv", "9") where a PDF defines labels; empty otherwise (see page_label_at).
    page_labels: tuple[str, ...] = ()
    # What the build summary says about this file beyond "indexed": pages read by OCR, pages with no text.
    # Not stored: they describe one reading of the file.
    notes: tuple[str, ...] = ()
    # Where each character of a PDF's text is drawn (index.page_boxes); saved beside the index by the build,
    # not in the chunk store. None for other formats.
    page_boxes: PageBoxes | None = field(default=None, compare=False, repr=False)

    def page_at(self, char_offset: int) -> int | None:
        if not self.page_starts:
            return None
        return max(1, bisect.bisect_right(self.page_starts, char_offset))

    def page_label_at(self, char_offset: int) -> str | None:
        page = self.page_at(char_offset)
        return (self.page_labels[page - 1] or None) if page and len(self.page_labels) >= page else None


@dataclass(frozen=True)
class Skipped:
    path: str
    reason: str
    # An unreadable folder's doc-id prefix ("" for the corpus root): what an incremental build keeps from the
    # previous generation instead of counting it as removed.
    unread_folder: str | None = None
    category: str = UNREADABLE


def _normalise_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _decode(data: bytes) -> tuple[str, dict]:
    """(text, format metadata) of a text format's bytes, newlines normalised.

    The encoding is recorded when it is not UTF-8: the exception worth seeing (and filtering on) is a file
    read as cp1252 or UTF-16, and documents that were always UTF-8 keep exactly the metadata they had.
    """
    try:
        text, encoding = decode_text(data)
    except NotText as exc:
        raise LoadError(str(exc), BINARY) from None
    return _normalise_newlines(text), {} if encoding == "utf-8" else {"encoding": encoding}


# Lines that open many READMEs and source files but never name them.
# "Copyright Release for Contributions" is a title; "Copyright (c) 2020 ...", "Copyright 2020", "Copyright:" not.
_NOT_A_TITLE = re.compile(r"^(?:copyright(?:\s*$|\s*(?:\(c\)|©|\d{4}|by\b|notice\b|:))|\(c\)|©|all rights reserved"
                          r"|spdx-license-identifier|license\s*:)", re.IGNORECASE)
_UNDERLINE = re.compile(r"^(=|-|~|\*)\1{2,}$")


def _first_line(text: str) -> str:
    """The first line that reads like a title; "" when none does (the caller falls back to the file name).

    A heading wins whatever its length: "# askdocs", or a line underlined with === or --- (setext). Other
    lines need two words, since scraped text often opens with stray fragments like "in ,". Copyright and
    licence lines and rules of punctuation are never titles.
    """
    lines = [line.strip() for line in text.splitlines()]
    fallback = ""
    for i, raw in enumerate(lines):
        line = raw.lstrip("#").strip()
        if not line or _NOT_A_TITLE.match(line) or not any(c.isalnum() for c in line):
            continue
        underlined = i + 1 < len(lines) and _UNDERLINE.match(lines[i + 1]) is not None
        if raw.startswith("#") or underlined or len(_WORD.findall(line)) >= 2:
            return line[:_TITLE_CHARS]
        fallback = fallback or line
    return fallback[:_TITLE_CHARS]


# text, title ("" for none: the file name is used), page starts, blocks, and optionally a dict of format
# metadata (kept on the document's meta; its keys must be listed in FORMAT_META_KEYS).
Loaded = tuple[str, str, tuple[int, ...], list[Block]] | tuple[str, str, tuple[int, ...], list[Block], dict]


def load_text(data: bytes) -> Loaded:
    text, meta = _decode(data)
    return text, _first_line(text), (), text_structure(text), meta


_FRONT_MATTER = re.compile(r"\A---\n.*?\n---\n", re.DOTALL)


def load_markdown(data: bytes) -> Loaded:
    text, meta = _decode(data)
    front_title, blocks = markdown_structure(text)
    heading = next((b for b in blocks if b.kind == "heading"), None)
    body = text[m.end():] if (m := _FRONT_MATTER.match(text)) else text
    title = front_title or (text[heading.start:heading.end] if heading else _first_line(body))
    return text, title[:_TITLE_CHARS], (), blocks, meta


def load_html(data: bytes) -> Loaded:
    markup, meta = _decode(data)
    try:
        text, title, blocks = html_structure(markup)
    except Exception as exc:  # lxml raises several unrelated types for broken markup
        raise LoadError(f"unparseable HTML ({type(exc).__name__}: {exc})") from None
    return text, (title.strip() or _first_line(text))[:_TITLE_CHARS], (), blocks, meta


def load_pdf(data: bytes, max_pages: int = MAX_PDF_PAGES, max_chars: int = MAX_TEXT_CHARS) -> Loaded:
    return paged_document(read_pdf_pages(data, max_pages, max_chars)).loaded


def read_pdf_pages(data: bytes, max_pages: int, max_chars: int) -> PdfText:
    from .ocr import pdf_page_reader
    from .pdf import read_pdf

    return read_pdf(data, max_pages, max_chars, ocr=pdf_page_reader())


@dataclass(frozen=True)
class Paged:
    loaded: Loaded
    page_labels: tuple[str, ...]
    notes: tuple[str, ...]
    page_boxes: PageBoxes | None = None


def paged_document(read: PdfText) -> Paged:
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
    return Paged((text, title, tuple(page_starts), blocks), labels, tuple(read.notes), boxes)


def too_much_text(max_chars: int, where: str = "") -> str:
    return f"too much text (over {max_chars:,} characters{where}; limit max_text_chars)"


# The format registry: a file's suffix names its kind, the kind its loader, ``loader(data: bytes) -> Loaded``.
# index.formats reads the other kinds (its SUFFIXES are in SUPPORTED_SUFFIXES); a file without a suffix is read
# as text when it is text, and NAME.gz is decompressed and read as NAME (file_kind).
LOADERS = {"text": load_text, "markdown": load_markdown, "html": load_html, "pdf": load_pdf}
# Keys a loader's metadata may set on a document. They are not front matter or sidecar values, so an unchanged
# file taken over by an incremental build keeps them from the stored document (incremental.Previous).
FORMAT_META_KEYS = {"encoding"}
COMPRESSED_SUFFIX = ".gz"


def file_kind(name: str) -> str | None:
    """The kind a file of this name is read as; None for a type no loader reads.

    "" for a name without a suffix (README, COPYING): text, if its content is. NAME.gz is read as NAME, and
    as text when NAME has no suffix or one no loader knows (changelog.Debian.gz); only its content decides.
    """
    suffix = Path(name).suffix.lower()
    if suffix == COMPRESSED_SUFFIX:
        inner = Path(name[: -len(suffix)]).suffix.lower()
        return SUPPORTED_SUFFIXES.get(inner, "")
    if not suffix:
        return ""
    return SUPPORTED_SUFFIXES.get(suffix)


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
        content = _gunzip(data, max_bytes)
        if not content.strip():
            raise LoadError("empty file (once decompressed)", EMPTY)
    if kind == "":  # no suffix, or a compressed file of no known type: text if its content is
        try:
            decode_text(content)
        except NotText as exc:
            what = f"{Path(path.name).suffix} (compressed)" if path.suffix.lower() == COMPRESSED_SUFFIX else \
                "without an extension"
            raise LoadError(f"unsupported file type: {what}, and not text ({exc})", UNSUPPORTED) from None
        kind = "text"
    locators, attachments, format_meta = None, (), {}
    page_labels: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    page_boxes = None
    if kind in ("pdf", "image"):
        from .ocr import read_image_pages

        read = (read_pdf_pages(content, max_pdf_pages, max_text_chars) if kind == "pdf"
                else read_image_pages(content, max_pdf_pages, max_text_chars))
        paged = paged_document(read)
        (text, title, page_starts, blocks), page_labels, notes = paged.loaded, paged.page_labels, paged.notes
        page_boxes = paged.page_boxes if kind == "pdf" else None
        if kind == "image" and len(page_starts) == 1:
            page_starts = ()  # one picture has no pages to cite
    elif kind in LOADERS:
        loaded = LOADERS[kind](content)
        text, title, page_starts, blocks = loaded[:4]
        format_meta = loaded[4] if len(loaded) > 4 else {}
    else:
        text, title, page_starts, blocks, locators, attachments = load_format(kind, content, max_text_chars)
    check_blocks(text, blocks)
    if len(text) > max_text_chars:
        raise LoadError(too_much_text(max_text_chars), TOO_LARGE)
    if not text.strip():
        raise LoadError("; ".join(notes) if notes else "no extractable text", EMPTY)
    from .metadata import document_metadata

    document = Document(
        doc_id=doc_id,
        title=title.strip() or _name_title(path),
        source=str(path),
        sha256=hashlib.sha256(data).hexdigest(),
        text=text,
        kind=kind,
        size=stat.st_size,
        mtime=stat.st_mtime,
        page_starts=page_starts,
        meta={**format_meta, **document_metadata(path, text, kind, root)},
        blocks=tuple(blocks),
        locators=locators,
        page_labels=page_labels,
        notes=notes,
        page_boxes=page_boxes,
    )
    if attachments:
        from .formats.attachments import attachment_documents

        document = replace(document, attachments=attachment_documents(document, attachments, max_text_chars))
    return document


def _name_title(path: Path) -> str:
    """The title of last resort: the file's name without its type (README.gz -> README)."""
    name = path.name[: -len(COMPRESSED_SUFFIX)] if path.suffix.lower() == COMPRESSED_SUFFIX else path.name
    stem = Path(name).stem if Path(name).suffix.lower() in SUPPORTED_SUFFIXES else name
    return (stem or name)[:_TITLE_CHARS]


def _gunzip(data: bytes, max_bytes: int) -> bytes:
    """The decompressed content, at most ``max_bytes`` of it: a few KB of gzip can inflate to gigabytes."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)  # 16: the gzip header and trailer
    try:
        out = inflater.decompress(data, max_bytes + 1)
        if len(out) > max_bytes:
            raise _too_large(len(out), max_bytes, " once decompressed")
        if not inflater.eof:
            raise LoadError("corrupt gzip file (truncated)")
    except zlib.error as exc:
        raise LoadError(f"corrupt gzip file ({exc})") from None
    return out


def _too_large(size: int, max_bytes: int, what: str = "") -> LoadError:
    return LoadError(f"too large ({_megabytes(size)}{what} > {_megabytes(max_bytes)} limit)", TOO_LARGE)


def _megabytes(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e6 else f"{n / 1e3:.0f} KB"


def _require_regular(st: os.stat_result) -> None:
    if not stat_module.S_ISREG(st.st_mode):
        kind = _FILE_TYPES.get(stat_module.S_IFMT(st.st_mode), "special file")
        raise LoadError(f"not a regular file ({kind})", UNREADABLE)


def _open_regular(path: Path, max_bytes: int) -> tuple[int, os.stat_result]:
    """An fd on ``path`` if it is a regular file of at most ``max_bytes``, else LoadError.

    The stat before opening keeps devices from being opened at all (opening some has side effects); the
    fstat after it is the check that counts, since the path may have been swapped in between. O_NONBLOCK:
    opening a FIFO must not wait for a writer.
    """
    try:
        _require_regular(os.stat(path))
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise LoadError("vanished while the build ran", UNREADABLE) from None
    except OSError as exc:
        raise Unreadable(f"unreadable ({exc.strerror or exc})") from None
    try:
        st = os.fstat(fd)
        _require_regular(st)
        if st.st_size > max_bytes:
            raise _too_large(st.st_size, max_bytes)
    except BaseException:
        os.close(fd)
        raise
    return fd, st


def _read_blocks(fd: int, limit: int) -> Iterator[bytes]:
    # Never more than ``limit`` bytes, whatever the size said: a file can grow while it is read.
    while limit > 0 and (block := os.read(fd, min(limit, 1 << 20))):
        limit -= len(block)
        yield block


def read_regular(path: Path, max_bytes: int) -> tuple[bytes, os.stat_result]:
    """The bytes of a regular file of at most ``max_bytes`` (LoadError otherwise), and its stat."""
    fd, st = _open_regular(path, max_bytes)
    try:
        data = b"".join(_read_blocks(fd, max_bytes + 1))
    except OSError as exc:
        raise Unreadable(f"unreadable ({exc.strerror or exc})") from None
    finally:
        os.close(fd)
    if len(data) > max_bytes:
        raise _too_large(len(data), max_bytes)
    return data, st


def sha256_regular(path: Path, max_bytes: int) -> str:
    """sha256 of a regular file of at most ``max_bytes``, streamed; LoadError for anything else."""
    fd, _ = _open_regular(path, max_bytes)
    digest, read = hashlib.sha256(), 0
    try:
        for block in _read_blocks(fd, max_bytes + 1):
            digest.update(block)
            read += len(block)
    except OSError as exc:
        raise LoadError(f"unreadable ({exc.strerror or exc})", UNREADABLE) from None
    finally:
        os.close(fd)
    if read > max_bytes:
        raise _too_large(read, max_bytes)
    return digest.hexdigest()


def inside_folder(path: str | Path, folder: str | Path) -> bool:
    return os.path.commonpath([path, folder]) == str(folder)
