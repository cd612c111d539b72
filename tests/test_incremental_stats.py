"""The stat cache (index.file_stats): an incremental build takes a file whose size, mtime, ctime and inode are
the ones recorded when it was read as unchanged without reading it, and still equals a build from scratch."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from askdocs.index import file_stats
from askdocs.index.build import build_index
from askdocs.index.settings import Settings
from askdocs.index.store import generation_dir
from askdocs.index.watch import FULL_CHECK_SECONDS, FolderSync

from .fixtures import write_corpus
from .test_watch import assert_same_as_a_fresh_build


def _aged(folder: Path) -> Path:
    """Wait until every file under ``folder`` was last changed longer ago than the racy window (a file read
    sooner after its last change is hashed again by the next build, by design)."""
    newest = max(max(p.stat().st_mtime, p.stat().st_ctime) for p in folder.rglob("*") if p.is_file())
    while time.time() - newest <= file_stats.RACY_SECONDS + 0.05:
        time.sleep(0.05)
    return folder


def _recorded(index: Path) -> dict:
    return json.loads((generation_dir(index) / file_stats.FILE).read_text())["files"]


def test_unchanged_files_are_not_read_and_a_same_size_edit_with_its_mtime_put_back_is_still_seen(tmp_path):
    docs = write_corpus(tmp_path / "docs")
    (docs / "plan.txt").write_text("Harbour plan\n\nThe harbour crane is inspected every March.\n")
    _aged(docs)
    settings = Settings(index=tmp_path / "index", precision="fp32")
    build_index([docs], settings, progress=False)
    assert sorted(_recorded(settings.index)) == ["notes/bicycle.txt", "notes/coffee.md", "plan.txt", "solar.html",
                                                  "tea.pdf"]

    again = build_index([docs], settings, progress=False)
    assert again.hashed == 0 and not again.published  # nothing read: every file's stats vouched for it

    # Same size, other bytes, and the mtime put back as it was: only the ctime (which no call can set) moved.
    plan = docs / "plan.txt"
    before = plan.stat()
    plan.write_text(plan.read_text().replace("March", "April"))
    os.utime(plan, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert plan.stat().st_size == before.st_size and plan.stat().st_mtime_ns == before.st_mtime_ns
    edited = build_index([docs], settings, progress=False)
    assert edited.changes.updated == ["plan.txt"] and edited.hashed == 1
    assert_same_as_a_fresh_build(docs, settings.index, tmp_path, settings)

    # --rehash reads every file the index holds, whatever its stats say.
    full = build_index([docs], settings, progress=False, rehash=True)
    assert full.hashed == 5 and not full.published


def test_a_file_read_right_after_it_changed_is_not_vouched_for_by_its_stats(tmp_path):
    docs = write_corpus(tmp_path / "docs")
    _aged(docs)
    settings = Settings(index=tmp_path / "index", precision="fp32")
    build_index([docs], settings, progress=False)
    # Changed and read within the racy window: a write after the read could leave these very timestamps, so the
    # new generation does not record them and the next build hashes the file.
    note = docs / "notes" / "bicycle.txt"
    note.write_text(note.read_text() + "\nThe chain is oiled every month.\n")
    report = build_index([docs], settings, progress=False)
    assert report.changes.updated == ["notes/bicycle.txt"]
    assert "notes/bicycle.txt" not in _recorded(settings.index)
    assert build_index([docs], settings, progress=False).hashed == 1


def test_a_watcher_hashes_every_file_at_its_first_sync_and_once_a_full_check_period_has_passed(tmp_path):
    docs = _aged(write_corpus(tmp_path / "docs"))
    settings = Settings(index=tmp_path / "index", precision="fp32")
    build_index([docs], settings, progress=False)
    sync = FolderSync([docs], settings)
    sync.sync()
    assert sync.last["hashed"] == 4  # what changed while nothing watched, stats or not
    sync.sync()
    assert sync.last["hashed"] == 0
    sync.checked_at -= FULL_CHECK_SECONDS + 1  # an hour later
    sync.sync()
    assert sync.last["hashed"] == 4
