"""An answer's passages as a Markdown block to paste into an LLM prompt, numbered so the model can cite them."""

from __future__ import annotations

from .models import AskResponse, Citation


def prompt_context(response: AskResponse) -> str:
    """Passages as [1]..[n] blockquotes, then a sources list mapping each number to document, title and place."""
    lines = [f"Passages from the documents for: {_one_line(response.question)}", ""]
    if response.no_answer:
        # Said up front so a model reading the block does not take the closest passages for an answer.
        lines += ["None of these passages scored as an answer to the question; they are only the closest.", ""]
    for passage in response.passages:
        lines.append(f"[{passage.rank}]")
        # A blockquote keeps a multi-paragraph passage under its number.
        lines += [f"> {line}".rstrip() for line in passage.text.strip("\n").split("\n")]
        lines.append("")
    lines.append("Sources:")
    lines += [f"[{p.rank}] {_source(p.citation)}" for p in response.passages]
    return "\n".join(lines) + "\n"


def _source(citation: Citation) -> str:
    if citation.line_start == citation.line_end:
        place = f"line {citation.line_start}"
    else:
        place = f"lines {citation.line_start}-{citation.line_end}"
    if citation.page is not None:
        place = f"{page_name(citation.page, citation.page_label)}, {place}"
    if citation.slide is not None:
        place = f"slide {citation.slide}, {place}"
    if citation.row_start is not None:
        place = f"{_rows(citation)}, {place}"
    return f"{_one_line(citation.title)} ({citation.doc_id}, {place})"


def _rows(citation: Citation) -> str:
    """'sheet Budget, rows 4-9' (a CSV has no sheet name)."""
    rows = f"row {citation.row_start}" if citation.row_start == citation.row_end else \
        f"rows {citation.row_start}-{citation.row_end}"
    return f"sheet {citation.sheet}, {rows}" if citation.sheet else rows


def page_name(page: int, label: str | None) -> str:
    """"page 9 (PDF page 13)" where the page prints a label of its own, else "page 13"."""
    if label and label != str(page):
        return f"page {label} (PDF page {page})"
    return f"page {page}"


def _one_line(text: str) -> str:
    return " ".join(text.split())
