"""Opening a generation (index.store.open_stored_index, as a server's reload does) beside busy Python threads.

    python bench/open_under_load.py var/watch/scifact/index --busy 8 --opens 7

A server reloads while its request threads want the GIL; a reading step that lets the GIL go (sqlite3 does,
around every row it steps) waits to get it back. Prints the median, min and max of OPENS opens with BUSY
threads spinning in Python (0: alone). Checksums are trusted, as after a sync of this process's build.
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
from pathlib import Path

from askdocs.index.store import open_stored_index


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("index", type=Path)
    parser.add_argument("--busy", type=int, default=8)
    parser.add_argument("--opens", type=int, default=7)
    args = parser.parse_args()
    stop = threading.Event()

    def spin() -> None:
        total = 0
        while not stop.is_set():
            for i in range(1000):
                total += i

    for _ in range(args.busy):
        threading.Thread(target=spin, daemon=True).start()
    seconds = []
    for _ in range(args.opens):
        began = time.perf_counter()
        open_stored_index(args.index, verify_checksums=False).close()
        seconds.append(time.perf_counter() - began)
    stop.set()
    print(f"{args.busy} busy threads: open median {statistics.median(seconds) * 1000:.0f} ms "
          f"(min {min(seconds) * 1000:.0f}, max {max(seconds) * 1000:.0f}) over {args.opens}")


if __name__ == "__main__":
    main()
