"""A running server and a changing index: hot reload under load, refused generations, and the load script."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from askdocs.index.build import build_index
from askdocs.index.settings import Settings
from askdocs.index.store import CHUNKS_DB, CURRENT, GENERATIONS, MANIFEST, VECTORS

from .conftest import ROOT, SEED_QUESTION, SEEDS, Server, copy_index
from .fixtures import wait_for

DOC_ID = "000_df85b2084c0590de.txt"
LIGHTHOUSE = "Lighthouse log\n\nThe keeper of the Ardnamurchan lighthouse winds the clockwork lamp at dusk.\n"
LIGHTHOUSE_QUESTION = "When does the keeper wind the clockwork lamp?"


@pytest.fixture(scope="module")
def live(tmp_path_factory, seeds_index):
    """A served copy of the seeds index and a corpus folder that builds on it incrementally."""
    folder = tmp_path_factory.mktemp("live")
    index = copy_index(seeds_index, folder / "index")
    corpus = folder / "docs"
    shutil.copytree(SEEDS, corpus)
    server = Server(index)
    yield server, index, corpus
    server.stop()


def _health(server) -> dict:
    return httpx.get(server.url + "/health", timeout=30).json()


class Clients:
    """Threads that ask and fetch without pause until stopped, recording every status."""

    def __init__(self, server, count: int = 4):
        self.statuses: list[int] = []
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(server, n), daemon=True) for n in range(count)]

    def _run(self, server, number: int) -> None:
        modes = ("hybrid", "dense", "bm25")
        with httpx.Client(base_url=server.url, timeout=60) as http:
            turn = number
            while not self._stop.is_set():
                turn += 1
                try:
                    if turn % 4 == 0:
                        response = http.get(f"/documents/{DOC_ID}")
                    else:
                        response = http.post("/ask", json={"question": SEED_QUESTION, "mode": modes[turn % 3]})
                    self.statuses.append(response.status_code)
                    if response.status_code != 200:
                        self.failures.append(f"{response.status_code} {response.text[:200]}")
                except httpx.HTTPError as exc:
                    self.failures.append(repr(exc))

    def __enter__(self) -> Clients:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)


def test_a_new_generation_is_served_without_restart_and_no_request_fails(live):
    server, index, corpus = live
    before = _health(server)["index"]
    (corpus / "lighthouse.txt").write_text(LIGHTHOUSE, encoding="utf-8")
    with Clients(server) as clients:
        time.sleep(1)
        report = build_index([corpus], Settings(index=index), progress=False)
        assert report.changes is not None and report.changes.added == ["lighthouse.txt"]
        # The watcher sees the new CURRENT within about a second and swaps while the clients keep asking.
        after = wait_for(lambda: (h := _health(server)["index"])["generation"] > before["generation"] and h)
        time.sleep(1)
    assert clients.failures == []
    assert len(clients.statuses) > 20 and set(clients.statuses) == {200}
    assert after["generation"] == before["generation"] + 1 and after["documents"] == 2
    assert after["built_at"] >= before["built_at"] and after["path"].endswith(report.generation.name)
    answer = httpx.post(server.url + "/ask", json={"question": LIGHTHOUSE_QUESTION}, timeout=30).json()
    assert answer["answer"]["citation"]["doc_id"] == "lighthouse.txt"
    assert "reloaded: now serving generation" in server.output()

    # POST /admin/reload: serves what CURRENT names by the time it returns, whether or not the watcher was first.
    assert httpx.post(server.url + "/admin/reload", timeout=60).json()["status"] == "unchanged"
    (corpus / "lighthouse.txt").write_text(LIGHTHOUSE + "\nThe lamp burns paraffin.\n", encoding="utf-8")
    newer = build_index([corpus], Settings(index=index), progress=False)
    reloaded = httpx.post(server.url + "/admin/reload", timeout=60).json()
    assert reloaded["status"] in ("reloaded", "unchanged")
    assert reloaded["index"]["path"].endswith(newer.generation.name)
    assert _health(server)["index"]["generation"] == after["generation"] + 1


def _publish_damaged_copy(index: Path, name: str, damage) -> None:
    served = (index / CURRENT).read_text()
    copy = index / GENERATIONS / name
    shutil.copytree(index / GENERATIONS / served, copy)
    damage(copy)
    (index / "CURRENT.test").write_text(name)
    os.replace(index / "CURRENT.test", index / CURRENT)


def _truncate_vectors(generation: Path) -> None:
    path = generation / VECTORS
    path.write_bytes(path.read_bytes()[:100])


def _damage_database(generation: Path) -> None:
    path = generation / CHUNKS_DB
    data = bytearray(path.read_bytes())
    data[200:260] = b"\xff" * 60
    path.write_bytes(bytes(data))


def _edit_manifest(generation: Path) -> None:
    path = generation / MANIFEST
    manifest = json.loads(path.read_text())
    manifest["counts"]["chunks"] += 1
    path.write_text(json.dumps(manifest))


@pytest.mark.parametrize(
    "damage, words, how",
    [(_truncate_vectors, "bytes", "watcher"), (_damage_database, "checksum", "admin"),
     (_edit_manifest, "inconsistent", "watcher")],
    ids=["truncated-faiss", "damaged-sqlite", "edited-manifest"],
)
def test_a_corrupt_new_generation_is_refused_and_the_served_one_stays(live, damage, words, how):
    server, index, corpus = live
    served = _health(server)["index"]
    name = f"damaged-{damage.__name__.strip('_')}"
    with Clients(server, count=2) as clients:
        _publish_damaged_copy(index, name, damage)
        if how == "admin":
            refused = httpx.post(server.url + "/admin/reload", timeout=60)
            assert refused.status_code == 409 and words in refused.json()["detail"]
        health = wait_for(lambda: (h := _health(server))["reload_error"] and h)
        time.sleep(0.5)
    assert clients.failures == [] and clients.statuses
    assert health["status"] == "ok" and health["index"] == served
    assert f"generation {name!r} was refused" in health["reload_error"] and words in health["reload_error"]
    assert f"still serving generation {served['generation']}" in health["reload_error"]
    assert f"ERROR askdocs.reload: generation {name!r} was refused" in server.output()

    # The next good build replaces the damaged one (from scratch: it cannot build on it) and is served.
    report = build_index([corpus], Settings(index=index), progress=False)
    assert report.changes is None and "cannot be reused" in report.full_build_reason
    healthy = wait_for(lambda: (h := _health(server))["index"]["path"].endswith(report.generation.name) and h)
    assert healthy["reload_error"] is None


def test_load_script_runs_clean_with_a_reload_in_the_middle(tmp_path, seeds_index):
    index = copy_index(seeds_index, tmp_path / "index")
    out = tmp_path / "load.json"
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "load.py"), "--index", str(index), "--corpus", str(SEEDS),
         "--clients", "4", "--duration", "5", "--json", str(out)],
        capture_output=True, text=True, timeout=300, cwd=ROOT,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(out.read_text())
    assert result["failed"] == 0 and result["requests"] >= 20
    assert result["generation_after"] == result["generation_before"] + 1
    reload = result["reload"]
    # The rebuild adds one small document (an unchanged corpus publishes nothing): only its chunk is embedded.
    assert reload["swapped"] and reload["build"]["incremental"] and reload["build"]["embedded"] == 1
    # The swap happened while the clients were still asking.
    assert reload["swapped_s"] < result["duration_s"]
    assert {m: s["requests"] > 0 for m, s in result["by_mode"].items()} == {"hybrid": True, "dense": True, "bm25": True}
    assert result["latency_ms"]["p50"] <= result["latency_ms"]["p99"]
    assert "failed: 0" in done.stdout and "throughput" in done.stdout
    assert (index / CURRENT).read_text() == (seeds_index / CURRENT).read_text(), "the given index is never changed"
