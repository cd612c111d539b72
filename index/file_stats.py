"""The stat cache: which file each stored document was read from, as the file system described it then.

An incremental build must tell an unchanged file from a changed one. Hashing every file's bytes again reads
the whole folder on every sync (21 MB for SciFact's 5,183 files, ~0.3-0.8 s on a shared machine, and it grows
with the folder). Instead each generation keeps, per document, the file's size, mtime_ns, ctime_ns and inode
as they were *before* its bytes were read; a file whose four values are the same is taken as unchanged
without being read. Any write changes mtime and ctime; an ``os.utime`` that puts the mtime back still moves
ctime (which no user call can set); a file replaced by another (an editor's save-by-rename, ``cp``, ``tar
x``, ``rsync``) has a new inode.

What it cannot see: a file written so soon after it was read that its timestamps did not move (one tick of
a coarse file-system clock), and file systems whose timestamps lie (some network shares and FUSE mounts).
So a file modified less than RACY_SECONDS before it was read is not cached (the next build hashes it again,
as git does with "racily clean" entries), and a full check (``build-index --rehash``; a watcher does one
when it starts and every ``watch.FULL_CHECK_SECONDS``) hashes every file whatever its stats say.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

FILE = "file_stats.json"
RACY_SECONDS = 2.0  # FAT and some network shares keep mtimes to 1-2 s

Stat = tuple[int, int, int, int]  # size, mtime_ns, ctime_ns, inode


def stat_key(st: os.stat_result) -> Stat:
    return st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino


def cacheable(st: os.stat_result, now: float | None = None) -> bool:
    """Whether ``st`` (taken just before the file was read) may vouch for the bytes read: not if the file was
    changed so recently that a write after the read could leave the same timestamps."""
    now_ns = int((time.time() if now is None else now) * 1e9)
    return now_ns - max(st.st_mtime_ns, st.st_ctime_ns) > RACY_SECONDS * 1e9


def save(folder: Path, stats: dict[str, Stat]) -> None:
    # dumps, not dump: only a one-shot encode takes json's C encoder (0.013 -> 0.006 s for 5k files).
    data = json.dumps({"version": 1, "files": {doc_id: list(stat) for doc_id, stat in sorted(stats.items())}},
                      separators=(",", ":"))
    with open(folder / FILE, "w", encoding="utf-8") as handle:
        handle.write(data)


def load(folder: Path) -> dict[str, Stat]:
    """The stats a generation saved; {} for a generation saved without them (every file is hashed then)."""
    try:
        with open(folder / FILE, encoding="utf-8") as handle:
            data = json.load(handle)
        return {doc_id: tuple(stat) for doc_id, stat in data["files"].items()} if data.get("version") == 1 else {}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}
