"""Rows of a stored array read by position (index/npy_rows.py): exactly the stored rows, and a short file
refused with a clear error rather than read as zeros or garbage."""

from __future__ import annotations

import io
import json
import os
import zipfile

import numpy as np
import pytest

from askdocs.index.errors import IndexCorrupt
from askdocs.index.npy_rows import NpyRows, RowsFileError
from askdocs.index.store import MANIFEST, SENTENCES, generation_dir, open_stored_index

from .conftest import copy_index

ROWS = np.random.default_rng(3).standard_normal((37, 8)).astype(np.float16)


def _readers(tmp_path):
    np.save(tmp_path / "plain.npy", ROWS)
    # The vectors after another member, as sentences.npz stores them: the offset inside the zip matters.
    np.savez(tmp_path / "plain.npz", spans=np.arange(74, dtype=np.int64).reshape(37, 2), vectors=ROWS)
    return {"npy": NpyRows.open_npy(tmp_path / "plain.npy"),
            "npz member": NpyRows.open_npz_member(tmp_path / "plain.npz", "vectors")}


def test_slices_and_rows_are_exactly_the_stored_rows(tmp_path):
    for name, rows in _readers(tmp_path).items():
        assert (len(rows), rows.shape, rows.dtype) == (37, (37, 8), np.float16), name
        for key in (slice(0, 3), slice(17, 23), slice(34, 37), slice(-4, None), slice(5, 5), slice(37, 40),
                    slice(None), slice(1, 30, 7)):
            got = rows[key]
            assert got.dtype == np.float16 and got.shape == ROWS[key].shape, (name, key)
            assert np.array_equal(got, ROWS[key]), (name, key)
        for key in ([5, 0, 36, 5], np.array([], dtype=np.int64), ROWS[:, 0] > 0):
            assert np.array_equal(rows[key], ROWS[key]), (name, key)
        assert np.array_equal(rows[36], ROWS[36]) and np.array_equal(rows[-1], ROWS[-1])
        assert np.array_equal(rows.copy(), ROWS) and np.array_equal(np.asarray(rows), ROWS)
        assert np.asarray(rows, dtype=np.float32).dtype == np.float32
        with pytest.raises(IndexError):
            rows[37]
        with pytest.raises(IndexError):
            rows[[0, 37]]
        rows.close()
        with pytest.raises(ValueError, match="closed"):
            rows[0:1]


def test_a_compressed_member_is_left_to_the_caller(tmp_path):
    np.savez_compressed(tmp_path / "packed.npz", vectors=ROWS)
    assert NpyRows.open_npz_member(tmp_path / "packed.npz", "vectors") is None


def _truncated_npz(path, rows_bytes: int) -> None:
    """An .npz whose stored vectors member holds fewer bytes than its header promises."""
    member = io.BytesIO()
    np.save(member, ROWS)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("spans.npy", b"")
        archive.writestr("vectors.npy", member.getvalue()[: len(member.getvalue()) - rows_bytes])


def test_a_truncated_file_is_refused_when_opened(tmp_path):
    np.save(tmp_path / "short.npy", ROWS)
    with open(tmp_path / "short.npy", "r+b") as handle:
        handle.truncate(os.path.getsize(tmp_path / "short.npy") - 16)
    with pytest.raises(RowsFileError, match="truncated"):
        NpyRows.open_npy(tmp_path / "short.npy")
    # A member's end is not the file's end (the zip directory follows it): the member's own size must count.
    _truncated_npz(tmp_path / "short.npz", 16)
    with pytest.raises(RowsFileError, match="truncated"):
        NpyRows.open_npz_member(tmp_path / "short.npz", "vectors")
    (tmp_path / "garbage.npy").write_bytes(b"not an array at all")
    with pytest.raises(RowsFileError, match="cannot be read"):
        NpyRows.open_npy(tmp_path / "garbage.npy")


def test_a_file_shortened_after_opening_fails_the_read(tmp_path):
    np.save(tmp_path / "plain.npy", ROWS)
    rows = NpyRows.open_npy(tmp_path / "plain.npy")
    with open(tmp_path / "plain.npy", "r+b") as handle:
        handle.truncate(os.path.getsize(tmp_path / "plain.npy") - 16 * 10)
    assert np.array_equal(rows[0:2], ROWS[0:2])
    with pytest.raises(RowsFileError, match="ends at byte"):
        rows[30:37]


def test_a_truncated_sentence_file_is_a_corrupt_index(tmp_path, seeds_index):
    index = copy_index(seeds_index, tmp_path / "index")
    path = generation_dir(index) / SENTENCES
    with np.load(path) as stored:
        spans, vectors, kinds = stored["spans"], stored["vectors"], stored["kinds"]
    with open(path, "wb") as handle:  # the header still says every sentence; the data stops 3 rows short
        np.savez(handle, spans=spans, kinds=kinds, vectors=vectors)
    data = path.read_bytes()
    member = io.BytesIO()
    np.save(member, vectors)
    start = data.index(member.getvalue()[:64])
    cut = start + len(member.getvalue()) - 3 * vectors.shape[1] * 2
    with zipfile.ZipFile(path) as archive:
        members = [(info, archive.read(info)) for info in archive.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        for info, content in members:
            archive.writestr(info.filename, content if info.filename != "vectors.npy" else data[start:cut])
    with pytest.raises(IndexCorrupt, match="bytes, the manifest says"):  # by its size, before reading it
        open_stored_index(index)
    _record_size(index, SENTENCES)  # a file as big as the manifest says can still hold too few rows
    with pytest.raises(IndexCorrupt, match="sentences.npz is truncated"):
        open_stored_index(index, verify_checksums=False)


def _record_size(index, name: str) -> None:
    manifest_path = generation_dir(index) / MANIFEST
    manifest = json.loads(manifest_path.read_text())
    manifest["files"][name]["bytes"] = (generation_dir(index) / name).stat().st_size
    manifest_path.write_text(json.dumps(manifest))
