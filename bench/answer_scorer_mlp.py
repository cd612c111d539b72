"""Does a non-linear answer scorer choose better than the shipped linear one, on the same features? (issue 15)

    python bench/answer_scorer_mlp.py                          # the variants below, ~2 minutes
    python bench/answer_scorer_mlp.py --candidates var/answer-scorer-candidates.pkl

Reads the candidates bench/train_answer_scorer.py collected (its ``--reuse`` cache: SQuAD train half, SQuAD
held-out half, real-documents dev) and trains, with the same listwise loss, question weights and 5 folds as the
shipped scorer, a linear model (the shipped one, as a check: it must reproduce train_answer_scorer's numbers) and a
small MLP (one tanh hidden layer beside a linear term, L2 on the weights, L-BFGS), on the shipped features or on
all of them, optionally with each feature's gap to the question's best. Reports the cross-validated
answer_sentence on the SQuAD train half and the real-documents dev split, and the SQuAD held-out half for a model
trained on all training questions. The real-documents test split is never read. Writes
bench/results/answer-scorer-mlp.json.
"""

from __future__ import annotations

import argparse
import pickle
import random
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import write_result  # noqa: E402
from bench.train_answer_scorer import (  # noqa: E402
    CACHE, PASSAGES, REALDOCS_SHARE, SEED, TRAINED_FEATURES, chosen_right, fit, groups_for_training, logits,
    training_rows)
from askdocs.search.scorer import FEATURES  # noqa: E402

VARIANTS = [  # (name, model, features, relative columns, hidden units, L2)
    ("linear, shipped features", "linear", "shipped", False, 0, 0.0),
    ("linear, all features", "linear", "all", False, 0, 0.0),
    ("MLP 16, shipped features, L2 1e-3", "mlp", "shipped", False, 16, 1e-3),
    ("MLP 16, shipped features, L2 1e-2", "mlp", "shipped", False, 16, 1e-2),
    ("MLP 16, all features, L2 1e-3", "mlp", "all", False, 16, 1e-3),
    ("MLP 16, all features + gaps to the best, L2 1e-3", "mlp", "all", True, 16, 1e-3),
]


def share_right(score, questions: list[dict]) -> float:
    """Share of questions whose best-scored candidate of the first passages holds a gold answer."""
    return float(np.mean([chosen_right(score, q, PASSAGES) for q in questions]))


def train_linear(questions, weights, columns, relative, hidden, l2):
    spec = fit(groups_for_training(questions, weights, PASSAGES), 10.0, [FEATURES[c] for c in columns])
    return lambda x: logits(spec, x)


