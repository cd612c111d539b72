"""Word processor documents: Word .docx (python-docx) and OpenDocument .odt (odfpy).

Paragraphs, headings, list items and table rows in reading order; headings keep their outline level, so
they become section paths. The title comes from the document properties, else the first heading.
"""

from __future__ import annotations

import io
import re

from ..reading import Extracted
from .base import Builder, checked_zip, load_error

_HEADING_STYLE = re.compile(r"^heading\s*([1-9])$", re.IGNORECASE)


def _table_rows(rows) -> list[str]:
    """Each row as 'cell | cell'; a merged cell python-docx repeats along the row is shown once."""
    out = []
    for row in rows:
        cells: list[str] = []
        for cell in row:
            text = " ".join(cell.split())
            if text and (not cells or cells[-1] != text):
                cells.append(text)
        out.append(" | ".join(cells))
    return out


def load_docx(data: bytes, max_chars: int) -> Extracted:
    import docx
    from docx.opc.exceptions import PackageNotFoundError
    from docx.table import Table

    checked_zip(data, "Word document")
    try:
        document = docx.Document(io.BytesIO(data))
    except (PackageNotFoundError, KeyError, ValueError, SyntaxError) as exc:  # lxml's XMLSyntaxError is a SyntaxError
        raise load_error(f"corrupt Word document ({type(exc).__name__}: {exc})") from None
    out = Builder(max_chars)
    for item in document.iter_inner_content():
        if isinstance(item, Table):
            for row in _table_rows([cell.text for cell in row.cells] for row in item.rows):
                out.add("table_row", row)
            continue
        style = (item.style.name if item.style is not None else "") or ""
        heading = _HEADING_STYLE.match(style)
        if heading or style.lower() == "title":
            out.add("heading", item.text, int(heading.group(1)) if heading else 1)
        elif _is_list_item(item, style):
            out.add("list_item", item.text)
        else:
            out.add("paragraph", item.text)
    return out.extracted(document.core_properties.title or "")


def _is_list_item(paragraph, style: str) -> bool:
    properties = paragraph._p.pPr  # numbering lives on the paragraph when the list is not a style
    return style.lower().startswith("list") or (properties is not None and properties.numPr is not None)


def load_odt(data: bytes, max_chars: int) -> Extracted:
    from odf import teletype
    from odf.namespaces import TABLENS, TEXTNS
    from odf.opendocument import load

    checked_zip(data, "OpenDocument text")
    try:
        document = load(io.BytesIO(data))
    except Exception as exc:  # odfpy raises KeyError, XML errors, zip errors... for a damaged file
        raise load_error(f"corrupt OpenDocument text ({type(exc).__name__}: {exc})") from None
    out = Builder(max_chars)

    def walk(element) -> None:
        for child in element.childNodes:
            name = getattr(child, "qname", None)
            if name == (TEXTNS, "h"):
                level = int(child.getAttrNS(TEXTNS, "outline-level") or 1)
                out.add("heading", teletype.extractText(child), min(max(level, 1), 6))
            elif name == (TEXTNS, "p"):
                out.add("paragraph", teletype.extractText(child))
            elif name == (TEXTNS, "list-item"):
                paragraphs = [c for c in child.childNodes
                              if getattr(c, "qname", None) in ((TEXTNS, "p"), (TEXTNS, "h"))]
                for paragraph in paragraphs:
                    out.add("list_item", teletype.extractText(paragraph))
                for nested in (c for c in child.childNodes if getattr(c, "qname", None) == (TEXTNS, "list")):
                    walk(nested)
            elif name == (TABLENS, "table-row"):
                cells = [" ".join(teletype.extractText(c).split()) for c in child.childNodes
                         if getattr(c, "qname", None) == (TABLENS, "table-cell")]
                out.add("table_row", " | ".join(c for c in cells if c))
            elif name is not None:
                walk(child)  # lists, sections, tables, headers of tables: their content is in reading order

    walk(document.text)
    return out.extracted(_odf_title(document))


def _odf_title(document) -> str:
    from odf.namespaces import DCNS

    for element in document.meta.childNodes:
        if getattr(element, "qname", None) == (DCNS, "title"):
            return "".join(str(node) for node in element.childNodes)
    return ""
