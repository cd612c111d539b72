"""The index folder's format: written to a temporary folder, published by one atomic rename, read back and checked.

Layout of an index folder (``var/index`` by default)::

    CURRENT                     name of the live generation (replaced atomically)
    .lock                       held by the one build allowed at a time
    generations/<name>/         one complete, immutable index
        manifest.json           how it was built; sizes and sha256 of every file below
        chunks.sqlite           documents (with their text) and chunks (with offsets)
        vectors.faiss           one L2-normalised vector per chunk, inner product: flat, or IVF for
                                large corpora (index.vectors; the manifest's "vectors" section says which)
        vector_ids.txt          instead of vectors.faiss, with the milvus vector store: each chunk's row id
        sentences.npz           sentence spans per chunk, their vectors (float16) and block kinds (int8)
        bm25/                   the bm25s index over the same chunks (title included), and each chunk's token ids
                                (chunk_tokens.npz) for the next incremental build to take over
        chunk_keys.npy          each chunk's reuse key (retrieval_text.chunk_key, 32 bytes), so the next
                                incremental build finds reusable chunks without deriving every stored text again
        file_stats.json         each document's file stats when it was read (index.file_stats), so the next
                                incremental build knows an unchanged file without reading it

Readers only ever see a generation whose files were all written, fsynced and
checksummed before ``CURRENT`` pointed at it, so a killed build cannot leave a
half-written index behind the name.
"""

from __future__ import annotations

import bisect
import contextlib
import datetime as dt
import fcntl
import hashlib
import json
import os
import secrets
import shutil
import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from .chunking import Chunk, chunk_id_for
from .errors import (BuildLocked, IndexCorrupt, IndexMismatch, IndexNeedsRebuild, IndexNotFound, IndexUnavailable,
                     IndexUnwritable, rebuild_hint)
from .file_stats import save as save_file_stats
from .lexical import load_bm25, save_bm25
from .locators import decode_locators
from .manifest import Manifest, ManifestError
from .npy_rows import NpyRows
from .vectors import ReadOptions, RowDocuments, VectorStore, VectorWriter, faiss_store, open_store

FORMAT = "askdocs-index"
FORMAT_VERSION = 1
CURRENT = "CURRENT"
GENERATIONS = "generations"
MANIFEST = "manifest.json"
CHUNKS_DB = "chunks.sqlite"
VECTORS = faiss_store.FILE
SENTENCES = "sentences.npz"
BM25_DIR = "bm25"
CHUNK_KEYS = "chunk_keys.npy"
_TMP_PREFIX = ".tmp-"

SCHEMA = """
CREATE TABLE documents (
    row INTEGER PRIMARY KEY,
    doc_id TEXT NOT NULL UNIQUE,
    title TEXT NOT NULL,
    source TEXT NOT NULL,
    kind TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    size INTEGER NOT NULL,
    mtime REAL NOT NULL,
    page_starts TEXT NOT NULL,
    meta TEXT NOT NULL,
    text TEXT NOT NULL,
    blocks TEXT NOT NULL DEFAULT '[]',
    locators TEXT NOT NULL DEFAULT '{}',
    page_labels TEXT NOT NULL DEFAULT '[]'
);
CREATE TABLE chunks (
    row INTEGER PRIMARY KEY,
    chunk_id TEXT NOT NULL UNIQUE,
    doc_row INTEGER NOT NULL REFERENCES documents(row),
    ordinal INTEGER NOT NULL,
    char_start INTEGER NOT NULL,
    char_end INTEGER NOT NULL,
    line_start INTEGER NOT NULL,
    line_end INTEGER NOT NULL,
    page INTEGER,
    n_tokens INTEGER NOT NULL,
    sentence_first INTEGER NOT NULL,
    sentence_count INTEGER NOT NULL,
    text TEXT NOT NULL,
    section TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX chunks_by_doc ON chunks(doc_row, ordinal);
"""


def missing_index(index_dir: Path) -> IndexNotFound:
    """No index at ``index_dir``, with the command that builds one, its paths absolute: the hint may be read
    by someone (or an MCP client) whose working folder is not the server's."""
    from .documents import file_kind
    from .settings import Settings

    where = Path(index_dir).resolve()
    # A kind of its own, not "" (a name without a suffix could be anything): ls.1.gz and grep.info say documents.
    if where.is_dir() and any(file_kind(p.name) for p in _some_files(where)):
        target = Settings().index.resolve()
        if target == where:
            target = where.with_name(where.name + "-index")
        return IndexNotFound(f"{index_dir} is a folder of documents, not an index",
                             f"build one with `build-index {where} --index {target}`, then "
                             f"`askdocs serve --index {target}`")
    documents = Path("seeds").resolve()
    source = documents if documents.is_dir() else "/path/to/your/documents"
    return IndexNotFound(f"no index at {where}", f"build one with `build-index {source} --index {where}`")


def source_folders(manifest: Manifest | None) -> list[str]:
    """The folders and files a manifest says its index was built from (a BEIR corpus or a list of documents
    records none)."""
    recorded = manifest.sources if manifest is not None else []
    return [s for s in recorded if not s.startswith("beir:")]


def _some_files(folder: Path, limit: int = 200):
    # Enough to tell a documents folder from an empty or unrelated one, without walking a whole tree.
    for count, path in enumerate(folder.rglob("*")):
        if count >= limit:
            return
        if path.is_file():
            yield path


