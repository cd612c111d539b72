"""Opening refuses what it cannot honour; a killed build leaves the previous index servable."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from index.store import (
    CHUNKS_DB, MANIFEST, VECTORS, BuildLocked, IndexCorrupt, IndexMismatch, IndexNotFound, build_lock,
    generation_dir, open_stored_index,
)
from search import open_index

from .conftest import BIN, SEED_QUESTION, Server, copy_index


def _edit_manifest(index: Path, edit) -> None:
    path = generation_dir(index) / MANIFEST
    manifest = json.loads(path.read_text())
    edit(manifest)
    path.write_text(json.dumps(manifest))


def test_missing_index_says_to_build(tmp_path):
    with pytest.raises(IndexNotFound, match="build-index"):
        open_stored_index(tmp_path / "nothing-here")
    (tmp_path / "empty").mkdir()
    with pytest.raises(IndexNotFound, match="build-index"):
        open_stored_index(tmp_path / "empty")


@pytest.mark.parametrize(
    "edit, error, words",
    [
        (lambda m: m.update(format_version=99), IndexMismatch, "format version 99"),
        (lambda m: m["model"].update(name="someone/other-model"), IndexMismatch, "someone/other-model"),
        (lambda m: m["model"].update(dimension=768), IndexMismatch, "768-dimensional"),
        (lambda m: m.update(format="something-else"), IndexCorrupt, "not an askdocs manifest"),
    ],
)
def test_manifest_mismatch_is_refused(tmp_path, seeds_index, edit, error, words):
    index = copy_index(seeds_index, tmp_path / "index")
    _edit_manifest(index, edit)
    with pytest.raises(error, match=words) as raised:
        open_index(index)
    assert "build-index" in str(raised.value)


def test_truncated_vectors_and_damaged_database_are_refused(tmp_path, seeds_index):
    index = copy_index(seeds_index, tmp_path / "a")
    vectors = generation_dir(index) / VECTORS
    vectors.write_bytes(vectors.read_bytes()[:100])
    with pytest.raises(IndexCorrupt, match="bytes"):
        open_stored_index(index)

    index = copy_index(seeds_index, tmp_path / "b")
    database = generation_dir(index) / CHUNKS_DB
    data = bytearray(database.read_bytes())
    data[200:260] = b"\xff" * 60  # same size, different bytes
    database.write_bytes(bytes(data))
    with pytest.raises(IndexCorrupt, match="checksum"):
        open_stored_index(index)


def test_a_second_build_on_the_same_index_is_refused(tmp_path):
    with build_lock(tmp_path / "index"):
        with pytest.raises(BuildLocked, match="another build-index"):
            with build_lock(tmp_path / "index"):
                pass


def _many_documents(folder: Path, count: int) -> Path:
    folder.mkdir(parents=True)
    for i in range(count):
        (folder / f"doc{i:04}.txt").write_text(
            f"Document {i}\n\n" + " ".join(f"Sentence {j} of document {i} mentions item {i * j}." for j in range(40))
        )
    return folder


def test_killed_build_leaves_previous_index_servable(tmp_path, seeds_index):
    index = copy_index(seeds_index, tmp_path / "index")
    before = (index / "CURRENT").read_text()
    corpus = _many_documents(tmp_path / "many", 150)

    # Kill once while embedding, once while the new generation is being written.
    for moment in ("Embedding", "writing"):
        build = subprocess.Popen(
            [str(BIN / "build-index"), str(corpus), "--index", str(index), "--progress"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=False,
        )
        generations = index / "generations"
        deadline = time.monotonic() + 120
        output = b""
        while time.monotonic() < deadline and build.poll() is None:
            if moment == "Embedding":
                output += os.read(build.stdout.fileno(), 4096)
                if b"Embedding" in output:
                    break
            elif any(p.name.startswith(".tmp-") for p in generations.iterdir()):
                break
        assert build.poll() is None, f"build finished before it could be killed at {moment}"
        build.send_signal(signal.SIGKILL)
        build.wait()
        assert (index / "CURRENT").read_text() == before

        engine = open_index(index)
        assert "France" in engine.ask(SEED_QUESTION).passages[0].text
        engine.close()

    server = Server(index)
    try:
        response = httpx.post(server.url + "/ask", json={"question": SEED_QUESTION}, timeout=30)
        assert response.status_code == 200 and "France" in response.json()["passages"][0]["text"]
    finally:
        server.stop()

    # The next build cleans up the debris and publishes a correct index.
    done = subprocess.run([str(BIN / "build-index"), str(corpus), "--index", str(index)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "Indexed 150 documents" in done.stdout
    assert not any(p.name.startswith(".tmp-") for p in (index / "generations").iterdir())
    assert open_stored_index(index).n_documents == 150
