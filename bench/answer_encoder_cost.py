"""CPU cost of scoring one question's shortlist with an exported answer encoder (bench/train_answer_encoder.py).

    PYTHONPATH=. python bench/answer_encoder_cost.py var/answer-encoder/answer_encoder_l2.onnx

One intra-op thread, as a request would run it; shortlists of 3 and 6 of the shipped feature scorer's best
candidates, pairs cut to 64 and 96 tokens; the real-documents questions (dev + test: the longest candidates) of
var/answer-scorer-candidates.pkl. Reports the median of ``time.thread_time`` (tokenizer included): with one
intra-op thread ONNX Runtime computes on the calling thread, and CPU time stays meaningful on a loaded machine
where wall time does not. Prints JSON with the load average before and after.
"""

import json
import os
import pickle
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT  # noqa: E402
from bench.realdocs import load_questions  # noqa: E402
from bench.train_answer_encoder import encode_pairs, pair_tokenizer, shortlist  # noqa: E402


def main() -> None:
    import onnxruntime as ort

    model = sys.argv[1]
    spec = json.loads((ROOT / "search" / "data" / "answer_scorer.json").read_text())
    _, _, real_dev, real_test = pickle.loads((ROOT / "var" / "answer-scorer-candidates.pkl").read_bytes())
    text = {q["id"]: q["question"] for q in load_questions()}
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.log_severity_level = 3
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    out = {"loadavg": os.getloadavg()[0]}
    for k in (3, 6):
        for tokens in (64, 96):
            tokenizer = pair_tokenizer(tokens)
            spent = []
            for q in real_dev + real_test:
                texts = [q["texts"][i] for i in shortlist(spec, q, k)]
                began = time.thread_time()
                ids, mask, types = encode_pairs(tokenizer, text[q["id"]], texts)
                session.run(["score"], {"input_ids": ids, "attention_mask": mask, "token_type_ids": types})
                spent.append((time.thread_time() - began) * 1000)
            out[f"shortlist{k}_tokens{tokens}_cpu_ms_p50"] = round(float(np.median(spent)), 2)
    out["loadavg_end"] = os.getloadavg()[0]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