@dataclass(frozen=True)
class DocumentRow:
    """A ``Document`` as a generation stores it (chunks.sqlite's ``documents`` table): what the build writes and
    a reader gets back by id.

    Why this is not ``Document``: its blocks and locators stay encoded as stored, so the readers that need
    neither (a citation's version check, a page image, an incremental build comparing hashes) never decode a
    large PDF's structure; and it has none of what is not stored (attachments are rows of their own, notes and
    page boxes describe one reading of the file).
    """

    doc_id: str
    title: str
    source: str
    kind: str
    sha256: str
    size: int
    mtime: float
    page_starts: tuple[int, ...]
    meta: dict
    text: str
    blocks: str = "[]"  # index.structure.encode_blocks; "[]" in an index built before blocks were kept
    locators: str = "{}"  # index.locators.encode_locators: slides, spreadsheet rows; "{}" for other formats
    page_labels: tuple[str, ...] = ()  # each page's own label where a PDF defines them (Document.page_labels)


def _document_row(row) -> DocumentRow:
    """A DocumentRow from the columns StoredIndex._document_columns selects."""
    return DocumentRow(*row[:7], _json_tuple(row[7]), _json_object(row[8]), row[9], row[10], row[11],
                       _json_tuple(row[12]))


# Most documents have no pages, labels or metadata and most chunks no section: an incremental build reads every
# row, and parsing ~28k empty JSON values for SciFact took a quarter of a second of each sync.
def _json_tuple(data: str) -> tuple:
    return () if data == "[]" else tuple(json.loads(data))


def _json_object(data: str) -> dict:
    return {} if data == "{}" else json.loads(data)


@dataclass(frozen=True)
class ChunkTable:
    """The numeric fields of a generation's Chunks as columns, in memory: one int64 array each, indexed by chunk
    row (ids, token counts, texts and section paths stay in chunks.sqlite). It is what a question reads.

    Why this is not a list of ``Chunk``: a million chunks are nine arrays rather than a million objects, and a
    filter or a count over them is one numpy operation. ``of`` and ``chunk`` turn Chunks into it and back.
    """

    doc_row: np.ndarray
    ordinal: np.ndarray
    char_start: np.ndarray
    char_end: np.ndarray
    line_start: np.ndarray
    line_end: np.ndarray
    page: np.ndarray  # 0: the chunk's document has no pages
    sentence_first: np.ndarray
    sentence_count: np.ndarray

    def __len__(self) -> int:
        return len(self.doc_row)

    @classmethod
    def of(cls, chunks: Sequence[Chunk]) -> ChunkTable:
        """The columns of placed chunks (``Chunk.placed``), in row order."""
        names = [f.name for f in fields(cls)]
        rows = [[(c.page or 0) if name == "page" else getattr(c, name) for name in names] for c in chunks]
        table = np.array(rows, dtype=np.int64).reshape(-1, len(names))
        return cls(*(table[:, i].copy() for i in range(len(names))))

    def chunk(self, row: int) -> Chunk:
        """The chunk at ``row``, with what the columns hold of it."""
        values = {name: getattr(self, name).item(row) for name in _CHUNK_COLUMNS}
        return Chunk(**values | {"page": values["page"] or None})


# ChunkTable's columns, named once: chunk() runs for every passage of every question.
_CHUNK_COLUMNS = tuple(f.name for f in fields(ChunkTable))


@dataclass(frozen=True)
class DocumentColumns:
    """The per-document facts a question may read, in memory, indexed by document row: the columnar form of the
    DocumentRows, as ChunkTable is of the Chunks (one list per fact, without the texts)."""

    ids: list[str]
    titles: list[str]
    sources: list[str]
    kinds: list[str]
    mtimes: list[float]
    meta: list[dict]  # what metadata filters read
    sha256: list[str]  # the version each citation names
    page_starts: dict[int, tuple[int, ...]]  # only documents that have pages (PDFs)
    page_labels: dict[int, tuple[str, ...]]  # only documents whose pages have labels of their own
    locators: dict[int, object]  # decoded index.locators of the documents that have them (slides, spreadsheets)


@dataclass(frozen=True)
class SentenceTable:
    spans: np.ndarray  # (n, 2) character offsets in the chunk's document
    vectors: NpyRows | np.ndarray  # float16, as stored; read by position unless stored compressed
    # Block kind code (index.structure.KINDS) of each sentence; None for an index built before structure was kept.
    kinds: np.ndarray | None


@dataclass(frozen=True)
class OptionalColumns:
    """Which columns added after the first format chunks.sqlite has (an older index lacks them)."""

    structure: bool  # chunks.section, documents.blocks
    locators: bool  # documents.locators
    page_labels: bool  # documents.page_labels


# ---------------------------------------------------------------- writing


@contextlib.contextmanager
def build_lock(index_dir: Path):
    """Only one build per index folder; a second one fails at once instead of racing the first.

    flock is released by the kernel when its holder dies, so a killed build never leaves a stale lock. The
    holder's pid and start time in the file are only for the message a second build gets.
    """
    try:
        index_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(index_dir / ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise IndexUnwritable(f"cannot write to the index folder {index_dir} ({describe_os_error(exc)}); nothing "
                              "was built and the existing index, if any, is unchanged") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip()
            raise BuildLocked(f"another build-index is running on {index_dir}"
                              f"{f' ({holder})' if holder else ''}; wait for it to finish") from None
        started = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()}, started {started}\n".encode(), 0)
        _remove_stale_temporaries(index_dir)
        yield
    finally:
        os.close(fd)


def describe_os_error(exc: OSError) -> str:
    return f"{exc.strerror or exc}: {exc.filename}" if exc.filename else str(exc.strerror or exc)


def _remove_stale_temporaries(index_dir: Path) -> None:
    # Holding the lock means no build is running: any temporary folder is the debris of a killed one.
    generations = index_dir / GENERATIONS
    if generations.is_dir():
        for child in generations.iterdir():
            if child.name.startswith(_TMP_PREFIX):
                shutil.rmtree(child, ignore_errors=True)


