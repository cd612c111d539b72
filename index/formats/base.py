"""What every format loader shares: the stored-text builder, zip checks and text limits (its result is
``index.reading.Extracted``, the one every loader returns)."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Sequence

from ..extract import TextBuilder
from ..locators import Locators
from ..reading import Extracted, LoadError, decode_text_format
from ..structure import Block

# Office files and EPUBs are zip archives: their parts are inflated in memory before any text exists, so the
# declared sizes are checked first (zipfile never inflates a member past its declared size). Real documents
# inflate 2-20x; XML compresses up to ~100x, so only a large member with a ratio past that is a bomb. The
# total is what lxml may have to parse into a tree (several times its size in memory): a 1,000-page Word
# document's XML is about 20 MB, and images, stored already compressed, inflate about 1x.
MAX_UNZIPPED_BYTES = 256 * 1024 * 1024
MAX_MEMBER_RATIO = 200
_RATIO_FROM_BYTES = 8 * 1024 * 1024
MAX_ZIP_MEMBERS = 20_000


def load_error(reason: str) -> Exception:
    return LoadError(reason)


def too_much_text(max_chars: int) -> Exception:
    return load_error(f"too much text (over {max_chars:,} characters; limit max_text_chars)")


def checked_zip(data: bytes, what: str) -> zipfile.ZipFile:
    """The archive of an Office file or EPUB, refused before anything is inflated if it would inflate too far."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
        raise load_error(f"corrupt {what} (not a readable zip archive: {exc})") from None
    if len(members) > MAX_ZIP_MEMBERS:
        raise load_error(f"corrupt {what} ({len(members):,} zip members > {MAX_ZIP_MEMBERS:,} limit)")
    total = sum(m.file_size for m in members)
    if total > MAX_UNZIPPED_BYTES:
        raise load_error(f"{what} would inflate to {total:,} bytes (> {MAX_UNZIPPED_BYTES:,} limit): a zip bomb?")
    for member in members:
        if member.file_size > _RATIO_FROM_BYTES and member.file_size > MAX_MEMBER_RATIO * max(member.compress_size, 1):
            ratio = member.file_size // max(member.compress_size, 1)
            raise load_error(f"{what} member {member.filename} inflates {ratio:,}x "
                             f"({member.file_size:,} bytes; > {MAX_MEMBER_RATIO}x limit): a zip bomb?")
    return archive


def decode_text(data: bytes) -> str:
    """Text formats (CSV, reStructuredText) decode as ``.txt`` files do (index.decoding: BOMs, legacy code pages)."""
    return decode_text_format(data)[0]


class Builder(TextBuilder):
    """TextBuilder that refuses to grow past ``max_chars``, and can take a whole sub-document's blocks."""

    def __init__(self, max_chars: int):
        super().__init__()
        self.max_chars = max_chars

    def add(self, kind: str, text: str, level: int = 0) -> int | None:
        """Append a block; its start offset, or None when ``text`` is blank (nothing is appended)."""
        before = len(self.blocks)
        super().add(kind, text, level)
        if self.length > self.max_chars:
            raise too_much_text(self.max_chars)
        return self.blocks[-1].start if len(self.blocks) > before else None

    def extend(self, text: str, blocks: Sequence[Block]) -> int | None:
        """Append another text's blocks (an EPUB chapter, an e-mail's HTML body) with their offsets shifted."""
        first = None
        for block in blocks:
            start = self.add(block.kind, text[block.start:block.end], block.level)
            first = start if first is None else first
        return first

    def extracted(self, title: str, locators: Locators | None = None) -> Extracted:
        text = self.text()
        first_heading = next((text[b.start:b.end] for b in self.blocks if b.kind == "heading"), "")
        first_block = next((text[b.start:b.end] for b in self.blocks if b.kind != "furniture"), "")
        title = " ".join((title.strip() or first_heading or first_block).split())[:200]
        return Extracted(text, title, blocks=tuple(self.blocks), locators=locators)
