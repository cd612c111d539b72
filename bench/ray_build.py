"""A Ray build against a local build of the same SciFact documents: build seconds and embed throughput.

    python bench/ray_build.py                      # first 300 documents, local and Ray alternating, 2 rounds
    python bench/ray_build.py --limit 1000 --repeats 3
    python bench/ray_build.py --address HOST:6379  # a real cluster instead of the two-node one started here

Without --address it starts a two-node Ray cluster on this machine (ray.cluster_utils, one CPU per node),
the setup of tests/test_ray_build.py: it shows the overhead Ray adds, not a speed-up, since both "nodes"
share this machine's cores. Both builds use the faiss backend so only the embed step differs, and model
loading is included in both (a Ray build loads the model in the driver and in every actor).
Ray starts its workers at niceness 15: on a machine busy with other work they get what is left. Start
this with RAY_worker_niceness=0 in the environment to give them normal priority.
Writes bench/results/ray_build.json (after every build, so an interrupted run keeps what it measured).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import SCIFACT, loadavg, machine, median, write_result  # noqa: E402


def one_build(documents, index: Path, address: str | None) -> dict:
    from askdocs.index.build import build_from_documents
    from askdocs.index.settings import Settings

    settings = Settings(index=index, ray_address=address)
    load = loadavg()
    started = time.perf_counter()
    report = build_from_documents(documents, settings, progress=False, sources=["bench"])
    seconds = time.perf_counter() - started
    return {"mode": "ray" if address else "local", "chunks": report.chunks, "build_s": round(seconds, 2),
            "chunks_per_s": round(report.chunks / seconds, 1), "per_node": report.embedded_per_node,
            "loadavg_before": load}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", type=Path, default=SCIFACT)
    parser.add_argument("--limit", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--address", default=None, help="An existing Ray cluster [default: start two local nodes].")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    import ray

    from askdocs.index import beir

    cluster = None
    if args.address is None:
        from ray.cluster_utils import Cluster

        cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
        cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        address = cluster.address
    else:
        address = args.address
    ray.init(address=address, logging_level=logging.WARNING, log_to_driver=False)
    nodes = len([n for n in ray.nodes() if n["Alive"]])
    documents = beir.load_corpus(args.dataset)[: args.limit]
    runs = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for round_ in range(args.repeats):
                # Alternating, so a change in the machine's load hits both modes alike.
                for mode in (("local", "ray") if round_ % 2 == 0 else ("ray", "local")):
                    run = one_build(documents, Path(tmp) / f"{mode}-{round_}", address if mode == "ray" else None)
                    print(run, flush=True)
                    runs.append(run)
                    # Written after every build: an interrupted run keeps what it measured.
                    write_result("ray_build.json", {
                        "machine": machine(), "documents": len(documents), "nodes": nodes,
                        "cluster": "local two-node (cluster_utils)" if cluster else "given",
                        "worker_niceness": os.environ.get("RAY_worker_niceness", "15 (Ray's default)"),
                        "runs": runs, "summary": summarise(runs)})
    finally:
        ray.shutdown()
        if cluster is not None:
            cluster.shutdown()
    print(summarise(runs))


def summarise(runs: list[dict]) -> dict:
    summary = {}
    for mode in ("local", "ray"):
        mine = [r for r in runs if r["mode"] == mode]
        summary[mode] = {"build_s": median([r["build_s"] for r in mine]),
                         "chunks_per_s": median([r["chunks_per_s"] for r in mine])}
    if summary["ray"]["build_s"] and summary["local"]["build_s"]:
        summary["ray_over_local_time"] = round(summary["ray"]["build_s"] / summary["local"]["build_s"], 2)
    return summary


if __name__ == "__main__":
    main()