def write_sentences(handle, spans: np.ndarray, vectors: np.ndarray | list[np.ndarray], kinds: np.ndarray,
                    dimension: int) -> None:
    """sentences.npz, byte for byte as ``np.savez`` writes it (members stored, not compressed, so that the vectors
    are read by position: index.npy_rows), with the vectors taken from each chunk's array in turn when given as a
    list; each item is set to None once written."""
    import zipfile

    # One array is one part, as wide as it is; a list of chunks' arrays is ``dimension`` wide (some may be empty).
    parts, width = ([vectors], vectors.shape[-1]) if isinstance(vectors, np.ndarray) else (vectors, dimension)
    rows = sum(len(part) for part in parts)
    if rows != len(spans):
        raise ValueError(f"{len(spans)} sentences but {rows} sentence vectors")
    with zipfile.ZipFile(handle, mode="w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        # Member by member in np.savez's order and way (zip64 forced, as numpy does).
        with archive.open("spans.npy", "w", force_zip64=True) as member:
            np.lib.format.write_array(member, spans, allow_pickle=False)
        with archive.open("vectors.npy", "w", force_zip64=True) as member:
            np.lib.format.write_array_header_1_0(member, {
                "descr": np.lib.format.dtype_to_descr(np.dtype(np.float16)), "fortran_order": False,
                "shape": (rows, width)})
            for at, part in enumerate(parts):
                member.write(np.ascontiguousarray(part, dtype=np.float16).tobytes())
                parts[at] = None
        with archive.open("kinds.npy", "w", force_zip64=True) as member:
            np.lib.format.write_array(member, kinds, allow_pickle=False)


def write_generation(
    index_dir: Path,
    documents: list[DocumentRow],
    chunks: list[Chunk],
    vectors: np.ndarray,
    sentence_spans: np.ndarray,
    sentence_vectors: np.ndarray | list[np.ndarray],
    bm25,
    manifest: dict,
    writer: VectorWriter,
    sentence_kinds: np.ndarray | None = None,
    chunk_keys: list[str] | None = None,
    file_stats: dict | None = None,
    carried: CarriedRows | None = None,
) -> tuple[Path, Manifest]:
    """Write a complete generation next to the live one and make it live; return its folder and its manifest as
    written. Call under ``build_lock``.

    ``writer`` (``index.vectors.new_writer``) stores the vectors; the manifest's "vectors" section is the one
    its write returns. ``carried``: the rows to copy from the previous generation's chunks.sqlite.
    ``sentence_vectors``: one array, or each chunk's array in order, which are written one by one and let go of
    (the list's items become None): a build never holds them stacked.
    """
    if len(chunks) != len(vectors):
        raise ValueError(f"{len(chunks)} chunks but {len(vectors)} vectors")
    generations = index_dir / GENERATIONS
    generations.mkdir(parents=True, exist_ok=True)
    name = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S") + "-" + secrets.token_hex(3)
    tmp = generations / f"{_TMP_PREFIX}{name}"
    tmp.mkdir()
    previous = read_current(index_dir)
    _WRITTEN.clear()  # only the generation written now will be opened as a previous one
    try:
        _write_sqlite(tmp / CHUNKS_DB, documents, chunks, carried)
        vectors_section = writer.write(tmp, vectors, [documents[c.doc_row].doc_id for c in chunks],
                                       [c.ordinal for c in chunks], previous[0] if previous else None)
        with open(tmp / SENTENCES, "wb") as handle:
            if sentence_kinds is None:
                sentence_kinds = np.zeros(len(sentence_spans), np.int8)  # all "paragraph"
            if len(sentence_kinds) != len(sentence_spans):
                raise ValueError(f"{len(sentence_spans)} sentences but {len(sentence_kinds)} kinds")
            write_sentences(handle, sentence_spans.astype(np.int64, copy=False), sentence_vectors,
                            np.asarray(sentence_kinds, dtype=np.int8), vectors.shape[1] if vectors.ndim == 2 else 0)
        save_bm25(bm25, tmp / BM25_DIR)
        if chunk_keys is not None:
            if len(chunk_keys) != len(chunks):
                raise ValueError(f"{len(chunks)} chunks but {len(chunk_keys)} chunk keys")
            with open(tmp / CHUNK_KEYS, "wb") as handle:
                np.save(handle, np.frombuffer(b"".join(bytes.fromhex(k) for k in chunk_keys), np.uint8).reshape(-1, 32))
        if file_stats is not None:
            save_file_stats(tmp, file_stats)
        manifest = Manifest.load({
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "generation": (previous[1].generation + 1) if previous else 1,
            "name": name,
            "built_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            **manifest,
            "vectors": vectors_section,  # with what the write recorded
            "files": {
                path.relative_to(tmp).as_posix(): _file_record(path) for path in sorted(tmp.rglob("*")) if path.is_file()
            },
        })
        _write_durably(tmp / MANIFEST, manifest.to_json())
        _fsync_dir(tmp)
        final = generations / name
        os.rename(tmp, final)
        _fsync_dir(generations)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        writer.discard(previous[0] if previous else None)
        raise
    _write_durably(index_dir / (CURRENT + ".next"), name.encode())
    os.replace(index_dir / (CURRENT + ".next"), index_dir / CURRENT)
    _fsync_dir(index_dir)
    keep = {name, previous[0].name} if previous else {name}
    # What only dropped generations used goes only now that no reader can be sent to a generation that needs it.
    writer.published([generations / n for n in keep],
                     [c for c in generations.iterdir() if c.name not in keep and not c.name.startswith(_TMP_PREFIX)])
    _prune(generations, keep=keep)
    return final, manifest


def load_chunk_keys(generation: Path, n_chunks: int) -> list[str] | None:
    """The chunk keys a generation saved (hex, as retrieval_text.chunk_key gives them); None if it saved none."""
    try:
        keys = np.load(generation / CHUNK_KEYS)
    except FileNotFoundError:
        return None
    if keys.shape != (n_chunks, 32):
        return None
    return [row.tobytes().hex() for row in keys]


@dataclass(frozen=True)
class CarriedRows:
    """Rows of a new generation that the previous one's chunks.sqlite (``database``) already holds: for each
    document and chunk, in order, its row there, or -1 for one to write. A document copied keeps its stored
    text, title and structure, and takes its source, size, mtime and metadata from the new row (a renamed or
    touched file); a chunk copied keeps everything but its document row and first sentence (renumbered)."""

    database: Path
    document_rows: list[int]
    chunk_rows: list[int]


def _write_sqlite(path: Path, documents: list[DocumentRow], chunks: list[Chunk],
                  carried: CarriedRows | None = None) -> None:
    # Copying the unchanged rows inside SQLite is a fraction of the time of writing every document's text again
    # from Python (the rows copied are the bytes a build from scratch writes: the same code wrote them).
    copy_docs = carried.document_rows if carried is not None else [-1] * len(documents)
    copy_chunks = carried.chunk_rows if carried is not None else [-1] * len(chunks)
    if len(copy_docs) != len(documents) or len(copy_chunks) != len(chunks):
        raise ValueError("the carried rows do not match the documents and chunks")
    # A URI, so the previous database can be attached read-only.
    connection = sqlite3.connect(_sqlite_uri(path), uri=True)
    try:
        connection.executescript(SCHEMA)
        if carried is not None:
            _copy_rows(connection, carried.database, documents, chunks, copy_docs, copy_chunks)
        connection.executemany(
            "INSERT INTO documents VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                (row, d.doc_id, d.title, d.source, d.kind, d.sha256, d.size, d.mtime,
                 json.dumps(list(d.page_starts)), json.dumps(d.meta, sort_keys=True), d.text, d.blocks,
                 d.locators, json.dumps(list(d.page_labels), ensure_ascii=False))
                for row, d in enumerate(documents) if copy_docs[row] < 0
            ),
        )
        connection.executemany(
            "INSERT INTO chunks VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                (row, c.chunk_id, c.doc_row, c.ordinal, c.char_start, c.char_end, c.line_start, c.line_end,
                 c.page, c.n_tokens, c.sentence_first, c.sentence_count, c.text,
                 json.dumps(list(c.section), ensure_ascii=False))
                for row, c in enumerate(chunks) if copy_chunks[row] < 0
            ),
        )
        connection.commit()
    finally:
        connection.close()


