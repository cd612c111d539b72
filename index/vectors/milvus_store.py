"""Chunk vectors in Milvus: the ``milvus`` vector store (README "Scaling out").

Only the vectors move. The generation folder keeps everything else exactly as with FAISS (documents and
their text, chunk offsets, sentence vectors, BM25, the manifest with checksums), so citations, BM25,
filters and the hot reload are the same code for both stores. The folder also gets ``vector_ids.txt``:
the Milvus primary key of each chunk row, in row order.

Why it is built this way:

- One collection per askdocs index, named from the index folder and the model (a different model or
  dimension writes a new collection), or ``ASKDOCS_MILVUS_COLLECTION``. Each row is (uid, doc_id, vector).
- The uid is content-addressed: sha256 of the document id, the chunk ordinal and the vector's bytes.
  An unchanged chunk keeps its row across generations; a changed one gets a new row. Nothing in a row
  can go stale, so rows shared by two generations serve both.
- Generations keep their promise: a build upserts the rows its generation adds *before* ``CURRENT``
  moves, and deletes rows only after it moved, and only rows that neither the new generation nor the
  previous one (kept for servers that have not reloaded yet) uses. A failed build deletes the rows it
  added; a killed one leaves rows nobody references, which the next build's reconciliation removes.
- A reader may therefore meet rows its generation does not know (the next build's). It drops them and
  asks Milvus for more until it has k of its own, so k stays exact.
- Index FLAT with metric IP: exact search over L2-normalised vectors, the same ranking as FAISS' flat
  inner-product index.
- Reads wait for exactly what they need: the manifest records the timestamp of the build's last write
  (``write_ts``), and readers search with that guarantee timestamp ("Customized" consistency). Strong
  consistency would be as correct, but it waits for the server's next time tick: 400 ms per call on the
  standalone server, against 2.5 ms. Without a recorded timestamp (Milvus Lite gives none) reads are Strong.
- A filter arrives as a ``Selection`` of chunk rows. A metadata filter selects whole documents, so it is sent
  as ``doc_id in [...]`` (or ``not in``, whichever list is shorter): the same exact set as FAISS' selector.
  Any other selection is sent as the uids of its rows.
- ``write_batch`` needs nothing but a URI, a collection name and a batch, so any process (a Ray worker)
  can write rows; ``build-index`` then publishes a generation that references them.

Milvus Lite (a local ``.db`` file) serves one process at a time: a server and a build cannot open the
same file at once. pymilvus is imported only here, and only when the milvus vector store is used.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
import time
import warnings
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import numpy as np

from ..errors import IndexCorrupt, IndexMismatch, IndexUnavailable
from .base import Hits, ReadOptions, RowDocuments, Selection, VectorStore, VectorWriter

log = logging.getLogger("askdocs.milvus")

IDS_FILE = "vector_ids.txt"
UID_FIELD, DOC_FIELD, VECTOR_FIELD = "uid", "doc_id", "vector"
MAX_DOC_ID = 65535  # Milvus' VARCHAR limit, in bytes
MAX_TOPK = 16384  # Milvus refuses larger limits
_WRITE_BATCH = 1000  # rows per upsert: ~1.5 MB at 384 dimensions, far under the gRPC message limit
_READ_BATCH = 1000  # primary keys per get / delete


class MilvusError(IndexUnavailable):
    """Milvus could not be reached or refused an operation; the message says which and what to do."""

    code = "milvus_unavailable"


# ---------------------------------------------------------------- addresses and names


def is_lite(uri: str) -> bool:
    return not re.match(r"^[a-z][a-z0-9+.-]*://", uri, re.IGNORECASE)


def public_uri(uri: str) -> str:
    """``uri`` without user and password, for the manifest and messages."""
    if is_lite(uri):
        return str(Path(uri).resolve())
    parts = urlsplit(uri)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def default_uri(index_dir: Path) -> str:
    return str(Path(index_dir).resolve() / "milvus.db")


def default_collection(index_dir: Path, model: str, dimension: int) -> str:
    """``askdocs_<folder>_<hash>``: one per index folder and model, within Milvus' name rules."""
    folder = Path(index_dir).resolve()
    slug = re.sub(r"[^A-Za-z0-9_]", "_", folder.name)[:40] or "index"
    digest = hashlib.sha256(f"{folder}\0{model}\0{dimension}".encode()).hexdigest()[:12]
    return f"askdocs_{slug}_{digest}"