def train_mlp(questions, weights, columns, relative, hidden, l2):
    import torch

    def inputs(x):
        x = x[:, columns]
        return np.concatenate([x, x - x.max(axis=0, keepdims=True)], axis=1) if relative else x

    groups = [(inputs(q["x"][keep]), q["y"][keep], w) for q, w in zip(questions, weights)
              for keep in [training_rows(q, PASSAGES)] if keep is not None]
    stacked = np.concatenate([x for x, _, _ in groups])
    mean, scale = stacked.mean(axis=0), stacked.std(axis=0)
    scale = np.where(scale > 1e-6, scale, 1.0)
    x = torch.tensor((stacked - mean) / scale, dtype=torch.float32)
    y = torch.tensor(np.concatenate([labels for _, labels, _ in groups]), dtype=torch.float32)
    owner = torch.repeat_interleave(torch.arange(len(groups)), torch.tensor([len(labels) for _, labels, _ in groups]))
    weight = torch.tensor([w for _, _, w in groups], dtype=torch.float32)
    weight = weight / weight.sum()
    torch.manual_seed(SEED)
    hidden_layer = torch.nn.Sequential(torch.nn.Linear(x.shape[1], hidden), torch.nn.Tanh(), torch.nn.Linear(hidden, 1))
    linear = torch.nn.Linear(x.shape[1], 1)
    parameters = [*hidden_layer.parameters(), *linear.parameters()]
    optimiser = torch.optim.LBFGS(parameters, lr=1, max_iter=300, line_search_fn="strong_wolfe")
    count = len(groups)

    def closure():
        optimiser.zero_grad()
        z = (hidden_layer(x) + linear(x)).squeeze(1)
        peak = torch.zeros(count).scatter_reduce(0, owner, z, reduce="amax", include_self=False)
        e = torch.exp(z - peak[owner])
        total = torch.zeros(count).index_add(0, owner, e)
        positive = torch.zeros(count).index_add(0, owner, e * y)
        loss = -(weight * torch.log(positive / total + 1e-12)).sum()
        loss = loss + l2 * sum((p ** 2).sum() for n, p in [*hidden_layer.named_parameters(),
                                                           *linear.named_parameters()] if "weight" in n)
        loss.backward()
        return loss

    optimiser.step(closure)

    def score(features):
        with torch.no_grad():
            t = torch.tensor((inputs(features) - mean) / scale, dtype=torch.float32)
            return (hidden_layer(t) + linear(t)).squeeze(1).numpy()

    return score


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--candidates", type=Path, default=CACHE, help="train_answer_scorer.py's --reuse cache")
    parser.add_argument("--out", default="answer-scorer-mlp.json")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    squad_train, squad_heldout, real_dev, _test_never_read, _ = pickle.loads(args.candidates.read_bytes())
    pool = squad_train + real_dev
    n_squad = len(squad_train)
    weight_of = [(1 - REALDOCS_SHARE) / n_squad] * n_squad + [REALDOCS_SHARE / len(real_dev)] * len(real_dev)
    folds = [i % 5 for i in range(len(pool))]
    random.Random(SEED + 1).shuffle(folds)  # train_answer_scorer.py's folds
    rows = []
    for name, model, feature_set, relative, hidden, l2 in VARIANTS:
        started = time.time()
        train = train_linear if model == "linear" else train_mlp
        columns = [FEATURES.index(f) for f in (TRAINED_FEATURES if feature_set == "shipped" else FEATURES)]
        squad_cv, real_cv = [], []
        for k in range(5):
            inside = [(q, w) for q, w, f in zip(pool, weight_of, folds) if f != k]
            score = train([q for q, _ in inside], [w for _, w in inside], columns, relative, hidden, l2)
            held = [(i, q) for i, (q, f) in enumerate(zip(pool, folds)) if f == k]
            squad_cv += [chosen_right(score, q, PASSAGES) for i, q in held if i < n_squad]
            real_cv += [chosen_right(score, q, PASSAGES) for i, q in held if i >= n_squad]
        score = train(pool, weight_of, columns, relative, hidden, l2)
        row = {"variant": name, "squad_train_cv": round(float(np.mean(squad_cv)), 4),
               "realdocs_dev_cv": round(float(np.mean(real_cv)), 4),
               "squad_heldout": round(share_right(score, squad_heldout), 4),
               "realdocs_dev_in_sample": round(share_right(score, real_dev), 4),
               "seconds": round(time.time() - started, 1)}
        rows.append(row)
        print(f"{name:50} SQuAD CV {row['squad_train_cv']:.4f}  real dev CV {row['realdocs_dev_cv']:.4f}  "
              f"SQuAD held-out {row['squad_heldout']:.4f}  (real dev in sample {row['realdocs_dev_in_sample']:.4f})",
              flush=True)
    path = write_result(args.out, {"benchmark": "answer-scorer-mlp", "candidates": str(args.candidates),
                                   "questions": {"squad_train": n_squad, "squad_heldout": len(squad_heldout),
                                                 "realdocs_dev": len(real_dev)}, "rows": rows,
                                   "command": "python bench/answer_scorer_mlp.py " + " ".join(sys.argv[1:])})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
