"""Versioned citations: whether a citation's text is still where it pointed, after its document changed.

A citation carries the document's sha256 and the index generation it came from. Given them back (GET
/documents/{doc_id}?sha256=...), the current version is compared: the same sha256 means the offsets still hold;
otherwise the cited text (the ``quote`` a client kept, or the span read from the citation's generation while a
build still keeps it on disk) is looked for in the current text, and is "moved" only where it occurs exactly once:
two occurrences would make any answer a guess.
"""

from __future__ import annotations

from askdocs.index.store import DocumentRow, StoredIndex, document_text_in_generation

from .models import CitedVersion


def cited_version(stored: StoredIndex, document: DocumentRow, sha256: str, generation: int | None,
                  start: int | None, end: int | None, quote: str | None) -> CitedVersion:
    if sha256 == document.sha256:
        return CitedVersion(status="current", message="The document is the version cited.", char_start=start,
                            char_end=end)
    cited = quote
    if cited is None and generation is not None and start is not None and end is not None:
        old_text = document_text_in_generation(stored.index_dir, generation, document.doc_id, sha256)
        if old_text is not None and end <= len(old_text):
            cited = old_text[start:end]
    if not cited:
        return CitedVersion(status="changed", message=(
            "The document has changed since it was cited, and the cited text is not known here (the generation "
            "it came from is no longer on disk); pass quote= to look for it."))
    first = document.text.find(cited)
    if first < 0:
        return CitedVersion(status="gone", message="The document has changed since it was cited, and the cited "
                                                   "text is no longer in it.")
    if document.text.find(cited, first + 1) >= 0:
        return CitedVersion(status="gone", message="The document has changed since it was cited, and the cited "
                                                   "text now occurs more than once in it, so where it went is unknown.")
    return CitedVersion(status="moved", message="The document has changed since it was cited; the cited text is "
                                                "now at the characters given.",
                        char_start=first, char_end=first + len(cited))
