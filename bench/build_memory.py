"""What a full build holds in memory before it writes the generation, measured at a size that fits and scaled
to 5M chunks (issue 20: where a 5M-chunk build stops).

    python bench/build_memory.py                                  # 200k chunks' arrays + a warm SciFact build
    python bench/build_memory.py --chunks 100000 --no-scifact     # the arrays only

(a) The arrays, on index/build.py's own ``_Assembly``: ``--chunks`` chunks filled in as ``_Build._embed`` leaves
them in a full build (each chunk's vector a row of its slice's float32 matrix, its sentence vectors a float16
array of its own, SciFact's 4.44 sentences per chunk: what ``embed_with_cache`` returns since it narrows them as
they arrive; before 6 December 2026 they were float32 until the write), then the steps ``_Build.run`` takes
before ``write_generation``: ``np.stack`` of the chunk vectors, ``spans()``, and the sentence vectors written
chunk by chunk by ``store.write_sentences`` (to a temporary file; before 6 December 2026 stacked into one array
by ``stacked_sentence_vectors()``, what the step measures on such an install). Per step the bytes held after it and its peak while it
runs, from tracemalloc (numpy traces its buffers). They are linear in the chunks: the JSON scales them to ``--scale-to``.

(b) A real full build of SciFact (12,336 chunks) in a child, its vectors from a copy of the eval embedding cache
(a warm build: no embedding, so no model memory), twice: its peak RSS above the loaded corpus, and, in a second
child, its peak bytes in tracemalloc (whose own bookkeeping inflates that child's RSS ninefold). Per chunk they
include what (a) leaves out (documents, chunk rows, texts, BM25) and a fixed part (imports, the tokenizer).

Writes bench/results/build-memory.json (``--out``).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.ann_memory import SENTENCES_PER_CHUNK, status_mb  # noqa: E402
from bench.common import RESULTS, SCIFACT, machine, peak_rss_mb, run_measured  # noqa: E402

DIMENSION = 384
SLICE = 1024  # index/embedding_cache.CACHE_SLICE: one encoder call's chunk vectors share a matrix
EVAL_CACHE = Path(__file__).resolve().parent.parent.parent / "main" / "var" / "eval" / "embedding-cache.sqlite"


def assembly_arrays(chunks: int) -> dict:
    from askdocs.index.build import _Assembly
    from askdocs.index.chunking import Chunk

    rng = np.random.default_rng(0)
    starts = np.floor(np.arange(chunks + 1) * SENTENCES_PER_CHUNK).astype(np.int64)
    steps = {}
    tracemalloc.start()

    def step(name: str, began: float) -> None:
        held, peak = tracemalloc.get_traced_memory()
        steps[name] = {"held_mb": round(held / 2**20, 1), "peak_mb": round(peak / 2**20, 1),
                       "s": round(time.perf_counter() - began, 2)}
        print(f"  {name}: {steps[name]}", flush=True)
        tracemalloc.reset_peak()

    began = time.perf_counter()
    assembled = _Assembly(DIMENSION)
    for first in range(0, chunks, SLICE):
        vectors = rng.standard_normal((min(SLICE, chunks - first), DIMENSION), dtype=np.float32)
        for row, vector in enumerate(vectors):
            count = int(starts[first + row + 1] - starts[first + row])
            spans = np.arange(2 * count, dtype=np.int64).reshape(-1, 2)
            index = assembled.add_chunk(Chunk(row, 0, 1, 0, 0, None, count), "", spans, None, None,
                                        np.zeros(count, np.int8), "")
            assembled.vectors[index] = vector
            assembled.sentence_vectors[index] = rng.standard_normal((count, DIMENSION), dtype=np.float32).astype(
                np.float16)
    step("embedded", began)
    began = time.perf_counter()
    stacked = np.stack(assembled.vectors)
    step("np.stack(vectors)", began)
    began = time.perf_counter()
    spans = assembled.spans()
    step("spans()", began)
    began = time.perf_counter()
    if hasattr(assembled, "take_sentence_vectors"):  # written chunk by chunk, as write_generation does
        from askdocs.index.store import write_sentences

        with tempfile.TemporaryFile() as handle:
            write_sentences(handle, spans, assembled.take_sentence_vectors(), np.zeros(len(spans), np.int8),
                            DIMENSION)
            sentences_bytes = handle.tell()
        step("sentence vectors written", began)
    else:  # an install from before 6 December 2026: stacked into one array, then written
        sentences_bytes = assembled.stacked_sentence_vectors().nbytes
        step("stacked sentence vectors", began)
    tracemalloc.stop()
    return {"chunks": chunks, "sentences": int(starts[-1]), "steps": steps,
            "arrays_mb": {"chunk_vectors": round(stacked.nbytes / 2**20, 1), "spans": round(spans.nbytes / 2**20, 1),
                          "sentence_vectors_float16": round(sentences_bytes / 2**20, 1)}}


def scifact_child(index: Path, cache: Path, traced: bool) -> None:
    """One full build of SciFact from the copied cache, in this process; prints what the parent records."""
    from askdocs.index import beir
    from askdocs.index.build import build_from_documents
    from askdocs.index.settings import Settings

    documents = beir.load_corpus(SCIFACT)
    settings = Settings(index=index, runtime="torch", precision="bf16", embedding_cache=str(cache))
    loaded = status_mb()
    if traced:
        tracemalloc.start()
    started = time.perf_counter()
    report = build_from_documents(documents, settings, progress=False, sources=["bench"])
    seconds = time.perf_counter() - started
    measured = ({"traced_peak_mb": round(tracemalloc.get_traced_memory()[1] / 2**20, 1)} if traced else
                {"corpus_loaded": loaded, "built": status_mb()})
    print(json.dumps({"chunks": report.chunks, "documents": report.documents, "embedded": report.embedded,
                      "from_cache": report.from_cache, "build_s": round(seconds, 1), **measured}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chunks", type=int, default=200_000)
    parser.add_argument("--scale-to", type=int, default=5_000_000)
    parser.add_argument("--no-scifact", action="store_true", help="skip (b), the warm SciFact build")
    parser.add_argument("--out", type=Path, default=RESULTS / "build-memory.json")
    parser.add_argument("--child", nargs=3, metavar=("INDEX", "CACHE", "TRACED"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        scifact_child(Path(args.child[0]), Path(args.child[1]), args.child[2] == "1")
        return

    print(f"(a) _Assembly arrays at {args.chunks} chunks", flush=True)
    arrays = assembly_arrays(args.chunks)
    factor = args.scale_to / args.chunks
    arrays["scaled_gb"] = {name: {"held": round(s["held_mb"] * factor / 1024, 1),
                                  "peak": round(s["peak_mb"] * factor / 1024, 1)}
                           for name, s in arrays["steps"].items()}
    print(f"  at {args.scale_to} chunks (GB): {arrays['scaled_gb']}", flush=True)
    result = {"machine": machine(), "arrays": arrays, "scale_to": args.scale_to}
    if not args.no_scifact:
        print("(b) a warm full build of SciFact", flush=True)
        work = Path(tempfile.mkdtemp(prefix="build-memory-"))
        try:
            builds = []
            for traced in (False, True):
                shutil.rmtree(work / "index", ignore_errors=True)
                shutil.copy(EVAL_CACHE, work / "cache.sqlite")  # a copy: this build may add rows, never to main's
                measured = run_measured([sys.executable, __file__, "--child", str(work / "index"),
                                         str(work / "cache.sqlite"), "1" if traced else "0"], timeout=1800)
                builds.append(json.loads(measured["stdout"].strip().splitlines()[-1]))
            plain, traced_build = builds
            grown = plain["built"]["VmHWM"] - plain["corpus_loaded"]["VmRSS"]
            build = {**plain, "traced_peak_mb": traced_build["traced_peak_mb"], "rss_growth_mb": round(grown, 1)}
            for name, mb in (("rss_growth", grown), ("traced_peak", traced_build["traced_peak_mb"])):
                build[f"{name}_kb_per_chunk"] = round(mb * 1024 / plain["chunks"], 1)
                build[f"{name}_scaled_gb"] = round(mb * args.scale_to / plain["chunks"] / 1024, 1)
            print(f"  {build}", flush=True)
            result["scifact_build"] = build
        finally:
            shutil.rmtree(work)
    result["peak_rss_mb"] = peak_rss_mb()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