def _sqlite_uri(path: Path, mode: str = "rwc") -> str:
    from urllib.parse import quote

    return f"file:{quote(str(Path(path).absolute()))}?mode={mode}"


def _copy_rows(connection: sqlite3.Connection, database: Path, documents: list[DocumentRow], chunks: list[Chunk],
               copy_docs: list[int], copy_chunks: list[int]) -> None:
    connection.execute("ATTACH DATABASE ? AS previous", (_sqlite_uri(database, "ro"),))
    connection.executescript(
        "CREATE TEMP TABLE document_from (row INTEGER PRIMARY KEY, previous INTEGER NOT NULL, source TEXT NOT NULL,"
        " size INTEGER NOT NULL, mtime REAL NOT NULL, meta TEXT NOT NULL);"
        "CREATE TEMP TABLE chunk_from (row INTEGER PRIMARY KEY, previous INTEGER NOT NULL, doc_row INTEGER NOT NULL,"
        " sentence_first INTEGER NOT NULL);")
    connection.executemany(
        "INSERT INTO document_from VALUES (?,?,?,?,?,?)",
        ((row, old, d.source, d.size, d.mtime, json.dumps(d.meta, sort_keys=True))
         for row, (old, d) in enumerate(zip(copy_docs, documents)) if old >= 0))
    connection.executemany(
        "INSERT INTO chunk_from VALUES (?,?,?,?)",
        ((row, old, c.doc_row, c.sentence_first) for row, (old, c) in enumerate(zip(copy_chunks, chunks)) if old >= 0))
    connection.execute(
        "INSERT INTO main.documents SELECT f.row, p.doc_id, p.title, f.source, p.kind, p.sha256, f.size, f.mtime,"
        " p.page_starts, f.meta, p.text, p.blocks, p.locators, p.page_labels"
        " FROM document_from f JOIN previous.documents p ON p.row = f.previous")
    connection.execute(
        "INSERT INTO main.chunks SELECT f.row, p.chunk_id, f.doc_row, p.ordinal, p.char_start, p.char_end,"
        " p.line_start, p.line_end, p.page, p.n_tokens, f.sentence_first, p.sentence_count, p.text, p.section"
        " FROM chunk_from f JOIN previous.chunks p ON p.row = f.previous")
    copied = connection.execute("SELECT (SELECT count(*) FROM main.documents), (SELECT count(*) FROM main.chunks)")
    if copied.fetchone() != (sum(r >= 0 for r in copy_docs), sum(r >= 0 for r in copy_chunks)):
        raise sqlite3.DatabaseError(f"rows to copy are missing from {database}")
    connection.commit()
    connection.execute("DETACH DATABASE previous")


# The checksums this process computed for the files of the generation it wrote last, by (device, inode), with
# the size, mtime and ctime the file had then: the next incremental build in the same process (a watcher's
# syncs) opens that generation as its previous one, and re-reading ~85 MB to check bytes it wrote itself and
# nobody has touched since would only cost time. A file changed since (a write moves mtime and ctime) is
# checked in full, as is every file another process wrote.
_WRITTEN: dict[tuple[int, int], tuple[tuple[int, int, int], str]] = {}


