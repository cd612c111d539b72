"""A model's tokenizer.json as the embedder and the question-model build both read it."""

from __future__ import annotations

import os
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

Span = tuple[int, int]


class ModelTokenizer:
    """The model's tokenizer.json, configured twice: raw counting for the chunker, truncated inputs for the model."""

    def __init__(self, folder: str, max_tokens: int):
        from tokenizers import Tokenizer

        path = os.path.join(folder, "tokenizer.json")
        # The file carries sentence-transformers' 128-token truncation and fixed 128 padding; chunks are sized
        # against the model's real window (max_tokens), so both are replaced. Batches are padded here (pad),
        # once their members are chosen by length.
        self.plain = Tokenizer.from_file(path)
        pad = self.plain.padding or {"pad_id": 0, "pad_type_id": 0}
        self.pad_id, self.pad_type_id = pad["pad_id"], pad["pad_type_id"]
        self.plain.no_truncation()
        self.plain.no_padding()
        self.model_input = Tokenizer.from_file(path)
        self.model_input.enable_truncation(max_tokens)
        self.model_input.no_padding()

    def spans(self, texts: Sequence[str]) -> list[list[Span]]:
        return [list(e.offsets) for e in self.plain.encode_batch(list(texts), add_special_tokens=False)]

    def encode(self, texts: Sequence[str]) -> list:
        """Each text as the model reads it (special tokens added, cut to the window), unpadded."""
        return self.model_input.encode_batch(list(texts))

    def pad(self, encodings: list) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """One batch: ids, attention mask, token types and char offsets, padded to its longest member."""
        width = max(len(e.ids) for e in encodings)
        ids = np.full((len(encodings), width), self.pad_id, dtype=np.int64)
        types = np.full((len(encodings), width), self.pad_type_id, dtype=np.int64)
        mask = np.zeros((len(encodings), width), dtype=np.int64)
        offsets = np.zeros((len(encodings), width, 2), dtype=np.int64)
        for row, encoding in enumerate(encodings):
            n = len(encoding.ids)
            ids[row, :n] = encoding.ids
            types[row, :n] = encoding.type_ids
            mask[row, :n] = 1
            offsets[row, :n] = encoding.offsets
        return ids, mask, types, offsets


@lru_cache(maxsize=4)
def model_tokenizer(folder: str, max_tokens: int) -> ModelTokenizer:
    return ModelTokenizer(folder, max_tokens)
