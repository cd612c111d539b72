"""Repeated questions are answered from memory.

One cache per Engine, and an Engine serves one index generation: a reload makes a new Engine, so a new
generation starts with an empty cache and no answer outlives the documents it cites. Keyed on everything that
shapes a response (question, top_k, mode, filters, format); bounded by entry count, least recently used first out.

Each entry keeps its response serialised to JSON as well, so that a hit over HTTP costs a lookup and a few
bytes spliced in (took_ms, cached) rather than validating and serialising five passages with their citations
again (bench/README.md, "The answer cache").
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from pydantic_core import to_json

from .models import AskResponse, Question


class CachedAnswer:
    """A response and its JSON, serialised once: ``body`` gives the bytes for any took_ms and cached flag."""

    __slots__ = ("response", "_head", "_tail")

    def __init__(self, response: AskResponse):
        self.response = response
        # The fields as AskResponse orders them: everything before took_ms, then took_ms and cached, then the rest.
        names = list(AskResponse.model_fields)
        where = names.index("took_ms")
        if names[where + 1] != "cached":
            raise AssertionError("AskResponse must keep took_ms and cached next to each other")
        # Each field serialised once: the fields before took_ms and those after cached as two objects, each cut
        # open where took_ms and cached go (pydantic writes an object's fields in the model's order either way).
        head = response.model_dump_json(include=set(names[:where])).encode()
        tail = response.model_dump_json(include=set(names[where + 2:])).encode()
        self._head = head[:-1] + b","
        self._tail = (b"," + tail[1:]) if len(tail) > 2 else b"}"

    @property
    def no_answer(self) -> bool:
        return self.response.no_answer

    def body(self, took_ms: float, cached: bool) -> bytes:
        return self._head + self._middle(took_ms, cached) + self._tail

    @staticmethod
    def _middle(took_ms: float, cached: bool) -> bytes:
        return b'"took_ms":' + to_json(took_ms) + b',"cached":' + (b"true" if cached else b"false")


class AnswerCache:
    def __init__(self, size: int):
        self.size = size
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict[str, CachedAnswer] = OrderedDict()
        self._lock = threading.Lock()  # requests run on a thread pool

    @staticmethod
    def key(question: Question) -> str:
        # The collection picked the Engine already; everything else can change the response.
        return question.model_dump_json(exclude={"collection"})

    def get(self, key: str, count_miss: bool = True) -> CachedAnswer | None:
        """The entry for ``key``, if any; ``count_miss`` False: a look that a full ask follows on a miss,
        which counts it then."""
        if self.size <= 0:
            return None
        with self._lock:
            found = self._entries.get(key)
            if found is None:
                self.misses += count_miss
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return found

    def put(self, key: str, entry: CachedAnswer) -> None:
        if self.size <= 0:
            return
        with self._lock:
            self._entries[key] = entry
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)
