"""Where a span of a slide deck or a spreadsheet is, beyond lines: the slide, or the sheet and row range.

A PDF's pages are ``Document.page_starts``; slides and spreadsheet rows need more than a number (a row has a
sheet, and rows skipped as empty keep the numbers the spreadsheet shows), so a loader records one anchor per
slide or row: the offset in the stored text where it begins, and the number (and sheet) a reader would look up.
"""

from __future__ import annotations

import bisect
import json
from dataclasses import dataclass

SLIDE = "slide"
ROW = "row"


@dataclass(frozen=True)
class Locators:
    unit: str  # SLIDE or ROW
    starts: tuple[int, ...]  # offset in the stored text where each slide / row begins, ascending
    numbers: tuple[int, ...]  # its slide number, or its row number in the sheet (1-based, the header is row 1)
    sheets: tuple[str, ...] = ()  # rows: the sheet of each row; "" for a CSV/TSV file, which has no sheets

    def __post_init__(self):
        if self.unit not in (SLIDE, ROW):
            raise ValueError(f"unknown locator unit {self.unit!r}")
        if len(self.starts) != len(self.numbers) or (self.unit == ROW and len(self.sheets) != len(self.starts)):
            raise ValueError("locators need one number (and, for rows, one sheet) per start")
        if any(b <= a for a, b in zip(self.starts, self.starts[1:])):
            raise ValueError("locator starts must ascend")

    def locate(self, start: int, end: int) -> dict:
        """The citation fields of ``[start, end)``: ``slide``, or ``sheet``, ``row_start`` and ``row_end``."""
        if not self.starts:
            return {}
        first = max(0, bisect.bisect_right(self.starts, start) - 1)
        if self.unit == SLIDE:
            return {"slide": self.numbers[first]}
        last = max(first, bisect.bisect_right(self.starts, max(start, end - 1)) - 1)
        # A span that runs into the next sheet cites the rows of the sheet it starts in.
        while last > first and self.sheets[last] != self.sheets[first]:
            last -= 1
        return {"sheet": self.sheets[first] or None, "row_start": self.numbers[first], "row_end": self.numbers[last]}

    def encode(self) -> str:
        data = {"unit": self.unit, "starts": list(self.starts), "numbers": list(self.numbers)}
        if self.unit == ROW:
            names = sorted(set(self.sheets))
            # Sheet names once each, rows by index into them: a million rows repeat one name.
            data["sheet_names"] = names
            data["sheets"] = [names.index(s) for s in self.sheets] if len(names) > 1 else []
        return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


def decode_locators(data: str | None) -> Locators | None:
    if not data or data == "{}":
        return None
    raw = json.loads(data)
    sheets: tuple[str, ...] = ()
    if raw["unit"] == ROW:
        names = raw["sheet_names"]
        sheets = tuple(names[i] for i in raw["sheets"]) if raw["sheets"] else tuple(names[:1] * len(raw["starts"]))
    return Locators(raw["unit"], tuple(raw["starts"]), tuple(raw["numbers"]), sheets)


def encode_locators(locators: Locators | None) -> str:
    return locators.encode() if locators is not None else "{}"
