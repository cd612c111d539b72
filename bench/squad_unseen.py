"""How often the no-answer rule's unseen-name signal fires on answerable questions: SQuAD v1.1 dev, train half.

    python bench/squad_unseen.py ../shared/data/squad-v1.1-dev [--questions 1500]

Every SQuAD question is answerable from its article, so each firing is a false alarm; "flipped" counts those the
signal alone turned into a refusal (evidence under the threshold with it, over without it). Only the train half
(sha256 of the article title, first byte even; bench/squad_halves.py), a fixed sample (seed 0), is asked: the
held-out half is for reporting. Prints the counts and the questions it fired on.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from askdocs.api.evaluate import prepare_index  # noqa: E402
from askdocs.index import beir  # noqa: E402
from askdocs.index.settings import Settings  # noqa: E402
from askdocs.search import open_index  # noqa: E402
from askdocs.search.answer import NO_ANSWER_UNSEEN_NAME_WEIGHT  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dataset", type=Path)
    parser.add_argument("--questions", type=int, default=1500)
    args = parser.parse_args()
    settings = Settings.from_environment(os.environ)
    engine = open_index(prepare_index(args.dataset, settings, None, progress=False).path, settings)
    titles = {d["_id"]: d.get("title", "") for d in map(json.loads, open(args.dataset / "corpus.jsonl"))}
    qrels = beir.load_qrels(args.dataset, "dev")
    texts = beir.load_queries(args.dataset)
    train = [q for q in sorted(qrels) if hashlib.sha256(titles[next(iter(qrels[q]))].encode()).digest()[0] % 2 == 0]
    random.Random(0).shuffle(train)
    fired, flipped = [], 0
    for qid in train[: args.questions]:
        signals = engine.ask(texts[qid]).signals
        if signals is not None and signals.unseen_name:
            flip = signals.evidence < signals.threshold <= signals.evidence + NO_ANSWER_UNSEEN_NAME_WEIGHT
            flipped += flip
            fired.append((signals.unseen_name, flip, texts[qid]))
    engine.close()
    print(f"{min(args.questions, len(train))} train-half questions: fired on {len(fired)}, refused by it {flipped}")
    for name, flip, text in fired:
        print(f"{'refused' if flip else '       '} {name:24s} {text}")


if __name__ == "__main__":
    main()
