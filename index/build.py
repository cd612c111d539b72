"""The build pipeline: walk the corpus, skip and report bad files, chunk, embed, write the store.

Over an existing index a build is incremental (see ``incremental``): unchanged documents and chunks keep
what the live generation stored, and only new text goes through the model. The generation it writes is
the same one a build from scratch would write.
"""

from __future__ import annotations

import gc
import logging
import sqlite3
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from tqdm import tqdm

from .chunking import Chunk, Chunker
from . import changed_walk, file_stats, ocr_cache, page_boxes
from .documents import EXCLUDED, HIDDEN, UNSUPPORTED, Document, LoadError, Skipped, Unreadable, load_document
from .embedder import DEFAULT_BATCH_SIZES, Embedder, load_embedder
from .embedding_cache import CACHE_SLICE, embed_with_cache
from .errors import BuildError
from .incremental import Previous, keep_written, open_previous
from .lexical import bm25_from_tokens, chunk_tokens
from .locators import encode_locators
from .manifest import Part, build_parts, recorded_sections
from .retrieval_text import TITLE_TOKENS, chunk_key, chunk_retrieval_text, title_prefix
from .structure import encode_blocks, furniture_within
from .settings import Settings
from .selection import SelectionError, selection_for
from .store import (CHUNKS_DB, CarriedRows, DocumentRow, build_lock, describe_os_error, published_digests,
                    read_current, write_generation)
from .vectors import VectorIndexError, new_writer
from .vectors import describe as describe_vectors
from .walk import PathError, Root, assign_roots, check_paths, iter_files, legacy_roots

log = logging.getLogger("askdocs.build")

__all__ = ["TITLE_TOKENS", "BuildError", "BuildReport", "build_from_documents", "build_index", "load_corpus",
           "make_chunker", "title_prefix"]


@dataclass
class Changes:
    """How the documents differ from the generation an incremental build started from (doc ids)."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)


@dataclass
class BuildReport:
    index_dir: Path
    generation: Path | None = None
    documents: int = 0
    chunks: int = 0
    skipped: list[Skipped] = field(default_factory=list)
    seconds: float = 0.0
    embedded: int = 0  # chunk texts that went through the model
    from_cache: int = 0  # chunks whose vectors came from the embedding cache
    changes: Changes | None = None  # None for a full build
    full_build_reason: str | None = None
    embedded_per_node: dict[str, int] | None = None  # a Ray build: chunks each node embedded
    vector_index: dict | None = None  # the manifest's "vectors" section, as planned before the embedding
    # (path, note) for files indexed with something to say: pages read by OCR, pages with no text layer.
    notes: list[tuple[str, str]] = field(default_factory=list)
    published: bool = True  # False: nothing changed, so the live generation (``generation``) stays
    # Files of an incremental build hashed to compare their bytes (their stats did not vouch for them, or
    # --rehash); None for a full build, which reads every file anyway.
    hashed: int | None = None
    doc_ids: list[str] = field(default_factory=list)  # every document indexed, in order
    # How the folders were read: "full" (every file listed and stat-ed) or "changed paths" (only the paths a
    # watcher reported, index.changed_walk); None for a build from documents.
    walk: str | None = None
    roots: list[dict] = field(default_factory=list)  # the manifest's "roots": each path, its id prefix
    ocr: ocr_cache.OcrCacheUse | None = None  # pictures OCR recognised, and those taken from the OCR cache

    def file_counts(self) -> dict:
        """How every file under the paths fared, as the manifest stores it and GET /health shows it."""
        return file_counts(self.documents, self.changes, self.skipped)

    def as_json(self) -> dict:
        """What ``build-index --json`` prints: the summary's facts, every file in it."""
        changes = self.changes
        status = {}
        if changes is not None:
            status = {doc_id: name for name in ("added", "updated", "unchanged")
                      for doc_id in getattr(changes, name)}
        return {
            "index": str(self.index_dir), "generation": self.generation.name if self.generation else None,
            "documents": self.documents, "chunks": self.chunks, "seconds": round(self.seconds, 3),
            "embedded": self.embedded, "from_cache": self.from_cache,
            "ocr": {"recognised": self.ocr.recognised, "cached": self.ocr.cached} if self.ocr else None,
            "full_build_reason": None if changes is not None else self.full_build_reason,
            "published": self.published, "roots": self.roots,
            "file_counts": self.file_counts(),
            "indexed": [{"doc_id": d, "status": status.get(d, "indexed")} for d in self.doc_ids],
            "removed": changes.removed if changes is not None else [],
            "not_indexed": [{"path": s.path, "category": s.category, "reason": s.reason} for s in self.skipped],
            "notes": [{"path": path, "note": note} for path, note in self.notes],
        }

    def _cached(self) -> str:
        return f", {self.from_cache} from the embedding cache" if self.from_cache else ""

    def summary(self) -> str:
        lines = [
            f"Indexed {self.documents} documents as {self.chunks} chunks in {self.seconds:.1f} s -> {self.index_dir}",
        ]
        if not self.published:
            lines.append(f"No change since generation {self.generation.name}: nothing published, nothing to reload")
        if self.changes is not None:
            c = self.changes
            lines.append(
                f"Incremental: {len(c.added)} added, {len(c.updated)} updated, {len(c.removed)} removed, "
                f"{len(c.unchanged)} unchanged documents; embedded {self.embedded} of {self.chunks} chunks{self._cached()}"
            )
        else:
            lines.append(f"Full build ({self.full_build_reason}); embedded {self.embedded} of {self.chunks} chunks"
                         f"{self._cached()}")
        if self.embedded_per_node:
            lines.append(f"Embedded on {len(self.embedded_per_node)} Ray nodes: " + ", ".join(
                f"{node}: {n}" for node, n in sorted(self.embedded_per_node.items())) + " chunks")
        if self.vector_index is not None:
            lines.append(f"Vector index: {describe_vectors(self.vector_index)}")
        if self.ocr is not None and (self.ocr.recognised or self.ocr.cached):
            lines.append(f"OCR: {self.ocr.recognised} pictures recognised, {self.ocr.cached} taken from the OCR cache")
        if self.notes:
            lines.append(f"Notes on {len({path for path, _ in self.notes})} indexed files:")
            lines.extend(f"  {path}: {note}" for path, note in self.notes)
        lines.extend(not_indexed_lines(self.skipped))
        return "\n".join(lines)


