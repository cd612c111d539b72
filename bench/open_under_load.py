"""Opening a generation (index.store.open_stored_index, as a server's reload does) beside busy Python threads.

    python bench/open_under_load.py var/watch/scifact/index --busy 8 --opens 3 \\
        --json bench/results/open-under-load.json

A server reloads while its request threads want the GIL; a reading step that lets the GIL go (sqlite3 does,
around every row it steps) waits to get it back. After one open to warm the page cache, opens the generation
OPENS times alone, then OPENS times with BUSY threads spinning in Python, printing each open as it ends, then
the median, min and max of each. Checksums are trusted, as after a sync of this process's build.

An open still running after TIMEOUT seconds is recorded as timed out: its spinners stop so that it ends, and the
opens left beside busy threads are skipped (they would time out too), so a run ends in minutes whatever the
code does (an earlier form of this loop did not finish 7 opens in 8 minutes on code that stepped every row).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import machine  # noqa: E402

from askdocs.index import store  # noqa: E402


def _spin(stop: threading.Event) -> None:
    total = 0
    while not stop.is_set():
        for i in range(1000):
            total += i


def open_once(index: Path, busy: int, timeout: float) -> float | None:
    """Seconds one open took beside ``busy`` spinning threads, or None if it ran past ``timeout``."""
    stop = threading.Event()
    spinners = [threading.Thread(target=_spin, args=(stop,), daemon=True) for _ in range(busy)]
    for spinner in spinners:
        spinner.start()
    time.sleep(0.2 if busy else 0)  # every spinner running before the clock starts
    outcome: dict = {}

    def opener() -> None:
        began = time.perf_counter()
        try:
            store.open_stored_index(index, verify_checksums=False).close()
            outcome["seconds"] = time.perf_counter() - began
        except BaseException as exc:  # re-raised in the main thread
            outcome["error"] = exc

    thread = threading.Thread(target=opener)
    thread.start()
    thread.join(timeout)
    timed_out = thread.is_alive()
    stop.set()
    thread.join()
    for spinner in spinners:
        spinner.join()
    if "error" in outcome:
        raise outcome["error"]
    return None if timed_out else outcome["seconds"]


def _summary(seconds: list[float], skipped: int, timed_out: int) -> dict:
    ms = [round(s * 1000, 1) for s in seconds]
    return {"open_ms": ms, "timed_out": timed_out, "skipped": skipped,
            **({"median_ms": round(statistics.median(ms), 1), "min_ms": min(ms), "max_ms": max(ms)} if ms else {})}


def _code() -> dict:
    """Which askdocs ran: the checkout its modules come from, and that checkout's commit."""
    root = Path(store.__file__).resolve().parent.parent
    head = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True)
    return {"checkout": str(root), "commit": head.stdout.strip() or None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("index", type=Path)
    parser.add_argument("--busy", type=int, default=8, help="Threads spinning in Python beside the open.")
    parser.add_argument("--opens", type=int, default=3, help="Opens alone, then as many beside the busy threads.")
    parser.add_argument("--timeout", type=float, default=60.0, help="Seconds one open may take.")
    parser.add_argument("--json", type=Path, help="Write the results here.")
    args = parser.parse_args()

    opened = store.open_stored_index(args.index, verify_checksums=False)
    generation = {"name": opened.path.name, "chunks": opened.n_chunks, "documents": opened.n_documents}
    opened.close()
    print(f"{args.index}: generation {generation['name']}, {generation['chunks']} chunks, "
          f"{generation['documents']} documents", flush=True)
    results = {}
    for label, busy in (("alone", 0), (f"{args.busy} busy threads", args.busy)):
        seconds, timed_out = [], 0
        for n in range(args.opens):
            took = open_once(args.index, busy, args.timeout)
            if took is None:
                timed_out += 1
                print(f"  {label}: open {n + 1}/{args.opens} still running after {args.timeout:g} s; "
                      "the rest skipped", flush=True)
                break
            seconds.append(took)
            print(f"  {label}: open {n + 1}/{args.opens} {took * 1000:.0f} ms", flush=True)
        results[label] = _summary(seconds, args.opens - len(seconds) - timed_out, timed_out)
        found = results[label]
        if seconds:
            print(f"{label}: open median {found['median_ms']:.0f} ms (min {found['min_ms']:.0f}, "
                  f"max {found['max_ms']:.0f}) over {len(seconds)}", flush=True)
    if args.json:
        args.json.write_text(json.dumps({
            "index": str(args.index), "generation": generation, "busy": args.busy, "opens": args.opens,
            "timeout_s": args.timeout, "results": results, "code": _code(), "machine": machine(),
        }, indent=2) + "\n")
        print(f"results: {args.json}")


if __name__ == "__main__":
    main()
