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


def test_a_file_still_being_written_when_reported_is_named_as_moved(tmp_path):
    from askdocs.index.watch import Settle

    path = tmp_path / "growing.txt"
    path.write_text("Line 0.\n")
    settle = Settle.now([path, tmp_path / "deleted.txt"])
    stop = threading.Event()

    def write():
        with open(path, "a") as out:
            while not stop.wait(0.1):
                out.write("One more line.\n")
                out.flush()

    writer = threading.Thread(target=write)
    writer.start()
    try:
        assert settle.moved() == [str(path)]  # a path that is gone, then and now, did not move
    finally:
        stop.set()
        writer.join()


def test_a_saved_file_is_checked_only_for_the_rest_of_the_settle_period(tmp_path):
    from askdocs.index.watch import Settle

    path = tmp_path / "saved.txt"
    path.write_text("Saved once.\n")
    time.sleep(SETTLE_SECONDS * 0.6)  # reported a while after the save, as by the watcher's quiet step
    settle = Settle.now([path])
    began = time.monotonic()
    assert settle.moved() == []
    waited = time.monotonic() - began
    # Counted from the file's last write, not from when the check was asked for.
    assert waited < SETTLE_SECONDS * 0.6 and time.time() - path.stat().st_mtime >= SETTLE_SECONDS


def test_a_saved_file_is_read_by_its_sync_before_the_settle_period_ends_and_published_after(tmp_path):
    """The lever of issue 18's latency: the sync starts as soon as the watcher reports the file (watchfiles' quiet
    step), and only the publishing waits for the file to have stood still for SETTLE_SECONDS."""
    from askdocs.index.build import build_index
    from askdocs.index.store import read_current

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "falcon.txt").write_text("Project Falcon\n\nThe project lead of Project Falcon is Maria Lopez.\n")
    settings = Settings(index=tmp_path / "index")
    build_index([docs], settings, progress=False)
    published = read_current(settings.index)[1].generation
    sync = FolderSync([docs], settings)
    stop, watching = threading.Event(), threading.Event()
    thread = threading.Thread(target=sync.run, args=(stop, watching.set), daemon=True)
    thread.start()
    try:
        assert watching.wait(60)
        sync.sync()  # loads the model and hashes the folder once, as a server's first sync does
        path = docs / "heron.txt"
        path.write_text("Project Heron\n\nIts project lead is Ken Adams.\n")
        saved = time.time()
        deadline = time.monotonic() + 60
        while sync.builds < 2 and time.monotonic() < deadline:
            time.sleep(0.005)
        started = time.time() - saved
        while read_current(settings.index)[1].generation == published and time.monotonic() < deadline:
            time.sleep(0.005)
        assert read_current(settings.index)[1].generation == published + 1, sync.last
        assert started < SETTLE_SECONDS, f"the sync started {started:.2f} s after the save"
        assert time.time() - path.stat().st_mtime >= SETTLE_SECONDS
    finally:
        stop.set()
        thread.join(30)
