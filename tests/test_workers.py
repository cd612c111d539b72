"""``askdocs serve --workers N``: several processes on one port, each answering and each picking up a newly
published generation; and the reads that let them share the index's pages."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np

from askdocs.index.npy_rows import NpyRows
from askdocs.index.store import MANIFEST, SENTENCES, generation_dir, open_stored_index

from .conftest import BIN, SEEDS, Server, copy_index

KEY = "workers-test-key-0123456789abcdef"
NEW_DOC = ("The lighthouse keeper of Vardø Harbour, Ingrid Solberg, repainted the beacon tower cobalt blue in "
           "the spring of 1987 after a storm stripped its old paint.\n")


def _worker_generations(server: Server, want: int, timeout: float = 60) -> dict[str, int]:
    """{worker pid: generation served} from /health over fresh connections (the kernel hands each to
    whichever worker accepts first), until ``want`` workers have answered or ``timeout`` passes."""
    seen: dict[str, int] = {}
    headers = {"authorization": f"Bearer {KEY}"}

    def probe(_):
        response = httpx.get(server.url + "/health", headers=headers, timeout=30)  # a new connection each time
        assert response.status_code == 200, response.text
        return response.headers["x-askdocs-worker"], response.json()["index"]["generation"]

    deadline = time.monotonic() + timeout
    with ThreadPoolExecutor(8) as pool:
        while len(seen) < want and time.monotonic() < deadline:
            seen.update(pool.map(probe, range(32)))
    return seen


def test_two_workers_answer_and_both_pick_up_a_new_generation(tmp_path, seeds_index):
    index = copy_index(seeds_index, tmp_path / "index")
    server = Server(index, ("--workers", "2"), env={"ASKDOCS_API_KEYS": KEY, "ASKDOCS_RELOAD_INTERVAL": "0.2"})
    try:
        with httpx.Client(base_url=server.url, headers={"authorization": f"Bearer {KEY}"}, timeout=60) as http:
            asked = http.post("/ask", json={"question": "Which G7 country voted for the humanitarian truce?"})
            assert asked.status_code == 200, asked.text
            assert "France" in asked.json()["answer"]["text"]
            assert http.post("/ask", json={"question": "x"}, headers={"authorization": "Bearer wrong"}).status_code \
                == 401
        before = _worker_generations(server, want=2)
        assert len(before) == 2, f"only workers {sorted(before)} answered: {server.output()}"
        assert len(set(before.values())) == 1
        generation = next(iter(before.values()))

        docs = tmp_path / "docs"
        shutil.copytree(SEEDS, docs)
        (docs / "lighthouse.txt").write_text(NEW_DOC)
        built = subprocess.run([str(BIN / "build-index"), str(docs), "--index", str(index), "--no-progress"],
                               capture_output=True, text=True, timeout=300)
        assert built.returncode == 0, built.stderr

        deadline = time.monotonic() + 60
        after = _worker_generations(server, want=2)
        while time.monotonic() < deadline and not all(g > generation for g in after.values()):
            time.sleep(0.2)
            after = _worker_generations(server, want=2)
        assert set(after) == set(before), "a worker was replaced during the test"
        assert all(g == generation + 1 for g in after.values()), after

        # Every worker answers from the new document.
        answered_by = set()
        def ask(_):
            response = httpx.post(server.url + "/ask", headers={"authorization": f"Bearer {KEY}"}, timeout=60,
                                  json={"question": "What colour did Ingrid Solberg paint the beacon tower?"})
            assert response.status_code == 200, response.text
            assert "cobalt blue" in response.json()["answer"]["text"]
            return response.headers["x-askdocs-worker"]
        with ThreadPoolExecutor(4) as pool:
            for _ in range(20):
                answered_by.update(pool.map(ask, range(8)))
                if answered_by == set(after):
                    break
        assert answered_by == set(after)
    finally:
        server.stop()


def test_sentence_vectors_are_read_by_position_not_held_per_worker(tmp_path, seeds_index):
    # Each worker opens the index like this: its sentence vectors stay in the file (read through the page
    # cache every process shares), neither copied into the process nor mapped into its RSS.
    index = copy_index(seeds_index, tmp_path / "index")
    path = generation_dir(index) / SENTENCES
    stored = open_stored_index(index)
    try:
        assert isinstance(stored.sentence_vectors, NpyRows)
        assert str(path) not in Path("/proc/self/maps").read_text()
        with np.load(path) as saved:
            assert np.array_equal(stored.sentence_vectors.copy(), saved["vectors"])
            assert stored.sentence_vectors.dtype == saved["vectors"].dtype == np.float16
    finally:
        stored.close()
    # An older index stored compressed cannot be read by position: it loads, with the same vectors.
    with np.load(path) as saved:
        members = {name: saved[name] for name in saved.files}
    np.savez_compressed(path, **members)
    manifest_path = generation_dir(index) / MANIFEST
    manifest = json.loads(manifest_path.read_text())
    manifest["files"][SENTENCES]["bytes"] = path.stat().st_size
    manifest_path.write_text(json.dumps(manifest))
    stored = open_stored_index(index, verify_checksums=False)
    try:
        assert isinstance(stored.sentence_vectors, np.ndarray)
        assert np.array_equal(stored.sentence_vectors, members["vectors"])
    finally:
        stored.close()
