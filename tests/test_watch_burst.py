"""A burst of changes is one sync even when its writer pauses for longer than watchfiles' quiet step (QUIET_MS)
in the middle of it: a batch of BURST_PATHS or more paths is gathered until the watcher has been quiet."""

from __future__ import annotations

import threading
import time

from askdocs.index.build import build_index
from askdocs.index.settings import Settings
from askdocs.index.store import read_current
from askdocs.index.watch import BURST_PATHS, QUIET_MS, FolderSync

from .fixtures import wait_for


def test_a_burst_whose_writer_pauses_longer_than_the_quiet_step_is_one_sync(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "falcon.txt").write_text("Project Falcon\n\nThe project lead of Project Falcon is Maria Lopez.\n")
    settings = Settings(index=tmp_path / "index")
    build_index([docs], settings, progress=False)
    published = read_current(settings.index)[1].generation
    reports = []
    sync = FolderSync([docs], settings, on_build=lambda report, error: reports.append((report, error)))
    stop, watching = threading.Event(), threading.Event()
    thread = threading.Thread(target=sync.run, args=(stop, watching.set), daemon=True)
    thread.start()
    try:
        assert watching.wait(60)
        for part in range(2):
            for n in range(2 * BURST_PATHS):
                (docs / f"note-{part}-{n:02}.txt").write_text(f"Note {part}.{n}\n\nGauge reading {n} was {n * 3} cm.\n")
            # A stall mid-burst: the watcher reports the first half on its own, 1-2 quiet steps after it.
            time.sleep(2.5 * QUIET_MS / 1000)
        wait_for(lambda: reports, "the burst's sync", seconds=120)
        time.sleep(2.0)  # a second sync, if the burst were split, would have reported by now
        assert len(reports) == 1 and reports[0][1] is None, reports
        assert len(reports[0][0].changes.added) == 4 * BURST_PATHS
        assert read_current(settings.index)[1].generation == published + 1
    finally:
        stop.set()
        thread.join(60)
