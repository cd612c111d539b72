"""``askdocs eval``: retrieval quality on a BEIR-layout dataset, through the same path as ``POST /ask``.

The face: finds or builds the index a dataset and the settings call for, asks every query, reports. What a
ranking scores is in ``search.scoring``.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import ir_measures
import numpy as np

from askdocs.index import beir
from askdocs.index.build import build_from_documents, describe_build
from askdocs.index.manifest import fingerprint_fields
from askdocs.index.settings import CACHE_FILE, Settings
from askdocs.index.store import FORMAT_VERSION, read_current
from askdocs.search import open_index
from askdocs.search.models import Filters, Mode
from askdocs.search.scoring import MEASURES, contains_any, run_queries

log = logging.getLogger("askdocs.eval")

EVAL_ROOT = Path("var/eval")


@dataclass
class PreparedIndex:
    path: Path
    build_s: float | None  # None when an existing index was reused


def fingerprint(dataset: Path, settings: Settings) -> str:
    digest = hashlib.sha256()
    with open(dataset / "corpus.jsonl", "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    # Everything a build is made of (index.manifest.build_parts), the vector index and store included: an index
    # built any other way is another index to score. Search-time settings vary without a rebuild.
    digest.update(json.dumps(fingerprint_fields(describe_build(settings)), sort_keys=True).encode())
    digest.update(str(FORMAT_VERSION).encode())
    return digest.hexdigest()[:16]


def prepare_index(dataset: Path, settings: Settings, index: Path | None, progress: bool | None) -> PreparedIndex:
    """Reuse an index built from the same corpus and settings; otherwise build one."""
    key = fingerprint(dataset, settings)
    path = index or EVAL_ROOT / f"{dataset.resolve().name}-{key}"
    current = read_current(path)
    if current is not None and current[1].sources == [f"beir:{key}"]:
        return PreparedIndex(path, None)
    if current is not None:
        # Said, not silent: the index there was built from another corpus or made of other parts.
        log.info("eval: the index at %s was built from another corpus or other build settings; building it "
                 "again (what is unchanged is reused)", path)
    # Every eval build shares one embedding cache unless one is configured: indexes of the same corpus under
    # other chunk or fusion settings, or after a format change, then only embed the texts that are new.
    cache = settings.embedding_cache if settings.embedding_cache is not None else str(EVAL_ROOT / CACHE_FILE)
    report = build_from_documents(
        beir.load_corpus(dataset), settings.replace(index=path, embedding_cache=cache), progress,
        sources=[f"beir:{key}"],
    )
    return PreparedIndex(path, round(report.seconds, 1))


def evaluate(dataset: Path, split: str, mode: Mode, settings: Settings, index: Path | None = None,
             progress: bool | None = None, limit: int | None = None, filters: Filters | dict | None = None) -> dict:
    """Scores over the split's queries; with ``filters``, every query is restricted as ``POST /ask`` would be."""
    dataset = Path(dataset)
    filters = Filters.model_validate(filters) if isinstance(filters, dict) else filters
    qrels = beir.load_qrels(dataset, split)
    all_queries = beir.load_queries(dataset)
    queries = {qid: all_queries[qid] for qid in qrels if qid in all_queries}
    if limit:
        queries = dict(list(queries.items())[:limit])
    prepared = prepare_index(dataset, settings, index, progress)
    engine = open_index(prepared.path, settings)
    depth = max(settings.candidates, 100)
    run, responses, latencies = run_queries(engine, queries, mode, depth, progress, filters)
    scores = ir_measures.calc_aggregate(list(MEASURES.values()), {q: qrels[q] for q in queries}, run)
    result = {
        "dataset": dataset.resolve().name,
        "split": split,
        "mode": mode,
        **({"filters": filters.model_dump(mode="json", exclude_none=True)} if filters else {}),
        "queries": len(queries),
        **{name: round(float(scores[measure]), 4) for name, measure in MEASURES.items()},
        "latency_ms": {"p50": round(float(np.percentile(latencies, 50)), 2),
                       "p95": round(float(np.percentile(latencies, 95)), 2)},
        "build_s": prepared.build_s,
        "index": str(prepared.path),
    }
    answers = beir.load_answers(dataset)
    if answers is not None:
        judged = [q for q in queries if answers.get(q)]
        result["answer@1"] = round(float(np.mean([contains_any(responses[q].passages[0].text, answers[q]) if responses[q].passages else False for q in judged])), 4)
        result["answer@5"] = round(float(np.mean([any(contains_any(p.text, answers[q]) for p in responses[q].passages[:5]) for q in judged])), 4)
        result["answer_sentence"] = round(float(np.mean([responses[q].answer is not None and contains_any(responses[q].answer.text, answers[q]) for q in judged])), 4)
        result["no_answer_rate"] = round(float(np.mean([responses[q].no_answer for q in judged])), 4)
    engine.close()
    return result
