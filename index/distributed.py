"""The embed step of a build on a Ray cluster (README "Distributed builds with Ray").

The driver (the machine running ``build-index``) reads, chunks and plans exactly as a local build does;
only the chunks that need the model leave it. They go out as a Ray Data dataset whose rows are whole
batches of chunks, mapped by a pool of actors that each load the embedder once. Each actor returns the
chunk vectors, the sentence vectors and the content-addressed Milvus uids of its batch, and, when the
index lives on a Milvus server, writes its rows there itself, so vectors cross the network once. The
driver then publishes the generation through the normal path, which is why a Ray build and a local build
of the same corpus give the same index.

Why it is built this way:

- A dataset row is one batch, cut from the chunks sorted by token count as ``Embedder.encode`` cuts them,
  ``embed_batch_size`` chunks each: every model call sees the same texts, padded the same way, as in a
  local build (thread counts still differ, so vectors agree to float rounding, not bit for bit).
- Milvus Lite is a file one process opens: with a Lite URI (or the faiss vector store) the workers only
  embed and the driver writes every row, as without Ray.
- Rows a worker wrote are handed to ``MilvusWriter`` as already written, so the driver does not send them
  again, and a build that fails after the workers wrote removes them like any rows it added. A build killed
  in between leaves rows no generation lists; the next build's reconciliation deletes them.
- Ray is an optional extra, imported only here and only when ``--ray`` is given.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .embedder import batches_by_length
from .errors import BuildError, Unavailable

if TYPE_CHECKING:
    from .embedder import Embedder
    from .vectors import VectorWriter

log = logging.getLogger("askdocs.distributed")

ACTOR_START_SECONDS = 600  # to start every embedding actor (a model load each) before any batch is handed out
CONNECT_SECONDS = 5
INSTALL_HINT = "distributed builds need Ray: pip install 'askdocs[ray]'"


class RayUnavailable(Unavailable, RuntimeError):
    """Ray is missing or the cluster cannot be reached; the message says which and what to do."""

    code = "ray_unavailable"


@dataclass
class Task:
    """What the driver sends for one chunk: the text the model sees and the facts its uid is made of."""

    text: str
    spans: list  # sentence spans, character offsets into ``text``
    doc_id: str
    ordinal: int


@dataclass
class DistributedResult:
    vectors: np.ndarray  # (n, dim), in task order
    span_vectors: list[np.ndarray]
    written: set[str]  # uids the workers upserted into Milvus themselves
    per_node: dict[str, int] = field(default_factory=dict)  # node -> chunks it embedded


def import_ray():
    try:
        import ray
        import ray.data  # noqa: F401  the extra is ray[data]; plain ray lacks it
    except ImportError:
        raise RayUnavailable(INSTALL_HINT) from None
    return ray


def require_ray(address: str) -> None:
    """Raise ``BuildError`` if Ray is missing (naming the extra) or nothing listens at ``address``."""
    try:
        if not import_ray().is_initialized():
            _check_reachable(address)
    except RayUnavailable as exc:
        raise BuildError(f"{exc}; the existing index, if any, is unchanged") from None


def connect(address: str) -> bool:
    """Join the cluster at ``address`` ("auto": the one `ray start` runs on this machine); True if we joined.

    A process that already joined a cluster (a notebook, a test) keeps it: nothing to shut down then.
    """
    ray = import_ray()
    if ray.is_initialized():
        return False
    _check_reachable(address)
    if not log.isEnabledFor(logging.DEBUG):
        # Ray Data reports every dataset's plan and progress at INFO; the build's own bar and summary say enough.
        logging.getLogger("ray").setLevel(logging.WARNING)
        ray.data.DataContext.get_current().enable_progress_bars = False
    try:
        ray.init(address=address, logging_level=logging.WARNING, log_to_driver=False,
                 configure_logging=False, include_dashboard=False)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise RayUnavailable(
            f"cannot join the Ray cluster at {address!r} ({exc}); start one with `ray start --head` "
            "and pass its address (host:6379), or `auto` on a node of it"
        ) from None
    return True


def _check_reachable(address: str) -> None:
    """Fail in seconds on an address nothing listens on: ``ray.init`` retries it for minutes."""
    import socket
    from urllib.parse import urlsplit

    if address == "auto" or address.startswith("local"):
        return
    parts = urlsplit(address if "://" in address else f"ray://{address}")
    try:
        host, port = parts.hostname, parts.port
    except ValueError:
        host = port = None
    if not host or not port:
        raise RayUnavailable(f"the Ray address {address!r} is not host:port or auto")
    try:
        socket.create_connection((host, port), timeout=CONNECT_SECONDS).close()
    except OSError as exc:
        raise RayUnavailable(
            f"cannot join the Ray cluster at {address!r} (nothing answers on {host}:{port}: {exc.strerror or exc}); "
            "start one with `ray start --head` and pass its address (host:6379), or `auto` on a node of it"
        ) from None


class EmbedWorker:
    """A Ray Data actor: the embedder loaded once, then one batch of chunks per call."""

    def __init__(self, model: str, runtime: str, milvus: dict | None, precision: str = "fp32"):
        from .embedder import Embedder

        import ray

        # The driver's resolved precision, not the worker's own "auto": the manifest records the driver's.
        self.embedder = Embedder(model, runtime, precision=precision)
        self.milvus = milvus  # {"uri", "collection", "token"} when workers write rows, else None
        context = ray.get_runtime_context()
        self.node = f"{ray.util.get_node_ip_address()}/{context.get_node_id()[:8]}"

    def __call__(self, batch: dict) -> dict:
        out = {key: [] for key in ("batch", "node", "vectors", "sentence_vectors", "sentence_counts", "uids",
                                   "written_ts")}
        for number, payload in zip(batch["batch"], batch["payload"]):
            tasks = json.loads(payload)
            encoded = self.embedder.encode([t["text"] for t in tasks], spans=[t["spans"] for t in tasks],
                                           batch_size=len(tasks))
            vectors = np.ascontiguousarray(encoded.vectors, dtype=np.float32)
            doc_ids = [t["doc_id"] for t in tasks]
            uids, written_ts = self._write(doc_ids, [t["ordinal"] for t in tasks], vectors)
            sentences = [np.asarray(v, dtype=np.float32).reshape(-1, vectors.shape[1]) for v in encoded.span_vectors]
            out["batch"].append(int(number))
            out["node"].append(self.node)
            out["vectors"].append(vectors.tobytes())
            out["sentence_vectors"].append(np.concatenate(sentences).tobytes() if sentences else b"")
            out["sentence_counts"].append(json.dumps([len(s) for s in sentences]))
            out["uids"].append(json.dumps(uids))
            out["written_ts"].append(written_ts)
        return {key: np.array(values, dtype=object) for key, values in out.items()}

    def _write(self, doc_ids: list[str], ordinals: list[int], vectors: np.ndarray) -> tuple[list[str], int]:
        """The batch's uids, and the Milvus timestamp of its write (-1: not written here)."""
        from .vectors.milvus_store import chunk_uids, write_batch

        uids = chunk_uids(doc_ids, ordinals, vectors)
        if self.milvus is None:
            return uids, -1
        write_batch(self.milvus["uri"], self.milvus["collection"], uids, doc_ids, vectors,
                    token=self.milvus["token"])
        return uids, _last_write_ts(self.milvus["collection"])


