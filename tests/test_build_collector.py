"""A build keeps the cyclic garbage collector off what lives as long as it does (the model, the previous
generation's rows), and gives it back afterwards."""

from __future__ import annotations

import gc

from askdocs.index.build import build_index
from askdocs.index.settings import Settings

from .fixtures import write_corpus


def test_a_build_freezes_its_long_lived_objects_for_the_collector_and_thaws_them_after(tmp_path):
    docs = write_corpus(tmp_path / "docs")
    for n in range(200):  # enough allocation during the build for the collector to run
        (docs / f"note-{n:03}.txt").write_text(f"Note {n}\n\nReading {n} of the tide gauge was {n * 3} cm.\n")
    settings = Settings(index=tmp_path / "index")
    build_index([docs], settings, progress=False)
    (docs / "notes" / "bicycle.txt").write_text("Bicycle\n\nThe chain is oiled every month.\n")
    frozen_during = []

    def seen(phase, info):
        if phase == "start":
            frozen_during.append(gc.get_freeze_count())

    gc.callbacks.append(seen)
    try:
        report = build_index([docs], settings, progress=False)
    finally:
        gc.callbacks.remove(seen)
    assert report.changes.updated == ["notes/bicycle.txt"]
    assert frozen_during and max(frozen_during) > 100_000  # collections during the build skipped them
    assert gc.get_freeze_count() == 0
