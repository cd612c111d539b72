"""The build process of `serve --watch` (FolderSync with isolate): a session of its own, so the scheduler shares
the cores between it and the server rather than between it and each of the server's threads; one embedding
thread; it ends itself when the server is gone without closing it; and a file still being written when the
watcher reported it is published only once it stood still (index.watch.Settle, checked in that process)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

from askdocs.index.settings import Settings
from askdocs.index.watch import BUILD_THREADS, FolderSync

from .fixtures import wait_for


def _torch_threads() -> int:
    import torch

    return torch.get_num_threads()


def test_the_build_process_has_a_session_of_its_own_and_embeds_on_build_threads(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "falcon.txt").write_text("Project Falcon\n\nThe project lead of Project Falcon is Maria Lopez.\n")
    sync = FolderSync([docs], Settings(index=tmp_path / "index"), isolate=True)
    try:
        report = sync.sync()
        assert report is not None and report.documents == 1, sync.last
        child = sync.build_process
        assert os.getsid(child) == child != os.getsid(0)
        assert sync._child.submit(_torch_threads).result() == BUILD_THREADS
    finally:
        sync.close()


def test_the_build_process_ends_when_its_server_is_killed(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "falcon.txt").write_text("Project Falcon\n\nThe project lead of Project Falcon is Maria Lopez.\n")
    # A server's process holding a build process, killed without a chance to close it.
    script = textwrap.dedent(f"""
        import sys, time
        from pathlib import Path
        from askdocs.index.settings import Settings
        from askdocs.index.watch import FolderSync

        sync = FolderSync([Path({str(docs)!r})], Settings(index=Path({str(tmp_path / 'index')!r})), isolate=True)
        sync.sync()
        print(sync.build_process, flush=True)
        time.sleep(600)
    """)
    server = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        child = int(server.stdout.readline())
        os.kill(child, 0)  # alive
    finally:
        server.send_signal(signal.SIGKILL)
        server.wait(30)

    def gone() -> bool:
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            return True
        # Reparented and exited, but not reaped yet: a zombie holds no memory and no lock.
        with open(f"/proc/{child}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"

    wait_for(gone, "the build process to end after its server was killed", seconds=30)


def test_a_file_still_being_written_is_not_published_by_the_build_process_until_it_stands_still(tmp_path):
    import sqlite3
    import threading

    from askdocs.index.store import read_current
    from askdocs.index.watch import Settle

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "falcon.txt").write_text("Project Falcon\n\nThe project lead of Project Falcon is Maria Lopez.\n")
    sync = FolderSync([docs], Settings(index=tmp_path / "index"), isolate=True)
    path = docs / "growing.txt"
    try:
        sync.sync()  # the first build; the build process's model is loaded from here on
        published = read_current(tmp_path / "index")[1].generation
        path.write_text("Line 0 of the growing file.\n")
        settle = Settle.now([path])  # as the watcher reports the first write

        def write():
            with open(path, "a") as out:
                for n in range(1, 8):
                    time.sleep(0.2)
                    out.write(f"Line {n} of the growing file.\n" if n < 7 else "The growing file is complete.\n")
                    out.flush()

        writer = threading.Thread(target=write)
        writer.start()
        try:
            report = sync.sync({path}, settle, threading.Event())
        finally:
            writer.join()
        assert report is not None and report.published, sync.last
        generation = read_current(tmp_path / "index")
        assert generation[1].generation == published + 1  # the half-written reads were never published
        with sqlite3.connect(f"file:{generation[0] / 'chunks.sqlite'}?mode=ro", uri=True) as db:
            (text,) = db.execute("SELECT text FROM documents WHERE doc_id = 'growing.txt'").fetchone()
        assert text.rstrip().endswith("The growing file is complete.")
    finally:
        sync.close()


def test_the_build_process_model_is_warm_when_its_first_sync_is_reported(tmp_path):
    # bf16's first encode in a process takes seconds whatever the text; an edit saved just after the first sync
    # (what changed while nothing watched) was reported waited behind it. The warm-up starts with the process and
    # the first sync's result waits for it, even when that sync embeds nothing.
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "falcon.txt").write_text("Project Falcon\n\nThe project lead of Project Falcon is Maria Lopez.\n")
    settings = Settings(index=tmp_path / "index")
    first = FolderSync([docs], settings, isolate=True)
    try:
        assert first.sync() is not None, first.last
    finally:
        first.close()
    sync = FolderSync([docs], settings, isolate=True)  # a server started on the index: a new build process
    try:
        sync.start()
        report = sync.sync()
        assert report is not None and not report.published and report.embedded == 0, sync.last
        assert sync.model_warm
    finally:
        sync.close()