def chunk_uids(doc_ids: list[str], ordinals: list[int], vectors: np.ndarray) -> list[str]:
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    return [
        hashlib.sha256(f"{doc_id}\0{ordinal}\0".encode() + vector.tobytes()).hexdigest()[:32]
        for doc_id, ordinal, vector in zip(doc_ids, ordinals, vectors)
    ]


def quote(value: str) -> str:
    """A Milvus expression string literal for ``value`` (quotes, backslashes and control characters escaped)."""
    return json.dumps(value, ensure_ascii=False)


# ---------------------------------------------------------------- connections

# pymilvus names a connection after its URI, and closing any client of a URI closes the connection every
# client of that URI uses: so one client per URI and token is shared in a process, closed by its last user.
# For Milvus Lite the last user also stops the local server, which frees the file for other processes.
_shared: dict[tuple[str, str], list] = {}  # (uri, token) -> [client, users]
_shared_lock = threading.Lock()


class Connection:
    """A MilvusClient shared by every user of one URI in this process; ``close`` when done."""

    def __init__(self, uri: str, token: str | None = None):
        self.uri = str(Path(uri).resolve()) if is_lite(uri) else uri
        self.public = public_uri(uri)
        self._key = (self.uri, token or "")
        with _shared_lock:
            if self._key not in _shared:
                _shared[self._key] = [_new_client(self.uri, token), 0]
            _shared[self._key][1] += 1
            self.client = _shared[self._key][0]
        self._closed = False

    def close(self) -> None:
        with _shared_lock:
            if self._closed:
                return
            self._closed = True
            entry = _shared[self._key]
            entry[1] -= 1
            if entry[1]:
                return
            del _shared[self._key]
        try:
            self.client.close()
        except Exception:  # closing must not hide the error that led here
            pass
        if is_lite(self.uri):
            from milvus_lite.server_manager import server_manager_instance

            server_manager_instance.release_server(self.uri)

    # -------------------------------------------------------- collection

    def ensure_collection(self, name: str, dimension: int) -> None:
        """Create ``name`` (FLAT, inner product, loaded) unless it exists; refuse one of another dimension."""
        client = self.client
        if client.has_collection(name):
            found = self.dimension(name)
            if found != dimension:
                raise MilvusError(
                    f"Milvus collection {name!r} at {self.public} holds {found}-dimensional vectors, this build "
                    f"writes {dimension}: pick another collection (ASKDOCS_MILVUS_COLLECTION) or drop that one"
                )
            client.load_collection(name)
            return
        from pymilvus import DataType, MilvusClient

        schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field(UID_FIELD, DataType.VARCHAR, is_primary=True, max_length=64)
        schema.add_field(DOC_FIELD, DataType.VARCHAR, max_length=MAX_DOC_ID)
        schema.add_field(VECTOR_FIELD, DataType.FLOAT_VECTOR, dim=dimension)
        client.create_collection(name, schema=schema, consistency_level="Strong")
        params = client.prepare_index_params()
        params.add_index(field_name=VECTOR_FIELD, index_type="FLAT", metric_type="IP")
        client.create_index(name, params)
        # A server builds indexes asynchronously and refuses to load a collection whose index is not built.
        deadline = time.monotonic() + 120
        while client.describe_index(name, VECTOR_FIELD).get("state", "Finished") not in ("Finished", 3):
            if time.monotonic() > deadline:
                raise MilvusError(f"Milvus at {self.public} did not build the index of {name!r} within 120 s")
            time.sleep(0.2)
        client.load_collection(name)

    def dimension(self, name: str) -> int | None:
        for field in self.client.describe_collection(name)["fields"]:
            if field["name"] == VECTOR_FIELD:
                return int(field["params"]["dim"])
        return None

    def count(self, name: str, **read) -> int:
        return int(self.client.query(name, filter="", output_fields=["count(*)"], **read)[0]["count(*)"])

    # -------------------------------------------------------- rows

    def upsert(self, name: str, uids: list[str], doc_ids: list[str], vectors: np.ndarray) -> None:
        vectors = np.asarray(vectors, dtype=np.float32)
        for start in range(0, len(uids), _WRITE_BATCH):
            stop = start + _WRITE_BATCH
            self.client.upsert(name, [
                {UID_FIELD: uid, DOC_FIELD: doc_id, VECTOR_FIELD: vector}
                for uid, doc_id, vector in zip(uids[start:stop], doc_ids[start:stop], vectors[start:stop])
            ])

    def delete(self, name: str, uids: list[str]) -> None:
        for start in range(0, len(uids), _READ_BATCH):
            self.client.delete(name, ids=uids[start : start + _READ_BATCH])

    def last_write_ts(self, name: str) -> int:
        """Timestamp of this process' last write to ``name`` (0 if unknown, as with Milvus Lite)."""
        from pymilvus.client.ts_utils import get_collection_ts

        return int(get_collection_ts(name) or 0)

    def vectors(self, name: str, uids: list[str], dimension: int, **read) -> np.ndarray:
        """The stored vectors of ``uids``, in that order; a missing row is an error."""
        out = np.zeros((len(uids), dimension), dtype=np.float32)
        position = {uid: i for i, uid in enumerate(uids)}
        found = 0
        for start in range(0, len(uids), _READ_BATCH):
            batch = uids[start : start + _READ_BATCH]
            for entity in self.client.get(name, ids=batch, output_fields=[VECTOR_FIELD], **read):
                out[position[entity[UID_FIELD]]] = entity[VECTOR_FIELD]
                found += 1
        if found != len(set(uids)):
            raise MilvusError(f"{len(set(uids)) - found} rows are missing from Milvus collection {name!r}")
        return out

    def all_uids(self, name: str) -> set[str]:
        iterator = self.client.query_iterator(name, batch_size=_READ_BATCH, filter="", output_fields=[UID_FIELD])
        uids: set[str] = set()
        try:
            while batch := iterator.next():
                uids.update(row[UID_FIELD] for row in batch)
        finally:
            iterator.close()
        return uids


