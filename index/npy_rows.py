"""Rows of an array stored as a .npy file, or as an uncompressed member of an .npz, read by position.

Large arrays a serving process reads a few rows of per question (the ivf-sq8 exact vectors, the sentence
vectors) are read with ``os.preadv``, never memory-mapped: a mapping counts every page the kernel maps around
a faulted one (fault-around, 64 KB) in the process's RSS, so scattered reads end up mapping most of a file that
is already in the page cache (bench/README.md, "ivf-sq8" and "Memory at a million chunks"). Positional reads go
through the same shared page cache, so the processes of ``serve --workers`` still hold no copy of their own,
and they share no file position, so threads may read at once.
"""

from __future__ import annotations

import os
import struct
import weakref
import zipfile
from pathlib import Path

import numpy as np

from .errors import IndexCorrupt

# Linux returns at most about 2 GiB from one read; whole-array reads go in blocks under that.
_BLOCK_BYTES = 1 << 30


class RowsFileError(IndexCorrupt, ValueError):
    """The file does not hold the array its header describes (unreadable header, truncated data). An
    IndexCorrupt, so that a read that fails while serving (a file shortened under a running server) is answered
    as a damaged index with the rebuild hint, not as an internal error; a ValueError, so that opening the index
    reports it with the index's own path, like every other damaged file."""


def _read_header(handle) -> tuple[tuple[int, ...], bool, np.dtype]:
    version = np.lib.format.read_magic(handle)
    read = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}.get(version)
    if read is None:
        raise ValueError(f"npy format version {version}")
    return read(handle)


class NpyRows:
    """A read-only 2-d (or 1-d) C-order array on disk: slices and row lists come back as new ndarrays."""

    def __init__(self, path: Path, offset: int, shape: tuple[int, ...], dtype: np.dtype, end: int | None = None):
        """``end``: where the array's bytes must end by (an .npz member's end), else the file's size."""
        self.path = Path(path)
        self.offset, self.shape, self.dtype = offset, tuple(shape), np.dtype(dtype)
        self.row_shape = self.shape[1:]
        self.row_bytes = int(np.prod(self.row_shape, dtype=np.int64)) * self.dtype.itemsize
        needed = offset + len(self) * self.row_bytes
        size = min(os.stat(self.path).st_size, end if end is not None else needed)
        if size < needed:
            raise RowsFileError(f"{self.path} is truncated: its {self.shape} {self.dtype} array needs bytes "
                                f"{offset}..{needed}, the data ends at {size}")
        fd = os.open(self.path, os.O_RDONLY)
        self._fd: int | None = fd
        # A reader dropped without close() (a replaced index nobody closed) still gives its descriptor back.
        self._finalizer = weakref.finalize(self, os.close, fd)

    @classmethod
    def open_npy(cls, path: Path) -> NpyRows:
        try:
            with open(path, "rb") as handle:
                shape, fortran, dtype = _read_header(handle)
                offset = handle.tell()
        except (OSError, ValueError) as exc:
            raise RowsFileError(f"{path} cannot be read: {exc}") from None
        return cls._checked(path, offset, shape, fortran, dtype)

    @classmethod
    def open_npz_member(cls, path: Path, name: str) -> NpyRows | None:
        """Array ``name`` of the .npz at ``path``, or None if it is stored compressed (the caller loads it).

        An uncompressed member (what np.savez writes) is a plain .npy at a known offset inside the zip."""
        try:
            with zipfile.ZipFile(path) as archive:
                info = archive.getinfo(f"{name}.npy")
            if info.compress_type != zipfile.ZIP_STORED:
                return None
            with open(path, "rb") as handle:
                handle.seek(info.header_offset)
                local = handle.read(30)  # the local file header: its name and extra field lengths end it
                name_length, extra_length = struct.unpack("<HH", local[26:30])
                member_start = info.header_offset + 30 + name_length + extra_length
                handle.seek(member_start)
                shape, fortran, dtype = _read_header(handle)
                offset = handle.tell()
        except (OSError, ValueError, KeyError, struct.error, zipfile.BadZipFile) as exc:
            raise RowsFileError(f"{name} in {path} cannot be read: {exc}") from None
        return cls._checked(path, offset, shape, fortran, dtype, member_start + info.file_size)

    @classmethod
    def _checked(cls, path, offset, shape, fortran, dtype, end: int | None = None) -> NpyRows:
        if fortran and len(shape) > 1:
            raise RowsFileError(f"{path} holds a Fortran-order array; rows are read in C order")
        if dtype.hasobject or len(shape) == 0:
            raise RowsFileError(f"{path} holds {dtype} {shape}, not rows of numbers")
        return cls(path, offset, shape, dtype, end)

    def __len__(self) -> int:
        return self.shape[0]

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __getitem__(self, key) -> np.ndarray:
        if isinstance(key, slice):
            start, stop, step = key.indices(len(self))
            if step != 1:
                return self.rows(np.arange(start, stop, step))
            return self._span(start, max(start, stop))
        if isinstance(key, (int, np.integer)):
            row = int(key) + (len(self) if key < 0 else 0)
            if not 0 <= row < len(self):
                raise IndexError(f"row {key} asked of {len(self)}")
            return self._span(row, row + 1)[0]
        return self.rows(np.asarray(key))

    def rows(self, ids: np.ndarray) -> np.ndarray:
        """The rows at ``ids`` (any order, repeats allowed), one positional read each."""
        ids = np.asarray(ids)
        if ids.dtype == bool:
            ids = np.flatnonzero(ids)
        ids = ids.astype(np.int64, copy=False).ravel()
        out = np.empty((len(ids), *self.row_shape), self.dtype)
        if len(ids) == 0:
            return out
        if ids.min() < 0 or ids.max() >= len(self):
            raise IndexError(f"rows {ids.min()}..{ids.max()} asked of {len(self)}")
        view = memoryview(out).cast("B")
        size = self.row_bytes
        for i, row in enumerate(ids.tolist()):
            self._read_into(view[i * size : (i + 1) * size], self.offset + row * size)
        return out

    def _span(self, start: int, stop: int) -> np.ndarray:
        out = np.empty((stop - start, *self.row_shape), self.dtype)
        if out.size == 0:
            return out  # memoryview cannot cast an empty shape
        view = memoryview(out).cast("B")
        for at in range(0, len(view), _BLOCK_BYTES):
            self._read_into(view[at : at + _BLOCK_BYTES], self.offset + start * self.row_bytes + at)
        return out

    def _read_into(self, view: memoryview, position: int) -> None:
        if self._fd is None:
            raise ValueError(f"{self.path} is closed")
        while len(view):
            got = os.preadv(self._fd, [view], position)
            if got == 0:  # shortened since it was opened
                raise RowsFileError(f"{self.path} ends at byte {position}, before the rows asked for")
            view, position = view[got:], position + got

    def copy(self) -> np.ndarray:
        """The whole array, in memory."""
        return self._span(0, len(self))

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        whole = self.copy()
        return whole if dtype is None else whole.astype(dtype, copy=False)

    def close(self) -> None:
        if self._fd is not None:
            self._fd = None
            self._finalizer()
