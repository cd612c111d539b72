"""Keeping an index in sync with its folders, without anyone running build-index.

watchfiles (the library behind uvicorn's reloader: inotify on Linux, or a poller where events cannot be
trusted, such as network shares and some container mounts) reports changes under the folders. A burst of them
(a `git checkout` that touches 1,000 files) is coalesced into one incremental build, which reuses every unchanged
vector (a renamed or moved file embeds nothing, its content hash is the same) and publishes a new generation
only when something changed. Servers holding the index move to it by their own CURRENT check (api.reload).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path

from .build import BuildError, BuildReport, StillWriting, build_index
from .settings import Settings
from .store import IndexUnavailable, trust_checksums

log = logging.getLogger("askdocs.watch")

DEBOUNCE_MS = 1_600  # the longest a burst is gathered before a build starts
# A change is reported after this long without a new one. watchfiles checks once per step and yields after a
# step that added nothing, so a single save is reported 1-2 steps after it.
QUIET_MS = 100
READY_MS = 200       # how soon the watcher reports itself in place
# A batch of at least this many paths is a burst in progress (a checkout, a copy): it is gathered until the
# watcher has been quiet for a whole READY_MS wait (~0.3 s), so a writer that stalls longer than QUIET_MS in the
# middle of it does not split it into two syncs. A single saved file (with an editor's temporary files) is less.
BURST_PATHS = 8
SETTLE_SECONDS = 0.5  # a changed file must keep its size and mtime this long before what was read of it is used
MIN_SETTLE_SECONDS = 0.05  # the shortest wait before the stats are compared again
MAX_SETTLE_SECONDS = 60.0  # a file still growing after this is read as it is; the next change re-reads it
# The intra-op threads of a server's build process. One: the server answers questions on the same cores, and on
# this 2-core machine, with another job running, one thread embedded one chunk in 50 ms against 116 ms for two
# (77 vs 115 ms under 8 busy processes) and 64 chunks in 2.9 s against 4.6 s (bench/README.md, watch mode).
BUILD_THREADS = 1
# A sync trusts unchanged file stats (index.file_stats); this often, and at a watcher's first sync, it hashes
# every file instead, for the changes stats cannot show (a file system whose timestamps lie).
FULL_CHECK_SECONDS = 3600.0


class FolderSync:
    """Build ``paths`` into ``settings.index`` once, then again after every burst of changes under them.

    ``poll``: seconds between scans (mtimes and sizes) instead of file-system events. ``on_build`` is called
    with each build's report (or the error that stopped it), so a caller can log, count or print.
    """

    def __init__(self, paths: Iterable[Path], settings: Settings, poll: float | None = None,
                 on_build: Callable[[BuildReport | None, str | None], None] | None = None, isolate: bool = False,
                 on_publish: Callable[[], None] | None = None, threads: int | None = None):
        """``isolate``: build in a child process kept for the next sync, with the model loaded (what a server
        wants: the build never competes with questions for the interpreter, and no sync loads the model).
        ``on_publish``: called after a sync that published a generation (a server reloads at once).
        ``threads``: the embedding's intra-op threads; None: BUILD_THREADS when isolated, else every core."""
        self.paths = [Path(p).absolute() for p in paths]
        self.settings = settings
        self.poll = poll
        self.isolate = isolate
        self.threads = BUILD_THREADS if threads is None and isolate else threads
        self._child: ProcessPoolExecutor | None = None
        self.build_process: int | None = None  # the pid that builds, when isolated and started
        # Whether the build process's model had finished its warm-up encode when the last sync was reported.
        self.model_warm = False
        self.on_build = on_build or _log_build
        self.on_publish = on_publish
        self.index = Path(settings.index).absolute()
        self.builds = 0
        self.pending = 0  # changed paths seen and not yet built
        self.last: dict | None = None  # the last sync: when, how long, what changed, or why it failed
        self.checked_at: float | None = None  # time.monotonic() of the last sync that hashed every file

    def status(self) -> dict:
        """What GET /health shows of this sync: folders, how they are watched, the last sync, pending changes."""
        return {"folders": [str(p) for p in self.paths],
                "mode": f"poll every {self.poll:g} s" if self.poll is not None else "events",
                "syncs": self.builds, "pending_changes": self.pending, "last": self.last,
                "build_process": self.build_process}

    def sync(self, changed: set[Path] | None = None, settle: Settle | None = None,
             stop: threading.Event | None = None) -> BuildReport | None:
        """One incremental build; a failure is reported and the index keeps serving what it had.

        ``changed``: the paths the watcher reported since the last sync. Only right after a sync that succeeded
        (the watcher was in place since) and outside a full check, the build looks at those alone
        (index.changed_walk); otherwise it walks every folder. ``settle``: their stats when reported; the build
        reads them at once and checks, before it embeds, that they stood still for SETTLE_SECONDS. One that
        moved is waited for here (``stop`` ends the wait, and the sync with it), and the build runs again."""
        self.builds += 1
        started, began = time.time(), time.perf_counter()
        rehash = self.checked_at is None or time.monotonic() - self.checked_at > FULL_CHECK_SECONDS
        walk_changed = changed
        if rehash or self.last is None or not self.last["ok"]:
            walk_changed = None
        report, error, moving = self._build_once(rehash, walk_changed, settle)
        if moving:
            log.info("%s changed while the sync read it: waiting until it stands still", moving[0])
            if not self._settled(sorted(changed or ()), stop or threading.Event()):
                self.pending = 0
                return None
            # The build that stopped dropped the last sync's walk (index.changed_walk): this one walks every folder.
            report, error, _ = self._build_once(rehash, walk_changed, None)
        if rehash and report is not None:
            self.checked_at = time.monotonic()
        self.pending = 0
        self.last = _sync_record(report, error, started, time.perf_counter() - began)
        self.on_build(report, error)
        if report is not None and report.published and self.on_publish is not None:
            self.on_publish()
        return report

    def _build_once(self, rehash: bool, changed: set[Path] | None,
                    settle: Settle | None) -> tuple[BuildReport | None, str | None, list[str]]:
        if self.isolate:
            return self._build_in_child(rehash, changed, settle)
        return _build(self.paths, self.settings, rehash, changed, settle, self.threads)

    def _build_in_child(self, rehash: bool, changed: set[Path] | None,
                        settle: Settle | None) -> tuple[BuildReport | None, str | None, list[str]]:
        if self._child is None:
            self.start()
        try:
            if self.build_process is None:
                self.build_process = self._child.submit(os.getpid).result()
            report, error, moving, written, self.model_warm = self._child.submit(
                _build_isolated, self.paths, self.settings, rehash, changed, settle, self.threads).result()
            # The server reloads the generation just written: what the build process hashed while writing it need
            # not be read again to check it.
            trust_checksums(written)
            return report, error, moving
        except BrokenProcessPool as exc:  # killed (out of memory, a signal): the next sync starts a new one
            self._child, self.build_process = None, None
            return None, f"the build process died: {exc}", []

    def start(self) -> None:
        """Start the build process now, when isolated (else at the first sync): it loads and warms the model up
        while the caller goes on (the watcher arms, the first sync reads the folder)."""
        if self.isolate and self._child is None:
            # spawn, not fork: the server's threads (and torch's) would be copied mid-flight by a fork.
            self._child = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"),
                                              initializer=_start_build_process,
                                              initargs=(os.getpid(), self.settings, self.threads))
            self._child.submit(os.getpid)  # the pool starts its process on a first task, not before

    def close(self) -> None:
        """End the build process, if any (a sync in progress finishes first)."""
        if self._child is not None:
            self._child.shutdown(wait=True, cancel_futures=True)
            self._child, self.build_process = None, None

    def run(self, stop: threading.Event, on_watching: Callable[[], None] | None = None) -> None:
        """Watch until ``stop`` is set; every burst of relevant changes gives one ``sync``. ``on_watching`` is
        called once the watcher is in place: a change made before then is not seen, one made while it runs
        (a first build) is, and gives the next sync."""
        import watchfiles

        missing = [str(p) for p in self.paths if not p.exists()]
        if missing:
            raise BuildError(f"cannot watch {', '.join(missing)}: no such file or folder")
        # An empty yield every READY_MS says the watcher is in place (watchfiles arms it on the first iteration).
        gathered: set[Path] = set()
        since = 0.0  # time.monotonic() of the gathered burst's first batch
        for changes in watchfiles.watch(
                *self.paths, stop_event=stop, debounce=DEBOUNCE_MS, step=QUIET_MS, watch_filter=self._relevant,
                force_polling=self.poll is not None, poll_delay_ms=int((self.poll or 0.3) * 1000),
                raise_interrupt=False, ignore_permission_denied=True, yield_on_timeout=True, rust_timeout=READY_MS):
            if on_watching is not None:
                on_watching()
                on_watching = None
            if not changes and not gathered:
                continue
            if not gathered:
                since = time.monotonic()
            gathered |= {Path(path) for _, path in changes}
            self.pending = len(gathered)
            # Gathered no longer than DEBOUNCE_MS in all: a folder that never stops changing still gets its syncs.
            if changes and len(gathered) >= BURST_PATHS and time.monotonic() - since < DEBOUNCE_MS / 1000:
                continue
            changed, gathered = sorted(gathered), set()
            log.info("%d changes under the watched folders (%s%s)", len(changed), changed[0],
                     ", ..." if len(changed) > 1 else "")
            # Not waited for here: the build reads the files at once and checks they stood still before it embeds.
            self.sync(set(changed), Settle.now(changed), stop)
            if stop.is_set():
                return

    def _relevant(self, change, path: str) -> bool:
        # The index may live inside a watched folder: its own writes must not trigger builds forever.
        return not _inside(Path(path), self.index)

    def _settled(self, paths: list[Path], stop: threading.Event) -> bool:
        """Wait until none of ``paths`` is still being written (same size and mtime across SETTLE_SECONDS)."""
        deadline = time.monotonic() + MAX_SETTLE_SECONDS
        before = _stats(paths)
        while not stop.wait(_settle_wait(before)):
            now = _stats(paths)
            if now == before or time.monotonic() > deadline:
                return True
            before = now
        return False


