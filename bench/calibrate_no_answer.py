"""Choose the no-answer threshold from measurements.

Answerable: SQuAD questions asked of their own corpus. Unanswerable: the same questions asked of
an unrelated corpus (the seed article), and SciFact claims asked of SQuAD. For every candidate
threshold we report how many answerable questions keep their answer and how many unanswerable ones
are (wrongly) answered.

    python bench/calibrate_no_answer.py --data ../shared/data --out bench/results/no_answer.json
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from index.beir import load_corpus, load_queries  # noqa: E402
from index.build import build_from_documents, build_index  # noqa: E402
from index.settings import Settings  # noqa: E402
from index.store import read_current  # noqa: E402
from search import open_index  # noqa: E402


def _index(name: str, build, work: Path) -> Path:
    index = work / name
    if read_current(index) is None:
        build(index)
    return index


def _best_scores(engine, questions: list[str], mode: str | None) -> np.ndarray:
    scores = []
    for question in questions:
        response = engine.ask(question, top_k=5, **({"mode": mode} if mode else {}))
        scores.append(response.passages[0].score if response.passages else 0.0)
    return np.array(scores)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--work", type=Path, default=Path("var/bench"))
    parser.add_argument("--questions", type=int, default=1000)
    parser.add_argument("--mode", default=None, help="retrieval mode to calibrate (default: the engine's default)")
    parser.add_argument("--out", type=Path, default=Path("bench/results/no_answer.json"))
    args = parser.parse_args()

    squad, scifact = args.data / "squad-v1.1-dev", args.data / "scifact"
    squad_index = _index("squad", lambda i: build_from_documents(load_corpus(squad), Settings(index=i)), args.work)
    seeds_index = _index("seeds", lambda i: build_index([Path("seeds")], Settings(index=i)), args.work)

    rng = random.Random(0)
    squad_questions = rng.sample(list(load_queries(squad).values()), args.questions)
    scifact_questions = rng.sample(list(load_queries(scifact).values()), min(args.questions, 1000))

    squad_engine, seeds_engine = open_index(squad_index), open_index(seeds_index)
    answerable = _best_scores(squad_engine, squad_questions, args.mode)
    unrelated = np.concatenate([
        _best_scores(seeds_engine, squad_questions, args.mode),
        _best_scores(squad_engine, scifact_questions, args.mode),
    ])

    rows = []
    for threshold in np.round(np.arange(0.05, 0.8, 0.025), 3):
        kept = float((answerable >= threshold).mean())
        false_answers = float((unrelated >= threshold).mean())
        rows.append({"threshold": float(threshold), "answerable_kept": kept, "unrelated_answered": false_answers,
                     "balanced_accuracy": (kept + 1 - false_answers) / 2})
    best = max(rows, key=lambda r: r["balanced_accuracy"])
    result = {
        "mode": args.mode or "default",
        "answerable": {"n": len(answerable), "percentiles": np.percentile(answerable, [5, 25, 50, 75, 95]).round(3).tolist()},
        "unrelated": {"n": len(unrelated), "percentiles": np.percentile(unrelated, [5, 25, 50, 75, 95]).round(3).tolist()},
        "best_balanced": best,
        "table": rows,
    }
    for row in rows:
        print(f"{row['threshold']:.3f}  answerable kept {row['answerable_kept']:.3f}  "
              f"unrelated answered {row['unrelated_answered']:.3f}  balanced {row['balanced_accuracy']:.3f}")
    print("answerable percentiles 5/25/50/75/95:", result["answerable"]["percentiles"])
    print("unrelated  percentiles 5/25/50/75/95:", result["unrelated"]["percentiles"])
    print("best balanced:", best)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