def _file_record(path: Path) -> dict:
    digest = sha256_file(path)
    st = path.stat()
    _WRITTEN[(st.st_dev, st.st_ino)] = ((st.st_size, st.st_mtime_ns, st.st_ctime_ns), digest)
    return {"bytes": st.st_size, "sha256": digest}


def written_checksums() -> dict:
    """The checksums of the files of the generation this process wrote last (to hand to another process)."""
    return dict(_WRITTEN)


def trust_checksums(written: dict) -> None:
    """Take ``written`` (``written_checksums`` of the process that wrote the generation, such as a server's build
    process) as this process's own: opening that generation then reads none of its unchanged files to check them."""
    _WRITTEN.clear()
    _WRITTEN.update(written)


def _checksum(path: Path) -> str:
    st = path.stat()
    known = _WRITTEN.get((st.st_dev, st.st_ino))
    if known is not None and known[0] == (st.st_size, st.st_mtime_ns, st.st_ctime_ns):
        return known[1]
    return sha256_file(path)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _write_durably(path: Path, data: bytes) -> None:
    with open(path, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _prune(generations: Path, keep: set[str]) -> None:
    # The previous generation stays so a server that has not reloaded yet keeps working.
    for child in generations.iterdir():
        if child.name not in keep and not child.name.startswith(_TMP_PREFIX):
            shutil.rmtree(child, ignore_errors=True)


# ---------------------------------------------------------------- reading


def generation_dir(index_dir: Path) -> Path:
    """The folder of the live generation, or ``index_dir`` itself if it is a generation folder."""
    if (index_dir / MANIFEST).is_file():
        return index_dir
    current = index_dir / CURRENT
    if not current.is_file():
        raise missing_index(index_dir)
    name = current.read_text().strip()
    path = index_dir / GENERATIONS / name
    if not (path / MANIFEST).is_file():
        raise IndexCorrupt(f"{current} names generation {name!r}, which is missing", index_dir)
    return path


def read_current(index_dir: Path) -> tuple[Path, Manifest] | None:
    try:
        path = generation_dir(index_dir)
        return path, Manifest.load(json.loads((path / MANIFEST).read_text()))
    except (IndexUnavailable, OSError, ValueError):
        return None


class StoredIndex:
    """One opened, validated generation, complete once built (``open_stored_index`` builds it). Immutable; safe
    to share between threads."""

    def __init__(self, path: Path, manifest: Manifest, vectors: VectorStore, chunks: ChunkTable,
                 documents: DocumentColumns, sentences: SentenceTable, bm25, connection: sqlite3.Connection,
                 columns: OptionalColumns):
        self.path = path
        self.manifest = manifest
        self.vectors = vectors
        self.chunks = chunks
        self.doc_ids = documents.ids
        self.doc_titles = documents.titles
        self.doc_sources = documents.sources
        self.doc_kinds = documents.kinds
        self.doc_mtimes = documents.mtimes
        self.doc_meta = documents.meta
        self.doc_sha256 = documents.sha256
        self.doc_row_by_id = {doc_id: row for row, doc_id in enumerate(documents.ids)}
        self.page_labels = documents.page_labels
        self._page_starts = documents.page_starts
        self._locators = documents.locators
        self.sentence_spans = sentences.spans
        self.sentence_vectors = sentences.vectors
        self.sentence_kinds = sentences.kinds
        self.has_structure = columns.structure
        self.has_locators = columns.locators
        self.has_page_labels = columns.page_labels
        self._sections_cache: dict[int, object] = {}
        self.bm25 = bm25
        # One connection opened now: it keeps the files readable even after a later build prunes them.
        self._connection = connection
        self._db_lock = threading.Lock()
        # Set by the first read that found the files damaged since they were opened (overwritten in place):
        # every later read fails the same way, so a server can report it rather than answer 500s.
        self.damaged: str | None = None

    @property
    def index_dir(self) -> Path:
        """The index folder this generation belongs to: its other generations, page boxes and page cache."""
        return self.path.parent.parent if self.path.parent.name == GENERATIONS else self.path

    @contextlib.contextmanager
    def _read(self):
        with self._db_lock:
            try:
                yield self._connection
            except sqlite3.DatabaseError as exc:
                error = IndexCorrupt(f"index at {self.path} is damaged since it was opened ({exc})",
                                     self.index_dir, source_folders(self.manifest))
                self.damaged = str(error)
                raise error from None

    @property
    def approximate(self) -> bool:
        return self.vectors.approximate

    @property
    def n_chunks(self) -> int:
        return len(self.chunks)

    @property
    def n_documents(self) -> int:
        return len(self.doc_ids)

    def page_at(self, doc_row: int, char_offset: int) -> int | None:
        starts = self._page_starts.get(doc_row)
        return max(1, bisect.bisect_right(starts, char_offset)) if starts else None

    def locate(self, doc_row: int, char_start: int, char_end: int) -> dict:
        """The slide, or sheet and row range, of ``[char_start, char_end)``: Citation fields ({} for most formats)."""
        locators = self._locators.get(doc_row)
        return locators.locate(char_start, char_end) if locators is not None else {}

    def page_label_at(self, doc_row: int, char_offset: int) -> str | None:
        labels = self.page_labels.get(doc_row)
        page = self.page_at(doc_row, char_offset) if labels else None
        return (labels[page - 1] or None) if page and page <= len(labels) else None

    def _chunk_fields(self, rows: list[int], columns: str) -> list[tuple]:
        """``columns`` (SQL) of each chunk of ``rows``, in the order of ``rows``."""
        if not rows:
            return []
        marks = ",".join("?" * len(rows))
        with self._read() as connection:
            found = {values[0]: values[1:] for values in connection.execute(
                f"SELECT row, {columns} FROM chunks WHERE row IN ({marks})", rows)}
        return [found[row] for row in rows]

    def _section_column(self) -> str:
        return "section" if self.has_structure else "'[]'"

    def chunk_texts(self, rows: list[int]) -> list[str]:
        return [text for (text,) in self._chunk_fields(rows, "text")]

    def chunk_texts_and_sections(self, rows: list[int]) -> list[tuple[str, list[str]]]:
        """``chunk_texts`` and ``chunk_sections`` of the same rows in one read: a question's passages need both."""
        return [(text, json.loads(section))
                for text, section in self._chunk_fields(rows, "text, " + self._section_column())]

    def chunk_sections(self, rows: list[int]) -> list[list[str]]:
        """Each chunk's section path (the headings above it, outermost first); [] in an index without them."""
        if not self.has_structure:
            return [[] for _ in rows]
        return [json.loads(section) for (section,) in self._chunk_fields(rows, "section")]

    def document_blocks(self, doc_row: int) -> tuple:
        """The typed blocks (index.structure.Block) of a document's stored text; () in an index without them."""
        if not self.has_structure:
            return ()
        from .structure import decode_blocks

        with self._read() as connection:
            (data,) = connection.execute("SELECT blocks FROM documents WHERE row = ?", (doc_row,)).fetchone()
        return decode_blocks(data)

    def sections(self, doc_row: int):
        """askdocs.index.structure.Sections of a document: ``.path_at(offset)`` is the section path at any offset."""
        from .structure import Sections

        found = self._sections_cache.get(doc_row)
        if found is None:
            headings = [b for b in self.document_blocks(doc_row) if b.kind == "heading"]
            text = ""
            if headings:
                with self._read() as connection:
                    (text,) = connection.execute("SELECT text FROM documents WHERE row = ?", (doc_row,)).fetchone()
            found = Sections(text, headings)
            if len(self._sections_cache) > 1024:
                self._sections_cache.clear()
            self._sections_cache[doc_row] = found
        return found

    def section_at(self, doc_row: int, offset: int) -> list[str]:
        return list(self.sections(doc_row).path_at(offset))

    def chunk_ids(self, rows: list[int]) -> list[str]:
        return [chunk_id_for(self.doc_ids[self.chunks.doc_row[row]], int(self.chunks.ordinal[row])) for row in rows]

    def chunk_row(self, chunk_id: str) -> int | None:
        with self._read() as connection:
            found = connection.execute("SELECT row FROM chunks WHERE chunk_id = ?", (chunk_id,)).fetchone()
        return found[0] if found else None

    def _document_columns(self) -> str:
        return ("doc_id, title, source, kind, sha256, size, mtime, page_starts, meta, text, "
                + ("blocks" if self.has_structure else "'[]'") + ", " + ("locators" if self.has_locators else "'{}'")
                + (", page_labels" if self.has_page_labels else ", '[]'"))

    def document(self, doc_id: str) -> DocumentRow | None:
        with self._read() as connection:
            row = connection.execute(
                f"SELECT {self._document_columns()} FROM documents WHERE doc_id = ?", (doc_id,),
            ).fetchone()
        if row is None:
            return None
        return _document_row(row)

    def document_text_slice(self, doc_row: int, start: int, end: int) -> str:
        with self._read() as connection:
            (text,) = connection.execute(
                "SELECT substr(text, ?, ?) FROM documents WHERE row = ?", (start + 1, end - start, doc_row)
            ).fetchone()
        return text

    def list_documents(self, offset: int, limit: int) -> list[tuple[str, str, str]]:
        return [
            (self.doc_ids[row], self.doc_titles[row], self.doc_sources[row])
            for row in range(offset, min(offset + limit, self.n_documents))
        ]

    def all_documents(self) -> list[DocumentRow]:
        """Every document, in row order (for an incremental build to take over)."""
        with self._read() as connection:
            rows = connection.execute(f"SELECT {self._document_columns()} FROM documents ORDER BY row").fetchall()
        return [_document_row(row) for row in rows]

    def all_chunks(self) -> list[Chunk]:
        """Every chunk as it was placed, in row order; row ``i`` has vector ``i``."""
        with self._read() as connection:
            rows = connection.execute(
                "SELECT ordinal, char_start, char_end, line_start, line_end, page, sentence_count, doc_row, "
                "sentence_first, chunk_id, n_tokens, text, " + self._section_column() + " FROM chunks ORDER BY row"
            ).fetchall()
        return [Chunk(*row[:12], section=_json_tuple(row[12])) for row in rows]

    def all_vectors(self) -> np.ndarray:
        """The chunk vectors exactly as stored, (n_chunks, dim) float32."""
        return self.vectors.all()

    def close(self) -> None:
        with self._db_lock:
            self._connection.close()
        self.vectors.close()
        if isinstance(self.sentence_vectors, NpyRows):
            self.sentence_vectors.close()


def open_stored_index(index_dir: Path, model: str | None = None, dimension: int | None = None,
                      verify_checksums: bool = True, milvus_address: str | None = None,
                      milvus_token: str | None = None, nprobe: int = 0) -> StoredIndex:
    """Open the live generation and refuse, with what to do, anything this build cannot honour.

    An index whose manifest puts its vectors in Milvus is opened there (``milvus_address`` overrides the
    URI it recorded, e.g. to add credentials or reach the server by another name). ``nprobe`` overrides
    the IVF probes the manifest records (0: the manifest's); flat and Milvus indexes ignore it.
    """
    index_dir = Path(index_dir)
    if not index_dir.exists():
        raise missing_index(index_dir)
    for attempt in range(OPEN_ATTEMPTS):
        named = _current_name(index_dir)
        try:
            return _open_generation(index_dir, generation_dir(index_dir), model, dimension, verify_checksums,
                                    milvus_address, milvus_token, nprobe)
        except IndexCorrupt:
            # Two publishes while this open ran prune the generation it started on, which then looks damaged
            # (files gone mid-read). That is damage only if CURRENT still names the same generation.
            if named is None or _current_name(index_dir) == named or attempt == OPEN_ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


# Opens of a generation that a newer publish pruned meanwhile, before the newest one is reported as damaged.
OPEN_ATTEMPTS = 5


def _current_name(index_dir: Path) -> str | None:
    """What CURRENT says now; None for a generation folder given directly (nothing can replace it)."""
    if (index_dir / MANIFEST).is_file():
        return None
    try:
        return (index_dir / CURRENT).read_text().strip()
    except OSError:
        return None


def _open_generation(index_dir: Path, path: Path, model: str | None, dimension: int | None, verify_checksums: bool,
                     milvus_address: str | None, milvus_token: str | None, nprobe: int) -> StoredIndex:
    try:
        manifest = json.loads((path / MANIFEST).read_text())
    except (OSError, ValueError) as exc:
        raise IndexCorrupt(f"unreadable manifest in {path} ({exc})", index_dir) from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise IndexCorrupt(f"{path / MANIFEST} is not an askdocs manifest", index_dir)
    try:
        manifest = Manifest.load(manifest)
    except ManifestError as exc:
        raise IndexCorrupt(f"{path / MANIFEST} is not a valid manifest ({exc})", index_dir) from None
    if manifest.format_version != FORMAT_VERSION:
        raise IndexMismatch(
            f"index at {index_dir} has format version {manifest.format_version}, this askdocs reads "
            f"version {FORMAT_VERSION}", index_dir, source_folders(manifest)
        )
    built_model = manifest.model
    if model is not None and built_model.name != model:
        raise IndexMismatch(
            f"index at {index_dir} was built with model {built_model.name!r} but askdocs is configured "
            f"for {model!r}",
            hint=f"{rebuild_hint(index_dir, source_folders(manifest))}, or configure the index's model (ASKDOCS_MODEL)"
        )
    if dimension is not None and built_model.dimension != dimension:
        raise IndexMismatch(
            f"index at {index_dir} holds {built_model.dimension}-dimensional vectors but the model gives "
            f"{dimension}", index_dir, source_folders(manifest)
        )
    try:
        _check_files(index_dir, path, manifest, verify_checksums)
    except OSError as exc:  # a file that vanished between the listing and the read
        raise IndexCorrupt(f"index at {path} cannot be read ({exc})", index_dir, source_folders(manifest)) from None
    vectors = None
    try:
        connection = sqlite3.connect(f"file:{path / CHUNKS_DB}?mode=ro", uri=True, check_same_thread=False)
        table = _chunk_columns(connection, ['IFNULL(page, 0)' if c == 'page' else c for c in _CHUNK_COLUMNS])
        chunks = ChunkTable(*(table[:, i].copy() for i in range(len(_CHUNK_COLUMNS))))
        docs = _document_rows(connection)
        page_starts = {
            row: tuple(json.loads(starts))
            for row, starts in connection.execute("SELECT row, page_starts FROM documents WHERE page_starts != '[]'")
        }
        with np.load(path / SENTENCES) as sentences:
            sentence_spans = sentences["spans"]
            # Float16, as stored (about 3.4 GB at 1M chunks), and left on disk: a question reads only the few
            # sentences of the passages it returns, by position (index/npy_rows.py), so the processes of
            # `serve --workers` share the page cache and none maps the file into its RSS. A compressed member
            # (an older index) cannot be read by position and is loaded.
            sentence_vectors = NpyRows.open_npz_member(path / SENTENCES, "vectors")
            if sentence_vectors is not None and sentence_vectors.dtype != np.float16:
                sentence_vectors.close()
                sentence_vectors = None  # not as this version writes them: converted in memory instead
            if sentence_vectors is None:
                sentence_vectors = sentences["vectors"].astype(np.float16, copy=False)
            sentence_kinds = sentences["kinds"] if "kinds" in sentences.files else None
        has_structure = "section" in {c[1] for c in connection.execute("PRAGMA table_info(chunks)")}
        has_locators = "locators" in {c[1] for c in connection.execute("PRAGMA table_info(documents)")}
        locators = {row: decode_locators(data) for row, data in connection.execute(
            "SELECT row, locators FROM documents WHERE locators != '{}'")} if has_locators else {}
        has_page_labels = "page_labels" in {c[1] for c in connection.execute("PRAGMA table_info(documents)")}
        page_labels = {
            row: tuple(json.loads(labels))
            for row, labels in connection.execute("SELECT row, page_labels FROM documents WHERE page_labels != '[]'")
        } if has_page_labels else {}
        bm25 = load_bm25(path / BM25_DIR)
        vectors = _open_vectors(path, manifest, RowDocuments(chunks.doc_row, [d[0] for d in docs]),
                                ReadOptions(nprobe, milvus_address, milvus_token))
    except (RuntimeError, sqlite3.DatabaseError, OSError, ValueError, KeyError) as exc:
        if vectors is not None:
            vectors.close()
        raise IndexCorrupt(f"index at {path} is damaged ({exc})", index_dir, source_folders(manifest)) from None
    expected = manifest.counts
    if vectors.count() != len(table) or bm25.scores["num_docs"] != len(table) or len(docs) != expected.documents or len(table) != expected.chunks:
        vectors.close()
        raise IndexCorrupt(
            f"index at {path} is inconsistent ({vectors.count()} vectors, {len(table)} chunks, {len(docs)} documents; "
            f"manifest says {expected.model_dump(exclude_none=True)})", index_dir, source_folders(manifest)
        )
    documents = DocumentColumns(
        ids=[d[0] for d in docs], titles=[d[1] for d in docs], sources=[d[2] for d in docs],
        kinds=[d[3] for d in docs], mtimes=[d[4] for d in docs], meta=[_json_object(d[5]) for d in docs],
        sha256=[d[6] for d in docs], page_starts=page_starts, page_labels=page_labels, locators=locators,
    )
    return StoredIndex(path, manifest, vectors, chunks, documents,
                       SentenceTable(sentence_spans, sentence_vectors, sentence_kinds), bm25, connection,
                       OptionalColumns(has_structure, has_locators, has_page_labels))


def _chunk_columns(connection: sqlite3.Connection, columns: list[str]) -> np.ndarray:
    """Integer columns of every chunk, in row order, read as one JSON array that SQLite assembles in one step.

    Why not ``fetchall``: the sqlite3 module lets the GIL go around every row it steps, and a server reloads
    while its request threads want the GIL; each row then waits its turn to get it back. 12k rows took 19 ms alone
    and 0.76 s beside 8 busy Python threads; one step, 0.02 and 0.1 s (bench/README.md, watch mode)."""
    (text,) = connection.execute(
        f"SELECT json_group_array(json_array(row, {', '.join(columns)})) FROM chunks").fetchone()
    table = np.array(json.loads(text), dtype=np.int64).reshape(-1, len(columns) + 1)
    # An aggregate's input order is not promised by SQLite: the row numbers put them back in order.
    return table[np.argsort(table[:, 0], kind="stable"), 1:]


def _document_rows(connection: sqlite3.Connection) -> list[tuple]:
    """(doc_id, title, source, kind, mtime, meta, sha256) of every document in row order, in one step as
    ``_chunk_columns``. A float in JSON is text that need not give the same float back, so mtime crosses as its
    integer part and its fraction times 2**52: both exact integers when |mtime| >= 1, from which the float is
    rebuilt bit for bit. One with 0 < |mtime| < 1 is read on its own."""
    (text,) = connection.execute(
        "SELECT json_group_array(json_array(row, doc_id, title, source, kind, meta, sha256, CAST(mtime AS INTEGER), "
        "CASE WHEN abs(mtime) >= 1 OR mtime = 0 "
        "THEN CAST((mtime - CAST(mtime AS INTEGER)) * 4503599627370496.0 AS INTEGER) END)) FROM documents").fetchone()
    rows = sorted(json.loads(text), key=lambda row: row[0])
    odd = dict(connection.execute("SELECT row, mtime FROM documents WHERE abs(mtime) < 1 AND mtime != 0"))
    return [(doc_id, title, source, kind, odd[row] if fraction is None else whole + fraction / 2**52, meta, sha256)
            for row, doc_id, title, source, kind, meta, sha256, whole, fraction in rows]


def _open_vectors(path: Path, manifest: Manifest, documents: RowDocuments, options: ReadOptions) -> VectorStore:
    """The generation's vector store (a damaged FAISS file raises RuntimeError or ValueError, which the caller
    reports as a damaged index)."""
    try:
        return open_store(path, manifest.vectors, manifest.model.dimension, documents, options)
    except IndexNeedsRebuild:
        raise
    except IndexUnavailable as exc:  # the store could not be reached: say which index needed it
        raise IndexUnavailable(f"index at {path}: {exc.message}", exc.hint) from None


def _check_files(index_dir: Path, path: Path, manifest: Manifest, verify_checksums: bool) -> None:
    sources = source_folders(manifest)
    for name, record in manifest.files.items():
        file = path / name
        if not file.is_file():
            raise IndexCorrupt(f"index file {file} is missing", index_dir, sources)
        if file.stat().st_size != record.bytes:
            raise IndexCorrupt(
                f"index file {file} has {file.stat().st_size} bytes, the manifest says {record.bytes}",
                index_dir, sources,
            )
        if verify_checksums and _checksum(file) != record.sha256:
            raise IndexCorrupt(f"index file {file} does not match its checksum", index_dir, sources)


def document_text_in_generation(index_dir: Path, generation: int, doc_id: str, sha256: str) -> str | None:
    """The text of ``doc_id`` as generation number ``generation`` stored it, if that generation is still on disk
    (a build keeps the one before the live one) and holds that version of the document; else None."""
    generations = Path(index_dir) / GENERATIONS
    try:
        folders = [p for p in generations.iterdir() if not p.name.startswith(_TMP_PREFIX)]
    except OSError:
        return None
    for folder in folders:
        try:
            if Manifest.load(json.loads((folder / MANIFEST).read_text())).generation != generation:
                continue
            connection = sqlite3.connect(f"file:{folder / CHUNKS_DB}?mode=ro", uri=True)
            try:
                row = connection.execute("SELECT text FROM documents WHERE doc_id = ? AND sha256 = ?",
                                         (doc_id, sha256)).fetchone()
            finally:
                connection.close()
        except (OSError, ValueError, sqlite3.Error):
            continue  # pruned while we looked, or not a generation: as if it were not there
        return row[0] if row else None
    return None


def published_digests(index_dir: Path) -> set[str] | None:
    """The sha256 of every document some generation on disk holds; None when a database cannot be read."""
    kept: set[str] = set()
    for generation in (Path(index_dir) / GENERATIONS).iterdir():
        database = generation / CHUNKS_DB
        if not database.is_file():
            continue  # a generation being written holds nothing published yet
        try:
            connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
            try:
                kept.update(sha for (sha,) in connection.execute("SELECT sha256 FROM documents"))
            finally:
                connection.close()
        except sqlite3.Error:
            return None
    return kept
