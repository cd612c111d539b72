"""The answer adapter, measured and not shipped (bench/README.md "A learned query map for the answer"): a
query-side linear map W = I + U V^T so that cos(W q, c) scores candidates that *answer* the question above ones
that only *resemble* it, added to the answer scorer as two features (``qa_cos``, ``qa_cos_rel``).

Used by bench/train_answer_scorer.py --adapter-rank N (which collects the candidates with their vectors and trains
the scorer on top); run alone on its candidate file it only reports how the map ranks on its own:

    PYTHONPATH=. python bench/train_answer_adapter.py [--rank 32] [--l2 1e-3]

The loss is the scorer's: per question a softmax over its candidates (of the first PASSAGES passages, the tightest
positives only: train_answer_scorer.groups_for_training), minus the log of the mass on the candidates holding a
gold string; the logit is a learned temperature times cos(W q, c). U starts at 0 (W = I, plain resemblance) and
an L2 penalty on U and V pulls W back towards the identity; full-batch Adam, stopped at the step with the lowest
loss on a validation slice (SQuAD train-half questions the scorer does not train on). Seeded (0), but torch's float
sums over several threads can stop two runs one check apart (bench/README.md shows the spread).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from askdocs.search.scorer import FEATURES  # noqa: E402

SEED = 0
# Columns after the scorer's FEATURES in the training script's feature matrices (never served)
ADAPTER_FEATURES = ["qa_cos", "qa_cos_rel"]
RANK = 32
L2 = 1e-3
STEPS = 400
CHECK_EVERY = 10


def cosines(query_vector: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """Each candidate vector against a unit query vector (a candidate's mean of sentence vectors is not unit length)."""
    vectors = np.asarray(vectors, dtype=np.float32)
    return (vectors @ query_vector) / np.maximum(np.linalg.norm(vectors, axis=1), 1e-6)


class AnswerMap:
    """q -> W q / |W q| with W = I + U V^T: low rank, so that the identity (plain resemblance) is where it starts
    and what its L2 penalty pulls towards; one matvec on the question vector per question."""

    def __init__(self, u: np.ndarray, v: np.ndarray):
        self.u = np.asarray(u, dtype=np.float32)
        self.v = np.asarray(v, dtype=np.float32)

    def __call__(self, query_vector: np.ndarray) -> np.ndarray:
        mapped = query_vector + self.u @ (self.v.T @ query_vector)
        return mapped / max(float(np.linalg.norm(mapped)), 1e-6)


def _batch(groups: list[tuple[np.ndarray, np.ndarray, np.ndarray, float, np.ndarray]]):
    """Flat tensors of (query vector, candidate vectors, labels, weight, offset) groups: torch works on one long
    list."""
    import torch

    queries = torch.tensor(np.stack([g[0] for g in groups]), dtype=torch.float32)
    cands = np.concatenate([g[1] for g in groups]).astype(np.float32)
    cands /= np.maximum(np.linalg.norm(cands, axis=1, keepdims=True), 1e-6)
    sizes = [len(g[2]) for g in groups]
    owner = torch.tensor(np.repeat(np.arange(len(groups)), sizes))
    cands = torch.tensor(cands)
    plain = (cands * queries[owner]).sum(dim=1)  # c . q, the part of c . W q that does not change
    labels = torch.tensor(np.concatenate([g[2] for g in groups]), dtype=torch.bool)
    weights = torch.tensor([g[3] for g in groups], dtype=torch.float32)
    offsets = torch.tensor(np.concatenate([g[4] for g in groups]), dtype=torch.float32)
    return queries, cands, plain, owner, labels, weights / weights.sum(), offsets


def _loss(u, v, log_t, batch):
    """The weighted listwise loss. c . W q = c . q + (c U) . (V^T q): a (candidates x rank) product per step
    instead of a (candidates x dimension) one."""
    import torch

    queries, cands, plain, owner, labels, weights, offsets = batch
    low = queries @ v
    norm = (queries + low @ u.T).norm(dim=1).clamp_min(1e-6)
    z = offsets + log_t.exp() * (plain + ((cands @ u) * low[owner]).sum(dim=1)) / norm[owner]
    n = len(queries)
    top = torch.full((n,), -1e9).scatter_reduce(0, owner, z, reduce="amax").detach()
    e = (z - top[owner]).exp()
    everything = torch.zeros(n).index_add(0, owner, e)
    positives = torch.zeros(n).index_add(0, owner, torch.where(labels, e, torch.zeros_like(e)))
    return -(weights * (positives.clamp_min(1e-12).log() - everything.log())).sum()


def train(groups, valid, rank: int = RANK, l2: float = L2, steps: int = STEPS, seed: int = SEED,
          log=None, temperature: float = 20.0) -> tuple[AnswerMap, dict]:
    """groups, valid: (query vector, candidate vectors, labels, weight, offset) per question; the offset is a
    per-candidate logit the map's score is added to (zeros: the map alone; the feature scorer's logits: the map
    learns what the features miss). Returns the map with the lowest validation loss seen (checked every
    CHECK_EVERY steps) and what the training saw."""
    import torch

    torch.manual_seed(seed)
    batch, held = _batch(groups), _batch(valid)
    dim = batch[0].shape[1]
    u = torch.zeros(dim, rank, requires_grad=True)
    v = (torch.randn(dim, rank) / dim ** 0.5).requires_grad_(True)
    log_t = torch.tensor(float(np.log(temperature)), requires_grad=True)
    optimiser = torch.optim.Adam([u, v, log_t], lr=3e-3)
    with torch.no_grad():
        start = float(_loss(u, v, log_t, held))
    best = (start, 0, u.detach().clone(), v.detach().clone())
    for step in range(1, steps + 1):
        optimiser.zero_grad()
        loss = _loss(u, v, log_t, batch) + l2 * ((u * u).sum() + (v * v).sum())
        loss.backward()
        optimiser.step()
        if step % CHECK_EVERY == 0:
            with torch.no_grad():
                held_loss = float(_loss(u, v, log_t, held))
            if held_loss < best[0]:
                best = (held_loss, step, u.detach().clone(), v.detach().clone())
            if log:
                log(f"step {step}: train {float(loss.detach()):.4f}, validation {held_loss:.4f}")
    info = {"rank": rank, "l2": l2, "validation_loss_identity": round(start, 4),
            "validation_loss": round(best[0], 4), "step": best[1]}
    return AnswerMap(best[2].numpy(), best[3].numpy()), info


def vector_groups(questions: list[dict], weights: list[float], mask_groups, offsets=None) -> list:
    """(query vector, candidate vectors, labels, weight, offset) of the questions that have something to learn,
    with the scorer's training mask (``mask_groups``: train_answer_scorer.training_rows); ``offsets(q)``: a logit
    per candidate (None: zeros)."""
    out = []
    for q, w in zip(questions, weights):
        keep = mask_groups(q)
        if keep is None:
            continue
        offset = offsets(q)[keep] if offsets is not None else np.zeros(int(keep.sum()))
        out.append((q["query_vector"], q["vectors"][keep].astype(np.float32), q["y"][keep], w, offset))
    return out


def with_answer_features(questions: list[dict], answer_map: AnswerMap | None) -> list[dict]:
    """Copies of the questions with ADAPTER_FEATURES columns after FEATURES, computed from their vectors with this
    map (None: the identity, qa_cos = cos)."""
    i, j = len(FEATURES), len(FEATURES) + 1
    out = []
    for q in questions:
        x = np.hstack([q["x"][:, :len(FEATURES)], np.zeros((len(q["x"]), len(ADAPTER_FEATURES)), dtype=q["x"].dtype)])
        if len(x):
            mapped = answer_map(q["query_vector"]) if answer_map is not None else q["query_vector"]
            qa = cosines(mapped, q["vectors"])
            x[:, i] = qa
            x[:, j] = qa - qa.max()
        out.append({**q, "x": x})
    return out


def top1(questions: list[dict], answer_map: AnswerMap | None, passages: int) -> float:
    """Share of questions whose candidate with the best cos(W q, c) (first ``passages`` passages) holds the answer."""
    hits = []
    for q in questions:
        allowed = np.array(q["ranks"], dtype=int) < passages if len(q["ranks"]) else np.zeros(0, dtype=bool)
        if not allowed.any():
            hits.append(False)
            continue
        mapped = answer_map(q["query_vector"]) if answer_map is not None else q["query_vector"]
        score = np.where(allowed, cosines(mapped, q["vectors"]), -np.inf)
        hits.append(bool(q["y"][int(np.argmax(score))]))
    return round(float(np.mean(hits)), 4)


def main() -> None:
    import pickle

    from bench.train_answer_scorer import CACHE, PASSAGES, REALDOCS_SHARE, training_rows

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rank", type=int, nargs="+", default=[RANK])
    parser.add_argument("--l2", type=float, nargs="+", default=[L2])
    parser.add_argument("--steps", type=int, default=STEPS)
    parser.add_argument("--realdocs-share", type=float, default=REALDOCS_SHARE)
    args = parser.parse_args()
    squad_train, _, real_dev, _, squad_valid = pickle.loads(CACHE.read_bytes())
    n = len(squad_train)
    share = args.realdocs_share
    weights = [(1 - share) / n] * n + [share / len(real_dev)] * len(real_dev)
    groups = vector_groups(squad_train + real_dev, weights, lambda q: training_rows(q, PASSAGES))
    valid = vector_groups(squad_valid, [1.0] * len(squad_valid), lambda q: training_rows(q, PASSAGES))
    # Chosen on the validation slice only: the held-out half is scored by train_answer_scorer.py once
    print(f"identity: validation top1 {top1(squad_valid, None, PASSAGES)}", flush=True)
    for rank in args.rank:
        for l2 in args.l2:
            answer_map, info = train(groups, valid, rank, l2, args.steps, log=lambda m: print(m, flush=True))
            print(info, f"validation top1 {top1(squad_valid, answer_map, PASSAGES)}", flush=True)


if __name__ == "__main__":
    main()
