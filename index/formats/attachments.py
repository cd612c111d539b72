"""An e-mail's attachments as documents of their own, with the mail as their parent.

An attachment's id is the mail's id, a slash and its name (``inbox/offer.eml/terms.pdf``): stable across
builds, under the mail in the document list, and matched by a ``source`` filter such as ``*.pdf``. Its ``meta``
holds ``parent`` (the mail's id) and the mail's ``from``/``to``/``cc``/``date``, so a filter on the sender also
finds what they sent. Its source, size and time are the mail file's, where it was read from.
"""

from __future__ import annotations

from dataclasses import replace

from ..structure import check_blocks
from ..reading import Attachment, Document
from .base import too_much_text

PARENT = "parent"
_INHERITED = ("from", "to", "cc", "date")


def attachment_documents(mail: Document, attachments: tuple[Attachment, ...], max_chars: int) -> tuple[Document, ...]:
    """The attachments of ``mail`` as Documents; a blank one is left out."""
    found = []
    for attachment in attachments:
        extracted = attachment.extracted
        text, title = extracted.text, extracted.title
        check_blocks(text, extracted.blocks)
        if len(text) > max_chars:
            raise too_much_text(max_chars)
        if not text.strip():
            continue
        # What the loader found in the attachment's bytes (an encoding) first, as in a file's meta.
        meta = {**extracted.meta, PARENT: mail.doc_id, **{k: mail.meta[k] for k in _INHERITED if k in mail.meta}}
        found.append(Document(
            doc_id=f"{mail.doc_id}/{attachment.name}", title=title or attachment.name, source=mail.source,
            sha256=attachment.sha256, text=text, kind=attachment.kind, size=attachment.size, mtime=mail.mtime,
            page_starts=tuple(extracted.page_starts), meta=meta, blocks=tuple(extracted.blocks),
            locators=extracted.locators,
        ))
    return tuple(found)


def with_children(mail, stored_documents) -> object:
    """``mail`` with the attachments a previous build stored for it (an incremental build reads no file twice)."""
    prefix = mail.doc_id + "/"
    children = tuple(d for d in stored_documents if d.doc_id.startswith(prefix) and d.meta.get(PARENT) == mail.doc_id)
    return replace(mail, attachments=children) if children else mail