_CHOSEN = {UNSUPPORTED, HIDDEN, EXCLUDED}
# Unsupported and hidden files are counted and a few named, not listed one by one: a folder of images or a
# .git folder would drown the real problems.
_LISTED_NAMES = 5


def not_indexed_lines(skipped: list[Skipped]) -> list[str]:
    if not skipped:
        return []
    lines = [f"Not indexed: {len(skipped)} files and folders"]
    by_category: dict[str, list[Skipped]] = {}
    for item in skipped:
        by_category.setdefault(item.category, []).append(item)
    for category, items in sorted(by_category.items()):
        if category == UNSUPPORTED:
            counts = Counter(_extension(item) for item in items)
            lines.append(f"  {category}: {len(items)} (" + ", ".join(
                f"{ext} {n}" for ext, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))) + ")")
            extensionless = [item for item in items if _extension(item) in ("(none)", ".gz")]
            lines.extend(f"    {item.path}: {item.reason}" for item in extensionless[:_LISTED_NAMES])
        elif category == HIDDEN:
            names = ", ".join(item.path for item in items[:_LISTED_NAMES])
            more = f" and {len(items) - _LISTED_NAMES} more" if len(items) > _LISTED_NAMES else ""
            lines.append(f"  {category}: {len(items)} ({names}{more}; names starting with '.' are not indexed)")
        else:
            lines.append(f"  {category}: {len(items)}")
            lines.extend(f"    {item.path}: {item.reason}" for item in items)
    return lines


def _extension(item: Skipped) -> str:
    name = item.path.rstrip("/").rsplit("/", 1)[-1]
    if "." not in name.lstrip("."):
        return "(none)"
    suffix = "." + name.rsplit(".", 1)[-1].lower()
    return suffix


def file_counts(documents: int, changes: Changes | None, skipped: list[Skipped]) -> dict:
    counts = {"indexed": documents, "not_indexed": len(skipped),
              "not_indexed_by_reason": dict(sorted(Counter(s.category for s in skipped).items())),
              "unsupported_by_extension": dict(sorted(Counter(
                  _extension(s) for s in skipped if s.category == UNSUPPORTED).items()))}
    if changes is not None:
        counts.update(added=len(changes.added), updated=len(changes.updated), unchanged=len(changes.unchanged),
                      removed=len(changes.removed))
    return counts


def make_chunker(embedder: Embedder, settings: Settings) -> Chunker:
    # The title line takes its tokens from every chunk's budget; the section line, from each chunk what its own
    # takes (Chunker): a document without headings keeps the whole chunk size.
    budget = embedder.max_content_tokens - (TITLE_TOKENS if settings.title_prefix else 0)
    return Chunker(embedder.token_spans, settings.chunk_tokens, settings.chunk_overlap, budget,
                   section_prefix=settings.title_prefix)


