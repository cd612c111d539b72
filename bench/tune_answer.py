"""Tune how the answer sentence is picked, on SQuAD (gold answer strings are known).

For each question the hybrid top passages are retrieved once; then each rule picks one sentence and
we count how often it contains a gold answer (the ``answer_sentence`` metric of ``askdocs eval``).

    python bench/tune_answer.py ../shared/data/squad-v1.1-dev --limit 2000
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from askdocs.index import beir  # noqa: E402
from askdocs.index.lexical import tokenize  # noqa: E402
from askdocs.index.settings import Settings  # noqa: E402
from askdocs.search import open_index  # noqa: E402
from askdocs.search.terms import coverage, idf_weights  # noqa: E402
from askdocs.api.evaluate import prepare_index  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("dataset", type=Path)
    parser.add_argument("--split", default="dev")
    parser.add_argument("--limit", type=int, default=2000)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    settings = Settings.from_environment(os.environ)
    engine = open_index(prepare_index(args.dataset, settings, None, progress=False).path, settings)
    stored = engine.stored
    answers = beir.load_answers(args.dataset)
    texts = beir.load_queries(args.dataset)
    ids = sorted(q for q in beir.load_qrels(args.dataset, args.split) if answers.get(q))
    ids = random.Random(0).sample(ids, min(args.limit, len(ids)))

    candidates = []  # per question: list of (passage_rank, passage_z, semantic, coverage, contains_answer)
    for query_id in ids:
        question = texts[query_id]
        gold = [a.lower() for a in answers[query_id]]
        response, ranked = engine.answer(question, top_k=3, mode="hybrid")
        vector = engine.embedder.encode_queries([question])[0]
        weights = idf_weights(stored.bm25, tokenize(question))
        rows = []
        for rank, (passage, row, fused) in enumerate(zip(response.passages, ranked.rows, ranked.scores)):
            first, count = int(stored.chunks.sentence_first[row]), int(stored.chunks.sentence_count[row])
            start = passage.citation.char_start
            for (s, e), sentence_vector in zip(stored.sentence_spans[first : first + count],
                                               stored.sentence_vectors[first : first + count]):
                sentence = passage.text[s - start : e - start]
                rows.append((rank, float(fused), float(sentence_vector @ vector), coverage(weights, sentence),
                             any(g in sentence.lower() for g in gold)))
        candidates.append(np.array(rows, dtype=float) if rows else np.zeros((0, 5)))

    results = []
    for passages in (1, 2, 3):
        for lexical in (0.3, 0.5, 0.8):
            priors = [("none", 0.0)] if passages == 1 else [
                ("fused", 0.05), ("fused", 0.1), ("rank", 0.02), ("rank", 0.04), ("rank", 0.08)]
            for kind, prior in priors:
                hits = 0
                for rows in candidates:
                    rows = rows[rows[:, 0] < passages]
                    if len(rows) == 0:
                        continue
                    # A rank prior works in every mode; fused scores only mean something in hybrid.
                    bonus = prior * rows[:, 1] if kind == "fused" else -prior * rows[:, 0]
                    score = rows[:, 2] + lexical * rows[:, 3] + bonus
                    hits += bool(rows[int(np.argmax(score)), 4])
                row = {"passages": passages, "lexical_weight": lexical, "prior": kind, "prior_weight": prior,
                       "answer_sentence": round(hits / len(candidates), 4)}
                results.append(row)
                print(json.dumps(row), flush=True)
    best = max(results, key=lambda r: r["answer_sentence"])
    print("best:", best)
    if args.out:
        args.out.write_text(json.dumps({"questions": len(ids), "results": results, "best": best}, indent=2))


if __name__ == "__main__":
    main()
