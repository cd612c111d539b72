"""Repeated questions are answered from memory.

One cache per Engine, and an Engine serves one index generation: a reload makes a new Engine, so a new
generation starts with an empty cache and no answer outlives the documents it cites. Keyed on everything that
shapes a response (question, top_k, mode, filters, format); bounded by entry count, least recently used first out.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from .models import AskResponse, Question


class AnswerCache:
    def __init__(self, size: int):
        self.size = size
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict[str, AskResponse] = OrderedDict()
        self._lock = threading.Lock()  # requests run on a thread pool

    @staticmethod
    def key(question: Question) -> str:
        # The collection picked the Engine already; everything else can change the response.
        return question.model_dump_json(exclude={"collection"})

    def get(self, key: str) -> AskResponse | None:
        if self.size <= 0:
            return None
        with self._lock:
            found = self._entries.get(key)
            if found is None:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return found

    def put(self, key: str, response: AskResponse) -> None:
        if self.size <= 0:
            return
        with self._lock:
            self._entries[key] = response
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)