def describe_build(settings: Settings) -> list[Part]:
    """What a build with ``settings`` is made of (``manifest.build_parts``), without reading a document."""
    embedder = load_embedder(settings.model, settings.build_runtime, precision=settings.precision)
    return build_parts(settings, embedder, make_chunker(embedder, settings).settings())


def plan_roots(paths: list[Path], settings: Settings) -> tuple[list[Root], list]:
    """The roots of a build over ``paths`` and their selections; BuildError for a path that cannot be one.

    Said before the model loads or anything is read: a typo'd path is an error, never "every document
    under it was removed".
    """
    try:
        roots = assign_roots(check_paths(paths, Path(settings.index)), known_roots(Path(settings.index)))
        selections = [selection_for(root.real if root.is_dir else None, settings.include, settings.exclude)
                      for root in roots]
    except (PathError, SelectionError) as exc:
        raise BuildError(f"{exc}; nothing was built, the existing index, if any, is unchanged") from None
    return roots, selections


def known_roots(index_dir: Path) -> dict[str, str]:
    """Resolved path -> document id prefix, of the paths the live generation was built from."""
    current = read_current(index_dir)
    if current is None:
        return {}
    manifest = current[1]
    if manifest.roots is not None:
        return {root["path"]: root["prefix"] for root in manifest.roots}
    return legacy_roots(manifest.sources)


def _save_boxes(index_dir: Path, document: Document) -> None:
    # The page view's highlights only: a disk that refuses them costs the highlight, not the document.
    try:
        page_boxes.save(index_dir, document.sha256, document.page_boxes)
    except OSError as exc:
        log.warning("%s: page boxes not saved (%s); its page view will show no highlight", document.source, exc)


def load_corpus(paths: list[Path], settings: Settings, progress: bool | None = None,
                previous: Previous | None = None, planned: tuple[list[Root], list] | None = None,
                stats: dict[str, file_stats.Stat] | None = None, trust_stats: bool = True,
                changed: set[Path] | None = None, walked: list[str] | None = None,
                ) -> tuple[list[Document], list[Skipped]]:
    """Read the files under ``paths``; a file ``previous`` already holds unchanged is taken from it unparsed.

    No file can fail the build: whatever goes wrong with one becomes a Skipped with the reason. ``stats``, if
    given, is filled with each document's file stats for the new generation (index.file_stats);
    ``trust_stats`` False hashes every file ``previous`` holds instead of trusting its recorded stats.
    ``changed``: the only paths changed since this process's last build of ``paths`` (a watcher's events):
    the rest are taken from that build's walk and file stats without being looked at (index.changed_walk).
    ``walked``, if given, gets which walk it was (BuildReport.walk).
    """
    documents: list[Document] = []
    skipped: list[Skipped] = []
    kept: set[str] = set()  # doc ids taken from the previous generation for folders that could not be read
    max_bytes = int(settings.max_file_mb * 1_000_000)
    roots, selections = planned or plan_roots(paths, settings)
    follow = settings.follow_outside_links
    walk = changed_walk.take(roots, selections, follow)
    # Only over the generation this process wrote: another process's may have read a file before a change this
    # process has already synced, and the watcher will not report that change again.
    items = (changed_walk.restricted(walk, roots, selections, follow, changed)
             if walk is not None and changed is not None and previous is not None and previous.from_memory
             and trust_stats else None)
    links: list[Path] = []
    restricted = items is not None
    if items is None:
        items = list(iter_files(roots, selections, follow, links))
    for item in tqdm(items, desc="Reading", unit="file", disable=_no_bar(progress)):
        if isinstance(item, Skipped):
            if item.unread_folder is not None and previous is not None:
                item = _keep_unread(item, previous, documents, kept)
            skipped.append(item)
            # Hidden, excluded and unsupported files are choices, counted in the summary; the rest are problems.
            (log.debug if item.category in _CHOSEN else log.warning)("skipped %s: %s", item.path, item.reason)
            continue
        path, doc_id, root = item
        if doc_id in kept:
            continue
        try:
            if restricted and path not in changed and doc_id in previous.file_stats and stats is not None:
                # Not reported changed since the walk that read it: its recorded stats are still the file's.
                documents.append(previous.recorded_file(path, doc_id, root))
                stats[doc_id] = previous.file_stats[doc_id]
                documents.extend(documents[-1].attachments)
                continue
            # Taken before the bytes are read, so a write during the read leaves a stat that no longer matches.
            before = _stat(path)
            unchanged = previous.unchanged_file(path, doc_id, max_bytes, root, before, trust_stats) if previous \
                else None
            documents.append(unchanged or load_document(
                path, doc_id, max_bytes, max_pdf_pages=settings.max_pdf_pages,
                max_text_chars=settings.max_text_chars, root=root))
            if stats is not None and before is not None and file_stats.cacheable(before):
                stats[doc_id] = file_stats.stat_key(before)
            for note in documents[-1].notes:
                log.warning("%s: %s", path, note)
            if documents[-1].page_boxes is not None:
                _save_boxes(Path(settings.index), documents[-1])
            documents.extend(documents[-1].attachments)  # an e-mail's attachments follow it
        except LoadError as exc:
            reason = str(exc)
            if isinstance(exc, Unreadable) and previous is not None and doc_id in previous.documents:
                # Unreadable now (permissions, I/O) says nothing about its content: keep what was indexed.
                documents.append(previous.stored_document(doc_id))
                reason += "; kept the version indexed before"
            skipped.append(Skipped(str(path), reason, category=exc.category))
            (log.debug if exc.category in _CHOSEN else log.warning)("skipped %s: %s", path, reason)
        except Exception as exc:  # a loader bug or a library's surprise must cost one file, not the build
            reason = f"could not be read ({type(exc).__name__}: {exc})"
            skipped.append(Skipped(str(path), reason, category="corrupt"))
            log.warning("skipped %s: %s", path, reason)
            log.debug("traceback for %s", path, exc_info=True)
    changed_walk.offer(roots, selections, follow, items, links)
    if walked is not None:
        walked.append("changed paths" if restricted else "full")
    return documents, skipped


