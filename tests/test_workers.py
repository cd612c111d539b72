"""``askdocs serve --workers N``: several processes on one port, each answering and each picking up a newly
published generation; and the memory-mapped reads that let them share the index's pages."""

from __future__ import annotations

import shutil
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np

from askdocs.index.store import _mapped_npz_member

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


def test_sentence_vectors_are_memory_mapped_exactly_as_stored(tmp_path):
    vectors = np.random.default_rng(1).standard_normal((37, 8)).astype(np.float16)
    spans = np.arange(74, dtype=np.int64).reshape(37, 2)
    np.savez(tmp_path / "plain.npz", spans=spans, vectors=vectors)
    mapped = _mapped_npz_member(tmp_path / "plain.npz", "vectors")
    assert isinstance(mapped, np.memmap)
    assert mapped.dtype == vectors.dtype and np.array_equal(mapped, vectors)
    assert np.array_equal(_mapped_npz_member(tmp_path / "plain.npz", "spans"), spans)
    # A compressed file cannot be mapped: the caller reads it instead.
    np.savez_compressed(tmp_path / "packed.npz", vectors=vectors)
    assert _mapped_npz_member(tmp_path / "packed.npz", "vectors") is None
