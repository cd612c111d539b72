"""Opening refuses what it cannot honour; a build killed at any moment leaves a servable index."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from askdocs.index.build import build_index
from askdocs.index.settings import Settings
from askdocs.index.store import (
    CHUNKS_DB, CURRENT, GENERATIONS, MANIFEST, VECTORS, BuildLocked, IndexCorrupt, IndexMismatch, IndexNotFound,
    build_lock, generation_dir, open_stored_index,
)
from askdocs.search import open_index

from .conftest import BIN, SEED_QUESTION, copy_index


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


def _write_corpus(folder: Path, round_: int, count: int = 12) -> None:
    # New words every round, so every build has all of its chunks to embed and each moment of it can be hit.
    folder.mkdir(exist_ok=True)
    for i in range(count):
        (folder / f"doc{i:03}.txt").write_text(
            f"Report {i} of round {round_}\n\n"
            + " ".join(f"In round {round_} station {i} measured {j * i + round_} units at gauge {j}." for j in range(30))
        )


def _rows(index: Path):
    stored = open_stored_index(index)
    try:
        return [(d.doc_id, d.sha256, d.text) for d in stored.all_documents()], stored.all_chunks(), stored.all_vectors()
    finally:
        stored.close()


# Where a build can be when it is killed: reading files, chunking, embedding, or writing the new generation.
PHASES = ("Reading", "Chunking", "Embedding", "writing")


def test_builds_killed_at_random_moments_leave_a_servable_index_and_the_next_build_is_right(tmp_path, seeds_index):
    seed = int(os.environ.get("ASKDOCS_KILL_SEED", random.randrange(1 << 30)))
    rng = random.Random(seed)
    index = copy_index(seeds_index, tmp_path / "index")
    corpus = tmp_path / "docs"
    published = {(index / CURRENT).read_text(): ("seeds", 1)}
    history = []
    # Every phase once, in random order, plus one more; a random moment in each (phases last as long as
    # the machine makes them, so the moment is drawn after the phase is seen to start).
    phases = rng.sample(PHASES, len(PHASES)) + [rng.choice(PHASES)]
    for round_, phase in enumerate(phases):
        _write_corpus(corpus, round_)
        delay = rng.uniform(0.0, 0.4)
        build = subprocess.Popen([str(BIN / "build-index"), str(corpus), "--index", str(index), "--progress"],
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        output = bytearray()

        def read(stream=build.stdout, into=output):
            while block := os.read(stream.fileno(), 4096):
                into.extend(block)

        reader = threading.Thread(target=read, daemon=True)
        reader.start()

        def reached(phase=phase, output=output) -> bool:
            if phase == "writing":
                return any(p.name.startswith(".tmp-") for p in (index / GENERATIONS).iterdir())
            return phase.encode() in output

        deadline = time.monotonic() + 180
        while not reached() and build.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        time.sleep(delay)
        finished = build.poll() is not None
        build.send_signal(signal.SIGKILL)
        build.wait()
        reader.join(timeout=10)
        current = (index / CURRENT).read_text()
        if current not in published:
            published[current] = (f"round {round_}", 12)  # the build got to publish before the kill
        history.append((round_, phase, round(delay, 2), finished, published[current][0]))

        # Whatever the moment, CURRENT names a complete, checksummed generation that answers.
        stored = open_stored_index(index)
        assert stored.n_documents == published[current][1], (seed, history)
        stored.close()
        engine = open_index(index)
        assert engine.ask(SEED_QUESTION if published[current][0] == "seeds" else "station 3 gauge 5").passages
        engine.close()

    # The next build clears the debris and is exactly what a build from scratch of the same files gives.
    report = build_index([corpus], Settings(index=index), progress=False)
    assert report.documents == 12, (seed, history)
    assert not any(p.name.startswith(".tmp-") for p in (index / GENERATIONS).iterdir())
    build_index([corpus], Settings(index=tmp_path / "scratch"), progress=False)
    documents, chunks, vectors = _rows(index)
    scratch_documents, scratch_chunks, scratch_vectors = _rows(tmp_path / "scratch")
    assert documents == scratch_documents and chunks == scratch_chunks, (seed, history)
    np.testing.assert_allclose(vectors, scratch_vectors, atol=1e-6)
    print(f"kill seed {seed}: {history}")
