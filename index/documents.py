"""Documents and the loaders that turn files into them.

A ``Document``'s ``text`` is the reference every citation points into: offsets are
always offsets in this stored text, never in the raw file bytes.
"""

from __future__ import annotations

import bisect
import hashlib
import io
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

SUPPORTED_SUFFIXES = {".txt": "text", ".md": "markdown", ".markdown": "markdown", ".html": "html", ".htm": "html", ".pdf": "pdf"}
PAGE_SEPARATOR = "\n\n"
_TITLE_CHARS = 200
_WORD = re.compile(r"[^\W\d_]{2,}")


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

    def page_at(self, char_offset: int) -> int | None:
        if not self.page_starts:
            return None
        return max(1, bisect.bisect_right(self.page_starts, char_offset))


@dataclass(frozen=True)
class Skipped:
    path: str
    reason: str


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


def load_text(data: bytes) -> tuple[str, str, tuple[int, ...]]:
    text = _decode_utf8(data)
    return text, _first_line(text), ()


_MD_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)
_FRONT_MATTER = re.compile(r"\A---\n.*?\n---\n", re.DOTALL)


def load_markdown(data: bytes) -> tuple[str, str, tuple[int, ...]]:
    text = _decode_utf8(data)
    body = text[m.end():] if (m := _FRONT_MATTER.match(text)) else text
    heading = _MD_HEADING.search(body)
    title = heading.group(1)[:_TITLE_CHARS] if heading else _first_line(body)
    return text, title, ()


def load_html(data: bytes) -> tuple[str, str, tuple[int, ...]]:
    import trafilatura
    from lxml import html as lxml_html

    markup = _decode_html(data)
    extracted = trafilatura.bare_extraction(
        markup, with_metadata=True, include_comments=False, include_tables=True, favor_recall=True
    )
    text = _normalise_newlines(extracted.text) if extracted is not None and extracted.text else ""
    title = (extracted.title if extracted is not None else None) or ""
    if not text.strip():
        # trafilatura declines pages it judges to have no main content; keep their visible text rather than lose them.
        try:
            tree = lxml_html.fromstring(markup)
        except Exception as exc:  # lxml raises several unrelated types for broken markup
            raise LoadError(f"unparseable HTML ({exc})") from None
        for bad in tree.xpath("//script|//style|//noscript"):
            bad.drop_tree()
        text = "\n".join(line.strip() for line in tree.text_content().splitlines() if line.strip())
        title = title or (tree.findtext(".//title") or "").strip()
    return text, (title.strip() or _first_line(text))[:_TITLE_CHARS], ()


def _decode_html(data: bytes) -> str:
    if b"\x00" in data:
        raise LoadError("binary file (contains NUL bytes)")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        # HTML often declares a legacy charset; let lxml/trafilatura sniff the meta tag from bytes instead.
        return data.decode("latin-1")


def load_pdf(data: bytes) -> tuple[str, str, tuple[int, ...]]:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise LoadError("encrypted PDF")
        pages = [_normalise_newlines(page.extract_text() or "").strip() for page in reader.pages]
        meta_title = (reader.metadata.title if reader.metadata else None) or ""
    except LoadError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, OSError) as exc:
        raise LoadError(f"corrupt PDF ({type(exc).__name__}: {exc})") from None
    page_starts: list[int] = []
    parts: list[str] = []
    offset = 0
    for page_text in pages:
        page_starts.append(offset)
        parts.append(page_text)
        offset += len(page_text) + len(PAGE_SEPARATOR)
    text = PAGE_SEPARATOR.join(parts)
    return text, (str(meta_title).strip() or _first_line(text))[:_TITLE_CHARS], tuple(page_starts)


LOADERS = {"text": load_text, "markdown": load_markdown, "html": load_html, "pdf": load_pdf}


def load_document(path: Path, doc_id: str, max_bytes: int) -> Document:
    kind = SUPPORTED_SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise LoadError(f"unsupported file type {path.suffix or '(none)'}")
    try:
        stat = path.stat()
        if stat.st_size > max_bytes:
            raise LoadError(f"too large ({stat.st_size / 1e6:.1f} MB > {max_bytes / 1e6:.1f} MB limit)")
        data = path.read_bytes()
    except OSError as exc:
        raise LoadError(f"unreadable ({exc.strerror or exc})") from None
    if not data.strip():
        raise LoadError("empty file")
    text, title, page_starts = LOADERS[kind](data)
    if not text.strip():
        raise LoadError("no extractable text")
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
        meta=document_metadata(path, text, kind),
    )


def corpus_root(paths: list[Path]) -> Path:
    """The folder document ids are relative to: the folder itself, or the common parent of several paths."""
    resolved = [p.absolute() for p in paths]
    if len(resolved) == 1:
        return resolved[0] if resolved[0].is_dir() else resolved[0].parent
    return Path(os.path.commonpath([p if p.is_dir() else p.parent for p in resolved]))


def iter_files(paths: list[Path]) -> Iterator[tuple[Path, str] | Skipped]:
    """Yield (path, doc_id) for every supported file under ``paths``, in a stable order, or a Skipped."""
    root = corpus_root(paths)
    seen: set[str] = set()
    for top in paths:
        if not top.exists():
            yield Skipped(str(top), "no such file or directory")
            continue
        candidates = [top] if not top.is_dir() else _walk(top)
        for path in candidates:
            if isinstance(path, Skipped):
                yield path
                continue
            if path.suffix.lower() not in SUPPORTED_SUFFIXES:
                continue
            doc_id = path.absolute().relative_to(root).as_posix()
            if doc_id in seen:
                continue
            seen.add(doc_id)
            yield path, doc_id


def _walk(top: Path) -> Iterator[Path | Skipped]:
    # Symlinked folders are not followed: that is how a symlink loop cannot trap the walk.
    for dirpath, dirnames, filenames in os.walk(top, followlinks=False, onerror=None):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            path = Path(dirpath) / name
            if path.is_symlink() and not path.exists():
                if path.suffix.lower() in SUPPORTED_SUFFIXES:
                    yield Skipped(str(path), "broken or looping symlink")
                continue
            yield path