def _stat(path: Path):
    try:
        return path.stat()
    except OSError:
        return None  # the loader says why


def _keep_unread(item: Skipped, previous: Previous, documents: list[Document], kept: set[str]) -> Skipped:
    """Keep the previous generation's documents under a folder this build could not read.

    A folder that cannot be listed (permissions, a path too long) says nothing about its files: dropping
    them as "removed" would lose them from the index over what may be a passing problem.
    """
    prefix = item.unread_folder
    have = {d.doc_id for d in documents} | kept
    keep = [doc_id for doc_id in sorted(previous.doc_ids)
            if (not prefix or doc_id.startswith(prefix + "/")) and doc_id not in have]
    documents.extend(previous.stored_document(doc_id) for doc_id in keep)
    kept.update(keep)
    if not keep:
        return item
    return replace(item, reason=f"{item.reason}; kept the {len(keep)} documents indexed from it before")


class StillWriting(BuildError):
    """A file the watcher reported changed again while the build read it: nothing was published."""


def build_index(paths: list[Path], settings: Settings, progress: bool | None = None,
                rebuild: bool = False, rehash: bool = False, changed: set[Path] | None = None,
                settled: Callable[[], list[str]] | None = None, threads: int | None = None) -> BuildReport:
    """Index the files under ``paths`` into ``settings.index``; ``rebuild`` ignores what the index holds;
    ``rehash`` reads every file to compare its bytes, instead of trusting unchanged file stats. ``changed``:
    the paths a watcher reported since this process's last build of ``paths`` (load_corpus). ``settled``:
    called once the folder is read, before anything is embedded; it gives the files that were still being
    written (index.watch.Settle), and any such file makes the build raise StillWriting. ``threads``: the
    embedding's intra-op threads (None: the runtime's default, every core)."""
    started = time.perf_counter()
    roots, selections = plan_roots(paths, settings)
    stats: dict[str, file_stats.Stat] = {}
    walked: list[str] = []
    with build_lock(Path(settings.index)), _Build(settings, rebuild, threads) as build:
        with ocr_cache.cache_at(Path(settings.index) / ocr_cache.OCR_CACHE_FILE) as ocr_use:
            documents, skipped = load_corpus(paths, settings, progress, build.previous, (roots, selections), stats,
                                             trust_stats=not rehash, changed=changed, walked=walked)
        hashed = build.previous.hashed if build.previous is not None else None
        if not documents:
            raise BuildError(
                f"no readable documents under {', '.join(map(str, paths))}; the existing index, if any, is "
                "unchanged\n" + "\n".join(not_indexed_lines(skipped))
            )
        root_rows = _root_rows(roots, documents)
        _refuse_vanished_roots(root_rows, Path(settings.index))
        # Absolute, so a server started elsewhere can watch them (index.watch).
        report = build.run(documents, progress, sources=[str(Path(p).absolute()) for p in paths],
                           extra={"roots": [_recorded(row) for row in root_rows], "file_counts": None},
                           skipped=skipped, stats=stats, settled=settled)
        changed_walk.confirm()  # the next sync's restricted walk may build on this one's
    report.skipped = skipped
    report.hashed = hashed
    report.ocr = ocr_use
    report.walk = walked[0]
    report.roots = root_rows
    report.notes = [(d.source, note) for d in documents for note in d.notes]
    report.seconds = time.perf_counter() - started
    return report


