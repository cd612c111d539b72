"""A watcher's sync looks only at the paths it reported changed (index.changed_walk), and walks every folder
when the change is not a list of files (a folder renamed or deleted). Either way the index equals a build from
scratch of the same folder, made by another process."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from pathlib import Path

import numpy as np

from askdocs.index.settings import Settings
from askdocs.index.store import open_stored_index
from askdocs.index.watch import FolderSync

from .conftest import BIN
from .fixtures import wait_for
from .test_watch import FALCON, HERON


def _rows(index: Path):
    stored = open_stored_index(index)
    try:
        docs = {d.doc_id: d.text for d in stored.all_documents()}
        chunks = {c.chunk_id: (c.char_start, c.char_end, v) for c, v in zip(stored.all_chunks(), stored.all_vectors())}
        return docs, chunks, stored.manifest.section("file_counts")
    finally:
        stored.close()


def _assert_same_as_a_fresh_build(docs: Path, index: Path, scratch: Path) -> None:
    subprocess.run([str(BIN / "build-index"), str(docs), "--index", str(scratch), "--no-progress"], check=True,
                   timeout=600, capture_output=True, env={**os.environ, "ASKDOCS_PRECISION": "fp32"})
    (watched_docs, watched_chunks, _), (fresh_docs, fresh_chunks, fresh_counts) = _rows(index), _rows(scratch)
    assert watched_docs == fresh_docs
    assert {k: v[:2] for k, v in watched_chunks.items()} == {k: v[:2] for k, v in fresh_chunks.items()}
    for chunk_id, (_, _, vector) in fresh_chunks.items():
        np.testing.assert_allclose(watched_chunks[chunk_id][2], vector, atol=1e-6)
    return fresh_counts


def test_edits_follow_the_changed_paths_and_a_renamed_or_deleted_folder_walks_everything(tmp_path):
    docs = tmp_path / "docs"
    (docs / "tides" / "deep").mkdir(parents=True)
    (docs / "archive").mkdir()
    (docs / "falcon.txt").write_text(FALCON)
    (docs / "tides" / "gauge.txt").write_text(HERON)
    (docs / "tides" / "deep" / "buoy.md").write_text("# Buoy\n\nThe buoy reports the swell every ten minutes.\n")
    (docs / "archive" / "old.txt").write_text("Old plan\n\nThe old harbour plan was dropped in 2019.\n")
    (docs / "photo.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (docs / ".git").mkdir()
    index = tmp_path / "index"
    reports = []
    sync = FolderSync([docs], Settings(index=index, precision="fp32"), on_build=lambda r, e: reports.append((r, e)))
    stop = threading.Event()
    thread = threading.Thread(target=sync.run, args=(stop, sync.sync), daemon=True)
    thread.start()

    def synced(change, what: str):
        before = len(reports)
        change()
        wait_for(lambda: len(reports) > before and (reports[-1][0] is None or reports[-1][0].published),
                 what, seconds=180)
        report, error = reports[-1]
        assert error is None, error
        return report

    try:
        wait_for(lambda: reports, "the first sync", seconds=300)
        assert reports[0][1] is None and reports[0][0].walk == "full"  # the first sync walks everything

        edited = synced(lambda: (docs / "tides" / "gauge.txt").write_text(HERON.replace("Ken Adams", "Lena Berg")),
                        "the edit")
        assert edited.walk == "changed paths" and edited.changes.updated == ["tides/gauge.txt"]
        assert edited.changes.added == edited.changes.removed == []
        _assert_same_as_a_fresh_build(docs, index, tmp_path / "scratch-1")

        def add():
            (docs / "tides" / "heron.txt").write_text(HERON)
            (docs / "tides" / "chart.xyz").write_bytes(b"chart")
            (docs / ".git" / "index").write_bytes(b"changed")  # under a hidden folder: nothing to look at
        added = synced(add, "the added files")
        assert added.walk == "changed paths" and added.changes.added == ["tides/heron.txt"]
        counts = _assert_same_as_a_fresh_build(docs, index, tmp_path / "scratch-2")
        assert _rows(index)[2] == counts  # the files not indexed are the ones a full walk finds

        renamed = synced(lambda: (docs / "tides").rename(docs / "tides-2020"), "the renamed folder")
        assert renamed.walk == "full" and renamed.embedded == 0
        assert sorted(renamed.changes.added) == ["tides-2020/deep/buoy.md", "tides-2020/gauge.txt",
                                                 "tides-2020/heron.txt"]
        _assert_same_as_a_fresh_build(docs, index, tmp_path / "scratch-3")

        deleted = synced(lambda: shutil.rmtree(docs / "archive"), "the deleted folder")
        assert deleted.walk == "full" and deleted.changes.removed == ["archive/old.txt"]
        _assert_same_as_a_fresh_build(docs, index, tmp_path / "scratch-4")

        again = synced(lambda: (docs / "falcon.txt").write_text(FALCON.replace("40,000", "55,000")), "the last edit")
        assert again.walk == "changed paths" and again.changes.updated == ["falcon.txt"]
        counts = _assert_same_as_a_fresh_build(docs, index, tmp_path / "scratch-5")
        assert _rows(index)[2] == counts
    finally:
        stop.set()
        thread.join(60)
        sync.close()
