"""How a build cuts its chunks into model batches: by token count (what askdocs does) or by characters.

    python bench/batching.py                          # 1,536 SciFact chunks, torch bf16, batch 16/32/64, 2 rounds
    python bench/batching.py --runtimes torch-bf16,onnx --batch-sizes 8,16,32 --chunks 768

The chunks are real build input: SciFact documents chunked by the build's chunker, each with its title
line, as `build-index` embeds them (a random sample, fixed seed). For each runtime, batch size and order
the same texts go through `Embedder.encode`'s model path; "chars" sorts them by length in characters and
"tokens" by token count, then both cut batches the same way. Prints texts/s and how much of what the
model read was padding; writes bench/results/batching.json.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import SCIFACT, loadavg, machine, median, write_result  # noqa: E402

MODEL = "all-MiniLM-L6-v2"


def build_inputs(dataset: Path, embedder, count: int, seed: int) -> list[str]:
    """Retrieval texts of a random sample of the corpus' chunks, made as a build makes them."""
    from askdocs.index import beir
    from askdocs.index.build import make_chunker
    from askdocs.index.retrieval_text import retrieval_text, title_prefix
    from askdocs.index.settings import Settings

    documents = beir.load_corpus(dataset)
    random.Random(seed).shuffle(documents)
    chunker = make_chunker(embedder, Settings.from_environment(os.environ))
    texts: list[str] = []
    for document in documents:
        prefix = title_prefix(document.title, embedder)
        for chunk in chunker.chunk(document):
            body = document.text[chunk.char_start : chunk.char_end]
            texts.append(retrieval_text(prefix, body, chunk.char_start, chunk.sentences)[0])
        if len(texts) >= count:
            return texts[:count]
    return texts


def run(embedder, texts: list[str], batch_size: int, order: str) -> tuple[float, float]:
    """Seconds to embed ``texts`` and the share of padding in the model's input."""
    from askdocs.index.embedder import batches_by_length

    tokenizer = embedder.tokenizer
    encodings = tokenizer.encode(texts)
    keys = [len(t) for t in texts] if order == "chars" else [len(e.ids) for e in encodings]
    padded = real = 0
    started = time.perf_counter()
    for batch in batches_by_length(keys, batch_size):
        ids, mask, types, offsets = tokenizer.pad([encodings[i] for i in batch])
        states = embedder._run(ids, mask, types)
        np.einsum("bsd,bs->bd", states, mask.astype(np.float32))  # the pooling a build does next
        padded += mask.size
        real += int(mask.sum())
    return time.perf_counter() - started, 1 - real / padded


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", type=Path, default=SCIFACT)
    parser.add_argument("--chunks", type=int, default=1536)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--batch-sizes", default="16,32,64")
    parser.add_argument("--runtimes", default="torch-bf16")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="batching.json")
    args = parser.parse_args()

    from askdocs.index.embedder import load_embedder

    sizes = [int(b) for b in args.batch_sizes.split(",")]
    results, texts = [], None
    for runtime in args.runtimes.split(","):
        backend, _, precision = runtime.partition("-")
        embedder = load_embedder(MODEL, backend, precision=precision or "auto").load()
        if texts is None:
            texts = build_inputs(args.dataset, embedder, args.chunks, args.seed)
            counts = embedder.token_counts(texts)
            print(f"{len(texts)} chunks, {np.mean(counts):.0f} tokens on average (load {loadavg()})", flush=True)
        run(embedder, texts[:64], sizes[0], "tokens")  # warm-up
        timings: dict[tuple[int, str], list[float]] = {}
        padding: dict[tuple[int, str], float] = {}
        for _ in range(args.rounds):  # alternating, so a change in machine load hits every setting alike
            for size in sizes:
                for order in ("chars", "tokens"):
                    seconds, padding[size, order] = run(embedder, texts, size, order)
                    timings.setdefault((size, order), []).append(seconds)
        for (size, order), seconds in timings.items():
            row = {"runtime": runtime, "batch_size": size, "order": order,
                   "texts_per_s": round(len(texts) / median(seconds), 1), "padding": round(padding[size, order], 3),
                   "rounds_s": [round(s, 2) for s in seconds]}
            results.append(row)
            print(f"{runtime:11} batch {size:3}  by {order:6}  {row['texts_per_s']:6.1f} texts/s  "
                  f"padding {row['padding']:.1%}", flush=True)
    path = write_result(args.out, {
        "benchmark": "batching", "command": "python bench/batching.py " + " ".join(sys.argv[1:]),
        "chunks": len(texts or []), "machine": machine(), "results": results,
    })
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