def _root_rows(roots: list[Root], documents: list[Document]) -> list[dict]:
    rows = []
    for root in roots:
        within = root.prefix + "/" if root.prefix else ""
        if not root.is_dir:
            count = sum(d.doc_id == root.doc_id(root.path) for d in documents)
        elif root.prefix:
            count = sum(d.doc_id.startswith(within) for d in documents)
        else:
            # A root without a prefix shares the id space with the others' prefixes: count by source file.
            count = sum(inside_root(d.source, root) for d in documents)
        rows.append({"path": str(root.real), "given": str(root.path), "prefix": root.prefix, "documents": count})
    return rows


def _recorded(row: dict) -> dict:
    # The path as typed is for messages; the manifest keeps the resolved one, so spelling a path differently
    # is no change to the index.
    return {key: value for key, value in row.items() if key != "given"}


def inside_root(source: str, root: Root) -> bool:
    from .documents import inside_folder

    return inside_folder(str(Path(source).absolute()), str(root.path.absolute()))


def _refuse_vanished_roots(rows: list[dict], index_dir: Path) -> None:
    """A folder that gave documents to the last build and now gives none is an error, not a removal: it is
    what an unmounted share or a failed sync looks like, and the documents would leave the served index."""
    current = read_current(index_dir)
    if current is None:
        return
    before = {root["path"]: root.get("documents", 0) for root in current[1].roots or []}
    gone = [row for row in rows if row["documents"] == 0 and before.get(row["path"], 0) > 0]
    if gone:
        raise BuildError("; ".join(
            f"{row['given']} gave {before[row['path']]} documents to the last build and none now (an unmounted "
            "share?); leave it out of the command line to remove its documents" for row in gone)
            + "; nothing was built, the existing index, if any, is unchanged")


def build_from_documents(documents: list[Document], settings: Settings, progress: bool | None = None,
                         sources: list[str] | None = None, rebuild: bool = False) -> BuildReport:
    """Index documents that were loaded some other way (a BEIR corpus, a test)."""
    started = time.perf_counter()
    if not documents:
        raise BuildError("no documents to index; the existing index, if any, is unchanged")
    with build_lock(Path(settings.index)), _Build(settings, rebuild) as build:
        report = build.run(documents, progress, sources=sources or [])
    report.seconds = time.perf_counter() - started
    return report


