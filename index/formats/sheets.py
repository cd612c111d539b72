"""Spreadsheets: .xlsx (openpyxl, read-only and streamed) and .csv / .tsv (Python's csv).

Every non-empty row becomes one ``table_row`` block that carries its header with it ("Name: Ada | Role:
engineer"), so a question about one cell finds its row. The header is a sheet's first non-empty row. Empty
rows are skipped without being kept in memory (a sheet can claim a million of them) but keep their numbers:
a citation names the sheet and the rows as the spreadsheet shows them. Each sheet of a workbook opens with a
heading, its name, which becomes the passage's section.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator

from ..locators import ROW, Locators
from ..reading import Extracted
from .base import Builder, checked_zip, decode_text, load_error

# Rows read per workbook, empty ones included: more than Excel's 1,048,576 per sheet is not a spreadsheet
# Excel wrote, and each row read costs time even when it is empty.
MAX_ROWS = 2_000_000
_HEADER_LIMIT = 200  # characters of one header name repeated in every row


class _Rows:
    """Appends a sheet's rows to the stored text and records where each begins."""

    def __init__(self, out: Builder):
        self.out = out
        self.starts: list[int] = []
        self.numbers: list[int] = []
        self.sheets: list[str] = []
        self.read = 0

    def sheet(self, name: str, rows: Iterable[tuple[int, list[str]]], heading: bool) -> None:
        header: list[str] | None = None
        header_number = 0
        data_rows = 0
        for number, cells in rows:
            self.read += 1
            if self.read > MAX_ROWS:
                raise load_error(f"too many rows (over {MAX_ROWS:,}, empty ones included)")
            cells = [" ".join(c.split()) for c in cells]
            if not any(cells):
                continue
            if header is None:
                header, header_number = [c[:_HEADER_LIMIT] for c in cells], number
                continue
            if data_rows == 0 and heading:
                self._anchor(self.out.add("heading", name, 1), header_number, name)
            line = " | ".join(f"{header[i]}: {c}" if i < len(header) and header[i] else c
                              for i, c in enumerate(cells) if c)
            self._anchor(self.out.add("table_row", line), number, name)
            data_rows += 1
        if header is not None and data_rows == 0:  # a sheet that is only a header still says what it holds
            if heading:
                self._anchor(self.out.add("heading", name, 1), header_number, name)
            self._anchor(self.out.add("table_row", " | ".join(h for h in header if h)), header_number, name)

    def _anchor(self, start: int | None, number: int, sheet: str) -> None:
        if start is not None:  # (None: a blank heading, nothing was appended)
            self.starts.append(start)
            self.numbers.append(number)
            self.sheets.append(sheet)

    def locators(self) -> Locators:
        return Locators(ROW, tuple(self.starts), tuple(self.numbers), tuple(self.sheets))


def load_xlsx(data: bytes, max_chars: int) -> Extracted:
    from openpyxl import load_workbook

    checked_zip(data, "Excel workbook")
    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises KeyError, InvalidFileException, XML errors... for a damaged file
        raise load_error(f"corrupt Excel workbook ({type(exc).__name__}: {exc})") from None
    out = Builder(max_chars)
    rows = _Rows(out)
    try:
        for sheet in workbook.worksheets:
            rows.sheet(sheet.title, _sheet_rows(sheet), heading=True)
        title = workbook.properties.title or ""
    except Exception as exc:
        if type(exc).__name__ == "LoadError":
            raise
        raise load_error(f"corrupt Excel workbook ({type(exc).__name__}: {exc})") from None
    finally:
        workbook.close()
    return out.extracted(title, rows.locators())


def _sheet_rows(sheet) -> Iterator[tuple[int, list[str]]]:
    # values_only rows come one at a time from the XML stream; only the cells of the current row are held.
    for number, values in enumerate(sheet.iter_rows(values_only=True), 1):
        yield number, ["" if v is None else _cell(v) for v in values]


def _cell(value) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def load_csv(data: bytes, max_chars: int) -> Extracted:
    return _delimited(data, ",", max_chars)


def load_tsv(data: bytes, max_chars: int) -> Extracted:
    return _delimited(data, "\t", max_chars)


def _delimited(data: bytes, delimiter: str, max_chars: int) -> Extracted:
    text = decode_text(data)
    out = Builder(max_chars)
    rows = _Rows(out)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)

    def numbered():
        # A quoted cell can span lines: the row number is the reader's count of records, as a spreadsheet shows.
        for number, cells in enumerate(reader, 1):
            yield number, cells

    try:
        rows.sheet("", numbered(), heading=False)
    except csv.Error as exc:
        what = "TSV" if delimiter == "\t" else "CSV"
        raise load_error(f"malformed {what} (record {reader.line_num}: {exc})") from None
    return out.extracted("", rows.locators())
