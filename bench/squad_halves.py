"""Answer metrics of SQuAD v1.1 dev per half of the articles (the split bench/train_answer_scorer.py trains on).

    PYTHONPATH=. python bench/squad_halves.py ../shared/data/squad-v1.1-dev [--out squad-halves.json]

Asks every question through Engine.answer exactly as ``askdocs eval`` does (hybrid, top 5, the eval index under
var/eval/) and reports answer@1, answer@5, answer_sentence and the no-answer rate for all questions, the train
half and the held-out half (sha256 of the article title; first byte even = train). Run it from an older checkout's
code with PYTHONPATH pointing there to get the "before" numbers of the same halves.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, os.environ.get("PYTHONPATH", "").split(":")[0] or str(ROOT))

from askdocs.index import beir  # noqa: E402
from askdocs.index.settings import Settings  # noqa: E402
from askdocs.search import open_index  # noqa: E402
from askdocs.api.evaluate import prepare_index  # noqa: E402


def half(title: str) -> str:
    return "train" if hashlib.sha256(title.encode()).digest()[0] % 2 == 0 else "heldout"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("dataset", type=Path)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    settings = Settings.from_environment(os.environ)
    engine = open_index(prepare_index(args.dataset, settings, None, progress=False).path, settings)
    titles = {d["_id"]: d.get("title", "") for d in map(json.loads, open(args.dataset / "corpus.jsonl"))}
    answers = beir.load_answers(args.dataset)
    texts = beir.load_queries(args.dataset)
    qrels = beir.load_qrels(args.dataset, "dev")
    rows = {"all": [], "train": [], "heldout": []}
    for qid in sorted(qrels):
        gold = [a.lower() for a in answers.get(qid) or []]
        if not gold:
            continue
        response, _ = engine.answer(texts[qid], top_k=5, mode="hybrid")
        has = lambda t: any(g in t.lower() for g in gold)  # noqa: E731
        row = (bool(response.passages) and has(response.passages[0].text),
               any(has(p.text) for p in response.passages[:5]),
               response.answer is not None and has(response.answer.text), response.no_answer)
        rows["all"].append(row)
        rows[half(titles[next(iter(qrels[qid]))])].append(row)
    out = {}
    for name, values in rows.items():
        n = len(values)
        out[name] = {"questions": n, **{k: round(sum(v[i] for v in values) / n, 4) for i, k in enumerate(
            ("answer@1", "answer@5", "answer_sentence", "no_answer_rate"))}}
    print(json.dumps(out, indent=2))
    if args.out:
        (ROOT / "bench" / "results" / args.out).write_text(json.dumps(out, indent=2) + "\n")
    engine.close()


if __name__ == "__main__":
    main()