def _new_client(uri: str, token: str | None):
    try:
        with warnings.catch_warnings():
            # milvus-lite 2.5 imports pkg_resources, which warns on every import; nothing for a user to do.
            warnings.filterwarnings("ignore", message="pkg_resources is deprecated")
            from pymilvus import MilvusClient

            if is_lite(uri):
                Path(uri).parent.mkdir(parents=True, exist_ok=True)
            return MilvusClient(uri=uri, token=token or "", timeout=15)
    except ImportError:
        raise MilvusError("the milvus backend needs pymilvus: pip install 'askdocs[milvus]'") from None
    except Exception as exc:  # pymilvus raises several unrelated types for one failure
        if is_lite(uri):
            raise MilvusError(
                f"cannot open the Milvus Lite file {uri} ({_reason(exc)}); Milvus Lite serves one process at a "
                "time: stop the other askdocs process using it, or use a Milvus server"
            ) from None
        raise MilvusError(f"cannot connect to Milvus at {public_uri(uri)} ({_reason(exc)})") from None


def _reason(exc: Exception) -> str:
    return getattr(exc, "message", None) or str(exc) or type(exc).__name__


def write_batch(uri: str, collection: str, uids: list[str], doc_ids: list[str], vectors: np.ndarray,
                token: str | None = None) -> int:
    """Upsert one batch of chunk rows from any process (a Ray worker, a script); returns the rows written.

    ``uids`` come from ``chunk_uids``; the collection is created if missing. Rows written here are only
    served once a generation that lists them is published by ``build-index``.
    """
    if not (len(uids) == len(doc_ids) == len(vectors)):
        raise ValueError(f"{len(uids)} uids, {len(doc_ids)} doc ids and {len(vectors)} vectors")
    connection = Connection(uri, token)
    try:
        connection.ensure_collection(collection, int(np.asarray(vectors).shape[1]))
        connection.upsert(collection, list(uids), list(doc_ids), vectors)
    finally:
        connection.close()
    return len(uids)


