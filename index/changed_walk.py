"""A sync's walk restricted to the paths its watcher reported changed.

Walking and stat-ing every file of the folder is work that grows with the folder (~0.3 s for SciFact's
5,183 files), while a watcher already knows which paths changed. So the build process remembers the last walk
of each folder (its files and skipped entries, in walk order), and a sync triggered by watcher events starts
from it: only the changed paths are looked at again, the rest keep their place.

Only where that is the same as walking again. The restricted walk is refused (the caller walks everything)
when the changed set is not a list of files: a path that is or was a folder (a folder deleted, re-created,
renamed or moved in), a symlink, or a file in a folder the last walk did not list; and when the last walk
followed a symlink (a file changed through another path) or could not read a folder. The remembered walk is
dropped when a build starts and kept again only when it succeeds, so changes reported to a build that failed
are never skipped.
"""

from __future__ import annotations

import os
import stat as stat_module
from dataclasses import dataclass
from pathlib import Path

from .documents import BAD_NAME, HIDDEN, SYMLINK, UNREADABLE, Skipped
from .selection import Selection
from .walk import Found, Root, shown_path, skipped_entry, walked_file

@dataclass(frozen=True)
class Walk:
    key: tuple  # the root and selection it was made with
    items: list  # (path, Found | Skipped) in walk order
    folders: frozenset[Path]  # folders the walk listed files or entries in
    hidden_folders: frozenset[Path]  # folders it did not walk (hidden): changes under them are not its business


_last: Walk | None = None
_pending: Walk | None = None  # the walk of the build in progress, kept once it succeeds


def _key(roots: list[Root], selections: list[Selection], follow_outside_links: bool) -> tuple:
    return tuple((str(r.path), str(r.real), r.is_dir, r.prefix) for r in roots), repr(selections), follow_outside_links


def take(roots: list[Root], selections: list[Selection], follow_outside_links: bool) -> Walk | None:
    """The remembered walk of these roots, forgotten until ``remember`` (a build that fails leaves none)."""
    global _last, _pending
    walk, _last, _pending = _last, None, None
    if walk is None or walk.key != _key(roots, selections, follow_outside_links):
        return None
    return walk


def offer(roots: list[Root], selections: list[Selection], follow_outside_links: bool, items: list,
          links: list[Path]) -> None:
    """A full or restricted walk's ``items``, kept for the next sync by ``confirm`` if a restricted walk can
    build on it."""
    global _pending
    _pending = None
    if len(roots) != 1 or not roots[0].is_dir or roots[0].path != roots[0].real or links:
        return
    paths = []
    for item in items:
        if isinstance(item, Skipped):
            # A name shown escaped, a link or an unreadable folder: not a path a later change can be matched to.
            if item.category in (SYMLINK, UNREADABLE, BAD_NAME) or shown_path(item.path) != item.path:
                return
            paths.append((Path(item.path), item))
        else:
            paths.append((item[0], item))
    top = roots[0].path
    folders = {top}
    # Each distinct folder once, walked up until one already known (pathlib is slow: 5,000 files' every
    # ancestor took a tenth of a second).
    for parent in {path.parent for path, _ in paths}:
        while parent not in folders and top in parent.parents:
            folders.add(parent)
            parent = parent.parent
    hidden = frozenset(path for path, item in paths
                       if isinstance(item, Skipped) and item.category == HIDDEN and item.reason.startswith("hidden folder"))
    _pending = Walk(_key(roots, selections, follow_outside_links), paths, frozenset(folders - hidden), hidden)


def confirm() -> None:
    """The build that made the offered walk succeeded: the next one may start from it."""
    global _last, _pending
    _last, _pending = _pending, None


def restricted(walk: Walk, roots: list[Root], selections: list[Selection], follow_outside_links: bool,
               changed: set[Path]) -> list | None:
    """``walk`` with every path in ``changed`` looked at again, in walk order; None where only a full walk is
    sure to be right."""
    root, selection = roots[0], selections[0]
    top = root.path
    by_path = dict(walk.items)
    new = False  # a path the walk did not list: the order is made again
    for path in changed:
        if top not in path.parents:
            return None  # the root itself, or a path outside it
        if any(parent in walk.hidden_folders for parent in path.parents):
            continue  # inside a hidden folder (.git): never walked
        if path in walk.folders or path in walk.hidden_folders or path.parent not in walk.folders:
            return None
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            by_path.pop(path, None)
            continue
        except OSError:
            return None
        if not stat_module.S_ISREG(st.st_mode):
            return None  # a folder, a symlink, a device: the full walk knows what to make of it
        new = new or path not in by_path
        by_path[path] = _file_item(path, root, selection, follow_outside_links)
    if not new:  # edits and deletions: every path keeps its place (a dict keeps the walk's order)
        return list(by_path.values())
    return [item for _, item in sorted(by_path.items(), key=lambda kv: _order(kv[0], top))]


def _file_item(path: Path, root: Root, selection: Selection, follow_outside_links: bool) -> Found | Skipped:
    """What walk.iter_files gives for the regular file ``path`` in a folder it walks."""
    skipped = skipped_entry(shown_path(path), path.name, path.relative_to(root.path).as_posix(), False, selection)
    return skipped or walked_file(root, path, None if follow_outside_links else root.real)


def _order(path: Path, top: Path) -> tuple:
    # walk._walk's order: a folder's entries in name order, then its subfolders' contents, each in name order.
    parts = path.relative_to(top).parts
    return tuple((1, part) for part in parts[:-1]) + ((0, parts[-1]),)
