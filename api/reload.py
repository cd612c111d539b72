"""The served index, and swapping it for a newly published generation without a restart.

A swap replaces one reference: a request holds the ``Engine`` it started with until it ends, so requests in
flight finish on the old generation while new ones get the new one. The old engine is not closed here; it
goes (its database connection with it) when its last request lets go of it. Its files stay readable even
if a later build prunes them, since the open connection keeps them alive on Linux.
"""

from __future__ import annotations

import copy
import logging
import threading
import time
from typing import Literal

from pydantic import BaseModel, Field

from askdocs.index.errors import Conflict
from askdocs.index.settings import Settings
from askdocs.index.store import CURRENT, IndexUnavailable, missing_index
from askdocs.search import Engine, open_index
from askdocs.search.models import IndexStats

log = logging.getLogger("askdocs.reload")


class ReloadResult(BaseModel):
    status: Literal["reloaded", "unchanged"] = Field(
        description="reloaded: a new generation is now served; unchanged: the served one is already current."
    )
    index: IndexStats
    collection: str | None = Field(None, description="The collection reloaded.")


class ReloadRefused(Conflict):
    """A new generation could not be opened; the message says why and what is still served."""

    code = "reload_refused"


class EngineHolder:
    """One collection's opened index (or the reason there is none), replaced whole on reload."""

    def __init__(self, settings: Settings, name: str = "default"):
        self.settings = settings
        self.name = name
        self.engine: Engine | None = None
        self.error: str | None = None  # why nothing is served
        self._failure: IndexUnavailable | None = None  # the error that says so, raised by get()
        self.reload_error: str | None = None  # why the last reload was refused while a generation kept serving
        self.reloads = 0  # generations swapped in after the first (GET /metrics)
        self.refusals = 0  # generations refused (GET /metrics)
        self._lock = threading.Lock()  # one reload at a time; requests never take it
        # CURRENT as it was when a reload was refused (its text, inode and mtime) and the refusal: while CURRENT
        # stays so, neither the watcher nor /admin/reload re-opens (and re-checksums) the refused generation.
        self._refused: tuple[tuple[str, int, int], str] | None = None

    # ------------------------------------------------------------ what the routes use
    def get(self) -> Engine:
        engine = self.engine
        if engine is None:
            # A copy: one exception raised again on every request would grow its traceback each time.
            raise copy.copy(self._failure) if self._failure is not None else missing_index(self.settings.index)
        return engine

    # ------------------------------------------------------------ loading
    def load(self) -> None:
        """Open the index at startup; a missing or broken one is reported by /health, not fatal."""
        try:
            self.reload(force=True)
        except ReloadRefused:
            pass

    def _current_state(self) -> tuple[str, int, int] | None:
        # The inode too: a publish that names the same generation again (fixed in place) is a new CURRENT.
        path = self.settings.index / CURRENT
        try:
            before = path.stat()
            name = path.read_text().strip()
        except OSError:
            return None
        return (name, before.st_ino, before.st_mtime_ns) if name else None

    def _stored_refusal(self, state: tuple[str, int, int] | None) -> str | None:
        refused = self._refused
        return refused[1] if refused is not None and state is not None and refused[0] == state else None

    @property
    def damaged(self) -> str | None:
        """Why the served generation fails reads since it was opened (its files changed in place), if it does."""
        engine = self.engine
        return engine.stored.damaged if engine is not None else None

    def serving_name(self) -> str | None:
        engine = self.engine
        return engine.stored.path.name if engine is not None else None

    def check(self) -> None:
        """Reload if CURRENT names a generation that is neither served nor already refused."""
        state = self._current_state()
        if state is not None and state[0] == self.serving_name():
            # CURRENT points back at what is served (a refused generation was replaced): nothing is wrong now.
            self.reload_error = self._refused = None
        elif state is not None and self._stored_refusal(state) is None:
            self.reload()

    def reload(self, force: bool = False) -> ReloadResult:
        """Serve the generation CURRENT names, if it is not the one served; raise ReloadRefused if it cannot be."""
        # Answered without the lock: a client calling again must not queue behind (or cause) another re-open.
        if not force and (refusal := self._stored_refusal(self._current_state())) is not None:
            raise ReloadRefused(refusal)
        with self._lock:
            state = self._current_state()
            current = state[0] if state is not None else None
            if not force and self.engine is not None and current == self.serving_name():
                return ReloadResult(status="unchanged", index=self.engine.stats(), collection=self.name)
            if not force and (refusal := self._stored_refusal(state)) is not None:
                raise ReloadRefused(refusal)  # refused by the reload this one waited for
            try:
                engine = open_index(settings=self.settings)
                # The first query pays for lazy initialisation inside the model; pay it before a user does.
                warming = time.perf_counter()
                engine.ask("warm up", top_k=1)
                warm_s = time.perf_counter() - warming
            except IndexUnavailable as exc:
                self.refusals += 1
                after = self._current_state()
                # Remembered only if CURRENT did not move meanwhile: the refusal is then surely about it.
                self._refused = None
                if self.engine is None:
                    self.error, self._failure = str(exc), exc
                    log.error("%s (collection %r)", exc, self.name)
                    if after == state:
                        self._refused = (state, self.error)
                    raise ReloadRefused(self.error) from None
                stats = self.engine.stats()
                refused = after[0] if after is not None else current
                self.reload_error = (
                    f"generation {refused!r} was refused: {exc}; still serving generation {stats.generation} "
                    f"({self.serving_name()}, built {stats.built_at})"
                )
                log.error("%s (collection %r)", self.reload_error, self.name)
                if after == state:
                    self._refused = (state, self.reload_error)
                raise ReloadRefused(self.reload_error) from None
            previous, self.engine = self.engine, engine
            self.error = self.reload_error = self._refused = self._failure = None
            stats = engine.stats()
            if previous is not None:
                self.reloads += 1
                log.info("reloaded: now serving generation %s (%s, built %s) (collection %r)", stats.generation,
                         engine.stored.path.name, stats.built_at, self.name)
            opened = engine.opened_in
            # bench/startup.py reads these figures from the log: keep the wording.
            log.info("opened generation %s in %.3f s (question model %.3f s and index %.3f s at once), warm-up "
                     "question %.3f s (collection %r)", stats.generation, opened.get("total", 0.0),
                     opened.get("question_model", 0.0), opened.get("index", 0.0), warm_s, self.name)
            return ReloadResult(status="reloaded", index=stats, collection=self.name)

    def close(self) -> None:
        engine, self.engine = self.engine, None
        if engine is not None:
            engine.close()


class Watcher:
    """Polls one collection's CURRENT and reloads when it names a new generation; publishing is one atomic
    rename, so a poll never sees a half-written generation. One per collection, so a slow or refused reload of
    one never delays another's."""

    def __init__(self, holder: EngineHolder, interval: float):
        self.holder = holder
        self.interval = interval
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"askdocs-watcher-{holder.name}", daemon=True)

    def start(self) -> None:
        if self.interval > 0:
            self._thread.start()

    def nudge(self) -> None:
        """Check now rather than at the next poll: this process has just published a generation (serve --watch),
        so waiting up to a whole interval would only add to the time until a question sees it."""
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)

    def _run(self) -> None:
        while True:
            self._wake.wait(self.interval)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self.holder.check()
            except ReloadRefused:
                pass  # logged, and shown by /health; the served generation stays
            except Exception:
                # A bug here must not stop the watching, nor take down the server.
                log.exception("checking for a new index generation of collection %r failed", self.holder.name)
