"""Train the answer scorer (search/scorer.py) and write its weights to search/data/answer_scorer.json.

    PYTHONPATH=. python bench/train_answer_scorer.py \\
        --squad ../shared/data/squad-v1.1-dev --realdocs-index var/realdocs/index [--out answer-scorer.json]

Data, fixed and reproducible (seed 0):
- SQuAD v1.1 dev, split into two halves by sha256 of the article title (first byte even: the *train* half).
  Only train-half questions are trained on; the held-out half is only scored.
- The real-documents benchmark's dev questions (bench/realdocs_questions.jsonl, split "dev"); never test. The
  test split is only collected and scored with --report-test, once the model is final.

Each question goes through Engine.evidence (the same code as POST /ask, hybrid, top 5): every candidate of the
first passages with its features. A candidate is positive when it contains a gold answer string. When a shorter
candidate also contains it, the longer ones that include it are left out of training: the answer should be the
tightest unit, not the longest. A listwise logistic model (per question a softmax over its candidates; L2, C
chosen by 5-fold cross-validation over the training questions; only TRAINED_FEATURES get weights) is fitted by
L-BFGS (scipy); the real-documents questions are weighted so that they count as much as the SQuAD ones together
(REALDOCS_SHARE). A one-feature logistic fit (scikit-learn) then calibrates the best candidate's logit into the
probability the no-answer rule reads (``answer_score``). Deterministic: same data, same weights. Prints and
writes the evaluation JSON to bench/results/answer-scorer.json (``--out``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT, write_result  # noqa: E402
from bench.realdocs import contains as realdocs_contains  # noqa: E402
from bench.realdocs import load_questions  # noqa: E402
from askdocs.index import beir  # noqa: E402
from askdocs.index.settings import Settings  # noqa: E402
from askdocs.search import open_index  # noqa: E402
from askdocs.api.evaluate import prepare_index  # noqa: E402
import askdocs.search.answer as search_answer  # noqa: E402
from askdocs.search.scorer import FEATURES, SCORER_FILE, Scorer  # noqa: E402
from bench.train_answer_adapter import ADAPTER_FEATURES  # noqa: E402
from bench.train_answer_adapter import train as train_adapter  # noqa: E402
from bench.train_answer_adapter import vector_groups, with_answer_features  # noqa: E402

SEED = 0
REALDOCS_SHARE = 0.5  # of the total training weight
PASSAGES = 5  # the answer is chosen among the candidates of this many passages (search.answer.ANSWER_PASSAGES)
# The features the model uses; the others keep a weight of 0. Chosen by greedy forward selection (2-fold
# cross-validation inside the SQuAD train half and the real-documents dev split, bench/README.md): the other
# features raised the likelihood but not the share of questions answered (name_coverage: train half 0.7903 ->
# 0.7820, real-documents dev 0.4429 -> 0.4286).
TRAINED_FEATURES = ["cos", "coverage", "coverage_rel", "cos_x_coverage", "kind_definition", "default_cue",
                    "identifier_cue", "number_cue", "when_cue", "who_cue", "term_cue",
                    # from the dev error analysis (bench/README.md "Why the answer sentence missed"): a command line
                    # with the sentence that introduces it, and the passage rank (7 of the 10 answers taken from
                    # the wrong passage came from one ranked below the passage that held the answer)
                    "kind_example", "rank"]
WEIGHTS = ROOT / "search" / "data" / SCORER_FILE
# The answer adapter (bench/train_answer_adapter.py) is measured, not shipped (bench/README.md "A learned query map
# for the answer"): off by default; these are the defaults of --adapter-rank N, its best measured variant
ADAPTER_RANK = 0
ADAPTER_RESIDUAL = True
ADAPTER_DATA = "valid"
RESIDUAL_C = 10.0  # the base scorer's L2 under a residual adapter: the C main's cross-validation chose
CACHE = ROOT / "var" / "answer-scorer-candidates.pkl"


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
        vectors = np.stack(ev.vectors).astype(np.float16) if ev.vectors else np.zeros((0, len(ev.query_vector)))
        out.append({"id": qid, "x": x, "y": labels, "spans": ev.spans, "ranks": ev.ranks, "texts": ev.texts,
                    "query_vector": np.asarray(ev.query_vector, dtype=np.float32), "vectors": vectors,
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


def training_rows(q: dict, passages: int) -> np.ndarray | None:
    """The candidates a question trains on (first passages, tightest positives), or None: nothing to learn."""
    allowed = np.array(q["ranks"], dtype=int) < passages if len(q["ranks"]) else np.zeros(0, dtype=bool)
    keep = training_mask(q) & allowed
    if not q["y"][keep].any() or keep.sum() < 2:
        return None  # no candidate holds the answer, or nothing to choose between
    return keep


def groups_for_training(questions: list[dict], weights: list[float], passages: int):
    """(features, labels, weight) per question whose candidates hold the answer, tightest positives only."""
    out = []
    for q, w in zip(questions, weights):
        keep = training_rows(q, passages)
        if keep is not None:
            out.append((q["x"][keep], q["y"][keep], w))
    return out


def train_map(questions: list[dict], weights: list[float], valid: list[dict], rank: int, residual: bool):
    """The answer adapter trained on these questions (stopped early on ``valid``); (None, None) for rank 0.
    ``residual``: trained on top of a feature scorer (without qa_cos) fitted to the same questions, so that the map
    learns what the features miss rather than what they already say."""
    if not rank:
        return None, None
    offsets = None
    if residual:
        base = fit(groups_for_training(questions, weights, PASSAGES), RESIDUAL_C,
                   [f for f in TRAINED_FEATURES if not f.startswith("qa_cos")])
        offsets = lambda q: logits(base, q["x"])  # noqa: E731
    rows = lambda q: training_rows(q, PASSAGES)  # noqa: E731
    answer_map, info = train_adapter(vector_groups(questions, weights, rows, offsets),
                                     vector_groups(valid, [1.0] * len(valid), rows, offsets), rank,
                                     temperature=1.0 if residual else 20.0)
    info["residual"] = residual
    print(f"answer adapter: {info}", flush=True)
    return answer_map, info


def fit(questions: list[tuple[np.ndarray, np.ndarray, float]], c: float, trained: list[str] | None = None):
    """Listwise logistic model: per question, a softmax over its candidates; the loss is minus the log of the
    probability mass on the positives, weighted per question, plus an L2 penalty of 1/c (features standardised)."""
    from scipy.optimize import minimize

    x_all = np.concatenate([x for x, _, _ in questions])
    mean = x_all.mean(axis=0)
    scale = x_all.std(axis=0)
    scale = np.where(scale > 1e-6, scale, 1.0)
    names = FEATURES + ADAPTER_FEATURES[:x_all.shape[1] - len(FEATURES)]  # the adapter's columns, when measured
    used = np.array([f in (trained or TRAINED_FEATURES) for f in names], dtype=np.float64)
    if not used.any():
        raise ValueError("no trained features")
    groups = [((x - mean) / scale * used, y.astype(bool), w) for x, y, w in questions]
    total = sum(w for _, _, w in groups)
    dim = x_all.shape[1]

    x_cat = np.concatenate([x for x, _, _ in groups])
    y_cat = np.concatenate([y for _, y, _ in groups])
    starts = np.cumsum([0] + [len(y) for _, y, _ in groups])[:-1]
    w_cat = np.repeat([w for _, _, w in groups], [len(y) for _, y, _ in groups])
    w_group = np.array([w for _, _, w in groups])
    owner = np.repeat(np.arange(len(groups)), [len(y) for _, y, _ in groups])

    def loss(theta):
        z = x_cat @ theta
        z = z - np.maximum.reduceat(z, starts)[owner]
        e = np.exp(z)
        p = e / np.add.reduceat(e, starts)[owner]
        pos = np.maximum(np.add.reduceat(np.where(y_cat, p, 0.0), starts), 1e-12)
        value = -(w_group * np.log(pos)).sum()
        q = p - np.where(y_cat, p, 0.0) / pos[owner]
        grad = x_cat.T @ (w_cat * q)
        value = value / total + 0.5 / c * float(theta @ theta) / len(groups)
        grad = grad / total + theta / c / len(groups)
        return value, grad

    result = minimize(loss, np.zeros(dim), jac=True, method="L-BFGS-B", options={"maxiter": 500})
    return {"features": names, "mean": mean.tolist(), "scale": scale.tolist(), "coef": result.x.tolist(),
            "intercept": 0.0}


def calibrate(spec: dict, questions: list[dict], passages: int) -> dict:
    """Intercept and slope so that sigmoid(a * logit + b) of the best candidate estimates P(it answers)."""
    from sklearn.linear_model import LogisticRegression

    best, hit = [], []
    for q in questions:
        allowed = np.array(q["ranks"], dtype=int) < passages
        if not allowed.any():
            continue
        z = np.where(allowed, logits(spec, q["x"]), -np.inf)
        i = int(np.argmax(z))
        best.append(z[i])
        hit.append(bool(q["y"][i]))
    model = LogisticRegression(C=100.0).fit(np.array(best).reshape(-1, 1), np.array(hit))
    a, b = float(model.coef_[0][0]), float(model.intercept_[0])
    return {**spec, "coef": (np.asarray(spec["coef"]) * a).tolist(), "intercept": spec["intercept"] * a + b}


def logits(spec: dict, x: np.ndarray) -> np.ndarray:
    if len(x) == 0:
        return np.zeros(0)
    return ((x - np.asarray(spec["mean"])) / np.asarray(spec["scale"])) @ np.asarray(spec["coef"]) + spec["intercept"]


def chosen_right(score, q: dict, passages: int) -> bool:
    """Whether the candidate ``score`` (features -> one score per candidate) puts first among the question's first
    ``passages`` passages contains a gold answer."""
    allowed = np.array(q["ranks"], dtype=int) < passages if len(q["ranks"]) else np.zeros(0, dtype=bool)
    if not allowed.any():
        return False
    return bool(q["y"][int(np.argmax(np.where(allowed, score(q["x"]), -np.inf)))])


def answer_sentence(spec: dict | None, questions: list[dict], passages: int = 3,
                    mask: list[bool] | None = None) -> float:
    """Share of questions whose best candidate (first ``passages`` passages) contains a gold answer."""
    if spec:
        score = lambda x: logits(spec, x)  # noqa: E731
    else:  # the old rule: cosine + 0.5 x coverage
        score = lambda x: x[:, FEATURES.index("cos")] + 0.5 * x[:, FEATURES.index("coverage")]  # noqa: E731
    hits = [chosen_right(score, q, passages) for i, q in enumerate(questions) if mask is None or mask[i]]
    return round(float(np.mean(hits)), 4) if hits else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--squad", type=Path, default=Path("../shared/data/squad-v1.1-dev"))
    parser.add_argument("--realdocs-index", type=Path, default=ROOT / "var" / "realdocs" / "index")
    parser.add_argument("--train-questions", type=int, default=3000, help="SQuAD train-half questions used")
    parser.add_argument("--heldout-questions", type=int, default=0, help="SQuAD held-out questions scored (0: all)")
    parser.add_argument("--out", default="answer-scorer.json")
    parser.add_argument("--reuse", action="store_true",
                        help="reuse the candidates of the last run (var/answer-scorer-candidates.pkl): only after "
                             "changes to the model, not to candidates or features")
    parser.add_argument("--no-write", action="store_true", help="do not overwrite the packaged weights")
    parser.add_argument("--features", help="comma-separated features to train (default: TRAINED_FEATURES)")
    parser.add_argument("--report-test", action="store_true",
                        help="also collect and score the real-documents test split (only once the model is final)")
    parser.add_argument("--adapter-rank", type=int, default=ADAPTER_RANK,
                        help="rank of the answer adapter (bench/train_answer_adapter.py); 0: none, and no qa_cos")
    parser.add_argument("--adapter-data", choices=["pool", "valid", "crossfit"], default=ADAPTER_DATA,
                        help="what the adapter learns on: the scorer's own questions (pool), or the SQuAD train-half "
                             "questions the scorer does not train on (valid: 80%% learn, 20%% stop early), or the scorer's "
                             "questions with out-of-fold qa_cos for the scorer (crossfit)")
    parser.add_argument("--residual", action=argparse.BooleanOptionalAction, default=ADAPTER_RESIDUAL,
                        help="train the adapter on top of the feature scorer's logits")
    args = parser.parse_args()
    if args.features:
        TRAINED_FEATURES[:] = args.features.split(",")
    if args.adapter_rank:
        if not args.no_write:
            parser.error("--adapter-rank needs --no-write: /ask does not compute the adapter's features")
        TRAINED_FEATURES.extend(ADAPTER_FEATURES)
    started = time.time()
    rng = random.Random(SEED)

    import pickle

    # Candidates and features do not depend on the weights; the packaged ones may be stale (other features), so
    # collection runs with a fixed bootstrap scorer (the old rule: cosine + 0.5 x coverage).
    bootstrap = Scorer({"features": FEATURES, "mean": [0.0] * len(FEATURES), "scale": [1.0] * len(FEATURES),
                        "coef": [{"cos": 1.0, "coverage": 0.5}.get(f, 0.0) for f in FEATURES], "intercept": 0.0})
    search_answer.load_scorer = lambda: bootstrap

    cache = CACHE
    if args.reuse and cache.exists():
        squad_train, squad_heldout, real_dev, real_test, squad_valid = pickle.loads(cache.read_bytes())
        print(f"reused the candidates collected in {cache}", flush=True)
        if not args.report_test:
            real_test = []
    else:
        settings = Settings.from_environment(os.environ)
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
        # The rest of the train half: the answer adapter's early-stopping slice (never the held-out half)
        sampled = {qid for qid, _, _ in train_q}
        squad_valid = collect(squad_engine, [q for q in halves["train"] if q[0] not in sampled], squad_contains)
        squad_heldout = collect(squad_engine, heldout_q, squad_contains)
        squad_engine.close()
        print(f"SQuAD candidates collected ({time.time() - started:.0f} s)", flush=True)

        real_engine = open_index(args.realdocs_index, settings)
        realdocs = [q for q in load_questions() if q["answers"]]
        by_split = {split: [(q["id"], q["question"], q["answers"]) for q in realdocs if q["split"] == split]
                    for split in ("dev", "test")}
        real_dev = collect(real_engine, by_split["dev"], realdocs_contains)
        real_test = collect(real_engine, by_split["test"], realdocs_contains) if args.report_test else []
        real_engine.close()
        print(f"real-documents candidates collected ({time.time() - started:.0f} s)", flush=True)
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_bytes(pickle.dumps((squad_train, squad_heldout, real_dev, real_test, squad_valid)))

    if args.adapter_rank:  # the adapter's columns, qa_cos = cos until a map is trained
        squad_train, squad_heldout, real_dev, real_test, squad_valid = (
            with_answer_features(qs, None) for qs in (squad_train, squad_heldout, real_dev, real_test, squad_valid))

    # Choose C by 5-fold cross-validation over training questions (SQuAD train half + real-documents dev).
    n_squad = len(squad_train)
    pool = squad_train + real_dev
    weight_of = [(1 - REALDOCS_SHARE) / n_squad] * n_squad + [REALDOCS_SHARE / len(real_dev)] * len(real_dev)
    folds = [i % 5 for i in range(len(pool))]
    random.Random(SEED + 1).shuffle(folds)
    fixed_map = None
    if args.adapter_rank and args.adapter_data == "valid":
        # The map learns on questions the scorer never trains on, so the scorer's weight for qa_cos is what it is
        # worth on unseen questions (a map trained on the scorer's own questions is over-trusted)
        order = list(range(len(squad_valid)))
        random.Random(SEED + 2).shuffle(order)
        cut = len(order) // 5
        stop_on, learn_on = [squad_valid[i] for i in order[:cut]], [squad_valid[i] for i in order[cut:]]
        fixed_map = train_map(learn_on, [1.0] * len(learn_on), stop_on, args.adapter_rank, args.residual)
    out_of_fold = None
    if args.adapter_rank and args.adapter_data == "crossfit":
        # Stacking: each question's qa_cos comes from a map trained on the other folds, so the scorer weighs qa_cos
        # as it does on unseen questions; the map the held-out half is scored with is trained on all of them
        by_fold = {}
        for k in range(5):
            fold_map = train_map([q for q, f in zip(pool, folds) if f != k],
                                 [w for w, f in zip(weight_of, folds) if f != k], squad_valid, args.adapter_rank,
                                 args.residual)[0]
            by_fold[k] = with_answer_features([q for q, f in zip(pool, folds) if f == k], fold_map)
        cursor = {k: iter(qs) for k, qs in by_fold.items()}
        out_of_fold = [next(cursor[f]) for f in folds]
    cs = (0.1, 1.0, 10.0)
    squad_hits: dict[float, list] = {c: [] for c in cs}
    real_hits: dict[float, list] = {c: [] for c in cs}
    for k in range(5):
        train = [(q, w) for q, w, f in zip(pool, weight_of, folds) if f != k]
        # The adapter is trained inside the fold too: a map that saw the held-out fold would flatter qa_cos
        if not args.adapter_rank:
            fold_pool = pool
        elif out_of_fold is not None:
            fold_pool = out_of_fold
        else:
            fold_pool = with_answer_features(pool, fixed_map[0] if fixed_map else train_map(
                [q for q, _ in train], [w for _, w in train], squad_valid, args.adapter_rank, args.residual)[0])
        train = [(q, w) for q, w, f in zip(fold_pool, weight_of, folds) if f != k]
        held = [(i, q) for i, (q, f) in enumerate(zip(fold_pool, folds)) if f == k]
        test_sq = [q for i, q in held if i < n_squad]
        test_rd = [q for i, q in held if i >= n_squad]
        for c in cs:
            spec = fit(groups_for_training([q for q, _ in train], [w for _, w in train], PASSAGES), c)
            squad_hits[c].append((answer_sentence(spec, test_sq, PASSAGES), len(test_sq)))
            real_hits[c].append((answer_sentence(spec, test_rd, PASSAGES), len(test_rd)))
    cv = {}
    for c in cs:
        cv[c] = {"squad_train_cv": round(sum(a * n for a, n in squad_hits[c]) / sum(n for _, n in squad_hits[c]), 4),
                 "realdocs_dev_cv": round(sum(a * n for a, n in real_hits[c] if n) / sum(n for _, n in real_hits[c]),
                                          4)}
        print(f"C={c}: cross-validated answer_sentence {cv[c]}", flush=True)
    best_c = max(cv, key=lambda c: cv[c]["squad_train_cv"] + cv[c]["realdocs_dev_cv"])

    answer_map, adapter_info = fixed_map or train_map(pool, weight_of, squad_valid, args.adapter_rank, args.residual)
    if adapter_info:
        adapter_info["trained_on"] = args.adapter_data
    if answer_map is not None:
        pool, squad_train, real_dev, squad_heldout, real_test = (
            with_answer_features(qs, answer_map) for qs in (pool, squad_train, real_dev, squad_heldout, real_test))
    if out_of_fold is not None:
        pool = out_of_fold
        squad_train, real_dev = pool[:n_squad], pool[n_squad:]
    spec = fit(groups_for_training(pool, weight_of, PASSAGES), best_c)
    spec = calibrate(spec, pool, PASSAGES)
    spec.update({"model": "listwise logistic model over answer-candidate features", "C": best_c, "seed": SEED,
                 "passages": PASSAGES, **({"answer_adapter": adapter_info} if adapter_info else {}),
                 "trained_on": {"squad_train_half_questions": len(squad_train), "realdocs_dev_questions": len(real_dev),
                                "realdocs_share": REALDOCS_SHARE},
                 "script": "bench/train_answer_scorer.py"})
    evaluation = {
        "baseline_rule (cos + 0.5 coverage over the new candidates)": {
            "squad_heldout": answer_sentence(None, squad_heldout, 3),
            "realdocs_dev": answer_sentence(None, real_dev, 3),
            "realdocs_test": answer_sentence(None, real_test, 3)},
        "trained": {
            "squad_train_half": answer_sentence(spec, squad_train, PASSAGES),
            "squad_heldout": answer_sentence(spec, squad_heldout, PASSAGES),
            "realdocs_dev": answer_sentence(spec, real_dev, PASSAGES),
            "realdocs_test": answer_sentence(spec, real_test, PASSAGES)},
        "ceiling (a candidate of the first passages holds a gold answer)": {
            name: round(float(np.mean([bool(q["y"][np.array(q["ranks"], dtype=int) < PASSAGES].any())
                                        if len(q["y"]) else False for q in qs])), 4)
            for name, qs in (("squad_heldout", squad_heldout), ("realdocs_dev", real_dev),
                             ("realdocs_test", real_test))},
        "cv": {str(c): v for c, v in cv.items()}, "C": best_c,
        "questions": {"squad_train": len(squad_train), "squad_heldout": len(squad_heldout),
                      "realdocs_dev": len(real_dev), "realdocs_test": len(real_test)},
        "coef": dict(zip(spec["features"], np.round(spec["coef"], 4).tolist())),
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