def _build(paths: list[Path], settings: Settings, rehash: bool = False, changed: set[Path] | None = None,
           settle: Settle | None = None, threads: int | None = None,
           warm: Callable[[], None] | None = None) -> tuple[BuildReport | None, str | None, list[str]]:
    """One build, why it failed, in words (what crosses back from a build process: exceptions may not), and
    the reported files that were still being written (the build stopped before embedding). ``warm``: waits
    for a warm-up of the model under way, called before the build embeds anything."""
    moving: list[str] = []

    def settled() -> list[str]:
        if warm is not None:
            warm()
        if settle is not None:
            moving.extend(settle.moved())
        return moving

    try:
        return (build_index(paths, settings, progress=False, rehash=rehash, changed=changed,
                            settled=settled if settle is not None or warm is not None else None, threads=threads),
                None, [])
    except StillWriting as exc:
        return None, str(exc), moving
    except (BuildError, IndexUnavailable) as exc:
        return None, str(exc), []
    except Exception as exc:  # the watcher outlives one bad build: the next change gets another try
        log.exception("sync of %s failed", ", ".join(map(str, paths)))
        return None, f"{type(exc).__name__}: {exc}", []


def _build_isolated(paths: list[Path], settings: Settings, rehash: bool, changed: set[Path] | None = None,
                    settle: Settle | None = None, threads: int | None = None):
    """``_build`` in a build process, with the checksums of the files it wrote (store.written_checksums) and
    whether its model is warm. The model's warm-up (started with the process) overlaps the build's reading of
    the folder; the build embeds only after it, and its result waits for it: an edit saved right after the
    first sync is reported must not queue behind the warm-up's seconds."""
    from .store import written_checksums

    result = _build(paths, settings, rehash, changed, settle, threads, warm=_wait_warm)
    _wait_warm()
    return (*result, written_checksums(), _warming is not None and _warming.warm)


