"""What a file becomes, and reading one safely: the ``Extracted``, ``Attachment``, ``Document`` and ``Skipped``
records, why a file is not indexed (``LoadError`` and the skip categories), bounded reads of regular files and
of gzip, the text of a text format's bytes.

The bottom of the loaders: ``index.documents`` (which reads each kind), ``index.formats``, ``index.pdf``,
``index.ocr`` and ``index.metadata`` all build on it, and it on none of them.
"""

from __future__ import annotations

import bisect
import hashlib
import os
import stat as stat_module
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .decoding import NotText, decode_text
from .errors import BadInput

if TYPE_CHECKING:
    from .locators import Locators
    from .page_boxes import PageBoxes
    from .structure import Block

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

    code = "unreadable"

    def __init__(self, reason: str, category: str = UNREADABLE):
        super().__init__(reason, category)


@dataclass(frozen=True)
class Extracted:
    """What a loader makes of a file's bytes: the text to store, its title, and what is known of its parts.

    Every loader returns one (text, Markdown, HTML, PDF and images in ``index.documents``, the other kinds in
    ``index.formats``). Why this is not ``Document``: a loader sees bytes, not a file of a corpus, so it knows no
    doc id, path, hash, size or time, and an e-mail's attachments are not documents yet; ``load_document`` adds
    those.
    """

    text: str
    title: str  # "" for none: the file name is used
    page_starts: tuple[int, ...] = ()  # as Document.page_starts
    blocks: Sequence[Block] = ()
    # What the format says about the file itself (an encoding other than UTF-8): kept on the document's meta,
    # so its keys must be in FORMAT_META_KEYS.
    meta: dict = field(default_factory=dict)
    locators: Locators | None = None
    # E-mail: the attachments that were read, each to become a document of its own.
    attachments: tuple[Attachment, ...] = ()
    page_labels: tuple[str, ...] = ()  # as Document.page_labels
    notes: tuple[str, ...] = ()  # as Document.notes
    page_boxes: PageBoxes | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Attachment:
    """An attachment an e-mail loader read. Why this is not ``Document``: it has no id, path or time of its own
    until the mail it came in is a document (``index.formats.attachments.attachment_documents``)."""

    name: str  # unique within its message
    kind: str  # a value of index.documents.SUPPORTED_SUFFIXES
    sha256: str
    size: int
    extracted: Extracted


@dataclass(frozen=True)
class Document:
    """A file of the corpus as it is indexed: what its loader extracted, and which file that was.

    The loaders make it (``index.documents.load_document``), and so does an incremental build for a file it takes
    over unread; the chunker and the build read it, and the store keeps it as a ``DocumentRow``.
    """

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
    """A file that did not become a document, and why (the build summary, the manifest's file counts)."""

    path: str
    reason: str
    # An unreadable folder's doc-id prefix ("" for the corpus root): what an incremental build keeps from the
    # previous generation instead of counting it as removed.
    unread_folder: str | None = None
    category: str = UNREADABLE


def normalise_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def decode_text_format(data: bytes) -> tuple[str, dict]:
    """(text, format metadata) of a text format's bytes, newlines normalised.

    The encoding is recorded when it is not UTF-8: the exception worth seeing (and filtering on) is a file
    read as cp1252 or UTF-16, and documents that were always UTF-8 keep exactly the metadata they had.
    """
    try:
        text, encoding = decode_text(data)
    except NotText as exc:
        raise LoadError(str(exc), BINARY) from None
    return normalise_newlines(text), {} if encoding == "utf-8" else {"encoding": encoding}


def too_much_text(max_chars: int, where: str = "") -> str:
    return f"too much text (over {max_chars:,} characters{where}; limit max_text_chars)"


# Keys a loader's metadata may set on a document. They are not front matter or sidecar values, so an unchanged
# file taken over by an incremental build keeps them from the stored document (incremental.Previous).
FORMAT_META_KEYS = {"encoding"}
COMPRESSED_SUFFIX = ".gz"


def gunzip(data: bytes, max_bytes: int) -> bytes:
    """The decompressed content, at most ``max_bytes`` of it: a few KB of gzip can inflate to gigabytes."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)  # 16: the gzip header and trailer
    try:
        out = inflater.decompress(data, max_bytes + 1)
        if len(out) > max_bytes:
            raise too_large(len(out), max_bytes, " once decompressed")
        if not inflater.eof:
            raise LoadError("corrupt gzip file (truncated)")
    except zlib.error as exc:
        raise LoadError(f"corrupt gzip file ({exc})") from None
    return out


def too_large(size: int, max_bytes: int, what: str = "") -> LoadError:
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
            raise too_large(st.st_size, max_bytes)
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
        raise too_large(len(data), max_bytes)
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
        raise too_large(read, max_bytes)
    return digest.hexdigest()


def inside_folder(path: str | Path, folder: str | Path) -> bool:
    return os.path.commonpath([path, folder]) == str(folder)
