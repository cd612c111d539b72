"""PowerPoint .pptx (python-pptx): one run of blocks per slide, and the slide number for citations.

Each slide opens with a heading (its title, else "Slide N"), so a passage's section path names its slide;
then the text of its shapes in the order the deck lists them, table rows, and the speaker notes last.
"""

from __future__ import annotations

import io

from ..locators import SLIDE, Locators
from ..reading import Extracted
from .base import Builder, checked_zip, load_error


def load_pptx(data: bytes, max_chars: int) -> Extracted:
    from pptx import Presentation
    from pptx.exc import PackageNotFoundError

    checked_zip(data, "PowerPoint deck")
    try:
        deck = Presentation(io.BytesIO(data))
        slides = list(deck.slides)
    except (PackageNotFoundError, KeyError, ValueError, SyntaxError) as exc:
        raise load_error(f"corrupt PowerPoint deck ({type(exc).__name__}: {exc})") from None
    out = Builder(max_chars)
    starts: list[int] = []
    numbers: list[int] = []
    for number, slide in enumerate(slides, 1):
        title_shape = slide.shapes.title
        title = " ".join(title_shape.text_frame.text.split()) if title_shape is not None else ""
        # Shapes are new proxies on every access: the title is recognised by its id, not by identity.
        title_id = title_shape.shape_id if title_shape is not None else None
        body = [piece for shape in slide.shapes if shape.shape_id != title_id for piece in _shape_text(shape)]
        notes = slide.notes_slide.notes_text_frame.text if slide.has_notes_slide and \
            slide.notes_slide.notes_text_frame is not None else ""
        if not (title or body or notes.strip()):
            continue  # a picture-only slide has no text to cite; the numbers of the others stay the deck's
        starts.append(out.add("heading", title or f"Slide {number}", 1))
        numbers.append(number)
        for kind, text in body:
            out.add(kind, text)
        for paragraph in notes.split("\n"):
            out.add("paragraph", paragraph)
    return out.extracted(deck.core_properties.title or "", Locators(SLIDE, tuple(starts), tuple(numbers)))


def _shape_text(shape):
    """(kind, text) of a shape in reading order: its paragraphs, a table's rows, a group's members."""
    from pptx.shapes.group import GroupShape

    if isinstance(shape, GroupShape):
        for member in shape.shapes:
            yield from _shape_text(member)
        return
    if getattr(shape, "has_table", False) and shape.has_table:
        for row in shape.table.rows:
            cells = [" ".join(cell.text.split()) for cell in row.cells]
            yield "table_row", " | ".join(c for c in cells if c)
        return
    if getattr(shape, "has_text_frame", False) and shape.has_text_frame:
        for paragraph in shape.text_frame.paragraphs:
            text = "".join(run.text for run in paragraph.runs) or paragraph.text
            # A bullet below the first level, or any paragraph of a body placeholder with several, reads as a list.
            kind = "list_item" if paragraph.level > 0 or len(shape.text_frame.paragraphs) > 1 else "paragraph"
            yield kind, text