class _WarmUp(threading.Thread):
    """The build model's first encode, in the build process from its start. bf16 on oneDNN pays seconds for its
    first encode in a process whatever the input (4.8 s on one thread here; a 300-token chunk right after a
    2-word warm-up took 0.06 s): paid here, it overlaps the server's start and the first sync's reading."""

    def __init__(self, settings: Settings, threads: int | None):
        super().__init__(name="askdocs-build-warm-up", daemon=True)
        self.settings, self.threads, self.warm = settings, threads, False

    def run(self) -> None:
        try:
            _warm_up(self.settings, self.threads)
            self.warm = True
        except Exception:  # the build that needs the model reports why it cannot load; nothing is lost here
            log.exception("warming up the build model failed")


_warming: _WarmUp | None = None  # the build process's warm-up, started by _start_build_process


def _wait_warm() -> None:
    if _warming is not None:
        _warming.join()


def _start_build_process(parent: int, settings: Settings, threads: int | None) -> None:
    """The build process's first act. A session of its own: Linux's scheduler (autogroup) then shares the cores
    between the server's session as a whole and this process, instead of giving its one thread the same share
    as each of the server's many request threads (under 8 clients a one-file sync took 7-10 s rather than 1.5 s;
    bench/README.md). Out of the server's process group, a signal to that group no longer reaches it, so it
    ends itself once the server is gone (a server killed without closing it)."""
    os.setsid()

    def watch_parent() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(0)

    threading.Thread(target=watch_parent, name="askdocs-build-parent", daemon=True).start()
    global _warming
    try:
        # The embedder made here, before a build can ask for it: two threads missing load_embedder's cache at
        # once would each make one, and the build's would be cold. Its model loads in the warm-up thread.
        _embedder_for(settings, threads)
    except Exception:  # raised here, it would break the pool: the first build reports it instead
        return
    _warming = _WarmUp(settings, threads)
    _warming.start()


