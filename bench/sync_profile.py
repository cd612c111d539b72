"""Where one watch-mode sync's time goes, end to end, outside the HTTP server: phase by phase, from saving an
edited file to the first answer from its new text.

    python bench/sync_profile.py var/watch/scifact/docs var/watch/scifact/index --edits 5 \\
        --json bench/results/sync-profile-scifact.json

Runs a real watcher (index.watch.FolderSync, events, the same debounce and settle as `serve --watch`, the build
in this process so its phases can be timed) and a real EngineHolder (what a server reloads with). Each edit
appends "The calibration code of probe <token> is <code>." to one file, then times: until the sync started
(watchfiles' quiet step, the settle check), each phase of the build (wall-clock around the functions named in
PHASES; a phase inside another is indented under it, and "(rest)" is what the named ones leave of their
parent), the reload (opening the new generation and its warm-up question), and the first question. Prints a
table of medians (and max) over the edits and writes the per-edit numbers as JSON. The edited files are
restored at the end; the index then holds the edits until the next sync (bench/watch.py re-syncs it).
"""

from __future__ import annotations

import argparse
import functools
import json
import secrets
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import machine  # noqa: E402

from askdocs.api import reload as reload_module  # noqa: E402
from askdocs.index import build, changed_walk, incremental, store, watch  # noqa: E402
from askdocs.index.settings import Settings  # noqa: E402
from askdocs.index.vectors import faiss_store  # noqa: E402
from askdocs.search import engine as engine_module  # noqa: E402

# (phase, parent, object, attribute): the function whose wall time is the phase. Patched where it is looked up.
PHASES = [
    ("sync", None, watch.FolderSync, "sync"),
    ("open build (model, previous generation)", "sync", build._Build, "__init__"),
    ("open previous generation", "open build (model, previous generation)", build, "open_previous"),
    ("checksum previous generation", "open previous generation", store, "_check_files"),
    ("load previous rows", "open previous generation", incremental.Previous, "__init__"),
    ("read folder (load_corpus)", "sync", build, "load_corpus"),
    ("walk", "read folder (load_corpus)", build, "iter_files"),
    ("walk: the changed paths only", "read folder (load_corpus)", changed_walk, "restricted"),
    ("walk: kept for the next sync", "read folder (load_corpus)", changed_walk, "offer"),
    ("unchanged files (not reported changed)", "read folder (load_corpus)", incremental.Previous, "recorded_file"),
    ("unchanged files (stat, hash)", "read folder (load_corpus)", incremental.Previous, "unchanged_file"),
    ("hash (sha256 of the bytes)", "unchanged files (stat, hash)", incremental, "sha256_regular"),
    ("load/extract changed files", "read folder (load_corpus)", build, "load_document"),
    ("assemble and chunk documents", "sync", build._Build, "_add_document"),
    ("wait for the changed files to stand still", "sync", watch.Settle, "moved"),
    ("embed", "sync", build._Build, "_embed"),
    ("BM25", "sync", build._Build, "_bm25"),
    ("write generation", "sync", build, "write_generation"),
    ("chunks.sqlite", "write generation", store, "_write_sqlite"),
    ("vectors", "write generation", faiss_store.FaissWriter, "write"),
    ("BM25 save", "write generation", store, "save_bm25"),
    ("manifest checksums", "write generation", store, "_file_record"),
    ("manifest and CURRENT (write, fsync)", "write generation", store, "_write_durably"),
    ("fsync folders", "write generation", store, "_fsync_dir"),
    ("prune old generation", "write generation", store, "_prune"),
    ("page boxes prune", "sync", build, "published_digests"),
    ("reload", None, reload_module.EngineHolder, "reload"),
    ("open generation", "reload", engine_module, "open_stored_index"),
    ("checksum new generation", "open generation", store, "_check_files"),
    ("BM25 load", "open generation", store, "load_bm25"),
    ("vectors open", "open generation", store, "_open_vectors"),
    ("warm-up question", "reload", engine_module.Engine, "ask"),
]


class Clock:
    """Wall time per phase for the current edit; a phase re-entered (a nested call) counts once."""

    def __init__(self):
        self.seconds: dict[str, float] = {}
        self.active: set[str] = set()
        self.sync_started: float | None = None

    def reset(self):
        self.seconds, self.active, self.sync_started = {}, set(), None

    def wrap(self, label: str, function):
        @functools.wraps(function)
        def timed(*args, **kwargs):
            if label in self.active:
                return function(*args, **kwargs)
            if label == "sync" and self.sync_started is None:
                self.sync_started = time.perf_counter()
            self.active.add(label)
            began = time.perf_counter()
            try:
                result = function(*args, **kwargs)
                if label == "walk":
                    result = list(result)  # a generator: its time is spent by whoever iterates it
                return result
            finally:
                self.seconds[label] = self.seconds.get(label, 0.0) + time.perf_counter() - began
                self.active.discard(label)
        return timed


