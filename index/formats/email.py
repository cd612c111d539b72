"""E-mail: .eml files (the standard library's email package, modern policy).

The stored text opens with the subject (a heading, and the title) and the From/To/Cc/Date headers, one line
each, then the body: the plain-text part, else the HTML part through the HTML walker. The headers are in the
stored text so a question about who wrote or when finds them, and so ``email_metadata`` can read the
filterable ``from``/``to``/``cc``/``date`` values back from the text (an unchanged file in an incremental
build is not parsed again). Attachments are named in a closing line; they are not indexed.
"""

from __future__ import annotations

import email
import email.policy
import email.utils
import re

from ..extract import html_structure, text_structure
from .base import Builder, Extracted, load_error

_HEADERS = ("From", "To", "Cc", "Date")
_HEADER_LINE = re.compile(r"^(From|To|Cc|Date): (.*)$", re.MULTILINE)


def load_email(data: bytes, max_chars: int) -> Extracted:
    if b"\x00" in data:
        raise load_error("binary file (contains NUL bytes)")
    try:
        message = email.message_from_bytes(data, policy=email.policy.default)
        headers = {name: message.get(name) for name in ("Subject", *_HEADERS)}
    except Exception as exc:  # a malformed header the modern policy cannot parse
        raise load_error(f"corrupt e-mail ({type(exc).__name__}: {exc})") from None
    if not any(headers.values()) or message.defects and not message.get_payload():
        raise load_error("not an e-mail (no From, To, Subject or Date header)")
    out = Builder(max_chars)
    subject = " ".join(str(headers["Subject"] or "").split())
    out.add("heading", subject, 1)
    for name in _HEADERS:
        value = _header_text(name, headers[name])
        if value:
            out.add("table_row", f"{name}: {value}")
    try:
        body = message.get_body(preferencelist=("plain", "html"))
        content = body.get_content() if body is not None else ""
    except (LookupError, ValueError, AssertionError) as exc:  # an unknown charset, a broken transfer encoding
        raise load_error(f"corrupt e-mail body ({type(exc).__name__}: {exc})") from None
    content = content.replace("\r\n", "\n").replace("\r", "\n")
    if body is not None and body.get_content_subtype() == "html":
        try:
            text, _, blocks = html_structure(content)
        except Exception as exc:  # lxml raises several unrelated types for broken markup
            raise load_error(f"corrupt e-mail HTML body ({type(exc).__name__}: {exc})") from None
    else:
        text, blocks = content, text_structure(content)
    out.extend(text, blocks)
    names = [part.get_filename() or part.get_content_type() for part in message.iter_attachments()]
    if names:
        out.add("furniture", "Attachments (not indexed): " + ", ".join(" ".join(str(n).split()) for n in names))
    return out.extracted(subject)


def _header_text(name: str, value) -> str:
    if value is None:
        return ""
    if name == "Date":
        parsed = getattr(value, "datetime", None)
        return parsed.isoformat() if parsed is not None else " ".join(str(value).split())
    return " ".join(str(value).split())


def email_metadata(text: str) -> dict:
    """``from``, ``to``, ``cc`` (addresses, lower case) and ``date`` (ISO 8601) from a stored e-mail's header lines."""
    meta: dict = {}
    # The header lines come right after the subject, before the body: only the first few lines are theirs.
    head = "\n".join(text.split("\n", len(_HEADERS) + 1)[: len(_HEADERS) + 1])
    for name, value in _HEADER_LINE.findall(head):
        key = name.lower()
        if name == "Date":
            meta[key] = value
            continue
        addresses = [address.lower() for _, address in email.utils.getaddresses([value]) if address]
        if addresses:
            meta[key] = addresses[0] if name == "From" else addresses
    return meta