# ---------------------------------------------------------------- writing a generation


def read_uids(folder: Path) -> list[str]:
    path = Path(folder) / IDS_FILE
    return path.read_text().split() if path.is_file() else []


@dataclass
class MilvusWriter(VectorWriter):
    """Writes a generation's vectors to Milvus for ``store.write_generation``; one per build."""

    uri: str
    collection: str
    token: str | None = None

    # Publishing is when rows nobody uses (a killed build's, stray Ray rows) are removed: a build over unchanged
    # documents still publishes, so it cleans up.
    publishes_unchanged = True

    def __post_init__(self):
        self._connection: Connection | None = None
        self._added: list[str] = []
        self._write_ts = 0
        self.prewritten: set[str] = set()  # rows Ray workers already upserted (index/distributed.py)

    @property
    def section(self) -> dict:
        """The manifest's ``vectors`` section (complete once ``write`` returned)."""
        return {"type": "milvus", "uri": public_uri(self.uri), "collection": self.collection, "index": "FLAT",
                "metric": "inner_product", "ids_file": IDS_FILE, "write_ts": self._write_ts}

    def plan(self, n: int) -> dict:
        return self.section

    def check(self) -> None:
        self._connect()

    def write(self, folder: Path, vectors: np.ndarray, doc_ids: list[str], ordinals: list[int],
              previous: Path | None) -> dict:
        """Record the uids in ``folder`` and upsert the rows the previous generation does not have."""
        try:
            self._write(folder, doc_ids, ordinals, np.ascontiguousarray(vectors, dtype=np.float32), previous)
            return self.section
        except MilvusError:
            raise
        except Exception as exc:  # pymilvus' own errors: the server refused or went away
            raise MilvusError(f"writing to Milvus at {public_uri(self.uri)} failed ({_reason(exc)}); "
                              "the previous index, if any, is unchanged") from None

    def _write(self, folder: Path, doc_ids: list[str], ordinals: list[int], vectors: np.ndarray,
               previous: Path | None) -> None:
        uids = chunk_uids(doc_ids, ordinals, vectors)
        (Path(folder) / IDS_FILE).write_text("".join(f"{uid}\n" for uid in uids))
        connection = self._connect()
        connection.ensure_collection(self.collection, int(vectors.shape[1]))
        have = set(read_uids(previous)) if previous is not None and self._same_collection(previous) else set()
        new = [i for i, uid in enumerate(uids) if uid not in have]
        self._added = [uids[i] for i in new]
        send = [i for i in new if uids[i] not in self.prewritten]
        connection.upsert(self.collection, [uids[i] for i in send], [doc_ids[i] for i in send], vectors[send])
        # Readers must see every row this generation uses: its own writes, or the previous generation's.
        # Rows Ray workers wrote carry their processes' timestamps, which this one cannot know: with any of
        # them, write_ts stays 0 and readers fall back to Strong consistency (slower, never stale).
        if len(send) < len(new):
            self._write_ts = 0
        else:
            self._write_ts = connection.last_write_ts(self.collection) if new else (
                _vectors_section(previous).get("write_ts", 0) if have else 0)
        log.info("milvus: %d of %d rows written to %s/%s", len(new), len(uids), self._connection.public,
                 self.collection)

    def discard(self, previous: Path | None) -> None:
        """A failed build: remove the rows it added (rows the previous generation uses were never touched)."""
        if self._connection is None or not self._added:
            return
        try:
            self._connection.delete(self.collection, self._added)
        except Exception as exc:  # the build's own error matters more; the next build reconciles
            log.warning("milvus: could not remove the rows of the failed build (%s)", _reason(exc))

    def published(self, keep: list[Path], dropped: list[Path]) -> None:
        """After ``CURRENT`` moved: delete rows no kept generation uses, and collections nobody uses."""
        try:
            self._clean(keep, dropped)
        except Exception as exc:  # the new generation is live and complete; leftover rows harm no reader
            log.warning("milvus: could not remove unused rows (%s); the next build will", _reason(exc))

    def _clean(self, keep: list[Path], dropped: list[Path]) -> None:
        connection = self._connect()
        needed: set[str] = set()
        for folder in keep:
            if self._same_collection(folder):
                needed.update(read_uids(folder))
        stale = set()
        for folder in dropped:
            if self._same_collection(folder):
                stale.update(read_uids(folder))
        connection.delete(self.collection, sorted(stale - needed))
        # Rows of builds that were killed before they could clean up: only looked for when some exist.
        if connection.count(self.collection) > len(needed):
            orphans = connection.all_uids(self.collection) - needed
            connection.delete(self.collection, sorted(orphans))
            log.info("milvus: removed %d rows no generation uses", len(orphans))
        kept_collections = {_collection_of(folder) for folder in keep}
        for folder in dropped:
            other = _collection_of(folder)
            if other and other not in kept_collections and _uri_of(folder) == public_uri(self.uri):
                if connection.client.has_collection(other):
                    connection.client.drop_collection(other)
                    log.info("milvus: dropped collection %s, used by no kept generation", other)

    def worker_target(self) -> dict | None:
        # Milvus Lite is a file one process opens: Ray workers cannot write to it while the build holds it.
        return None if is_lite(self.uri) else {"uri": self.uri, "collection": self.collection, "token": self.token}

    def written_elsewhere(self, ids: set[str]) -> None:
        self.prewritten = ids

    def remove(self, ids: list[str]) -> None:
        self._connect().delete(self.collection, ids)

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def _connect(self) -> Connection:
        if self._connection is None:
            self._connection = Connection(self.uri, self.token)
        return self._connection

    def _same_collection(self, folder: Path) -> bool:
        return _collection_of(folder) == self.collection and _uri_of(folder) == public_uri(self.uri)


