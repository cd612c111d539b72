"""What a build would read of a folder, without embedding anything: documents, and every file not indexed
by reason (issue 16). Run it with PYTHONPATH set to the checkout to measure; it works on older checkouts
too (their skipped files have no category: counted as "?")."""

from __future__ import annotations

import argparse
import collections
import json
import time
from pathlib import Path

from askdocs.index.build import load_corpus
from askdocs.index.settings import Settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("folder", type=Path)
    parser.add_argument("--titles", type=Path, help="Write doc id -> title as JSON here (to compare checkouts).")
    args = parser.parse_args()
    started = time.perf_counter()
    documents, skipped = load_corpus([args.folder], Settings(index=Path("/nonexistent/index")), progress=False)
    if args.titles:
        args.titles.write_text(json.dumps({d.doc_id: d.title for d in documents}, indent=0))
    print(json.dumps({
        "documents": len(documents), "not_indexed": len(skipped),
        "not_indexed_by_reason": collections.Counter(getattr(s, "category", "?") for s in skipped),
        "kinds": collections.Counter(d.kind for d in documents),
        "encodings": collections.Counter(d.meta.get("encoding", "utf-8") for d in documents),
        "seconds": round(time.perf_counter() - started, 1),
    }, indent=2))


if __name__ == "__main__":
    main()
