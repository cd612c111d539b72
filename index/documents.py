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
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .extract import (html_structure, markdown_structure, pdf_structure,
                      text_structure)
from .structure import Block, check_blocks

if TYPE_CHECKING:  # index.pdf imports this module (LoadError)
    from .pdf import PdfText

SUPPORTED_SUFFIXES = {".txt": "text", ".md": "markdown", ".markdown": "markdown", ".html": "html", ".htm": "html", ".pdf": "pdf"}
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


class LoadError(Exception):
    """A file that cannot become a document; the message is the reason shown in the build summary."""


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
    # Each page's own label ("iv", "9") where a PDF defines labels; empty otherwise (see page_label_at).
    page_labels: tuple[str, ...] = ()
    # What the build summary says about this file beyond "indexed": pages read by OCR, pages with no text.
    # Not stored: they describe one reading of the file.
    notes: tuple[str, ...] = ()

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


def _normalise_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _decode_utf8(data: bytes) -> str:
    if b"\x00" in data:
        raise LoadError("binary file (contains NUL bytes)")
    try:
        return _normalise_newlines(data.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise LoadError(f"not UTF-8 text (invalid byte at offset {exc.start})") from None


def _first_line(text: str) -> str:
    """The first line that reads like a title: scraped text often opens with stray fragments like "in ,"."""
    fallback = ""
    for line in text.splitlines():
        line = line.strip().lstrip("#").strip()
        if not line:
            continue
        fallback = fallback or line
        if len(_WORD.findall(line)) >= 2:
            return line[:_TITLE_CHARS]
    return fallback[:_TITLE_CHARS]


Loaded = tuple[str, str, tuple[int, ...], list[Block]]  # text, title, page starts, blocks


def load_text(data: bytes) -> Loaded:
    text = _decode_utf8(data)
    return text, _first_line(text), (), text_structure(text)


_FRONT_MATTER = re.compile(r"\A---\n.*?\n---\n", re.DOTALL)


def load_markdown(data: bytes) -> Loaded:
    text = _decode_utf8(data)
    front_title, blocks = markdown_structure(text)
    heading = next((b for b in blocks if b.kind == "heading"), None)
    body = text[m.end():] if (m := _FRONT_MATTER.match(text)) else text
    title = front_title or (text[heading.start:heading.end] if heading else _first_line(body))
    return text, title[:_TITLE_CHARS], (), blocks


def load_html(data: bytes) -> Loaded:
    markup = _decode_html(data)
    try:
        text, title, blocks = html_structure(markup)
    except Exception as exc:  # lxml raises several unrelated types for broken markup
        raise LoadError(f"unparseable HTML ({type(exc).__name__}: {exc})") from None
    return text, (title.strip() or _first_line(text))[:_TITLE_CHARS], (), blocks


def _decode_html(data: bytes) -> str:
    if b"\x00" in data:
        raise LoadError("binary file (contains NUL bytes)")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        # HTML often declares a legacy charset; latin-1 never fails, and lxml reads the markup as text.
        return data.decode("latin-1")


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
    return Paged((text, title, tuple(page_starts), blocks), labels, tuple(read.notes))


def too_much_text(max_chars: int, where: str = "") -> str:
    return f"too much text (over {max_chars:,} characters{where}; limit max_text_chars)"


LOADERS = {"text": load_text, "markdown": load_markdown, "html": load_html, "pdf": load_pdf}


def load_document(path: Path, doc_id: str, max_bytes: int, *, max_pdf_pages: int = MAX_PDF_PAGES,
                  max_text_chars: int = MAX_TEXT_CHARS, root: Path | None = None) -> Document:
    """``root``: the resolved folder a sidecar may resolve into (None: anywhere)."""
    kind = SUPPORTED_SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise LoadError(f"unsupported file type {path.suffix or '(none)'}")
    data, stat = read_regular(path, max_bytes)
    if not data.strip():
        raise LoadError("empty file")
    page_labels: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    if kind in ("pdf", "image"):
        from .ocr import read_image_pages

        read = (read_pdf_pages(data, max_pdf_pages, max_text_chars) if kind == "pdf"
                else read_image_pages(data, max_pdf_pages, max_text_chars))
        paged = paged_document(read)
        (text, title, page_starts, blocks), page_labels, notes = paged.loaded, paged.page_labels, paged.notes
        if kind == "image" and len(page_starts) == 1:
            page_starts = ()  # one picture has no pages to cite
    else:
        text, title, page_starts, blocks = LOADERS[kind](data)
    check_blocks(text, blocks)
    if len(text) > max_text_chars:
        raise LoadError(too_much_text(max_text_chars))
    if not text.strip():
        raise LoadError("; ".join(notes) if notes else "no extractable text")
    from .metadata import document_metadata

    return Document(
        doc_id=doc_id,
        title=title,
        source=str(path),
        sha256=hashlib.sha256(data).hexdigest(),
        text=text,
        kind=kind,
        size=stat.st_size,
        mtime=stat.st_mtime,
        page_starts=page_starts,
        meta=document_metadata(path, text, kind, root),
        blocks=tuple(blocks),
        page_labels=page_labels,
        notes=notes,
    )


def _too_large(size: int, max_bytes: int) -> LoadError:
    return LoadError(f"too large ({_megabytes(size)} > {_megabytes(max_bytes)} limit)")


def _megabytes(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e6 else f"{n / 1e3:.0f} KB"


def _require_regular(st: os.stat_result) -> None:
    if not stat_module.S_ISREG(st.st_mode):
        kind = _FILE_TYPES.get(stat_module.S_IFMT(st.st_mode), "special file")
        raise LoadError(f"not a regular file ({kind})")


def _open_regular(path: Path, max_bytes: int) -> tuple[int, os.stat_result]:
    """An fd on ``path`` if it is a regular file of at most ``max_bytes``, else LoadError.

    The stat before opening keeps devices from being opened at all (opening some has side effects); the
    fstat after it is the check that counts, since the path may have been swapped in between. O_NONBLOCK:
    opening a FIFO must not wait for a writer.
    """
    try:
        _require_regular(os.stat(path))
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as exc:
        raise LoadError(f"unreadable ({exc.strerror or exc})") from None
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
        raise LoadError(f"unreadable ({exc.strerror or exc})") from None
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
        raise LoadError(f"unreadable ({exc.strerror or exc})") from None
    finally:
        os.close(fd)
    if read > max_bytes:
        raise _too_large(read, max_bytes)
    return digest.hexdigest()


def corpus_root(paths: list[Path]) -> Path:
    """The folder document ids are relative to: the folder itself, or the common parent of several paths."""
    resolved = [p.absolute() for p in paths]
    if len(resolved) == 1:
        return resolved[0] if resolved[0].is_dir() else resolved[0].parent
    return Path(os.path.commonpath([p if p.is_dir() else p.parent for p in resolved]))


def iter_files(paths: list[Path], follow_outside_links: bool = False,
               ) -> Iterator[tuple[Path, str, Path | None] | Skipped]:
    """Yield (path, doc_id, root) for every supported file under ``paths``, in a stable order, or a Skipped.

    ``root`` is the resolved path given (a symlink named on the command line is followed): a symlink found
    in the walk must resolve inside it unless ``follow_outside_links``, in which case ``root`` is None.
    """
    root = corpus_root(paths)
    seen: set[str] = set()
    for top in paths:
        if not os.path.lexists(top):
            yield Skipped(str(top), "no such file or directory")
            continue
        try:
            real_top = Path(os.path.realpath(top, strict=True))
        except OSError:
            yield Skipped(str(top), "broken or looping symlink")
            continue
        is_dir = real_top.is_dir()
        # A file named on its own may have a sidecar beside it: its folder is the root for that.
        limit = None if follow_outside_links else real_top if is_dir else real_top.parent
        candidates = _walk(top, real_top, root, follow_outside_links) if is_dir else [top]
        for path in candidates:
            if isinstance(path, Skipped):
                yield path
                continue
            if path.suffix.lower() not in SUPPORTED_SUFFIXES:
                continue
            doc_id = path.absolute().relative_to(root).as_posix()
            if (bad := _bad_name(doc_id)) is not None:
                yield Skipped(_shown(path), bad)
                continue
            if doc_id in seen:
                continue
            seen.add(doc_id)
            yield path, doc_id, limit


def _bad_name(name: str) -> str | None:
    """Why a name cannot be a document id: ids go into SQLite, JSON, filters and one-line summaries."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return "file name is not valid UTF-8"
    if any(ord(c) < 32 or 127 <= ord(c) < 160 for c in name):
        return f"file name contains control characters ({os.path.basename(name)!r})"
    return None


def _shown(path: Path | str) -> str:
    """``path`` printable on one line: undecodable bytes as \\x.., control characters escaped."""
    text = os.fsencode(path).decode("utf-8", "backslashreplace")
    return text if text.isprintable() else repr(text)[1:-1]


def inside_folder(path: str | Path, folder: str | Path) -> bool:
    return os.path.commonpath([path, folder]) == str(folder)


def _walk(top: Path, real_top: Path, root: Path, follow_outside_links: bool) -> Iterator[Path | Skipped]:
    """Files under ``top``, each folder's files in name order before its subfolders (as os.walk, top down).

    Iterative, so no depth of nesting can exhaust the stack. Symlinked folders are followed; a folder already
    walked (by device and inode) is not walked again, which is what keeps a symlink loop from trapping it.
    """
    top_stat = os.stat(top)
    walked: dict[tuple[int, int], Path] = {(top_stat.st_dev, top_stat.st_ino): top}
    stack = [top]
    while stack:
        folder = stack.pop()
        try:
            with os.scandir(folder) as scan:
                entries = sorted(scan, key=lambda e: e.name)
        except OSError as exc:
            prefix = folder.absolute().relative_to(root).as_posix()
            yield Skipped(_shown(folder), f"unreadable folder ({exc.strerror or exc})",
                          unread_folder="" if prefix == "." else prefix)
            continue
        subfolders: list[Path] = []
        for entry in entries:
            if entry.name.startswith("."):
                continue
            path = folder / entry.name
            supported = path.suffix.lower() in SUPPORTED_SUFFIXES
            is_link, is_dir, own = False, False, None
            try:
                is_link = entry.is_symlink()
                if is_link:
                    target_stat = os.stat(path)
                    is_dir = stat_module.S_ISDIR(target_stat.st_mode)
                else:
                    is_dir = entry.is_dir(follow_symlinks=False)
                    own = entry.stat(follow_symlinks=False) if is_dir else None
            except OSError as exc:
                if is_link:
                    if supported:
                        yield Skipped(_shown(path), "broken or looping symlink")
                elif is_dir:  # e.g. a path past PATH_MAX
                    prefix = path.absolute().relative_to(root).as_posix()
                    yield Skipped(_shown(path), f"unreadable folder ({exc.strerror or exc})", unread_folder=prefix)
                elif supported:
                    yield Skipped(_shown(path), f"unreadable ({exc.strerror or exc})")
                continue
            if is_dir and (bad := _bad_name(entry.name)) is not None:
                yield Skipped(_shown(path), bad.replace("file name", "folder name"))
                continue
            if is_link:
                target = os.path.realpath(path)
                if not follow_outside_links and not inside_folder(target, real_top):
                    if supported or is_dir:
                        yield Skipped(_shown(path), f"symlink to {_shown(target)} outside the indexed folder "
                                      f"{_shown(real_top)} (see follow_outside_links)")
                    continue
                if is_dir:
                    key = (target_stat.st_dev, target_stat.st_ino)
                    if key in walked:
                        yield Skipped(_shown(path), f"symlink loop or duplicate: {_shown(target)} is already "
                                      f"indexed as {_shown(walked[key])}")
                        continue
                    walked[key] = path
            elif own is not None:
                walked.setdefault((own.st_dev, own.st_ino), path)
            if is_dir:
                subfolders.append(path)
            else:
                yield path
        stack.extend(reversed(subfolders))
