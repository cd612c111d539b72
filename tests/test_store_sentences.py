"""sentences.npz written chunk by chunk: the same bytes as np.savez of the stacked arrays, never stacked."""

from __future__ import annotations

import io

import numpy as np
import pytest

from askdocs.index.build import _Assembly
from askdocs.index.chunking import Chunk
from askdocs.index.npy_rows import NpyRows
from askdocs.index.store import write_sentences


def _parts(counts, dimension=4):
    rng = np.random.default_rng(0)
    return [rng.standard_normal((count, dimension)).astype(np.float16) for count in counts]


def test_chunk_by_chunk_is_byte_for_byte_what_savez_of_the_stacked_array_writes(tmp_path):
    parts = _parts([2, 1, 0, 3])
    spans = np.arange(12, dtype=np.int64).reshape(6, 2)
    kinds = np.array([0, 1, 0, 2, 0, 0], np.int8)
    expected = io.BytesIO()
    np.savez(expected, spans=spans, vectors=np.concatenate(parts), kinds=kinds)
    streamed, stacked = tmp_path / "streamed.npz", tmp_path / "stacked.npz"
    given = list(parts)
    with open(streamed, "wb") as handle:
        write_sentences(handle, spans, given, kinds, 4)
    with open(stacked, "wb") as handle:
        write_sentences(handle, spans, np.concatenate(parts), kinds, 4)
    assert streamed.read_bytes() == stacked.read_bytes() == expected.getvalue()
    assert given == [None] * len(parts)  # each chunk's array let go of once written
    rows = NpyRows.open_npz_member(streamed, "vectors")  # still readable by position, as the store reads it
    try:
        np.testing.assert_array_equal(rows[1:4], np.concatenate(parts)[1:4])
    finally:
        rows.close()


def test_a_count_that_does_not_match_the_spans_is_refused(tmp_path):
    with open(tmp_path / "s.npz", "wb") as handle, pytest.raises(ValueError, match="3 sentences but 2"):
        write_sentences(handle, np.zeros((3, 2), np.int64), _parts([2]), np.zeros(3, np.int8), 4)


def test_the_assembly_hands_its_sentence_vectors_over():
    assembled = _Assembly(4)
    parts = _parts([2, 1])
    for ordinal, vectors in enumerate(parts):
        index = assembled.add_chunk(Chunk(ordinal, 0, 1, 0, 0, None, len(vectors)), "", np.zeros((len(vectors), 2)),
                                    None, None, np.zeros(len(vectors), np.int8), "")
        assembled.sentence_vectors[index] = vectors
    taken = assembled.take_sentence_vectors()
    assert [t is p for t, p in zip(taken, parts)] == [True, True]
    assert assembled.sentence_vectors == []
