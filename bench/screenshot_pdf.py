"""Write docs/screenshot-pdf.png: the document view of a PDF citation whose sentence crosses a page break,
the cited characters boxed on both rendered pages, in real headless Chromium.

    .venv/bin/python bench/screenshot_pdf.py [--out docs/screenshot-pdf.png]

The PDF is generated (tests/fixtures.py make_pdf), indexed in a temporary folder and served.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import httpx
from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from screenshot import CHROMIUM_ARGS, free_port, serve  # noqa: E402

from tests.fixtures import make_pdf  # noqa: E402

PAGES = [
    "Tea cultivation guide\nTea plants grow best at altitudes between 600 and 2000 metres.\n"
    "The leaves are picked by hand, and the first flush of spring is the most prized:\nits buds are",
    "small and tender, and are withered for a day before rolling.\nProcessing\n"
    "Green tea is steamed or pan fired right after picking to stop oxidation.\nBlack tea is fully oxidised.",
]
CITED = ("the first flush of spring", "before rolling.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshot-pdf.png")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        from askdocs.index.build import build_index
        from askdocs.index.settings import Settings

        docs = Path(tmp) / "docs"
        docs.mkdir()
        (docs / "tea.pdf").write_bytes(make_pdf(PAGES, title="Tea from leaf to cup"))
        index = Path(tmp) / "index"
        build_index([docs], Settings(index=index), progress=False)
        port = free_port()
        process = serve(index, port)
        try:
            text = httpx.get(f"http://127.0.0.1:{port}/documents/tea.pdf", timeout=30).json()["text"]
            start = text.index(CITED[0])
            end = text.index(CITED[1]) + len(CITED[1])
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": 960, "height": 1400}, color_scheme="light")
                page.goto(f"http://127.0.0.1:{port}/view/tea.pdf?start={start}&end={end}")
                page.wait_for_function("() => [...document.querySelectorAll('.page-image img')]"
                                       ".every(i => i.complete && i.naturalWidth > 0)"
                                       " && document.querySelectorAll('.page-image').length === 2")
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