def _vectors_section(folder: Path) -> dict:
    try:
        return json.loads((Path(folder) / "manifest.json").read_text()).get("vectors", {})
    except (OSError, ValueError):
        return {}


def _collection_of(folder: Path) -> str | None:
    section = _vectors_section(folder)
    return section.get("collection") if section.get("type") == "milvus" else None


def _uri_of(folder: Path) -> str | None:
    return _vectors_section(folder).get("uri")


# ---------------------------------------------------------------- reading


def describe(section: dict) -> str:
    return f"Milvus collection {section['collection']!r} at {section['uri']} (exact)"


class MilvusStore(VectorStore):
    """A generation's vectors in Milvus: the rows ``vector_ids.txt`` lists, in that order."""

    def __init__(self, connection: Connection, collection: str, uids: list[str], dimension: int,
                 documents: RowDocuments, write_ts: int = 0):
        self.connection = connection
        self._read = ({"consistency_level": "Customized", "guarantee_timestamp": int(write_ts)} if write_ts
                      else {"consistency_level": "Strong"})
        self.collection = collection
        self.uids = uids
        self._dimension = dimension
        self.documents = documents
        self.row_of = {uid: row for row, uid in enumerate(uids)}
        self._foreign = 0  # rows in the collection this generation does not know, when it was opened

    @property
    def dimension(self) -> int:
        return self._dimension

    def count(self) -> int:
        return len(self.uids)

    def describe(self) -> str:
        return describe({"collection": self.collection, "uri": self.connection.public})

    def check(self, where: str) -> None:
        """Refuse a collection that is missing, of another dimension, or lacks rows."""
        connection = self.connection
        if not connection.client.has_collection(self.collection):
            raise IndexCorrupt(
                f"index at {where} keeps its vectors in Milvus collection {self.collection!r} at "
                f"{connection.public}, which does not exist", vector_store="milvus"
            )
        dimension = connection.dimension(self.collection)
        if dimension != self.dimension:
            raise IndexMismatch(
                f"Milvus collection {self.collection!r} at {connection.public} holds {dimension}-dimensional "
                f"vectors, the index at {where} was built with {self.dimension}"
            )
        connection.client.load_collection(self.collection)
        # Strong once per open: a row deleted since the build must show here (searches need not wait for that).
        count = connection.count(self.collection, consistency_level="Strong")
        if count < self.count():
            raise IndexCorrupt(
                f"Milvus collection {self.collection!r} at {connection.public} holds {count} rows, the index at "
                f"{where} needs {self.count()}"
            )
        self._foreign = count - self.count()

    def search(self, queries: np.ndarray, k: int, selection: Selection | None = None) -> list[Hits]:
        queries = np.asarray(queries, dtype=np.float32).reshape(-1, self.dimension)
        k = min(k, self.count() if selection is None else selection.count)
        if k <= 0:
            return [Hits(np.zeros(0, np.int64), np.zeros(0, np.float32)) for _ in queries]
        expression = self._expression(selection)
        return [self._search(query, k, expression) for query in queries]

    def _search(self, query: np.ndarray, k: int, expression: str) -> Hits:
        limit = min(MAX_TOPK, k + self._foreign)
        while True:
            hits = self.connection.client.search(
                self.collection, [query.ravel().tolist()], limit=limit,
                filter=expression, output_fields=[], search_params={"metric_type": "IP"}, **self._read,
            )[0]
            found = [(self.row_of[hit["id"]], hit["distance"]) for hit in hits if hit["id"] in self.row_of]
            if len(found) >= k or len(hits) < limit or limit >= MAX_TOPK:
                break
            # Another build published rows since this generation was opened: ask again, past them.
            limit = min(MAX_TOPK, limit + max(limit, len(hits) - len(found)))
        rows = np.array([row for row, _ in found], dtype=np.int64)
        scores = np.array([score for _, score in found], dtype=np.float32)
        order = np.lexsort((rows, -scores))[:k]
        return Hits(rows[order], scores[order])

    def _expression(self, selection: Selection | None) -> str:
        """``selection`` as a Milvus filter expression ("" for none)."""
        if selection is None:
            return ""
        doc_rows = self.documents.doc_rows
        allowed = np.bincount(doc_rows[selection.rows], minlength=len(self._chunks_per_document))
        selected = np.flatnonzero(allowed)
        if not np.array_equal(allowed[selected], self._chunks_per_document[selected]):
            # Part of some document: only the rows themselves say it exactly.
            return f"{UID_FIELD} in [{', '.join(quote(self.uids[int(row)]) for row in selection.rows)}]"
        # Whole documents: the shorter list, the selected documents or the others (exclude).
        others = np.setdiff1d(np.flatnonzero(self._chunks_per_document), selected)
        doc_ids = self.documents.doc_ids
        if len(others) < len(selected):
            if not len(others):
                return ""
            return f"{DOC_FIELD} not in [{', '.join(quote(doc_ids[int(r)]) for r in others)}]"
        return f"{DOC_FIELD} in [{', '.join(quote(doc_ids[int(r)]) for r in selected)}]"

    @cached_property
    def _chunks_per_document(self) -> np.ndarray:
        return np.bincount(self.documents.doc_rows, minlength=len(self.documents.doc_ids))

    def get(self, ids: np.ndarray) -> np.ndarray:
        return self.connection.vectors(self.collection, [self.uids[int(r)] for r in ids], self.dimension,
                                       **self._read)

    def close(self) -> None:
        self.connection.close()


def open_store(folder: Path, section: dict, dimension: int, documents: RowDocuments,
               options: ReadOptions) -> MilvusStore:
    """The Milvus side of the generation in ``folder``; ``options.address`` overrides the URI the build recorded."""
    uri = options.address or section.get("uri")
    if not uri or not section.get("collection"):
        raise IndexCorrupt(f"{folder / 'manifest.json'} names no Milvus URI and collection")
    connection = Connection(uri, options.token)
    store = MilvusStore(connection, section["collection"], read_uids(folder), dimension, documents,
                        section.get("write_ts", 0))
    try:
        store.check(str(folder))
    except IndexUnavailable:
        connection.close()
        raise
    except Exception as exc:  # pymilvus' own errors: the server refused or went away
        connection.close()
        raise MilvusError(f"Milvus at {connection.public} failed ({_reason(exc)})") from None
    return store