def embed(tasks: list[Task], token_counts: list[int], *, model: str, runtime: str, dimension: int, batch_size: int,
          workers: int | None = None, milvus: dict | None = None, progress=None,
          written: set[str] | None = None, precision: str = "fp32") -> DistributedResult:
    """Embed ``tasks`` on the Ray cluster this process joined (``connect``); results in task order.

    ``token_counts`` (``Embedder.token_counts`` of the texts) cut the batches as a local build cuts them.
    ``milvus`` ({"uri", "collection", "token"}) makes the workers write their rows to that Milvus server;
    ``written`` collects the uids they wrote as results arrive, for a caller that must remove them on failure.
    """
    ray = import_ray()
    started = time.perf_counter()
    written = set() if written is None else written
    if not tasks:
        return DistributedResult(np.zeros((0, dimension), np.float32), [], written)
    batches = batches_by_length(token_counts, batch_size)
    rows = [{"batch": number, "payload": json.dumps([_task_json(tasks[i]) for i in members])}
            for number, members in enumerate(batches)]
    cpus = int(ray.cluster_resources().get("CPU", 1))
    actors = max(1, min(workers or cpus, len(batches)))
    # Work spreads over every actor: one block per batch, one batch in flight per actor, and no batch
    # handed out before all actors loaded the model (else the first one ready takes a small build alone).
    context = ray.data.DataContext.get_current()
    saved_wait = context.wait_for_min_actors_s
    context.wait_for_min_actors_s = ACTOR_START_SECONDS
    dataset = ray.data.from_items(rows, override_num_blocks=len(rows)).map_batches(
        EmbedWorker, fn_constructor_kwargs={"model": model, "runtime": runtime, "milvus": milvus, "precision": precision},
        batch_size=1, num_cpus=1, batch_format="numpy",
        compute=ray.data.ActorPoolStrategy(size=actors, max_tasks_in_flight_per_actor=1),
    )
    vectors = np.zeros((len(tasks), dimension), dtype=np.float32)
    span_vectors: list[np.ndarray] = [np.zeros((0, dimension), np.float32)] * len(tasks)
    per_node: Counter = Counter()
    write_ts = 0
    done = 0
    try:
        for row in dataset.iter_rows():
            members = batches[int(row["batch"])]
            batch_vectors = np.frombuffer(row["vectors"], dtype=np.float32).reshape(len(members), dimension)
            counts = json.loads(row["sentence_counts"])
            sentences = np.frombuffer(row["sentence_vectors"], dtype=np.float32).reshape(-1, dimension)
            batch_uids = json.loads(row["uids"])
            offsets = np.cumsum([0, *counts])
            for position, i in enumerate(members):
                vectors[i] = batch_vectors[position]
                span_vectors[i] = sentences[offsets[position] : offsets[position + 1]].copy()
            if int(row["written_ts"]) >= 0:
                written.update(batch_uids)
                write_ts = max(write_ts, int(row["written_ts"]))
            per_node[str(row["node"])] += len(members)
            done += len(members)
            if progress is not None:
                progress(len(members))
    finally:
        context.wait_for_min_actors_s = saved_wait
    if done != len(tasks):
        raise RuntimeError(f"the Ray cluster returned {done} of {len(tasks)} chunk vectors")
    if write_ts and milvus is not None:
        # The manifest records the last write a reader must see; the workers' writes count as this process'.
        _note_write_ts(milvus["collection"], write_ts)
    seconds = time.perf_counter() - started
    log.info("ray: embedded %d chunks on %d nodes in %.1f s (%s)", len(tasks), len(per_node), seconds,
             ", ".join(f"{node}: {n}" for node, n in sorted(per_node.items())))
    return DistributedResult(vectors, span_vectors, written, dict(per_node))


