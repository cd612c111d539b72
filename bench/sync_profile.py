"""Where one watch-mode sync's time goes, outside any server: the phases of an incremental build after a
one-file edit (cProfile cumulative times) and how long a server's reload takes to open the new generation.

    python bench/sync_profile.py var/watch/scifact/docs var/watch/scifact/index   # after bench/watch.py

Appends a line to the folder's first three files (bench/watch.py restores them on its next run). Prints only.
"""
import cProfile
import pstats
import sys
import time
import io
sys.path.insert(0, str(__import__('pathlib').Path(__file__).resolve().parent.parent))
from pathlib import Path
from askdocs.index.settings import Settings
from askdocs.index.watch import build_settings_for
from askdocs.index.build import build_index
from askdocs.api.reload import EngineHolder
folder = Path(sys.argv[1]).absolute()
index = Path(sys.argv[2]).absolute()
settings = build_settings_for(index, Settings(index=index))
files = sorted(folder.glob("*.txt"))
def edit(i):
    with open(files[i], "a") as f:
        f.write(f"Profile edit {time.time()}.\n")
def timed(label, profile=False):
    p = cProfile.Profile() if profile else None
    t = time.perf_counter()
    if p:
        p.enable()
    r = build_index([folder], settings, progress=False)
    if p:
        p.disable()
    print(label, round(time.perf_counter() - t, 2), "s; published", r.published, "embedded", r.embedded, flush=True)
    return p
timed("no-change sync (model load included)")
timed("no-change sync")
edit(0)
timed("first edit sync (first encode in the process)")
edit(1)
p = timed("second edit sync", profile=True)
s = io.StringIO()
pstats.Stats(p, stream=s).sort_stats("cumulative").print_stats(
    r"build.py.*(load_corpus|run|_embed|_add_document|_bm25)|store.py.*write_generation|lexical.py.*(build_bm25|chunk_tokens|bm25_from_tokens)|incremental.py.*(open_previous|unchanged_file|stored_document)|documents.py.*(sha256_regular|iter_files)|faiss_store.py")
print(s.getvalue())
holder = EngineHolder(Settings(index=index))
t = time.perf_counter()
holder.load()
print("reload: open and check the generation", round(time.perf_counter() - t, 2), "s", holder.error)
edit(2)
timed("third edit sync")
t = time.perf_counter()
holder.reload()
print("reload after it", round(time.perf_counter() - t, 2), "s")
