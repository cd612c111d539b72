"""Choose the no-answer rule from measurements.

Answerable: SQuAD questions asked of their own corpus. Unanswerable: the same questions asked of
unrelated corpora (the seed article, SciFact abstracts), and SciFact claims asked of SQuAD. For each
mode, each question's top passage gives two signals: its dense cosine to the question and the share
of the question's idf mass it contains (coverage). For every rule ``cosine + a * coverage >= t`` we
report how many answerable questions keep their answer and how many unanswerable ones get one.

    python bench/calibrate_no_answer.py --data ../shared/data --out bench/results/no_answer.json
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

from askdocs.index.beir import load_queries  # noqa: E402
from askdocs.index.build import build_index  # noqa: E402
from askdocs.index.settings import Settings  # noqa: E402
from askdocs.index.store import read_current  # noqa: E402
from askdocs.search import open_index  # noqa: E402
from askdocs.api.evaluate import prepare_index  # noqa: E402

MODES = ("hybrid", "dense", "bm25")
COVERAGE_WEIGHTS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5)


def _signals(engine, questions: list[str], mode: str) -> np.ndarray:
    rows = []
    for question in questions:
        response = engine.ask(question, top_k=1, mode=mode)
        rows.append((response.signals.dense, response.signals.coverage) if response.passages else (0.0, 0.0))
    return np.array(rows)


def _sweep(answerable: np.ndarray, unrelated: np.ndarray) -> list[dict]:
    rows = []
    for weight in COVERAGE_WEIGHTS:
        positive = answerable[:, 0] + weight * answerable[:, 1]
        negative = unrelated[:, 0] + weight * unrelated[:, 1]
        for threshold in np.round(np.arange(0.1, 1.0, 0.025), 3):
            kept = float((positive >= threshold).mean())
            wrong = float((negative >= threshold).mean())
            rows.append({"coverage_weight": weight, "threshold": float(threshold), "answerable_kept": round(kept, 4),
                         "unrelated_answered": round(wrong, 4), "balanced_accuracy": round((kept + 1 - wrong) / 2, 4)})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--questions", type=int, default=1000)
    parser.add_argument("--out", type=Path, default=Path("bench/results/no_answer.json"))
    args = parser.parse_args()

    settings = Settings.from_environment(os.environ)
    squad, scifact = args.data / "squad-v1.1-dev", args.data / "scifact"
    squad_engine = open_index(prepare_index(squad, settings, None, progress=False).path, settings)
    scifact_engine = open_index(prepare_index(scifact, settings, None, progress=False).path, settings)
    seeds_path = Path("var/bench/seeds")
    if read_current(seeds_path) is None:
        build_index([Path("seeds")], settings.replace(index=seeds_path))
    seeds_engine = open_index(seeds_path, settings)

    rng = random.Random(0)
    squad_questions = rng.sample(sorted(load_queries(squad).values()), args.questions)
    scifact_questions = rng.sample(sorted(load_queries(scifact).values()), min(args.questions, 1000))

    result = {"questions": args.questions, "modes": {}}
    for mode in MODES:
        answerable = _signals(squad_engine, squad_questions, mode)
        unrelated = np.concatenate([
            _signals(seeds_engine, squad_questions, mode),
            _signals(scifact_engine, squad_questions, mode),
            _signals(squad_engine, scifact_questions, mode),
        ])
        rows = _sweep(answerable, unrelated)
        best = max(rows, key=lambda r: r["balanced_accuracy"])
        result["modes"][mode] = {"best_balanced": best, "table": rows}
        print(mode, "best balanced:", best, flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