def install(clock: Clock) -> None:
    # The same function may be two phases, depending on its caller (checksums of the previous generation in a
    # build, of the new one in a reload): the label follows the parent that is running.
    by_target: dict[tuple[int, str], list[tuple[str, str | None]]] = {}
    for label, parent, owner, name in PHASES:
        by_target.setdefault((id(owner), name), []).append((label, parent))
    done = set()
    for label, parent, owner, name in PHASES:
        if (id(owner), name) in done:
            continue
        done.add((id(owner), name))
        original = getattr(owner, name)
        choices = by_target[(id(owner), name)]
        if len(choices) == 1:
            setattr(owner, name, clock.wrap(label, original))
            continue
        wrapped = {label: clock.wrap(label, original) for label, _ in choices}

        def dispatch(*args, _choices=choices, _wrapped=wrapped, _original=original, **kwargs):
            for label, parent in _choices:
                if parent in clock.active:
                    return _wrapped[label](*args, **kwargs)
            return _original(*args, **kwargs)
        setattr(owner, name, dispatch)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("docs", type=Path)
    parser.add_argument("index", type=Path)
    parser.add_argument("--edits", type=int, default=5)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    folder, index = args.docs.absolute(), args.index.absolute()
    files = sorted(folder.glob("*.txt"))[: args.edits]
    originals = {path: path.read_bytes() for path in files}

    clock = Clock()
    install(clock)
    settings = watch.build_settings_for(index, Settings(index=index))
    holder = reload_module.EngineHolder(Settings(index=index))
    result: dict = {"docs": str(folder), "index": str(index), "machine_before": machine(), "edits": []}
    began = time.perf_counter()
    holder.load()
    result["first_open_seconds"] = round(time.perf_counter() - began, 3)
    if holder.error:
        sys.exit(holder.error)

    # In this process, so its phases can be timed; on the threads a server's build process embeds with.
    syncs = watch.FolderSync([folder], settings, threads=watch.BUILD_THREADS)
    clock.reset()
    syncs.sync()  # what changed since the index was built; loads the build's model
    result["first_sync"] = {"seconds": syncs.last["seconds"], "phases": dict(clock.seconds), "last": syncs.last}
    holder.check()
    stop, watching = threading.Event(), threading.Event()
    thread = threading.Thread(target=syncs.run, args=(stop, watching.set), daemon=True)
    thread.start()
    watching.wait(30)
    try:
        for n, path in enumerate(files):
            time.sleep(1.0)  # the previous sync's own writes settle; the watcher is idle
            clock.reset()
            token, code = secrets.token_hex(4), secrets.token_hex(3)
            before = syncs.builds
            with open(path, "a") as handle:
                handle.write(f"\nThe calibration code of probe {token} is {code}.\n")
            saved = time.perf_counter()
            while syncs.builds == before or "sync" not in clock.seconds or "sync" in clock.active:
                time.sleep(0.005)
            synced = time.perf_counter()
            # As in `serve --watch`, the reload knows the checksums the build computed while writing (handed over
            # from its build process there, store.trust_checksums; here the same process).
            holder.check()
            served = time.perf_counter()
            engine = holder.get()
            response = engine.ask(f"What is the calibration code of probe {token}?", top_k=5)
            answered = time.perf_counter()
            found = code in json.dumps(response.model_dump() if hasattr(response, "model_dump") else response,
                                       default=str)
            record = {"file": path.name, "answered_from_new_text": found,
                      "until_sync_started": round(clock.sync_started - saved, 3),
                      "phases": {k: round(v, 4) for k, v in clock.seconds.items()},
                      "first_question": round(answered - served, 3),
                      "saved_to_answered": round(answered - saved, 3),
                      "sync_to_served": round(served - synced, 3), "last": syncs.last}
            result["edits"].append(record)
            print(f"edit {n + 1}: {record['saved_to_answered']:.2f} s saved -> answered "
                  f"(sync {clock.seconds['sync']:.2f} s, reload {clock.seconds.get('reload', 0):.2f} s), "
                  f"answered from the new text: {found}", flush=True)
    finally:
        stop.set()
        for path, data in originals.items():
            path.write_bytes(data)
        thread.join(30)
        holder.close()
    result["machine_after"] = machine()
    print_table(result["edits"])
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


def print_table(edits: list[dict]) -> None:
    def column(get):
        values = [get(e) for e in edits]
        values = [v for v in values if v is not None]
        return (statistics.median(values), max(values)) if values else (0.0, 0.0)

    rows = [("saved -> answered", column(lambda e: e["saved_to_answered"]), 0),
            ("until the sync started (debounce, settle)", column(lambda e: e["until_sync_started"]), 0)]
    depth = {None: -1}
    for label, parent, _, _ in PHASES:
        depth[label] = depth[parent] + 1
        rows.append((label, column(lambda e, label=label: e["phases"].get(label, 0.0)), depth[label]))
    rows.append(("first question", column(lambda e: e["first_question"]), 0))
    print(f"\n{'phase':<52} {'median s':>9} {'max s':>8}")
    for label, (median, high), level in rows:
        print(f"{'  ' * level + label:<52} {median:9.3f} {high:8.3f}")
    for label, parent, _, _ in PHASES:
        children = [c for c, p, _, _ in PHASES if p == label]
        if children:
            rest = column(lambda e, label=label, children=children: e["phases"].get(label, 0.0)
                          - sum(e["phases"].get(c, 0.0) for c in children))
            print(f"{'(rest of ' + label + ')':<52} {rest[0]:9.3f} {rest[1]:8.3f}")


if __name__ == "__main__":
    sys.exit(main())
