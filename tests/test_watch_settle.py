"""The settle check of watch mode: a changed file is read once its size and mtime have stood still for
SETTLE_SECONDS, counting the time it had already been quiet when the watcher reported it."""

from __future__ import annotations

import threading
import time

from askdocs.index.settings import Settings
from askdocs.index.watch import SETTLE_SECONDS, FolderSync


def test_a_file_already_quiet_for_the_settle_period_is_read_at_once(tmp_path):
    path = tmp_path / "saved.txt"
    path.write_text("Saved a while ago.\n")
    time.sleep(SETTLE_SECONDS)  # the file's age is what is under test
    sync = FolderSync([tmp_path], Settings(index=tmp_path / "index"))
    began = time.monotonic()
    assert sync._settled([path], threading.Event())
    assert time.monotonic() - began < SETTLE_SECONDS / 2  # a whole settle period more was waited before


def test_a_file_still_being_written_is_waited_for_until_it_stops(tmp_path):
    path = tmp_path / "growing.txt"
    path.write_text("Line 0.\n")
    done = threading.Event()

    def write():
        with open(path, "a") as out:
            for n in range(1, 10):
                time.sleep(0.1)
                out.write(f"Line {n}.\n")
                out.flush()
        done.set()

    writer = threading.Thread(target=write)
    writer.start()
    try:
        sync = FolderSync([tmp_path], Settings(index=tmp_path / "index"))
        assert sync._settled([path], threading.Event())
        assert done.is_set() and path.read_text().endswith("Line 9.\n")
    finally:
        writer.join()
