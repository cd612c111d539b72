"""Which files a build reads, under which document ids, and why every other file is not read.

Every path given is a *root*. A document's id is its path below its root, after the root's *prefix*:
``notes/tea.md`` for ``docs/notes/tea.md`` under ``docs`` with prefix "", ``b/tea.md`` with prefix "b". A
root keeps the prefix it had in the index's last build (the manifest's "roots"), so adding or dropping
another path renames nothing. A new root's prefix is "" when it is the only path of the build; else a
folder's name ("b", or "b-2" when taken) and a file's nothing (its id is its name) unless that name is taken.
"""

from __future__ import annotations

import os
import stat as stat_module
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .documents import (BAD_NAME, DUPLICATE, EXCLUDED, HIDDEN, SYMLINK, UNREADABLE, UNSUPPORTED, Skipped,
                        file_kind, inside_folder)
from .errors import BadInput
from .selection import Selection


class PathError(BadInput):
    """A path given to a build that cannot be one: the build stops before anything is read or published."""

    code = "bad_path"


@dataclass(frozen=True)
class Root:
    path: Path  # as given
    real: Path  # resolved: what the manifest records, and where a symlink found in the walk must point into
    is_dir: bool
    prefix: str

    def doc_id(self, path: Path) -> str:
        relative = path.absolute().relative_to(self.path.absolute()).as_posix() if self.is_dir else path.name
        return _joined(self.prefix, relative)


def _joined(prefix: str, relative: str) -> str:
    if relative == ".":
        return prefix
    return f"{prefix}/{relative}" if prefix else relative


def is_index_folder(folder: Path) -> bool:
    try:
        return (folder / "CURRENT").is_file() and (folder / "generations").is_dir()
    except OSError:  # a folder that cannot be looked into is reported when it is walked
        return False


def check_paths(paths: list[Path], index_dir: Path) -> list[Path]:
    """``paths`` without repeats; PathError naming every path that does not exist, cannot be read, is (inside)
    an index folder, or lies inside another path given. A typo must not read as "every document under it
    was removed", and a folder inside another would index its files twice, under two ids."""
    problems, resolved, unique = [], [], []
    index_real = Path(os.path.realpath(index_dir))
    for path in paths:
        if not os.path.lexists(path):
            problems.append(f"{path}: no such file or directory")
            continue
        try:
            real = Path(os.path.realpath(path, strict=True))
        except OSError:
            problems.append(f"{path}: broken or looping symlink")
            continue
        if real == index_real or index_real in real.parents or any(
                is_index_folder(folder) for folder in (real, *real.parents)):
            problems.append(f"{path}: is an index folder (or inside one), not documents")
            continue
        try:
            if real.is_dir():
                with os.scandir(real):
                    pass
            else:
                os.close(os.open(real, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC))
        except OSError as exc:
            problems.append(f"{path}: cannot be read ({exc.strerror or exc})")
            continue
        if real in resolved:
            continue
        resolved.append(real)
        unique.append(path)
    for path, real in zip(unique, resolved):
        outer = next((other for other, other_real in zip(unique, resolved)
                      if other_real != real and other_real.is_dir() and other_real in real.parents), None)
        if outer is not None:
            problems.append(f"{path}: is inside {outer}, also given (its files would be indexed twice)")
    if problems:
        raise PathError("; ".join(problems))
    return unique


def assign_roots(paths: list[Path], known: dict[str, str]) -> list[Root]:
    """Each path as a Root; ``known``: resolved path -> prefix of the roots of the index's last build."""
    reals = [Path(os.path.realpath(p)) for p in paths]
    roots: list[Root | None] = [None] * len(paths)
    for i, (path, real) in enumerate(zip(paths, reals)):
        if str(real) in known:
            roots[i] = Root(path, real, real.is_dir(), known[str(real)])
    for i, (path, real) in enumerate(zip(paths, reals)):
        if roots[i] is not None:
            continue
        taken = _taken(r for r in roots if r is not None)
        if len(paths) == 1:
            prefix = ""
        elif real.is_dir():
            prefix = _unique(real.name, taken)
        else:
            prefix = "" if real.name not in taken else _unique(real.parent.name, taken)
        roots[i] = Root(path, real, real.is_dir(), prefix)
    return roots


