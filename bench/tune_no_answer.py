"""Tune the no-answer rule on evidence the engine already computes (search/answer.py, NO_ANSWER_*).

    PYTHONPATH=. python bench/tune_no_answer.py --squad ../shared/data/squad-v1.1-dev [--out no-answer-tuning.json]

evidence = confidence + w * (answer_score - centre) - u * unknown_terms - r * rare_term_missing; no_answer when
evidence < threshold
(ASKDOCS_NO_ANSWER_THRESHOLD, default 0.6, kept). Sets: the real-documents *dev* questions (answerable and not),
the seed article's 20 answerable and 20 off-corpus questions (tests/seed_questions.json), and 1,000 questions of
the SQuAD *train* half asked of their own corpus (answerable). Never the real-documents test split.

For each (w, u) the centre is the largest that keeps answerable refusals within budget (≤ 3% on real-documents
dev and SQuAD, none of the seed article's); the rule refusing the most unanswerable questions wins (ties: the
smaller weights).
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import os
import random
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT, write_result  # noqa: E402
from bench.realdocs import load_questions  # noqa: E402
from askdocs.index import beir  # noqa: E402
from askdocs.index.build import build_index  # noqa: E402
from askdocs.index.settings import Settings  # noqa: E402
from askdocs.search import open_index  # noqa: E402
from askdocs.api.evaluate import prepare_index  # noqa: E402

THRESHOLD = 0.6


def signals(engine, questions: list[str]) -> np.ndarray:
    rows = []
    for q in questions:
        s = engine.ask(q).signals
        rows.append([s.confidence, s.answer_score, s.unknown_terms, float(s.rare_term_missing)])
    return np.array(rows)


def refused(sig: np.ndarray, w: float, centre: float, u: float, r: float) -> np.ndarray:
    return sig[:, 0] + w * (sig[:, 1] - centre) - u * sig[:, 2] - r * sig[:, 3] < THRESHOLD


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--squad", type=Path, default=Path("../shared/data/squad-v1.1-dev"))
    parser.add_argument("--realdocs-index", type=Path, default=ROOT / "var" / "realdocs" / "index")
    parser.add_argument("--out", default="no-answer-tuning.json")
    args = parser.parse_args()
    settings = Settings.from_environment(os.environ)

    real = open_index(args.realdocs_index, settings)
    dev = [q for q in load_questions() if q["split"] == "dev"]
    sets = {"realdocs_dev_answerable": signals(real, [q["question"] for q in dev if q["answers"]]),
            "realdocs_dev_unanswerable": signals(real, [q["question"] for q in dev if not q["answers"]])}
    real.close()

    seeds_index = ROOT / "var" / "seeds-index"
    if not (seeds_index / "CURRENT").exists():
        build_index([ROOT / "seeds"], Settings(index=seeds_index), progress=False)
    seeds = open_index(seeds_index, settings)
    fixture = json.loads((ROOT / "tests" / "seed_questions.json").read_text())
    sets["seed_answerable"] = signals(seeds, [i["question"] for i in fixture["answerable"]])
    sets["seed_off_corpus"] = signals(seeds, fixture["off_corpus"])
    seeds.close()

    squad = open_index(prepare_index(args.squad, settings, None, progress=False).path, settings)
    titles = {d["_id"]: d.get("title", "") for d in map(json.loads, open(args.squad / "corpus.jsonl"))}
    texts = beir.load_queries(args.squad)
    qrels = beir.load_qrels(args.squad, "dev")
    train = sorted(q for q in qrels
                   if hashlib.sha256(titles[next(iter(qrels[q]))].encode()).digest()[0] % 2 == 0)
    sets["squad_train_answerable"] = signals(squad, [texts[q] for q in random.Random(0).sample(train, 1000)])
    squad.close()

    results = []
    for w, u, r in itertools.product((0.0, 0.5, 1.0, 1.5, 2.0), (0.0, 0.2, 0.5, 0.8), (0.0, 0.1, 0.2, 0.3, 0.4, 0.6)):
        best = None
        for centre in np.round(np.arange(-0.5, 1.01, 0.01), 2) if w else [0.5]:
            rates = {name: float(np.mean(refused(sig, w, centre, u, r))) for name, sig in sets.items()}
            ok = (rates["realdocs_dev_answerable"] <= 0.03 and rates["squad_train_answerable"] <= 0.03
                  and rates["seed_answerable"] == 0)
            if ok:
                best = {"w": w, "u": u, "r": r, "centre": float(centre), **{k: round(v, 4) for k, v in rates.items()}}
        if best:
            results.append(best)
    results.sort(key=lambda x: (-(x["realdocs_dev_unanswerable"] + x["seed_off_corpus"]), x["w"] + x["u"] + x["r"]))
    for r in results[:10]:
        print(json.dumps(r))
    current = {name: round(float(np.mean(refused(sig, 0.0, 0.5, 0.0, 0.0))), 4) for name, sig in sets.items()}
    print("old rule (confidence < 0.6) on the same signals:", json.dumps(current))
    write_result(args.out, {"threshold": THRESHOLD, "best": results[:10], "old_rule": current,
                            "sizes": {k: len(v) for k, v in sets.items()}})


if __name__ == "__main__":
    main()