def _task_json(task: Task) -> dict:
    return {"text": task.text, "spans": [[int(a), int(b)] for a, b in task.spans], "doc_id": task.doc_id,
            "ordinal": int(task.ordinal)}


def _last_write_ts(collection: str) -> int:
    from pymilvus.client.ts_utils import get_collection_ts

    return int(get_collection_ts(collection) or 0)


def _note_write_ts(collection: str, ts: int) -> None:
    from pymilvus.client.ts_utils import update_collection_ts

    update_collection_ts(collection, ts)  # keeps the larger of the two


# ---------------------------------------------------------------- the hook in index/build.py


@dataclass(frozen=True)
class RayEmbedding:
    """What a build's embed step on Ray needs from the build: where the cluster is, the model as the build
    loaded it, and where the vectors go (``writer``: the build's vector writer)."""

    address: str
    workers: int | None
    model: str
    embedder: Embedder
    batch_size: int
    index_dir: Path
    writer: VectorWriter


def embed_for_build(job: RayEmbedding, tasks: list[Task], progress) -> DistributedResult:
    """A build's embed step on Ray: ``tasks`` are the chunks the embedding cache lacks (never none:
    ``embed_with_cache`` calls this only for misses), in the build's order."""
    from .vectors.milvus_store import public_uri

    embedder = job.embedder
    writer = job.writer
    milvus = writer.worker_target()  # {"uri", "collection", "token"} when workers write rows, else None
    try:
        joined = connect(job.address)
    except RayUnavailable as exc:
        raise BuildError(f"{exc}; the existing index, if any, is unchanged") from None
    written: set[str] = set()
    try:
        result = embed(tasks, embedder.token_counts([task.text for task in tasks]), model=job.model,
                       runtime=embedder.runtime, dimension=embedder.dimension, batch_size=job.batch_size,
                       workers=job.workers, milvus=milvus, progress=progress, written=written,
                       precision=embedder.precision)
    except BaseException:
        if written:
            _remove_rows(writer, sorted(written - _uids_in_use(job.index_dir)))
        raise
    finally:
        if joined:
            import_ray().shutdown()
    writer.written_elsewhere(result.written)
    if result.written:
        log.info("ray: workers wrote %d rows to Milvus at %s", len(result.written), public_uri(milvus["uri"]))
    return result


def _uids_in_use(index_dir) -> set[str]:
    """Rows some kept generation lists: never removed on a failure, whoever wrote them."""
    from .vectors.milvus_store import read_uids
    from .store import GENERATIONS

    folders = (index_dir / GENERATIONS).glob("*")
    return {uid for folder in folders for uid in read_uids(folder)}


def _remove_rows(writer, uids: list[str]) -> None:
    try:
        writer.remove(uids)  # through the build's own connection, closed with the build
    except Exception as exc:  # the build's own error matters more; the next build reconciles
        log.warning("ray: could not remove the %d rows the workers wrote (%s)", len(uids), exc)