def _taken(roots) -> set[str]:
    """The first components of ids that roots already may give."""
    taken: set[str] = set()
    for root in roots:
        if root.prefix:
            taken.add(root.prefix.split("/")[0])
        elif root.is_dir:
            try:
                taken.update(os.listdir(root.real))
            except OSError:
                pass
        else:
            taken.add(root.real.name)
    return taken


def _unique(name: str, taken: set[str]) -> str:
    candidate, n = name, 1
    while candidate in taken or not candidate:
        n += 1
        candidate = f"{name}-{n}"
    return candidate


def legacy_roots(sources: list[str]) -> dict[str, str]:
    """The prefixes of an index built before roots were recorded: ids were relative to the sources' common
    folder. Sources were recorded as given, so this holds when the build runs from the same folder."""
    if not sources:
        return {}
    given = [Path(s).absolute() for s in sources]
    folders = [p if p.is_dir() else p.parent for p in given]
    if len(given) == 1:
        common = folders[0]
    else:
        try:
            common = Path(os.path.commonpath(folders))
        except ValueError:
            return {}
    return {os.path.realpath(p): _joined("", folder.relative_to(common).as_posix())
            for p, folder in zip(given, folders)}


Found = tuple[Path, str, "Path | None"]  # a file to read, its doc id, the folder its sidecars must be in


def iter_files(roots: list[Root], selections: list[Selection], follow_outside_links: bool = False,
               links: list[Path] | None = None) -> Iterator[Found | Skipped]:
    """Every file under ``roots`` in a stable order: (path, doc_id, sidecar folder) to read, or a Skipped.

    ``selections``: each root's (selection.selection_for). ``links``, if given, gets every symlink followed.
    """
    seen: dict[str, str] = {}  # doc id -> the path it was found at
    for root, selection in zip(roots, selections):
        # A file named on its own may have a sidecar beside it: its folder is the root for that.
        limit = None if follow_outside_links else root.real if root.is_dir else root.real.parent
        candidates = _walk(root, selection, follow_outside_links, links) if root.is_dir else [root.path]
        for path in candidates:
            if isinstance(path, Skipped):
                yield path
                continue
            found = walked_file(root, path, limit)
            if isinstance(found, Skipped):
                yield found
                continue
            doc_id = found[1]
            if doc_id in seen:
                yield Skipped(shown_path(path), f"document id {doc_id} is already {seen[doc_id]}",
                              category=DUPLICATE)
                continue
            seen[doc_id] = shown_path(path)
            yield found


def walked_file(root: Root, path: Path, limit: Path | None) -> Found | Skipped:
    """What a file the walk reached becomes: a document to read, or why not (all but the duplicate-id check,
    which needs the whole walk)."""
    doc_id = root.doc_id(path)
    if (bad := bad_name(doc_id)) is not None:
        return Skipped(shown_path(path), bad, category=BAD_NAME)
    if file_kind(path.name) is None:
        return Skipped(shown_path(path), f"unsupported type {path.suffix.lower()}", category=UNSUPPORTED)
    return path, doc_id, limit


def skipped_entry(shown: str, name: str, relative: str, is_dir: bool, selection: Selection) -> Skipped | None:
    """Why a folder entry is not walked at all (hidden, or excluded by the selection), or None."""
    if name.startswith("."):
        return Skipped(shown, "hidden folder, not walked (names starting with '.' are not indexed)" if is_dir
                       else "hidden (names starting with '.' are not indexed)", category=HIDDEN)
    if (why := selection.excluded(relative, is_dir)) is not None:
        return Skipped(shown, why, category=EXCLUDED)
    return None