@dataclass(frozen=True)
class Settle:
    """The changed paths' stats when the watcher reported them, for a build that reads them at once.

    Why not wait before the build: a saved file must stand still for SETTLE_SECONDS before what was read of it is
    published, and waiting for that first kept a one-file sync idle for half a second. The build reads the files
    right away and calls ``moved`` just before it embeds: only the rest of the period is waited, and a file
    whose stats then differ from these was read while it was still being written. Picklable: it crosses to the
    build process."""

    paths: tuple[Path, ...]
    stats: tuple[tuple[int, int] | None, ...]
    taken: float  # time.time() when the stats were taken

    @classmethod
    def now(cls, paths: Iterable[Path]) -> Settle:
        paths = tuple(paths)
        return cls(paths, tuple(_stats(list(paths))), time.time())

    def moved(self) -> list[str]:
        """Wait until each path has stood still for SETTLE_SECONDS since its last change, then the paths whose
        size or mtime is no longer the one reported."""
        newest = max((stat[1] / 1e9 for stat in self.stats if stat is not None), default=None)
        if newest is None:  # every path is gone: nothing is being written
            until = self.taken + MIN_SETTLE_SECONDS
        else:
            # An mtime in the future (a clock skewed on a network share) proves nothing: the whole period is waited.
            until = max(self.taken + MIN_SETTLE_SECONDS, min(newest, self.taken) + SETTLE_SECONDS)
        if until > time.time():
            time.sleep(until - time.time())
        now = _stats(list(self.paths))
        return [str(path) for path, before, after in zip(self.paths, self.stats, now) if before != after]


def _embedder_for(settings: Settings, threads: int | None):
    from .embedder import load_embedder

    # The same arguments as the build's (index.build._Build): load_embedder keeps one model per set of them.
    return load_embedder(settings.model, settings.build_runtime, threads, precision=settings.precision)


def _warm_up(settings: Settings, threads: int | None = None) -> None:
    _embedder_for(settings, threads).encode(["warm up"])


