"""Several named indexes in one server: which one a request means, and whether its key may use it.

Each collection is an ``EngineHolder`` with its own ``Watcher``, so each reloads (or refuses a generation) on
its own. A request names a collection in its arguments (``collection``) or gets the default one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from askdocs.index.errors import BadInput, Forbidden, NotFound
from askdocs.index.settings import Settings
from askdocs.index.watch import BackgroundSyncs, FolderSync, build_settings_for, recorded_sources
from askdocs.search import Engine
from askdocs.search.models import IndexStats, SyncStatus

from .reload import EngineHolder, Watcher
from .security import COLLECTION_NAME

DEFAULT = "default"


class CollectionSpecError(BadInput, ValueError):
    """An ``--index`` value that cannot be used; the message says why."""

    code = "bad_collection_spec"


class UnknownCollection(NotFound, LookupError):
    """A request named a collection the server does not have."""

    code = "unknown_collection"


class CollectionForbidden(Forbidden, PermissionError):
    """The request's API key may not use the collection it named."""


def parse_specs(values: Sequence[str]) -> dict[str, Path]:
    """``--index`` values, ``NAME=DIR`` or a bare ``DIR`` (named ``default``), as {name: folder} in given order.

    A value is ``NAME=DIR`` only if what precedes the first '=' is a collection name, so a folder whose name
    holds '=' can still be given as ``./a=b``.
    """
    specs: dict[str, Path] = {}
    for value in values:
        name, sep, folder = value.partition("=")
        if not (sep and COLLECTION_NAME.fullmatch(name)):
            name, folder = DEFAULT, value
        if not folder:
            raise CollectionSpecError(f"--index {value!r} names no folder (write NAME=DIR)")
        if name in specs:
            raise CollectionSpecError(
                f"collection {name!r} is given twice (a DIR without NAME= is named {DEFAULT!r}): "
                "give each index its own NAME=DIR"
            )
        specs[name] = Path(folder)
    return specs


class CollectionInfo(BaseModel):
    name: str
    default: bool = Field(description="The collection a request that names none is asked of.")
    status: Literal["ok", "no_index", "reload_refused", "degraded"] = Field(
        description="ok: served; no_index: could not be opened (see error); reload_refused: served, but a newer "
        "generation was refused (see reload_error); degraded: served, but its files were damaged since they were "
        "opened, so reads fail (see error) until a good generation is published."
    )
    index: IndexStats | None = Field(description="The generation served (documents, chunks, model, built_at).")
    error: str | None = Field(None, description="Why nothing is served for this collection.")
    reload_error: str | None = Field(None, description="Why the last newly published generation was refused.")
    sync: SyncStatus | None = Field(None, description="serve --watch: the folder sync that keeps it fresh.")


class CollectionList(BaseModel):
    default: str
    collections: list[CollectionInfo]


class Collections:
    """The server's named indexes. ``indexes`` None: one collection, ``default``, over ``settings.index``."""

    def __init__(self, settings: Settings, indexes: Mapping[str, Path] | None = None, watch: bool = False,
                 poll: float | None = None):
        """``watch``: also keep each index in sync with the folders it was built from (``poll``: by scanning every
        ``poll`` seconds); raises index.build.BuildError if an index does not record its folders."""
        indexes = dict(indexes) if indexes else {DEFAULT: settings.index}
        self.holders = {
            name: EngineHolder(settings.replace(index=Path(folder)), name)
            for name, folder in indexes.items()
        }
        self.default = DEFAULT if DEFAULT in self.holders else next(iter(self.holders))
        self._watchers = {name: Watcher(holder, settings.reload_interval) for name, holder in self.holders.items()}
        self.syncs = {
            name: FolderSync(recorded_sources(Path(folder)), build_settings_for(Path(folder), settings), poll=poll,
                             isolate=True, on_publish=self._watchers[name].nudge)
            for name, folder in indexes.items()
        } if watch or poll is not None else {}
        self._background = BackgroundSyncs(list(self.syncs.values()))

    @property
    def names(self) -> list[str]:
        return list(self.holders)

    # ------------------------------------------------------------ lookup
    def holder(self, name: str | None) -> EngineHolder:
        holder = self.holders.get(self.default if name is None else name)
        if holder is None:
            raise UnknownCollection(f"no collection named {name!r}; this server has {self.described()}")
        return holder

    def engine(self, name: str | None, allowed: frozenset[str] | None = None) -> Engine:
        """The engine serving ``name`` (None: the default) for a key limited to ``allowed`` (None: any).

        Raises UnknownCollection, CollectionForbidden, or IndexUnavailable when it has no index.
        """
        holder = self.holder(name)
        self.check_access(name, allowed)
        return holder.get()

    def check_access(self, name: str | None, allowed: frozenset[str] | None) -> None:
        """Raise CollectionForbidden unless a key limited to ``allowed`` may use ``name`` (None: the default)."""
        if allowed is None or (self.default if name is None else name) in allowed:
            return
        which = f"collection {name!r}" if name is not None else \
            f"the default collection {self.default!r} (the request named no collection)"
        raise CollectionForbidden(
            f"this API key may not use {which}; it may use: {', '.join(sorted(allowed))}"
        )

    def described(self) -> str:
        return ", ".join(f"{name!r}" + (" (default)" if name == self.default else "") for name in self.holders)

    # ------------------------------------------------------------ status
    def info(self) -> CollectionList:
        return CollectionList(default=self.default, collections=[self._info(h) for h in self.holders.values()])

    def _info(self, holder: EngineHolder) -> CollectionInfo:
        engine = holder.engine
        damaged = holder.damaged
        status = ("no_index" if engine is None else "degraded" if damaged else
                  "reload_refused" if holder.reload_error else "ok")
        return CollectionInfo(name=holder.name, default=holder.name == self.default, status=status,
                              index=engine.stats() if engine is not None else None, error=holder.error or damaged,
                              reload_error=holder.reload_error, sync=self.sync_status(holder.name))

    def sync_status(self, name: str | None) -> SyncStatus | None:
        sync = self.syncs.get(self.default if name is None else name)
        return SyncStatus.model_validate(sync.status()) if sync is not None else None

    def summary(self) -> dict[str, str]:
        return {info.name: info.status for info in self.info().collections}

    # ------------------------------------------------------------ lifetime
    def load(self) -> None:
        """Open every collection; one that cannot be opened is reported (/collections, /health), not fatal."""
        # serve --watch: each build process starts first, so its model loads and warms up while the indexes open.
        for sync in self.syncs.values():
            sync.start()
        for holder in self.holders.values():
            holder.load()

    def start_watching(self) -> None:
        for watcher in self._watchers.values():
            watcher.start()
        self._background.start()

    def stop_watching(self) -> None:
        self._background.stop()
        for watcher in self._watchers.values():
            watcher.stop()

    def close(self) -> None:
        for holder in self.holders.values():
            holder.close()


__all__ = [
    "DEFAULT", "CollectionForbidden", "CollectionInfo", "CollectionList", "CollectionSpecError", "Collections",
    "UnknownCollection", "parse_specs",
]
