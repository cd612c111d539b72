"""Train the answer scorer (search/scorer.py) and write its weights to search/data/answer_scorer.json.

    PYTHONPATH=. python bench/train_answer_scorer.py \\
        --squad ../shared/data/squad-v1.1-dev --realdocs-index var/realdocs/index [--out answer-scorer.json]

Data, fixed and reproducible (seed 0):
- SQuAD v1.1 dev, split into two halves by sha256 of the article title (first byte even: the *train* half).
  Only train-half questions are trained on; the held-out half is only scored.
- The real-documents benchmark's dev questions (bench/realdocs_questions.jsonl, split "dev"); never test.

Each question goes through Engine.evidence (the same code as POST /ask, hybrid, top 5): every candidate of the
first passages with its features. A candidate is positive when it contains a gold answer string. When a shorter
candidate also contains it, the longer ones that include it are left out of training: the answer should be the
tightest unit, not the longest. A logistic regression (scikit-learn, L2, C chosen by 5-fold cross-validation
over questions on the training data) is fitted; the real-documents questions are weighted so that they count as
much as the SQuAD ones together (REALDOCS_SHARE). Prints and writes the evaluation JSON to bench/results/.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT, write_result  # noqa: E402
from bench.realdocs import contains as realdocs_contains  # noqa: E402
from bench.realdocs import load_questions  # noqa: E402
from index import beir  # noqa: E402
from index.settings import Settings  # noqa: E402
from search import open_index  # noqa: E402
from search.evaluate import prepare_index  # noqa: E402
from search.scorer import FEATURES, SCORER_FILE  # noqa: E402

SEED = 0
REALDOCS_SHARE = 0.5  # of the total training weight
WEIGHTS = ROOT / "search" / "data" / SCORER_FILE


def squad_half(title: str) -> str:
    """'train' or 'heldout', fixed by the article title alone."""
    return "train" if hashlib.sha256(title.encode()).digest()[0] % 2 == 0 else "heldout"


def squad_contains(text: str, answers: list[str]) -> bool:
    lowered = text.lower()
    return any(a.lower() in lowered for a in answers)


def collect(engine, questions: list[tuple[str, str, list[str]]], match) -> list[dict]:
    """Per question: feature matrix, labels (contains gold), spans, passage ranks, texts, no-answer signals."""
    out = []
    for qid, text, gold in questions:
        response, _, ev = engine.evidence(text, 5, "hybrid")
        x = np.asarray(ev.features, dtype=np.float32).reshape(-1, len(FEATURES))
        labels = np.array([match(t, gold) for t in ev.texts], dtype=bool)
        out.append({"id": qid, "x": x, "y": labels, "spans": ev.spans, "ranks": ev.ranks, "texts": ev.texts,
                    "kinds": ev.kinds, "signals": response.signals.model_dump() if response.signals else None,
                    "answer@5": any(match(p.text, gold) for p in response.passages[:5]) if gold else None})
    return out


def training_mask(q: dict) -> np.ndarray:
    """Leave out positives that contain a shorter positive of the same passage (the tightest unit is the answer)."""
    keep = np.ones(len(q["y"]), dtype=bool)
    for i in np.flatnonzero(q["y"]):
        s, e = q["spans"][i]
        for j in np.flatnonzero(q["y"]):
            if j != i and q["ranks"][j] == q["ranks"][i]:
                sj, ej = q["spans"][j]
                if s <= sj and ej <= e and (ej - sj) < (e - s):
                    keep[i] = False
                    break
    return keep


def stack(questions: list[dict], weight: float):
    xs, ys, ws, groups = [], [], [], []
    for g, q in enumerate(questions):
        if len(q["y"]) == 0 or not q["y"].any():
            continue  # no candidate holds the answer: nothing to learn about choosing
        keep = training_mask(q)
        xs.append(q["x"][keep])
        ys.append(q["y"][keep])
        ws.append(np.full(int(keep.sum()), weight / keep.sum()))
        groups.append(np.full(int(keep.sum()), g))
    return np.concatenate(xs), np.concatenate(ys), np.concatenate(ws), np.concatenate(groups)


def fit(x, y, w, c: float):
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(x)
    model = LogisticRegression(C=c, max_iter=2000, random_state=SEED).fit(scaler.transform(x), y, sample_weight=w)
    return {"features": FEATURES, "mean": scaler.mean_.tolist(), "scale": np.where(scaler.scale_ > 0, scaler.scale_, 1).tolist(),
            "coef": model.coef_[0].tolist(), "intercept": float(model.intercept_[0])}


def logits(spec: dict, x: np.ndarray) -> np.ndarray:
    if len(x) == 0:
        return np.zeros(0)
    return ((x - np.asarray(spec["mean"])) / np.asarray(spec["scale"])) @ np.asarray(spec["coef"]) + spec["intercept"]


def answer_sentence(spec: dict | None, questions: list[dict], passages: int = 3, mask: list[bool] | None = None) -> float:
    """Share of questions whose best candidate (first ``passages`` passages) contains a gold answer."""
    hits = []
    for i, q in enumerate(questions):
        if mask is not None and not mask[i]:
            continue
        allowed = np.array(q["ranks"], dtype=int) < passages if len(q["ranks"]) else np.zeros(0, dtype=bool)
        if not allowed.any():
            hits.append(False)
            continue
        score = logits(spec, q["x"]) if spec else q["x"][:, FEATURES.index("cos")] + 0.5 * q["x"][:, FEATURES.index("coverage")]
        score = np.where(allowed, score, -np.inf)
        hits.append(bool(q["y"][int(np.argmax(score))]))
    return round(float(np.mean(hits)), 4) if hits else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--squad", type=Path, default=Path("../shared/data/squad-v1.1-dev"))
    parser.add_argument("--realdocs-index", type=Path, default=ROOT / "var" / "realdocs" / "index")
    parser.add_argument("--train-questions", type=int, default=3000, help="SQuAD train-half questions used")
    parser.add_argument("--heldout-questions", type=int, default=0, help="SQuAD held-out questions scored (0: all)")
    parser.add_argument("--out", default="answer-scorer.json")
    parser.add_argument("--no-write", action="store_true", help="do not overwrite the packaged weights")
    args = parser.parse_args()
    started = time.time()
    rng = random.Random(SEED)

    settings = Settings()
    squad_engine = open_index(prepare_index(args.squad, settings, None, progress=False).path, settings)
    corpus_titles = {d["_id"]: d.get("title", "") for d in map(json.loads, open(args.squad / "corpus.jsonl"))}
    answers = beir.load_answers(args.squad)
    texts = beir.load_queries(args.squad)
    qrels = beir.load_qrels(args.squad, "dev")
    halves: dict[str, list] = {"train": [], "heldout": []}
    for qid in sorted(qrels):
        if not answers.get(qid):
            continue
        doc = next(iter(qrels[qid]))
        halves[squad_half(corpus_titles[doc])].append((qid, texts[qid], answers[qid]))
    print(f"SQuAD: {len(halves['train'])} train-half questions, {len(halves['heldout'])} held-out", flush=True)
    train_q = rng.sample(halves["train"], min(args.train_questions, len(halves["train"])))
    heldout_q = halves["heldout"] if not args.heldout_questions else rng.sample(
        halves["heldout"], min(args.heldout_questions, len(halves["heldout"])))
    squad_train = collect(squad_engine, train_q, squad_contains)
    squad_heldout = collect(squad_engine, heldout_q, squad_contains)
    squad_engine.close()
    print(f"SQuAD candidates collected ({time.time() - started:.0f} s)", flush=True)

    real_engine = open_index(args.realdocs_index, settings)
    realdocs = [q for q in load_questions() if q["answers"]]
    real_dev = collect(real_engine, [(q["id"], q["question"], q["answers"]) for q in realdocs if q["split"] == "dev"],
                       realdocs_contains)
    real_test = collect(real_engine, [(q["id"], q["question"], q["answers"]) for q in realdocs if q["split"] == "test"],
                        realdocs_contains)
    real_engine.close()
    print(f"real-documents candidates collected ({time.time() - started:.0f} s)", flush=True)

    # Choose C by 5-fold cross-validation over training questions (SQuAD train half + real-documents dev).
    n_squad = len(squad_train)
    pool = squad_train + real_dev
    weight_of = [(1 - REALDOCS_SHARE) / n_squad] * n_squad + [REALDOCS_SHARE / len(real_dev)] * len(real_dev)
    folds = [i % 5 for i in range(len(pool))]
    rng.shuffle(folds)
    cv = {}
    for c in (0.01, 0.1, 1.0, 10.0):
        squad_hits, real_hits = [], []
        for k in range(5):
            train = [q for q, f in zip(pool, folds) if f != k]
            w_train = [w for w, f in zip(weight_of, folds) if f != k]
            parts = [stack([q], w) for q, w in zip(train, w_train) if len(q["y"]) and q["y"].any()]
            x = np.concatenate([p[0] for p in parts]); y = np.concatenate([p[1] for p in parts])
            w = np.concatenate([p[2] for p in parts])
            spec = fit(x, y, w * len(parts), c)
            test_sq = [q for i, (q, f) in enumerate(zip(pool, folds)) if f == k and i < n_squad]
            test_rd = [q for i, (q, f) in enumerate(zip(pool, folds)) if f == k and i >= n_squad]
            squad_hits.append((answer_sentence(spec, test_sq), len(test_sq)))
            real_hits.append((answer_sentence(spec, test_rd), len(test_rd)))
        cv[c] = {"squad_train_cv": round(sum(a * n for a, n in squad_hits) / sum(n for _, n in squad_hits), 4),
                 "realdocs_dev_cv": round(sum(a * n for a, n in real_hits if n) / sum(n for _, n in real_hits), 4)}
        print(f"C={c}: cross-validated answer_sentence {cv[c]}", flush=True)
    best_c = max(cv, key=lambda c: cv[c]["squad_train_cv"] + cv[c]["realdocs_dev_cv"])

    parts = [stack([q], w) for q, w in zip(pool, weight_of) if len(q["y"]) and q["y"].any()]
    x = np.concatenate([p[0] for p in parts]); y = np.concatenate([p[1] for p in parts])
    w = np.concatenate([p[2] for p in parts])
    spec = fit(x, y, w * len(parts), best_c)
    spec.update({"model": "logistic regression over answer-candidate features", "C": best_c, "seed": SEED,
                 "trained_on": {"squad_train_half_questions": len(squad_train), "realdocs_dev_questions": len(real_dev),
                                "realdocs_share": REALDOCS_SHARE},
                 "script": "bench/train_answer_scorer.py"})
    evaluation = {
        "baseline_rule (cos + 0.5 coverage over the new candidates)": {
            "squad_heldout": answer_sentence(None, squad_heldout), "realdocs_dev": answer_sentence(None, real_dev),
            "realdocs_test": answer_sentence(None, real_test)},
        "trained": {
            "squad_train_half": answer_sentence(spec, squad_train), "squad_heldout": answer_sentence(spec, squad_heldout),
            "realdocs_dev": answer_sentence(spec, real_dev), "realdocs_test": answer_sentence(spec, real_test)},
        "cv": {str(c): v for c, v in cv.items()}, "C": best_c,
        "questions": {"squad_train": len(squad_train), "squad_heldout": len(squad_heldout),
                      "realdocs_dev": len(real_dev), "realdocs_test": len(real_test)},
        "coef": dict(zip(FEATURES, np.round(spec["coef"], 4).tolist())),
        "note": "answer_sentence here ignores no_answer (the scorer's choice only); bench/realdocs.py counts a "
                "refused answerable question as a miss",
        "seconds": round(time.time() - started, 1),
    }
    print(json.dumps(evaluation, indent=2))
    if not args.no_write:
        WEIGHTS.write_text(json.dumps(spec, indent=1) + "\n")
        print(f"wrote {WEIGHTS.relative_to(ROOT)}")
    path = write_result(args.out, {"evaluation": evaluation, "weights": spec})
    print(f"wrote {path.relative_to(ROOT)}")
    # Candidates for the no-answer tuning (bench/tune_no_answer): the signals of every question collected.
    dump = ROOT / "var" / "answer-scorer-signals.json"
    dump.parent.mkdir(parents=True, exist_ok=True)
    dump.write_text(json.dumps({"realdocs_dev": [{"id": q["id"], "signals": q["signals"]} for q in real_dev]}))


if __name__ == "__main__":
    main()
