"""Write docs/screenshot-pdf.png: a PDF citation opened from the answer page, in real headless Chromium: the
rendered page with the cited sentence's characters boxed, named by the number it prints (its page label, "2"
on the PDF's 4th page) beside the PDF's own count, and the zoom button above it.

    .venv/bin/python bench/screenshot_pdf.py [--out docs/screenshot-pdf.png]

The PDF, a small handbook whose front matter is numbered i, ii and whose chapters start again at 1, is
generated here (pages drawn as tests/fixtures.py pdf_of_streams draws them, labels set with pypdf), indexed in
a temporary folder and served; the question is asked on the answer page and its citation clicked.
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from screenshot import CHROMIUM_ARGS, free_port, serve  # noqa: E402

from tests.fixtures import pdf_of_streams  # noqa: E402

PAGE = (360, 540)  # points: a paperback page, so the rendered text is legible in a page-wide picture
TITLE = "Tea from Leaf to Cup"
# (printed page number, heading, body lines) per sheet; the answer is on sheet 4, which prints "2".
SHEETS = [
    ("i", TITLE, ["A small handbook for growers", "and drinkers of tea."]),
    ("ii", "Contents", ["1  Growing", "2  Processing", "3  Brewing"]),
    ("1", "1  Growing", [
        "Tea plants grow best on well drained, acid", "soils at altitudes between 600 and 2000",
        "metres, where cool nights slow the growth", "of the leaves and deepen their flavour.", "",
        "Bushes are pruned to waist height so that", "pickers can reach the new shoots.",
    ]),
    ("2", "", [
        "Leaves are picked by hand every week. The", "first flush of spring, two leaves and a bud,",
        "is the most prized because its buds are", "small and tender. The leaves are withered", "for a day before rolling.", "",
        "2  Processing", "Green tea is steamed or pan fired right", "after picking to stop oxidation. Black tea",
        "is rolled and left to oxidise fully before", "it is dried.",
    ]),
    ("3", "3  Brewing", ["Brew green tea at 80 degrees for two", "minutes, black tea at 95 degrees for four."]),
]
QUESTION = "Why is the first flush of spring the most prized?"


def make_handbook() -> bytes:
    from pypdf import PdfReader, PdfWriter
    from pypdf.generic import RectangleObject

    streams = []
    for printed, heading, lines in SHEETS:
        ops = ["BT", "/F1 15 Tf", f"1 0 0 1 36 {PAGE[1] - 60} Tm", f"({heading}) Tj" if heading else "",
               "/F1 11 Tf", "16 TL", f"1 0 0 1 36 {PAGE[1] - (90 if heading else 60)} Tm"]
        ops += [f"({line}) Tj T*" for line in lines]
        ops.insert(1, f"/F1 10 Tf 1 0 0 1 {PAGE[0] / 2 - 4} 30 Tm ({printed}) Tj")  # at the foot of the page
        ops.append("ET")
        streams.append("\n".join(op for op in ops if op).encode("latin-1"))
    writer = PdfWriter()
    writer.append(PdfReader(io.BytesIO(pdf_of_streams(streams, title=TITLE))))
    for page in writer.pages:
        page.mediabox = RectangleObject([0, 0, *PAGE])
    writer.set_page_label(0, 1, style="/r")  # i, ii
    writer.set_page_label(2, len(SHEETS) - 1, style="/D", start=1)  # 1, 2, 3
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshot-pdf.png")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        from askdocs.index.build import build_index
        from askdocs.index.settings import Settings

        docs = Path(tmp) / "docs"
        docs.mkdir()
        (docs / "tea-handbook.pdf").write_bytes(make_handbook())
        index = Path(tmp) / "index"
        build_index([docs], Settings(index=index), progress=False)
        port = free_port()
        process = serve(index, port)
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": 960, "height": 950}, color_scheme="light")
                page.goto(f"http://127.0.0.1:{port}/")
                page.fill("#question", QUESTION)
                page.press("#question", "Enter")
                page.locator("#answer a.citation").click()
                page.wait_for_function("() => [...document.querySelectorAll('.page-image img')]"
                                       ".every(i => i.complete && i.naturalWidth > 0)"
                                       " && document.querySelectorAll('.page-image').length === 1")
                captions = page.eval_on_selector_all(".page-image figcaption", "cs => cs.map(c => c.textContent)")
                if captions != ["Page 2 (PDF page 4)"]:
                    sys.exit(f"the answer's citation opened other pages than the picture is of: {captions}")
                page.evaluate("() => window.scrollTo(0, 0)")
                args.out.parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(args.out))
                browser.close()
        finally:
            process.terminate()
            process.wait(timeout=15)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
