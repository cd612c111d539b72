"""Issue 14, the serving items: host guard, timeouts and limits, refused reloads, pruned generations, /health
redaction and an index damaged while served; each over a real server or the real index files."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import threading
import time
from pathlib import Path

import pytest

from index.store import CURRENT, GENERATIONS, MANIFEST, open_stored_index

from .conftest import copy_index

# ---------------------------------------------------------------- 10: a generation pruned while it is opened


def _publish(index: Path, name: str) -> None:
    """What write_generation does with a generation written as .tmp-NAME: rename it, swap CURRENT, keep it and
    the previous one."""
    previous = (index / CURRENT).read_text().strip()
    os.rename(index / GENERATIONS / f".tmp-{name}", index / GENERATIONS / name)
    (index / "CURRENT.next").write_text(name)
    os.replace(index / "CURRENT.next", index / CURRENT)
    for child in (index / GENERATIONS).iterdir():
        if child.name not in (name, previous) and not child.name.startswith(".tmp-"):
            shutil.rmtree(child)


def _fatten(generation: Path, megabytes: int) -> None:
    """Add a file the manifest lists (so it is checksummed on open): the open takes as long as a big index's."""
    padding = generation / "0-padding.bin"
    padding.write_bytes(os.urandom(1 << 20) * megabytes)
    manifest = json.loads((generation / MANIFEST).read_text())
    manifest["files"][padding.name] = {"bytes": padding.stat().st_size,
                                       "sha256": hashlib.sha256(padding.read_bytes()).hexdigest()}
    (generation / MANIFEST).write_text(json.dumps(manifest))


def test_a_generation_pruned_by_two_quick_publishes_while_opening_opens_the_new_one(tmp_path, seeds_index):
    index = copy_index(seeds_index, tmp_path / "index")
    first = (index / CURRENT).read_text().strip()
    _fatten(index / GENERATIONS / first, 64)
    started = time.perf_counter()
    open_stored_index(index).close()
    opening = time.perf_counter() - started  # mostly hashing the padding, which is checked first

    for round_ in range(3):
        served = (index / CURRENT).read_text().strip()
        newer = [f"gen-{round_}-a", f"gen-{round_}-b"]
        for name in newer:
            shutil.copytree(index / GENERATIONS / served, index / GENERATIONS / f".tmp-{name}")

        def publish_twice():
            time.sleep(opening * 0.3)  # while the open hashes the padding, before it reads the other files
            for name in newer:
                _publish(index, name)

        publisher = threading.Thread(target=publish_twice)
        publisher.start()
        try:
            stored = open_stored_index(index)
        finally:
            publisher.join()
        assert not (index / GENERATIONS / served).exists()  # it really was pruned under the open
        assert stored.path.name in newer, stored.path
        assert stored.n_chunks > 0
        stored.close()


def test_a_generation_current_still_names_is_reported_damaged(tmp_path, seeds_index):
    from index.store import IndexCorrupt

    index = copy_index(seeds_index, tmp_path / "index")
    served = (index / CURRENT).read_text().strip()
    (index / GENERATIONS / served / "vectors.faiss").unlink()
    with pytest.raises(IndexCorrupt, match="missing"):
        open_stored_index(index)