class _Build:
    """One build under the lock: the model, the chunker, and the generation it may reuse."""

    def __init__(self, settings: Settings, rebuild: bool, threads: int | None = None):
        self.settings = settings
        self.index_dir = Path(settings.index)
        if settings.ray_address:
            from .distributed import require_ray

            require_ray(settings.ray_address)  # before the corpus is read: said at once, not after minutes
        self.embedder = load_embedder(settings.model, settings.build_runtime, threads, precision=settings.precision)
        self.chunker = make_chunker(self.embedder, settings)
        self.parts = build_parts(settings, self.embedder, self.chunker.settings())
        self.sections = recorded_sections(self.parts)
        self.previous, self.full_reason = open_previous(
            self.index_dir, self.parts, self.embedder, settings.title_prefix, rebuild,
            milvus_address=settings.milvus_address, milvus_token=settings.milvus_token.get_secret_value() or None,
        )
        self.vectors = new_writer(settings, self.embedder.name, self.embedder.dimension)
        try:
            self.vectors.check()  # an unreachable vector store fails the build now, not after embedding
        except BaseException:
            self.__exit__()
            raise
        if self.previous is None and (self.index_dir / "CURRENT").exists():
            log.info("full build: %s", self.full_reason)  # said at once: it may take a while
        # The model, the modules and the previous generation's rows live as long as the build: the cyclic
        # collector's full passes need not walk them again and again. They cost a one-file sync of a SciFact-size
        # index 1-3 s on a loaded machine (bench/README.md, watch mode); objects made during the build are still
        # collected, and __exit__ hands these back to the collector.
        gc.freeze()

    def __enter__(self) -> _Build:
        return self

    def __exit__(self, *exc) -> None:
        gc.unfreeze()
        if self.previous is not None:
            self.previous.close()
        self.vectors.close()

    def run(self, documents: list[Document], progress: bool | None, sources: list[str], extra: dict | None = None,
            skipped: list[Skipped] | None = None, stats: dict[str, file_stats.Stat] | None = None,
            settled: Callable[[], list[str]] | None = None) -> BuildReport:
        """``extra``: more manifest sections; a "file_counts" key is filled with the counts of every file (not
        the changes: a build that changes no document and finds the same files publishes nothing). ``stats``:
        the documents' file stats, kept in the generation (index.file_stats). ``settled``: see build_index."""
        assembled = _Assembly(self.embedder.dimension)
        changes = Changes() if self.previous is not None else None
        to_embed: list[tuple[int, str, list]] = []  # (chunk index, retrieval text, sentence spans in it)
        for document in tqdm(documents, desc="Chunking", unit="doc", disable=_no_bar(progress)):
            to_embed.extend(self._add_document(assembled, document, changes))
        if changes is not None:
            changes.removed = sorted(self.previous.doc_ids - {d.doc_id for d in documents})
        try:  # decided before the model runs, so an impossible setting costs no embedding time
            vector_index = self.vectors.plan(len(assembled.chunks))
        except VectorIndexError as exc:
            raise BuildError(f"{exc}; the existing index, if any, is unchanged") from None

        manifest = {
            **self.sections,
            "vectors": vector_index,
            "counts": {"documents": len(assembled.documents), "chunks": len(assembled.chunks),
                       "sentences": assembled.n_sentences},
            "sources": sources,
            **(extra or {}),
        }
        if "file_counts" in manifest:
            manifest["file_counts"] = file_counts(len(assembled.documents), None, skipped or [])
        if self._nothing_changed(changes, manifest):
            # A new generation would be the old one again: publishing it would only make every server reload
            # and every citation's generation move for nothing (and a watcher would publish on every burst).
            # Its rows, read and checked against every file in this build, serve the next sync from memory.
            self.previous.keep()
            return BuildReport(index_dir=self.index_dir, generation=self.previous.stored.path,
                               documents=len(assembled.documents), chunks=len(assembled.chunks), changes=changes,
                               vector_index=vector_index, published=False,
                               doc_ids=[d.doc_id for d in assembled.documents])

        # Checked here, not before the folder was read: the wait for a saved file to stand still overlaps the
        # reading and assembling, and a file still moving costs no embedding.
        moving = settled() if settled is not None else []
        if moving:
            raise StillWriting(f"{', '.join(moving)} changed while this build read it (still being written?); "
                               "nothing was published, the existing index is unchanged")
        embedded, from_cache, per_node = self._embed(assembled, to_embed, progress)
        vectors, bm25 = np.stack(assembled.vectors), self._bm25(assembled)
        try:
            generation, written = write_generation(
                self.index_dir, assembled.documents, assembled.chunks, vectors,
                assembled.spans(), assembled.take_sentence_vectors(), bm25, manifest,
                writer=self.vectors, sentence_kinds=assembled.kinds(), chunk_keys=assembled.keys, file_stats=stats,
                carried=self._carried(assembled),
            )
        except (OSError, sqlite3.Error) as exc:
            # write_generation has removed its temporary folder; CURRENT still names the old generation.
            reason = describe_os_error(exc) if isinstance(exc, OSError) else f"{type(exc).__name__}: {exc}"
            raise BuildError(f"could not write the new index generation in {self.index_dir} ({reason}); "
                             "the existing index, if any, is unchanged") from None
        # The next sync in this process builds on this generation: it need not read these rows back from disk.
        keep_written(generation, written, assembled.documents, assembled.chunks, vectors, bm25.tokens, assembled.keys,
                     stats or {})
        try:
            page_boxes.prune(self.index_dir, published_digests(self.index_dir))
        except OSError as exc:  # stale boxes only cost disk space
            log.warning("could not remove page boxes of documents no longer indexed (%s)", exc)
        return BuildReport(index_dir=self.index_dir, generation=generation, documents=len(assembled.documents),
                           chunks=len(assembled.chunks), embedded=embedded, from_cache=from_cache,
                           changes=changes, full_build_reason=self.full_reason, embedded_per_node=per_node,
                           vector_index=vector_index, doc_ids=[d.doc_id for d in assembled.documents])

    def _carried(self, assembled: _Assembly) -> CarriedRows | None:
        stored = self.previous.stored if self.previous is not None else None
        # A database of an older format lacks columns a copy would have to fill in: it is written from Python.
        if stored is None or not (stored.has_structure and stored.has_locators and stored.has_page_labels):
            return None
        return CarriedRows(stored.path / CHUNKS_DB, assembled.stored_doc_rows, assembled.stored_chunk_rows)

    def _bm25(self, assembled: _Assembly):
        tokens = chunk_tokens(assembled.texts, assembled.previous_rows,
                              self.previous.tokens if self.previous is not None else None)
        return bm25_from_tokens(tokens)

    def _nothing_changed(self, changes: Changes | None, manifest: dict) -> bool:
        if changes is None or changes.added or changes.updated or changes.removed or self.vectors.publishes_unchanged:
            return False
        built = self.previous.stored.manifest
        # Same documents, but any other difference the manifest records (a precision, a vector-index plan, the
        # source folders, library versions) is still a new index. Not the counts of files left out: a new
        # image in a watched folder is no reason to publish (GET /health shows the last published build's).
        return all(built.section(key) == value for key, value in manifest.items() if key != "file_counts")

    def _embed(self, assembled: _Assembly, to_embed: list[tuple[int, str, list]],
               progress: bool | None) -> tuple[int, int, dict[str, int] | None]:
        """Fill in the vectors of ``to_embed``; returns (texts embedded, chunks from the embedding cache, chunks
        per Ray node for a Ray build)."""
        batch_size = self.settings.embed_batch_size or DEFAULT_BATCH_SIZES[self.embedder.runtime]
        per_node: dict[str, int] | None = None
        encode, slice_size = None, CACHE_SLICE
        if self.settings.ray_address:  # the same vectors, computed on a Ray cluster (index/distributed.py)
            from .distributed import RayEmbedding, Task, embed_for_build

            per_node = {}
            job = RayEmbedding(self.settings.ray_address, self.settings.ray_workers, self.settings.model,
                               self.embedder, batch_size, self.index_dir, self.vectors)

            def encode(positions: list[int], report):
                tasks = []
                for index, text, spans in (to_embed[p] for p in positions):
                    chunk = assembled.chunks[index]
                    tasks.append(Task(text, spans, assembled.documents[chunk.doc_row].doc_id, chunk.ordinal))
                encoded = embed_for_build(job, tasks, report)
                per_node.update(encoded.per_node)
                return encoded.vectors, encoded.span_vectors

            slice_size = None  # one cluster job: each would start an actor pool and load the model on every node
        with tqdm(total=len(to_embed), desc="Embedding", unit="chunk", disable=_no_bar(progress)) as bar:
            vectors, embedded, from_cache = embed_with_cache(
                self.embedder, self.settings.embedding_cache_path, [(text, spans) for _, text, spans in to_embed],
                batch_size, bar.update, encode=encode, slice_size=slice_size,
            )
        for (index, _, _), (vector, sentence_vectors) in zip(to_embed, vectors):
            assembled.vectors[index], assembled.sentence_vectors[index] = vector, sentence_vectors
        return embedded, from_cache, per_node

    def _add_document(self, assembled: _Assembly, document: Document, changes: Changes | None):
        """Add ``document`` and its chunks; return the chunks that need the model."""
        use_title = self.settings.title_prefix
        previous = self.previous
        stored = previous.unchanged(document) if previous is not None else None
        # Its row in the previous chunks.sqlite, copied from there rather than written again from Python.
        doc_row = assembled.add_document(document, previous.stored.doc_row_by_id[document.doc_id]
                                         if stored is not None and stored.row.text == document.text else -1)
        if changes is not None:
            # Same bytes but other metadata (a sidecar edited on its own) is an update: its chunks are reused, but
            # the generation must be published for filters to see it.
            same = stored is not None and stored.row.meta == document.meta
            bucket = (changes.unchanged if same else
                      changes.updated if document.doc_id in previous.documents else changes.added)
            bucket.append(document.doc_id)
        if stored is not None and previous.carried:
            # Same document, same title: the same retrieval text, whose BM25 tokens and reuse key the previous
            # generation kept, so neither the text nor its title line (a tokenizer call) is derived again.
            for row in stored.chunk_rows:
                spans, sentence_vectors = previous.sentences(row)
                assembled.add_chunk(previous.chunks[row].placed(doc_row, assembled.n_sentences), None, spans,
                                    previous.vectors[row], sentence_vectors, previous.kinds(row), previous.keys[row],
                                    previous_row=row, stored_row=row)
            return []
        title_line = title_prefix(document.title, self.embedder) if use_title else ""
        if stored is not None:
            for row in stored.chunk_rows:
                chunk = previous.chunks[row]
                spans, sentence_vectors = previous.sentences(row)
                text, relative = chunk_retrieval_text(
                    title_line, chunk.section if use_title else (), document.title, chunk.text, chunk.char_start,
                    spans, furniture_within(document.blocks, chunk.char_start, chunk.char_end), self.embedder)
                assembled.add_chunk(chunk.placed(doc_row, assembled.n_sentences), text, spans,
                                    previous.vectors[row], sentence_vectors, previous.kinds(row),
                                    chunk_key(text, relative), stored_row=row)
            return []

        pending = []
        for chunk in self.chunker.chunk(document):
            text, relative = chunk_retrieval_text(
                title_line, chunk.section if use_title else (), document.title, chunk.text, chunk.char_start,
                chunk.sentences, chunk.furniture, self.embedder)
            row = chunk.placed(doc_row, assembled.n_sentences)
            key = chunk_key(text, relative)
            same = previous.chunk_with_key(key) if previous is not None else None
            if same is not None:
                assembled.add_chunk(row, text, chunk.sentences, previous.vectors[same], previous.sentences(same)[1],
                                    chunk.kinds, key)
            else:
                pending.append((assembled.add_chunk(row, text, chunk.sentences, None, None, chunk.kinds, key), text,
                                relative))
        return pending


