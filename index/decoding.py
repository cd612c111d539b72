"""Bytes of a text file to str, and the name of the encoding that did it.

A byte-order mark decides outright (UTF-8, UTF-16, UTF-32); text without one is UTF-8 when it decodes as
UTF-8, and otherwise whatever charset-normalizer finds fits best. What nothing fits is binary.
"""

from __future__ import annotations

import codecs

from .errors import BadInput

# UTF-32 LE's mark starts with UTF-16 LE's, so the longer marks are tried first.
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"),
)
# charset-normalizer often scores several single-byte code pages the same on short Western text (café reads
# as well in cp1250 as in cp1252, but only one of them is what a Windows tool wrote); on a tie, the most
# common legacy encoding wins.
_PREFERRED_ON_TIE = ("cp1252",)
# Detection looks at a sample; the whole file is then decoded (and must decode) with what it found.
_DETECTION_BYTES = 1_000_000
# Text that is nearly all ASCII gives a detector a handful of bytes to judge by: on /usr/share/doc it read
# "François" (Latin-1) as cp850 "Franþois" and "Kämpf" as Big5. Such text is English with a few Western
# names far more often than anything else, so it is read as Windows-1252 (a superset of Latin-1's letters)
# when it decodes as that.
_MOSTLY_ASCII = 0.97


class NotText(BadInput, ValueError):
    """Bytes no text encoding fits; the message is the reason."""

    code = "not_text"


def decode_text(data: bytes) -> tuple[str, str]:
    """(text, encoding name) of ``data``; NotText when it is not text in any encoding."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return data.decode(encoding), encoding.removesuffix("-sig")
            except UnicodeDecodeError as exc:
                raise NotText(f"corrupt {encoding.removesuffix('-sig').upper()} text (byte-order mark, "
                              f"but an invalid sequence at offset {exc.start})") from None
    if b"\x00" in data:
        # Without a byte-order mark, NUL bytes are what binary formats are made of; text has none.
        raise NotText("binary file (contains NUL bytes)")
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    encoding = detect(data[:_DETECTION_BYTES])
    if encoding is None:
        raise NotText("binary file (no text encoding fits its bytes)")
    try:
        return data.decode(encoding), encoding
    except (UnicodeDecodeError, LookupError) as exc:
        raise NotText(f"binary file (looked like {encoding} text, but {exc})") from None


def detect(sample: bytes) -> str | None:
    high = sum(1 for byte in sample if byte >= 0x80)
    if high <= (1 - _MOSTLY_ASCII) * len(sample):
        try:
            sample.decode("cp1252")
            return "cp1252"
        except UnicodeDecodeError:
            pass
    from charset_normalizer import from_bytes

    matches = from_bytes(sample)
    best = matches.best()
    if best is None:
        return None
    tied = [m for m in matches if m.chaos == best.chaos and m.coherence == best.coherence]
    for preferred in _PREFERRED_ON_TIE:
        if any(preferred in m.could_be_from_charset for m in tied):
            return preferred
    return best.encoding
