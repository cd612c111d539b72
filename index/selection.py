"""What the user chose not to index: --include / --exclude globs and a root's ``.askdocsignore``.

All three use gitignore syntax (pathspec's GitIgnoreSpec, the rules git itself follows), matched against a
path relative to the folder given to the build: ``drafts/`` is every folder named drafts, ``/drafts/`` only
the top one, ``*.pdf`` any PDF, ``!keep.pdf`` takes one back.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pathspec import GitIgnoreSpec

from .errors import BadInput

IGNORE_FILE = ".askdocsignore"
# An ignore file is a few dozen lines; this keeps a mistaken multi-gigabyte file out of memory.
_MAX_IGNORE_BYTES = 1_000_000


class SelectionError(BadInput, ValueError):
    """A glob or ignore file that cannot be used; the build stops before reading anything."""

    code = "bad_selection"


@dataclass(frozen=True)
class _Patterns:
    source: str  # where the patterns came from, as the summary names it
    lines: tuple[str, ...]
    spec: GitIgnoreSpec

    @classmethod
    def parse(cls, source: str, lines: list[str]) -> _Patterns:
        try:
            return cls(source, tuple(lines), GitIgnoreSpec.from_lines(lines))
        except Exception as exc:  # pathspec reports a bad pattern as several exception types
            raise SelectionError(f"{source}: invalid pattern ({exc})") from None

    def matching(self, relative: str) -> str | None:
        """The pattern that decides ``relative`` is matched, or None when none matches (or one negates)."""
        result = self.spec.check_file(relative)
        if not result.include or result.index is None:
            return None
        return self.lines[result.index]


@dataclass(frozen=True)
class Selection:
    include: _Patterns | None = None
    exclude: _Patterns | None = None
    ignore_file: _Patterns | None = None

    def excluded(self, relative: str, is_dir: bool) -> str | None:
        """Why the file or folder at ``relative`` (below its root) is not indexed; None when it is."""
        name = relative + "/" if is_dir else relative
        for patterns in (self.ignore_file, self.exclude):
            if patterns is not None and (pattern := patterns.matching(name)) is not None:
                what = "folder not walked" if is_dir else "excluded"
                return f"{what}: matches {pattern!r} in {patterns.source}"
        # Folders are always walked for --include: "*.md" means the Markdown files of every folder.
        if not is_dir and self.include is not None and self.include.matching(relative) is None:
            return "excluded: matches no --include pattern"
        return None


def selection_for(root: Path | None, include: list[str], exclude: list[str]) -> Selection:
    """The selection for the folder ``root`` (None for a file given on its own: it is always read)."""
    if root is None:
        return Selection()
    return Selection(
        include=_Patterns.parse("--include", include) if include else None,
        exclude=_Patterns.parse("--exclude", exclude) if exclude else None,
        ignore_file=_ignore_file(root),
    )


def _ignore_file(root: Path) -> _Patterns | None:
    path = root / IGNORE_FILE
    if not path.is_file():
        return None
    try:
        with open(path, "rb") as handle:
            data = handle.read(_MAX_IGNORE_BYTES + 1)
    except OSError as exc:
        raise SelectionError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    if len(data) > _MAX_IGNORE_BYTES:
        raise SelectionError(f"{path}: over {_MAX_IGNORE_BYTES:,} bytes, not an ignore file")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SelectionError(f"{path}: not UTF-8 (invalid byte at offset {exc.start})") from None
    return _Patterns.parse(str(path), text.splitlines())
