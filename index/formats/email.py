"""E-mail: .eml files (the standard library's email package, modern policy).

The stored text opens with the subject (a heading, and the title) and the From/To/Cc/Date headers, one line
each, then the body: the plain-text part, else the HTML part through the HTML walker. The headers are in the
stored text so a question about who wrote or when finds them, and so ``email_metadata`` can read the
filterable ``from``/``to``/``cc``/``date`` values back from the text (``index.metadata``) (an unchanged file in an incremental
build is not parsed again).

Attachments of a supported type are read by their own loaders and become documents of their own, with the
mail as their parent (``index.formats.attachments``). A closing furniture line names every attachment and
what became of it, so one that could not be read is reported, not silently dropped.
"""

from __future__ import annotations

import email
import email.policy
import email.utils
import hashlib
import posixpath
from dataclasses import replace

from ..extract import html_structure
from ..plaintext import text_structure
from ..metadata import EMAIL_HEADERS
from ..reading import Attachment, Extracted, LoadError
from .base import Builder, load_error


def load_email(data: bytes, max_chars: int) -> Extracted:
    if b"\x00" in data:
        raise load_error("binary file (contains NUL bytes)")
    try:
        message = email.message_from_bytes(data, policy=email.policy.default)
        headers = {name: message.get(name) for name in ("Subject", *EMAIL_HEADERS)}
    except Exception as exc:  # a malformed header the modern policy cannot parse
        raise load_error(f"corrupt e-mail ({type(exc).__name__}: {exc})") from None
    if not any(headers.values()) or message.defects and not message.get_payload():
        raise load_error("not an e-mail (no From, To, Subject or Date header)")
    out = Builder(max_chars)
    subject = " ".join(str(headers["Subject"] or "").split())
    out.add("heading", subject, 1)
    for name in EMAIL_HEADERS:
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
    attachments, outcomes = _attachments(message, max_chars)
    if outcomes:
        out.add("furniture", "Attachments: " + "; ".join(outcomes))
    return replace(out.extracted(subject), attachments=tuple(attachments))


def _attachments(message, max_chars: int) -> tuple[list[Attachment], list[str]]:
    """The attachments read, and for every attachment a line saying what became of it."""
    from ..documents import SUPPORTED_SUFFIXES

    read: list[Attachment] = []
    outcomes: list[str] = []
    used: set[str] = set()
    for number, part in enumerate(message.iter_attachments(), 1):
        # Only the name's last component: a name like "../../etc/passwd" must not shape a document id.
        raw = " ".join(str(part.get_filename() or "").split())
        name = posixpath.basename(raw.replace("\\", "/")) or f"attachment-{number}"
        stem, suffix = posixpath.splitext(name)
        copy = 2
        while name in used:  # two attachments of one name: both indexed, under distinct ids
            name, copy = f"{stem}-{copy}{suffix}", copy + 1
        used.add(name)
        kind = SUPPORTED_SUFFIXES.get(suffix.lower())
        if kind is None or kind == "email":
            reason = "attached e-mail" if kind == "email" else f"unsupported type {suffix or '(none)'}"
            outcomes.append(f"{name} (not indexed: {reason})")
            continue
        try:
            data = part.get_content()
            data = data.encode("utf-8") if isinstance(data, str) else bytes(data)
            if not data.strip():
                raise load_error("empty file")
            extracted = _read_attachment(kind, data, max_chars)
        except LoadError as exc:
            outcomes.append(f"{name} (not indexed: {exc})")
            continue
        except Exception as exc:  # a library's surprise costs this attachment, not the mail
            outcomes.append(f"{name} (not indexed: could not be read, {type(exc).__name__}: {exc})")
            continue
        read.append(Attachment(name, kind, hashlib.sha256(data).hexdigest(), len(data), extracted))
        outcomes.append(f"{name} (indexed)")
    return read, outcomes


def _read_attachment(kind: str, data: bytes, max_chars: int) -> Extracted:
    from ..documents import LOADERS, MAX_PDF_PAGES, load_pdf
    from .registry import load_format

    if kind == "pdf":
        return load_pdf(data, MAX_PDF_PAGES, max_chars)
    if kind in LOADERS:
        return LOADERS[kind](data)
    return load_format(kind, data, max_chars)


def _header_text(name: str, value) -> str:
    if value is None:
        return ""
    if name == "Date":
        parsed = getattr(value, "datetime", None)
        return parsed.isoformat() if parsed is not None else " ".join(str(value).split())
    return " ".join(str(value).split())
