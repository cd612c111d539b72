"""Write docs/screenshot.png: the web page answering the seed question, in real headless Chromium.

    .venv/bin/python bench/screenshot.py [--index DIR] [--out docs/screenshot.png]

Without --index it builds a fresh index of seeds/ in a temporary folder, so the picture shows
exactly what `make run` serves. Needs Debian's chromium at /usr/bin/chromium.
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
QUESTION = "Which G7 country voted in favour of the UN resolution calling for a humanitarian truce?"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def serve(index: Path, port: int) -> subprocess.Popen:
    askdocs = Path(sys.executable).parent / "askdocs"
    process = subprocess.Popen([str(askdocs), "serve", "--index", str(index), "--port", str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"askdocs serve exited with {process.returncode}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    process.kill()
    sys.exit("askdocs serve did not start")


def shoot(url: str, out: Path) -> None:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        # Light scheme and a fixed size, so regenerating the picture changes only what changed.
        page = browser.new_page(viewport={"width": 960, "height": 900}, color_scheme="light")
        page.goto(url)
        page.fill("#question", QUESTION)
        page.press("#question", "Enter")
        page.wait_for_selector("#answer .answer-text")
        page.locator("#question").blur()  # the focus ring on the box would only distract in a picture
        page.screenshot(path=str(out))
        browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=Path, help="serve this index instead of building one of seeds/")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshot.png")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        index = args.index
        if index is None:
            from askdocs.index.build import build_index
            from askdocs.index.settings import Settings

            index = Path(tmp) / "index"
            build_index([ROOT / "seeds"], Settings(index=index), progress=False)
        port = free_port()
        process = serve(index, port)
        try:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            shoot(f"http://127.0.0.1:{port}/", args.out)
        finally:
            process.terminate()
            process.wait(timeout=15)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