def bad_name(name: str) -> str | None:
    """Why a name cannot be a document id: ids go into SQLite, JSON, filters and one-line summaries."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return "file name is not valid UTF-8"
    if any(ord(c) < 32 or 127 <= ord(c) < 160 for c in name):
        return f"file name contains control characters ({os.path.basename(name)!r})"
    return None


def shown_path(path: Path | str) -> str:
    """``path`` printable on one line: undecodable bytes as \\x.., control characters escaped."""
    text = os.fsencode(path).decode("utf-8", "backslashreplace")
    return text if text.isprintable() else repr(text)[1:-1]


def _walk(root: Root, selection: Selection, follow_outside_links: bool,
          links: list[Path] | None = None) -> Iterator[Path | Skipped]:
    """Files under ``root``, each folder's files in name order before its subfolders (as os.walk, top down).

    Iterative, so no depth of nesting can exhaust the stack. Symlinked folders are followed; a folder already
    walked (by device and inode) is not walked again, which is what keeps a symlink loop from trapping it.
    A hidden or excluded folder is one Skipped, not walked.
    """
    top = root.path
    top_stat = os.stat(top)
    walked: dict[tuple[int, int], Path] = {(top_stat.st_dev, top_stat.st_ino): top}
    stack = [top]
    while stack:
        folder = stack.pop()
        try:
            with os.scandir(folder) as scan:
                entries = sorted(scan, key=lambda e: e.name)
        except OSError as exc:
            yield Skipped(shown_path(folder), f"unreadable folder ({exc.strerror or exc})",
                          unread_folder=root.doc_id(folder), category=UNREADABLE)
            continue
        subfolders: list[Path] = []
        for entry in entries:
            path = folder / entry.name
            is_link, is_dir, own = False, False, None
            try:
                is_link = entry.is_symlink()
                if is_link:
                    target_stat = os.stat(path)
                    is_dir = stat_module.S_ISDIR(target_stat.st_mode)
                else:
                    is_dir = entry.is_dir(follow_symlinks=False)
                    own = entry.stat(follow_symlinks=False) if is_dir else None
            except OSError as exc:
                if is_link:
                    yield Skipped(shown_path(path), "broken or looping symlink", category=SYMLINK)
                elif is_dir:  # e.g. a path past PATH_MAX
                    yield Skipped(shown_path(path), f"unreadable folder ({exc.strerror or exc})",
                                  unread_folder=root.doc_id(path), category=UNREADABLE)
                else:
                    yield Skipped(shown_path(path), f"unreadable ({exc.strerror or exc})", category=UNREADABLE)
                continue
            shown = shown_path(path)
            if (skipped := skipped_entry(shown, entry.name, path.relative_to(top).as_posix(), is_dir,
                                         selection)) is not None:
                yield skipped
                continue
            if is_dir and (bad := bad_name(entry.name)) is not None:
                yield Skipped(shown, bad.replace("file name", "folder name"), category=BAD_NAME)
                continue
            if is_link:
                target = os.path.realpath(path)
                if not follow_outside_links and not inside_folder(target, root.real):
                    yield Skipped(shown, f"symlink to {shown_path(target)} outside the indexed folder "
                                  f"{shown_path(root.real)} (see follow_outside_links)", category=SYMLINK)
                    continue
                if is_dir:
                    key = (target_stat.st_dev, target_stat.st_ino)
                    if key in walked:
                        yield Skipped(shown, f"symlink loop or duplicate: {shown_path(target)} is already "
                                      f"indexed as {shown_path(walked[key])}", category=SYMLINK)
                        continue
                    walked[key] = path
                if links is not None:
                    links.append(path)
            elif own is not None:
                if is_index_folder(path):
                    yield Skipped(shown, "an askdocs index folder, not documents", category=EXCLUDED)
                    continue
                walked.setdefault((own.st_dev, own.st_ino), path)
            if is_dir:
                subfolders.append(path)
            else:
                yield path
        stack.extend(reversed(subfolders))
