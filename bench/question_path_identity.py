"""Does the question path still answer byte for byte as another install does? The behaviour check for changes that
only make a question cheaper (issue 20).

    python bench/question_path_identity.py --before /tmp/venv-base/bin
    python bench/question_path_identity.py --before /tmp/venv-base/bin --scifact 300 --squad 400

Runs this script under each install's Python (``--before``'s and this one's), each opening the same indexes with
the answer cache off and writing every ``/ask`` response body (``Engine.ask_body``: the bytes the server sends)
for SciFact test questions and SQuAD v1.1 dev questions: hybrid at top_k 5 for all of them, and for a slice,
dense, bm25, top_k 10, the answer scorer off, and ``format: context``. Then compares the bodies as bytes with
took_ms (the one field allowed to differ) blanked, and prints the count and the first differences.
The search path (``POST /tools/search_documents``) is the same engine call's passages, so it is covered.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"
SLICE = 100  # questions per dataset that also run the other modes and options
_TOOK = re.compile(rb'"took_ms":[-+0-9.eE]+')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", type=Path, help="bin folder of the install to compare against")
    parser.add_argument("--scifact", type=int, default=300, help="SciFact test questions")
    parser.add_argument("--squad", type=int, default=400, help="SQuAD v1.1 dev questions")
    parser.add_argument("--scifact-index", type=Path, help="default: the eval index bench/ would use")
    parser.add_argument("--squad-index", type=Path, help="default: the eval index bench/ would use")
    parser.add_argument("--dump", type=Path, help=argparse.SUPPRESS)  # internal: write this install's bodies
    args = parser.parse_args()
    if args.dump:
        dump(args, args.dump)
        return
    if args.before is None:
        parser.error("--before is required")
    sys.path.insert(0, str(ROOT / "bench"))
    from common import eval_index

    indexes = {"scifact": args.scifact_index or eval_index(DATA / "scifact"),
               "squad": args.squad_index or eval_index(DATA / "squad-v1.1-dev")}
    common = ["--scifact", str(args.scifact), "--squad", str(args.squad),
              "--scifact-index", str(indexes["scifact"]), "--squad-index", str(indexes["squad"])]
    with tempfile.TemporaryDirectory() as tmp:
        bodies = {}
        for name, python in (("before", args.before.absolute() / "python"), ("after", Path(sys.executable))):
            out = Path(tmp) / f"{name}.jsonl"
            subprocess.run([str(python), __file__, *common, "--dump", str(out)], check=True)
            bodies[name] = [json.loads(line) for line in out.read_text().splitlines()]
    before, after = bodies["before"], bodies["after"]
    if [b["case"] for b in before] != [a["case"] for a in after]:
        sys.exit("the two installs ran different cases")
    differ = [(b, a) for b, a in zip(before, after) if b["body"] != a["body"]]
    print(f"{len(before) - len(differ)} of {len(before)} responses byte-identical (took_ms aside)")
    for b, a in differ[:5]:
        print(f"\n{b['case']}\n  before: {b['body'][:600]}\n  after:  {a['body'][:600]}")
    sys.exit(1 if differ else 0)


def _questions(dataset: str, split: str, n: int) -> list[str]:
    from askdocs.index import beir

    folder = DATA / dataset
    qrels = beir.load_qrels(folder, split)
    queries = beir.load_queries(folder)
    return [queries[q] for q in qrels if q in queries][:n]


def dump(args, out: Path) -> None:
    from askdocs.index.settings import Settings
    from askdocs.search import open_index
    from askdocs.search.models import Question

    datasets = [("scifact", "test", args.scifact, args.scifact_index),
                ("squad-v1.1-dev", "dev", args.squad, args.squad_index)]
    with open(out, "w", encoding="utf-8") as handle:
        for dataset, split, n, index in datasets:
            questions = _questions(dataset, split, n)
            for scorer in ("on", "off"):
                engine = open_index(index, Settings(answer_cache=0, answer_scorer=scorer == "on"))
                for i, text in enumerate(questions):
                    cases = [dict(mode="hybrid", top_k=5)] if scorer == "on" else []
                    if i < SLICE:
                        cases += ([dict(mode="dense", top_k=5), dict(mode="bm25", top_k=5), dict(mode="hybrid", top_k=10),
                                   dict(mode="hybrid", top_k=3, format="context")] if scorer == "on"
                                  else [dict(mode="hybrid", top_k=5)])
                    for case in cases:
                        body, _, _ = engine.ask_body(Question(question=text, **case))
                        handle.write(json.dumps({"case": [dataset, scorer, i, case],
                                                 "body": _TOOK.sub(b'"took_ms":0', body).decode()}) + "\n")
                engine.close()


if __name__ == "__main__":
    main()