class _Assembly:
    """The new generation's rows and arrays, filled in document order (vectors may come later)."""

    def __init__(self, dimension: int):
        self.dimension = dimension
        self.documents: list[DocumentRow] = []
        self.chunks: list[Chunk] = []
        # Retrieval texts, for BM25; None where the chunk's tokens come from the previous generation's row
        # in previous_rows.
        self.texts: list[str | None] = []
        self.previous_rows: list[int] = []
        # The row each document and chunk has in the previous generation's chunks.sqlite when it is stored
        # there as it is (renumbered), else -1: store.write_generation copies those rows inside SQLite.
        self.stored_doc_rows: list[int] = []
        self.stored_chunk_rows: list[int] = []
        self.keys: list[str] = []  # each chunk's retrieval_text.chunk_key, kept for the next build's reuse
        self.sentence_spans: list = []
        self.vectors: list[np.ndarray | None] = []
        self.sentence_vectors: list[np.ndarray | None] = []
        self.sentence_kinds: list = []
        self.n_sentences = 0

    def add_document(self, d: Document, stored_row: int = -1) -> int:
        self.documents.append(DocumentRow(d.doc_id, d.title, d.source, d.kind, d.sha256, d.size, d.mtime,
                                          d.page_starts, d.meta, d.text, encode_blocks(d.blocks),
                                          encode_locators(d.locators), d.page_labels))
        self.stored_doc_rows.append(stored_row)
        return len(self.documents) - 1

    def add_chunk(self, chunk: Chunk, text: str | None, spans, vector, sentence_vectors, kinds, key: str,
                  previous_row: int = -1, stored_row: int = -1) -> int:
        self.chunks.append(chunk)
        self.stored_chunk_rows.append(stored_row)
        self.keys.append(key)
        self.sentence_kinds.append(np.asarray(kinds, dtype=np.int8).reshape(-1))
        self.texts.append(text)
        self.previous_rows.append(previous_row)
        self.sentence_spans.append(np.asarray(spans, dtype=np.int64).reshape(-1, 2))
        self.vectors.append(vector)
        self.sentence_vectors.append(sentence_vectors)
        self.n_sentences += chunk.sentence_count
        return len(self.chunks) - 1

    def spans(self) -> np.ndarray:
        return np.concatenate(self.sentence_spans) if self.sentence_spans else np.zeros((0, 2), np.int64)

    def kinds(self) -> np.ndarray:
        return np.concatenate(self.sentence_kinds) if self.sentence_kinds else np.zeros(0, np.int8)

    def take_sentence_vectors(self) -> list[np.ndarray]:
        """Each chunk's sentence vectors (float16, as they are stored), handed over for store.write_generation to
        write one by one and let go of: never stacked into one more array (at millions of chunks a stacked copy,
        and before it a list of converted copies, were the build's peak memory: bench/build_memory.py)."""
        taken, self.sentence_vectors = self.sentence_vectors, []
        return taken


def _no_bar(progress: bool | None) -> bool | None:
    # tqdm's None means "only on a terminal".
    return None if progress is None else not progress