def _sync_record(report: BuildReport | None, error: str | None, started: float, seconds: float) -> dict:
    from datetime import datetime, timezone

    record = {"at": datetime.fromtimestamp(started, timezone.utc).isoformat(timespec="seconds"),
              "seconds": round(seconds, 3), "ok": error is None, "error": error}
    if report is not None:
        changes = report.changes
        record.update(published=report.published, documents=report.documents, chunks=report.chunks,
                      embedded=report.embedded, skipped=len(report.skipped), hashed=report.hashed, walk=report.walk,
                      added=len(changes.added) if changes else None, updated=len(changes.updated) if changes else None,
                      removed=len(changes.removed) if changes else None)
    return record


def _settle_wait(stats: list[tuple[int, int] | None]) -> float:
    """How long to wait before comparing the files' stats again. A file's mtime says how long it has been
    untouched already (watchfiles' quiet step is part of it): only the rest of SETTLE_SECONDS is waited, so a
    single saved file is read half a second after its last write rather than a whole settle period after the
    burst was reported. A moment at least, so the comparison still sees a write in progress."""
    newest = max((stat[1] for stat in stats if stat is not None), default=None)
    if newest is None:  # every path is gone: nothing is being written
        return MIN_SETTLE_SECONDS
    quiet_for = time.time() - newest / 1e9
    # An mtime in the future (a clock skewed on a network share) proves nothing: wait the whole period.
    return SETTLE_SECONDS if quiet_for < 0 else min(SETTLE_SECONDS, max(MIN_SETTLE_SECONDS, SETTLE_SECONDS - quiet_for))


def _stats(paths: list[Path]) -> list[tuple[int, int] | None]:
    stats = []
    for path in paths:
        try:
            st = os.stat(path)
            stats.append((st.st_size, st.st_mtime_ns))
        except OSError:
            stats.append(None)
    return stats


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def _log_build(report: BuildReport | None, error: str | None) -> None:
    if error is not None:
        log.error("sync failed, the index is unchanged: %s", error)
    elif not report.published:
        log.info("sync: nothing changed")
    else:
        log.info("sync: %s", report.summary().replace("\n", "; "))


def build_settings_for(index: Path, settings: Settings) -> Settings:
    """Settings for syncing an existing index: the runtime and precision it was built with, so a sync from a
    server (which may run another runtime for questions) is incremental, not a full rebuild."""
    from .store import read_current

    current = read_current(index)
    model = current[1].model if current else None
    update = {}
    if model is not None:
        update["runtime"] = model.runtime
        # The onnx runtime records its file's own precision (int8), which is no setting: it has none to choose.
        if model.runtime == "torch" and model.precision in ("fp32", "bf16"):
            update["precision"] = model.precision
    return settings.replace(index=index, **update)


def recorded_sources(index: Path) -> list[Path]:
    """The folders and files an index was built from, as its manifest recorded them."""
    from .store import read_current, source_folders

    current = read_current(index)
    if current is None:
        raise BuildError(f"no index at {index} to watch the folders of",
                         f"build one with `build-index PATH... --index {Path(index).resolve()} --watch`")
    sources = source_folders(current[1])
    if not sources:
        raise BuildError(f"the index at {index} does not record the folders it was built from",
                         f"build it once with `build-index PATH... --index {Path(index).resolve()}`, then --watch "
                         "works")
    return [Path(s) for s in sources]


class BackgroundSyncs:
    """Run FolderSyncs in daemon threads while a server runs: each arms its watcher, builds once (what changed
    while nothing watched, every file hashed), then follows its folders; stop() ends them between builds."""

    def __init__(self, syncs: list[FolderSync]):
        self.syncs = syncs
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(sync,), name=f"askdocs-sync-{n}", daemon=True)
                         for n, sync in enumerate(syncs)]

    def _run(self, sync: FolderSync) -> None:
        try:
            # The first sync runs with the watcher already in place, so what changes during it is synced next.
            sync.run(self._stop, on_watching=sync.sync)
        except Exception:
            log.exception("watching %s stopped", ", ".join(map(str, sync.paths)))

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            if thread.is_alive():
                thread.join(timeout=60)
        for sync in self.syncs:
            sync.close()
