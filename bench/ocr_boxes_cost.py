"""What keeping OCR's character boxes costs: RapidOCR on one generated scanned page (tests/fixtures.py
text_image), lines only against lines with single-character boxes, one engine each, alternating.

    .venv/bin/python bench/ocr_boxes_cost.py [--runs 6]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fixtures import SCANNED_PAGES, text_image  # noqa: E402


def main() -> None:
    from rapidocr import RapidOCR

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=6)
    args = parser.parse_args()
    page = np.asarray(text_image("\n".join(SCANNED_PAGES)).convert("RGB"))
    # Two engines: RapidOCR keeps call options as its configuration, so one engine cannot alternate them.
    engines = {"lines": (RapidOCR(params={"Global.log_level": "error"}), {}),
               "lines + character boxes": (RapidOCR(params={"Global.log_level": "error"}),
                                           {"return_word_box": True, "return_single_char_box": True})}
    for engine, options in engines.values():
        engine(page, **options)  # models loaded, first-call costs paid
    seconds: dict[str, list[float]] = {name: [] for name in engines}
    for _ in range(args.runs):
        for name, (engine, options) in engines.items():
            started = time.perf_counter()
            engine(page, **options)
            seconds[name].append(time.perf_counter() - started)
    for name, values in seconds.items():
        print(f"{name}: median {statistics.median(values):.2f} s, min {min(values):.2f} s a page ({args.runs} runs)")


if __name__ == "__main__":
    main()
