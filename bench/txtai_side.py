"""txtai's side of bench/vs_txtai.py. Runs inside txtai's own virtual environment and never imports askdocs.

    var/txtai-venv/bin/python bench/txtai_side.py SPEC.json

SPEC names the corpus (JSONL of {"id", "text"}: exactly the document texts askdocs indexes), the questions,
the model folder and the txtai config. Prints one JSON line: build seconds, per-question latency for hybrid
and dense search, and the top-10 document ids of each question (the parent scores them with the same
ir_measures code it scores askdocs with).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the model comes from its package folder, never a hub
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def main() -> None:
    spec = json.loads(open(sys.argv[1]).read())
    with open(spec["corpus"]) as handle:
        documents = [json.loads(line) for line in handle]
    questions = spec["questions"]  # [[id, text], ...]
    limit = spec.get("limit", 10)

    from txtai import Embeddings

    started = time.perf_counter()  # model loading included, as on the askdocs side
    embeddings = Embeddings({"path": spec["model_path"], **spec["config"]})
    embeddings.index([(d["id"], d["text"], None) for d in documents])
    with tempfile.TemporaryDirectory() as folder:
        embeddings.save(os.path.join(folder, "index"))  # askdocs' build writes its index to disk too
        build_s = time.perf_counter() - started

    def run(label: str) -> tuple[list[float], dict]:
        for _, text in questions[: spec.get("warmup", 20)]:
            embeddings.search(text, limit)
        latencies, rankings = [], {}
        for query_id, text in questions:
            t0 = time.perf_counter()
            hits = embeddings.search(text, limit)
            latencies.append((time.perf_counter() - t0) * 1000)
            rankings[query_id] = [str(hit[0]) if isinstance(hit, (list, tuple)) else str(hit["id"]) for hit in hits]
        return latencies, rankings

    hybrid_ms, hybrid_rank = run("hybrid")
    # Dense on the same index: without its keyword scoring txtai takes the path a dense-only index takes
    # (Search.search: ann only), so no second 5-minute build is needed.
    embeddings.scoring = None
    dense_ms, dense_rank = run("dense")
    import resource
    from importlib.metadata import version

    import torch

    print(json.dumps({
        "build_s": round(build_s, 2),
        "documents": len(documents),
        "ann": type(embeddings.ann).__name__,
        "ann_config": {k: v for k, v in embeddings.config.items() if k in ("backend", "faiss", "hybrid", "offsets")},
        "latency_ms": {"hybrid": hybrid_ms, "dense": dense_ms},
        "rankings": {"hybrid": hybrid_rank, "dense": dense_rank},
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "versions": {"txtai": version("txtai"), "torch": torch.__version__},
        "torch_threads": torch.get_num_threads(),
    }))


if __name__ == "__main__":
    main()
