"""Watch mode: `build-index --watch` and `askdocs serve --watch` keep an index in sync with its folders.

Real processes, a real file system (inotify, and the --poll fallback), real builds; every wait is for an
observable result (a generation, an answer), bounded, never a fixed sleep.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from askdocs.index.build import build_index
from askdocs.index.settings import Settings
from askdocs.index.store import read_current

from .conftest import BIN, Server
from .fixtures import wait_for

FALCON = "Project Falcon\n\nThe project lead of Project Falcon is Maria Lopez. The budget is 40,000 euros.\n"
HERON = "Project Heron\n\nProject Heron builds a tide gauge. Its project lead is Ken Adams.\n"


def generation(index: Path) -> tuple[str, dict] | None:
    current = read_current(index)
    return (current[0].name, current[1]) if current else None


def doc_ids(index: Path) -> list[str]:
    import sqlite3

    path = read_current(index)[0]
    with sqlite3.connect(f"file:{path / 'chunks.sqlite'}?mode=ro", uri=True) as db:
        return sorted(row[0] for row in db.execute("SELECT doc_id FROM documents"))


class Watching:
    """`build-index DOCS --index INDEX --watch [...]` as a subprocess; its output is collected in a file."""

    def __init__(self, docs: Path, index: Path, *extra: str):
        self.log_path = index.parent / "watch.log"
        self.log = open(self.log_path, "w+")
        self.process = subprocess.Popen([str(BIN / "build-index"), str(docs), "--index", str(index), "--no-progress",
                                         "--watch", *extra], stdout=self.log, stderr=subprocess.STDOUT,
                                        env=dict(os.environ), start_new_session=True)
        wait_for(lambda: "Ctrl-C stops" in self.output() or self.process.poll() is not None, "the watch to start",
                 seconds=120)
        assert self.process.poll() is None, self.output()

    def output(self) -> str:
        return self.log_path.read_text()

    def syncs(self) -> int:
        return self.output().count("Indexed ")  # one summary per build, the first one included

    def stop(self) -> int:
        self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(timeout=30)
        finally:
            if self.process.poll() is None:
                self.process.kill()
            self.log.close()


@pytest.fixture
def docs(tmp_path) -> Path:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "falcon.txt").write_text(FALCON)
    return folder


@pytest.mark.parametrize("mode", ["events", "poll"])
def test_build_index_watch_follows_adds_edits_renames_and_deletions(docs, tmp_path, mode):
    index = tmp_path / "index"
    watching = Watching(docs, index, *(["--poll", "0.2"] if mode == "poll" else []))
    try:
        first = generation(index)
        assert first and doc_ids(index) == ["falcon.txt"]

        (docs / "heron.txt").write_text(HERON)
        wait_for(lambda: doc_ids(index) == ["falcon.txt", "heron.txt"], "the new file to be indexed", seconds=120)

        (docs / "falcon.txt").write_text(FALCON.replace("Maria Lopez", "Ana Silva"))
        wait_for(lambda: "1 updated" in watching.output(), "the edit to be indexed", seconds=120)

        # A rename keeps the vectors: the content hash is the same, nothing goes through the model.
        before = watching.syncs()
        (docs / "heron.txt").rename(docs / "heron-project.txt")
        wait_for(lambda: doc_ids(index) == ["falcon.txt", "heron-project.txt"], "the rename to be indexed",
                 seconds=120)
        wait_for(lambda: watching.syncs() > before, "the rename's summary", seconds=120)
        # A poller may see the two halves of the rename in different scans: whatever syncs it took, none
        # embedded anything.
        since = watching.output().split("Indexed ")[before + 1:]
        assert since and all("embedded 0 of" in summary for summary in since), since

        (docs / "falcon.txt").unlink()
        wait_for(lambda: doc_ids(index) == ["heron-project.txt"], "the deletion to be indexed", seconds=120)
    finally:
        assert watching.stop() == 0, watching.output()


def test_a_file_added_during_the_first_build_of_build_index_watch_is_indexed(docs, tmp_path):
    # Enough files that the first build is still embedding when the new one is written: it has read the folder,
    # so only a watcher armed before it started can see the new file.
    for n in range(150):
        (docs / f"note-{n:03}.txt").write_text(f"Note {n}\n\nReading {n} of the tide gauge was {n * 3} cm.\n")
    index, log_path = tmp_path / "index", tmp_path / "watch.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen([str(BIN / "build-index"), str(docs), "--index", str(index), "--progress", "--watch"],
                                   stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for(lambda: "Embedding" in log_path.read_text() or process.poll() is not None, "the first build to embed",
                 seconds=120)
        (docs / "heron.txt").write_text(HERON)
        assert "Ctrl-C stops" not in log_path.read_text()  # the first build was still running
        wait_for(lambda: generation(index) and "heron.txt" in doc_ids(index),
                 "the file written during the first build to be indexed", seconds=120)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        finally:
            if process.poll() is None:
                process.kill()


def test_a_burst_of_changes_is_one_build_and_an_untouched_folder_publishes_nothing(docs, tmp_path):
    index = tmp_path / "index"
    watching = Watching(docs, index)
    try:
        before = generation(index)[1].generation
        for n in range(500):  # what a `git checkout` does to a folder
            (docs / f"note-{n:03}.txt").write_text(f"Note {n}\n\nReading {n} of the tide gauge was {n * 3} cm.\n")
        wait_for(lambda: len(doc_ids(index)) == 501, "the burst to be indexed", seconds=120)
        assert generation(index)[1].generation == before + 1, watching.output()
        # The sync prints its summary just after publishing: wait for it before counting.
        wait_for(lambda: watching.syncs() >= 2, "the burst's sync summary", seconds=30)
        assert watching.syncs() == 2  # the first build and one for the whole burst
        assert_same_as_a_fresh_build(docs, index, tmp_path)

        # Touching a file without changing its bytes is an event, but not a change: nothing is published.
        os.utime(docs / "note-000.txt")
        wait_for(lambda: watching.syncs() == 3, "the touch's sync", seconds=120)
        assert "No change since generation" in watching.output().split("Indexed ")[-1]
        assert generation(index)[1].generation == before + 1
    finally:
        watching.stop()


def assert_same_as_a_fresh_build(docs: Path, index: Path, tmp_path: Path, settings: Settings | None = None) -> None:
    """What the watch left equals a from-scratch build of the folder: documents, chunks, vectors to 1e-6.
    ``settings``: those the index was built with (the defaults if None)."""
    import numpy as np

    from askdocs.index.store import open_stored_index

    scratch = tmp_path / "scratch"
    build_index([docs], (settings or Settings()).replace(index=scratch), progress=False)
    rows = []
    for folder in (index, scratch):
        stored = open_stored_index(folder)
        try:
            by_id = {d.doc_id: d.text for d in stored.all_documents()}
            chunks = sorted((c.chunk_id, c.char_start, c.char_end, v.tobytes() and tuple(v.round(6)))
                            for c, v in zip(stored.all_chunks(), stored.all_vectors()))
            vectors = {c.chunk_id: v for c, v in zip(stored.all_chunks(), stored.all_vectors())}
            rows.append((by_id, [c[:3] for c in chunks], vectors))
        finally:
            stored.close()
    (watched_docs, watched_chunks, watched_vectors), (fresh_docs, fresh_chunks, fresh_vectors) = rows
    assert watched_docs == fresh_docs
    assert watched_chunks == fresh_chunks
    for chunk_id, vector in fresh_vectors.items():
        np.testing.assert_allclose(watched_vectors[chunk_id], vector, atol=1e-6)


def test_a_folder_deleted_and_recreated_and_a_symlink_loop_leave_the_index_a_fresh_build(docs, tmp_path):
    import shutil

    index = tmp_path / "index"
    (docs / "tides").mkdir()
    (docs / "tides" / "gauge.txt").write_text(HERON)
    watching = Watching(docs, index)
    try:
        shutil.rmtree(docs / "tides")
        wait_for(lambda: doc_ids(index) == ["falcon.txt"], "the deleted folder to leave the index", seconds=120)
        (docs / "tides").mkdir()
        (docs / "tides" / "gauge.txt").write_text(HERON.replace("Ken Adams", "Lena Berg"))
        wait_for(lambda: doc_ids(index) == ["falcon.txt", "tides/gauge.txt"], "the re-created folder", seconds=120)
        (docs / "tides" / "loop").symlink_to(docs)  # a loop appears: named in the summary, nothing else changes
        # The re-created folder's summary may still be on its way (a sync publishes, then prints): wait for the
        # summary that names the loop, whichever sync it is.
        last = wait_for(lambda: (s := watching.output().split("Indexed ")[-1]) and "No change since generation" in s
                        and s, "the loop's sync", seconds=120)
        named = [line for line in last.splitlines() if "tides/loop" in line and not line.startswith("INFO")]
        assert named and "loop" in named[0], last
        assert_same_as_a_fresh_build(docs, index, tmp_path)
    finally:
        assert watching.stop() == 0, watching.output()


def test_json_gives_one_line_per_sync(docs, tmp_path):
    import json

    index = tmp_path / "index"
    watching = Watching(docs, index, "--json")
    try:
        (docs / "heron.txt").write_text(HERON)
        wait_for(lambda: "heron.txt" in doc_ids(index), "the new file", seconds=120)

        def lines():
            # The first build prints its object over several lines; each sync is one line.
            return [json.loads(line) for line in watching.output().splitlines()
                    if line.startswith("{") and line.endswith("}")]

        syncs = wait_for(lambda: [line for line in lines() if "sync" in line], "a sync line", seconds=120)
        last = syncs[-1]
        assert last["sync"]["ok"] and last["sync"]["added"] == 1 and last["published"]
        assert last["file_counts"] and "indexed" not in last
    finally:
        assert watching.stop() == 0, watching.output()


def test_a_file_still_being_written_is_read_once_it_is_complete(docs, tmp_path):
    index = tmp_path / "index"
    watching = Watching(docs, index)
    try:
        before = generation(index)[1].generation
        path = docs / "growing.txt"
        with open(path, "w") as out:
            for n in range(12):  # written over ~2.4 s, longer than a burst is gathered
                out.write(f"Line {n} of the growing file.\n" if n < 11 else "The growing file is complete.\n")
                out.flush()
                time.sleep(0.2)
        wait_for(lambda: "growing.txt" in doc_ids(index), "the file to be indexed", seconds=120)
        path_generation = read_current(index)[0]
        import sqlite3

        with sqlite3.connect(f"file:{path_generation / 'chunks.sqlite'}?mode=ro", uri=True) as db:
            (text,) = db.execute("SELECT text FROM documents WHERE doc_id = 'growing.txt'").fetchone()
        assert text.endswith("The growing file is complete.\n") or "The growing file is complete." in text
        # The half-written file was never the one indexed: only one build took it, and it had all of it. The syncs
        # start before a file has stood still (index.watch.Settle); a generation holding a part would be one more.
        # The sync reports after it publishes, so its line may come a moment after the document is visible.
        wait_for(lambda: "1 added" in watching.output(), "the sync's report", seconds=30)
        assert watching.output().count("1 added") == 1, watching.output()
        assert generation(index)[1].generation == before + 1, watching.output()
    finally:
        watching.stop()


def test_serve_watch_answers_from_a_file_added_while_it_runs(docs, tmp_path):
    index = tmp_path / "index"
    build_index([docs], Settings(index=index), progress=False)
    # A reload poll far longer than the waits below: the new generation can only be served because the sync
    # that published it tells the server at once (api.reload.Watcher.nudge).
    server = Server(index, extra_args=("--watch",), env={"ASKDOCS_RELOAD_INTERVAL": "600"})
    try:
        question = {"question": "Who is the project lead of Project Heron?", "top_k": 1}
        # After the start-up sync (what changed while nothing watched), so the new file is the watcher's to see.
        wait_for(lambda: httpx.get(server.url + "/health", timeout=30).json()["sync"]["last"], "the first sync",
                 seconds=90)
        (docs / "heron.txt").write_text(HERON)

        def answered():
            body = httpx.post(server.url + "/ask", json=question, timeout=30).json()
            return body if not body["no_answer"] and "Ken Adams" in body["answer"]["text"] else None

        body = wait_for(answered, "the served answer to come from the new file", seconds=90)
        citation = body["answer"]["citation"]
        document = httpx.get(f"{server.url}/documents/{citation['doc_id']}", timeout=30).json()
        assert document["text"][citation["char_start"]:citation["char_end"]] == body["answer"]["text"]
        assert "watching " in server.output()

        # /health says what is watched and what the last sync did.
        sync = wait_for(lambda: (s := httpx.get(server.url + "/health", timeout=30).json()["sync"])["last"]
                        and s["last"]["added"] == 1 and s, "the sync status", seconds=30)
        assert sync["folders"] == [str(docs)] and sync["mode"] == "events" and sync["syncs"] >= 2
        assert sync["last"]["ok"] and sync["last"]["published"] and sync["pending_changes"] == 0
        collections = httpx.get(server.url + "/collections", timeout=30).json()["collections"]
        assert collections[0]["sync"]["folders"] == [str(docs)]
        # Syncs build in a child process kept between them, so a build never shares the server's interpreter.
        builder = sync["build_process"]
        assert builder not in (None, server.process.pid) and _parent(builder) == server.process.pid
    finally:
        server.stop()
    assert not Path(f"/proc/{builder}").exists() or "Z" in _state(builder)  # ended with the server


def _parent(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def _state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def test_serve_watch_refuses_an_index_that_does_not_record_its_folders(tmp_path):
    from askdocs.index.build import build_from_documents
    from askdocs.index.documents import Document

    text = "A document built from a list, not from a folder.\n"
    document = Document(doc_id="a.txt", title="A", source="a.txt", sha256="0" * 64, text=text, kind="text",
                        size=len(text), mtime=0.0)
    index = tmp_path / "index"
    build_from_documents([document], Settings(index=index), progress=False)
    done = subprocess.run([str(BIN / "askdocs"), "serve", "--index", str(index), "--watch", "--port", "1"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert "does not record the folders it was built from" in done.stderr
