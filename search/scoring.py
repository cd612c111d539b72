"""Scoring a ranking: what ``askdocs eval`` and the bench scripts measure of the read path."""

from __future__ import annotations

import time

import numpy as np
from ir_measures import RR, R, nDCG
from tqdm import tqdm

from .engine import Engine
from .models import Filters, Mode

MEASURES = {"ndcg@10": nDCG @ 10, "recall@1": R @ 1, "recall@5": R @ 5, "recall@10": R @ 10, "recall@100": R @ 100,
            "mrr@10": RR @ 10}


def contains_any(text: str, answers: list[str]) -> bool:
    lowered = text.lower()
    return any(a.lower() in lowered for a in answers)


def run_queries(engine: Engine, queries: dict[str, str], mode: Mode, depth: int, progress: bool | None,
                filters: Filters | None = None):
    """Document ranking (a document scores as its best chunk), answers and latency for every query."""
    run: dict[str, dict[str, float]] = {}
    responses = {}
    latencies = []
    for query_id, text in tqdm(queries.items(), desc=f"Asking ({mode})", unit="q", disable=None if progress is None else not progress):
        started = time.perf_counter()
        response, ranked = engine.answer(text, top_k=5, mode=mode, depth=depth, filters=filters)
        latencies.append((time.perf_counter() - started) * 1000)
        doc_scores: dict[str, float] = {}
        n = len(ranked.rows)
        for position, row in enumerate(ranked.rows):
            doc_id = engine.stored.doc_ids[engine.stored.chunks.doc_row[row]]
            # Scores of different modes live on different scales; ranks are what the metrics read.
            doc_scores.setdefault(doc_id, float(n - position))
        run[query_id] = doc_scores or {"__none__": 0.0}
        responses[query_id] = response
    return run, responses, np.array(latencies)
