"""The build side of the security audit (issue 14): what a hostile or broken corpus, or a broken disk, can do
to build-index. Every build here is a real ``build-index`` subprocess, with a timeout so a hang fails."""

from __future__ import annotations

import os
import resource
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from askdocs.index.build import load_corpus
from askdocs.index.settings import Settings
from askdocs.index.store import open_stored_index

from .conftest import BIN
from .fixtures import PDF_PAGES, PLAIN_NOTE, make_pdf, make_pdf_bomb

SECRET = "zebracorn-secret-7731"


def _build(paths, index: Path, *extra: str, env: dict | None = None, timeout: float = 300, prefix=(),
           preexec_fn=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*prefix, str(BIN / "build-index"), *map(str, paths), "--index", str(index), "--no-progress", *extra],
        capture_output=True, text=True, errors="backslashreplace", timeout=timeout,
        env={**os.environ, **(env or {})}, preexec_fn=preexec_fn,
    )


def _skipped(summary: str) -> dict[str, str]:
    """Skipped path (as printed) -> reason, from a build summary."""
    lines = summary.split("Not indexed: ", 1)[1].splitlines()[1:] if "Not indexed: " in summary else []
    return dict(line.strip().split(": ", 1) for line in lines if line.startswith("    "))


def _reason(summary: str, path: Path | str) -> str:
    reasons = _skipped(summary)
    assert str(path) in reasons, f"{path} is not named as skipped in:\n{summary}"
    return reasons[str(path)]


def _without_root_reads() -> list[str]:
    """A command prefix that runs as root without the capabilities that let root read any file (CI runs as
    root, and a permission test must see what a user's build would see)."""
    drop = "-dac_override,-dac_read_search"
    prefix = ["setpriv", f"--bounding-set={drop}", f"--inh-caps={drop}", "--"]
    probe = subprocess.run([*prefix, "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip(f"capabilities cannot be dropped here: {probe.stderr.strip()}")
    return prefix


def _documents(index: Path) -> dict[str, str]:
    stored = open_stored_index(index)
    try:
        return {d.doc_id: d.text for d in stored.all_documents()}
    finally:
        stored.close()


# ---------------------------------------------------------------- 1. symlinks out of the corpus


def test_symlinks_out_of_the_corpus_are_skipped_and_named_and_links_inside_it_are_followed(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text(f"The root password is {SECRET}. Keep it safe from everyone.\n")
    (outside / "meta.json").write_text('{"owner": "%s"}' % SECRET)
    docs = tmp_path / "docs"
    (docs / "real").mkdir(parents=True)
    (docs / "bicycle.txt").write_text(PLAIN_NOTE)
    (docs / "real" / "tea.txt").write_text("Tea plants grow best at altitudes between 600 and 2000 metres.\n")
    (docs / "shadow.txt").symlink_to(outside / "secret.txt")
    (docs / "elsewhere").symlink_to(outside, target_is_directory=True)
    (docs / "linked").symlink_to(docs / "real", target_is_directory=True)  # today: silently not followed
    (docs / "alias.txt").symlink_to(Path("real") / "tea.txt")
    (docs / "loop").symlink_to(docs, target_is_directory=True)
    (docs / "note.md").write_text("# A note\n\nA note about the office coffee machine and its descaling.\n")
    (docs / "note.meta.json").symlink_to(outside / "meta.json")
    # The folder named on the command line is itself a symlink: its target is the root links are judged by.
    named = tmp_path / "named"
    named.symlink_to(docs, target_is_directory=True)

    done = _build([named], tmp_path / "index")
    assert done.returncode == 0, done.stderr[-3000:]
    assert SECRET not in done.stdout
    indexed = _documents(tmp_path / "index")
    assert set(indexed) == {"bicycle.txt", "real/tea.txt", "linked/tea.txt", "alias.txt"}
    assert not any(SECRET in text for text in indexed.values())
    for name, target in (("shadow.txt", outside / "secret.txt"), ("elsewhere", outside)):
        reason = _reason(done.stdout, named / name)
        assert f"symlink to {target} outside the indexed folder {docs}" in reason, reason
    assert f"symlink loop or duplicate: {docs} is already indexed as {named}" == _reason(done.stdout, named / "loop")
    sidecar = _reason(done.stdout, named / "note.md")
    assert "sidecar note.meta.json is a symlink to" in sidecar and "outside the indexed folder" in sidecar

    opted_in = _build([named], tmp_path / "index-all", "--follow-outside-links")
    assert opted_in.returncode == 0, opted_in.stderr[-3000:]
    indexed = _documents(tmp_path / "index-all")
    assert {"shadow.txt", "elsewhere/secret.txt", "note.md"} <= set(indexed)
    assert SECRET in indexed["shadow.txt"]

    by_env = _build([named], tmp_path / "index-env", env={"ASKDOCS_FOLLOW_OUTSIDE_LINKS": "true"})
    assert by_env.returncode == 0, by_env.stderr[-3000:]
    assert "shadow.txt" in _documents(tmp_path / "index-env")


# ---------------------------------------------------------------- 2. files that are not regular files


def test_fifos_and_devices_are_skipped_without_being_read_and_a_killed_build_leaves_no_lock(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "bicycle.txt").write_text(PLAIN_NOTE)
    os.mkfifo(docs / "pipe.txt")  # today: the build blocks on it forever, holding the lock
    (docs / "zero.txt").symlink_to("/dev/zero")  # size 0; today read until memory runs out
    (docs / "note.md").write_text("# A note\n\nThe coffee machine on the third floor is descaled on Fridays.\n")
    os.mkfifo(docs / "note.meta.json")
    (docs / "heavy.md").write_text("# Heavy\n\nA note whose sidecar is far too large to be metadata.\n")
    (docs / "heavy.meta.json").write_text('{"padding": "%s"}' % ("x" * 300_000))
    try:
        os.mknod(docs / "device.txt", 0o600 | stat.S_IFCHR, os.makedev(1, 5))  # /dev/zero's numbers
        has_device = True
    except OSError:
        has_device = False

    # --follow-outside-links: /dev/zero is then refused for what it is, not for where it is.
    done = _build([docs], tmp_path / "index", "--follow-outside-links", timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    assert set(_documents(tmp_path / "index")) == {"bicycle.txt"}
    assert _reason(done.stdout, docs / "pipe.txt") == "not a regular file (FIFO)"
    assert _reason(done.stdout, docs / "zero.txt") == "not a regular file (character device)"
    assert "invalid sidecar note.meta.json (not a regular file (FIFO))" in _reason(done.stdout, docs / "note.md")
    heavy = _reason(done.stdout, docs / "heavy.md")
    assert "invalid sidecar heavy.meta.json (too large (300 KB > 262 KB limit))" in heavy
    if has_device:
        assert _reason(done.stdout, docs / "device.txt") == "not a regular file (character device)"

    # An incremental build over the same corpus (Previous.unchanged_file looks at each file first) does too.
    again = _build([docs], tmp_path / "index", "--follow-outside-links", timeout=240)
    assert again.returncode == 0, again.stderr[-3000:]
    assert _reason(again.stdout, docs / "pipe.txt") == "not a regular file (FIFO)"
    if not has_device:
        pytest.skip("os.mknod of a character device is refused here; FIFO and /dev/zero symlink were checked")


def test_a_second_build_names_the_running_one_and_a_killed_build_does_not_block_the_next(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    for i in range(40):
        (docs / f"report{i:02}.txt").write_text(
            f"Report {i}\n\n" + " ".join(f"Station {i} measured {j * i} units at gauge {j}." for j in range(60)))
    index = tmp_path / "index"
    first = subprocess.Popen([str(BIN / "build-index"), str(docs), "--index", str(index), "--no-progress"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while f"pid {first.pid}," not in ((index / ".lock").read_text() if (index / ".lock").exists() else ""):
            assert first.poll() is None and time.monotonic() < deadline, "the first build never took the lock"
            time.sleep(0.05)
        holder = (index / ".lock").read_text().strip()
        assert holder.startswith(f"pid {first.pid}, started 20"), holder
        # In this process, so the check happens while the first build surely still holds the lock.
        from askdocs.index.store import BuildLocked, build_lock

        with pytest.raises(BuildLocked, match=f"another build-index is running on .*pid {first.pid}, started"):
            with build_lock(index):
                pass
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
    finally:
        if first.poll() is None:
            first.kill()
    done = _build([docs], index)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Indexed 40 documents" in done.stdout
    assert (index / ".lock").read_text().startswith("pid ")


# ---------------------------------------------------------------- 3. expansion bombs

BILLION_LAUGHS = "---\n" + "a: &a [" + ",".join(['"lol"'] * 9) + "]\n" + "".join(
    f"{c}: &{c} [*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p}]\n" for p, c in zip("abcdefgh", "bcdefghi")
) + "---\n# Laughs\n\nA harmless looking note.\n"


def test_expansion_bombs_are_skipped_quickly_and_named(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "bicycle.txt").write_text(PLAIN_NOTE)
    (docs / "tea.pdf").write_bytes(make_pdf(PDF_PAGES, title="Tea"))
    (docs / "laughs.md").write_text(BILLION_LAUGHS)
    assert len(BILLION_LAUGHS.encode()) < 600
    (docs / "anchor.md").write_text("---\nbase: &b 1\nother: 2\n---\n# Anchored\n\nA note with an anchor.\n")
    (docs / "deep.md").write_text("---\nx: " + "[" * 500 + "]" * 500 + "\n---\n# Deep\n\nA deep note.\n")
    keys = "".join(f"key{i}: value {i}\n" for i in range(8000))  # about 130 KB
    (docs / "big.md").write_text("---\n" + keys + "---\n# Big\n\nBig.\n")
    (docs / "inflated.pdf").write_bytes(make_pdf_bomb(pages=100, stream_bytes=70_000_000))  # ~70 MB per page
    (docs / "wordy.pdf").write_bytes(make_pdf_bomb(pages=100, stream_bytes=300_000))
    (docs / "long.pdf").write_bytes(make_pdf_bomb(pages=120, stream_bytes=200))
    assert (docs / "inflated.pdf").stat().st_size < 400_000

    done = _build([docs], tmp_path / "index", timeout=240,
                  env={"ASKDOCS_MAX_TEXT_CHARS": "1000000", "ASKDOCS_MAX_PDF_PAGES": "100"})
    assert done.returncode == 0, done.stderr[-3000:]
    assert set(_documents(tmp_path / "index")) == {"bicycle.txt", "tea.pdf"}
    assert "anchors and aliases are not allowed" in _reason(done.stdout, docs / "laughs.md")
    assert "anchors and aliases are not allowed" in _reason(done.stdout, docs / "anchor.md")
    assert "nested more than 20 levels deep" in _reason(done.stdout, docs / "deep.md")
    assert "front matter too large" in _reason(done.stdout, docs / "big.md")
    assert "PDF over a decoding limit" in _reason(done.stdout, docs / "inflated.pdf")
    reason = _reason(done.stdout, docs / "wordy.pdf")
    assert "too much text (over 1,000,000 characters by page 4; limit max_text_chars)" in reason, reason
    assert _reason(done.stdout, docs / "long.pdf") == "too many pages (120 > 100 limit, max_pdf_pages)"


def test_the_inflating_pdf_is_skipped_under_the_default_limits(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "bicycle.txt").write_text(PLAIN_NOTE)
    (docs / "inflated.pdf").write_bytes(make_pdf_bomb(pages=200, stream_bytes=70_000_000))
    done = _build([docs], tmp_path / "index", timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "PDF over a decoding limit" in _reason(done.stdout, docs / "inflated.pdf")


# ---------------------------------------------------------------- 4. one bad file must not fail the build


def test_bad_names_bad_dates_and_deep_folders_are_skipped_and_the_good_files_indexed(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "bicycle.txt").write_text(PLAIN_NOTE)
    with open(os.path.join(os.fsencode(docs), b"caf\xe9.txt"), "w") as handle:
        handle.write("Coffee from Ghent, roasted on Tuesdays for the third floor.\n")
    (docs / "two\nlines.txt").write_text("A file whose name has a newline in it, which broke filters.\n")
    (docs / "leap.md").write_text("---\ndate: 2024-02-30\n---\n# Leap\n\nThere is no thirtieth of February.\n")
    # 1,100 folders deep (os.walk recursed once per level: RecursionError), then a tree too long for PATH_MAX.
    for name, depth in (("d", 1100), ("x" * 200, 25)):
        subprocess.run([sys.executable, "-c", "import os, sys\nos.chdir(sys.argv[1])\n"
                        "for _ in range(int(sys.argv[3])):\n    os.mkdir(sys.argv[2]); os.chdir(sys.argv[2])\n"
                        "open('bottom.txt', 'w').write('The deepest note says the gauge reads forty units.')\n",
                        str(docs), name, str(depth)], check=True)
    try:
        done = _build([docs], tmp_path / "index", timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
        indexed = _documents(tmp_path / "index")
        assert "bicycle.txt" in indexed
        assert "/".join(["d"] * 1100) + "/bottom.txt" in indexed
        assert _reason(done.stdout, str(docs / "caf") + "\\xe9.txt") == "file name is not valid UTF-8"
        assert _reason(done.stdout, str(docs / "two") + "\\nlines.txt") == (
            "file name contains control characters ('two\\nlines.txt')")
        assert "invalid front matter (ValueError: day is out of range for month)" in _reason(
            done.stdout, docs / "leap.md")
        too_long = [path for path, reason in _skipped(done.stdout).items()
                    if reason == "unreadable folder (File name too long)"]
        assert len(too_long) == 1 and too_long[0].startswith(str(docs / ("x" * 200))), done.stdout
    finally:
        subprocess.run(["rm", "-rf", str(docs / "d"), str(docs / ("x" * 200))], check=True)


def test_an_unexpected_loader_error_skips_one_file(tmp_path, monkeypatch, caplog):
    from askdocs.index import documents

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "bicycle.txt").write_text(PLAIN_NOTE)
    (docs / "page.html").write_text("<html><body><p>Anything at all.</p></body></html>")

    def broken_html(data: bytes):
        raise RuntimeError("the HTML library fell over")

    monkeypatch.setitem(documents.LOADERS, "html", broken_html)  # the fault injected; load_corpus is real
    caplog.set_level("DEBUG", logger="askdocs.build")
    loaded, skipped = load_corpus([docs], Settings())
    assert [d.doc_id for d in loaded] == ["bicycle.txt"]
    assert [(Path(s.path).name, s.reason) for s in skipped] == [
        ("page.html", "could not be read (RuntimeError: the HTML library fell over)")]
    assert "Traceback" in caplog.text and "broken_html" in caplog.text


# ---------------------------------------------------------------- 14. build errors and unreadable folders


def test_an_index_folder_that_cannot_be_created_is_one_error_line(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "bicycle.txt").write_text(PLAIN_NOTE)
    (tmp_path / "a-file").write_text("not a folder")
    done = _build([docs], tmp_path / "a-file" / "index", timeout=120)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    index = tmp_path / "a-file" / "index"
    assert errors == [f"error: cannot write to the index folder {index} (Not a directory: {index}); nothing was "
                      "built and the existing index, if any, is unchanged"], done.stderr


def _limit_file_size(limit: int):
    def apply():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit then fails with EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


def test_a_write_that_fails_mid_generation_is_one_error_line_and_keeps_the_index(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    for i in range(30):
        (docs / f"report{i:02}.txt").write_text(
            f"Report {i}\n\n" + " ".join(f"Station {i} measured {j * i} units at gauge {j}." for j in range(80)))
    index = tmp_path / "index"
    assert _build([docs], index, "--no-cache").returncode == 0
    before = (index / "CURRENT").read_text()
    (docs / "report00.txt").write_text("Report zero, rewritten: the gauge was replaced in March.\n" * 40)

    done = _build([docs], index, "--no-cache", preexec_fn=_limit_file_size(64 * 1024))
    assert done.returncode == 1, done.stdout
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, done.stderr
    assert errors[0].startswith(f"error: could not write the new index generation in {index} ("), errors[0]
    # EFBIG reaches us as "File too large" from a file write, as "disk I/O error" from SQLite's.
    assert ("File too large" in errors[0] or "disk I/O error" in errors[0]), errors[0]
    assert errors[0].endswith("the existing index, if any, is unchanged")
    assert (index / "CURRENT").read_text() == before
    assert not [p for p in (index / "generations").iterdir() if p.name.startswith(".tmp-")]
    assert "Report 0\n" in _documents(index)["report00.txt"]


def test_an_unreadable_folder_is_reported_and_its_indexed_documents_are_kept(tmp_path):
    docs = tmp_path / "docs"
    (docs / "private").mkdir(parents=True)
    (docs / "bicycle.txt").write_text(PLAIN_NOTE)
    (docs / "private" / "tea.txt").write_text("Tea plants grow best at altitudes between 600 and 2000 metres.\n")
    index = tmp_path / "index"
    assert _build([docs], index).returncode == 0
    (docs / "new.txt").write_text("A new note about the bicycle shed and its lock, added after the first build.\n")
    without_root_reads = _without_root_reads()
    os.chmod(docs / "private", 0)
    try:
        done = _build([docs], index, prefix=without_root_reads)
    finally:
        os.chmod(docs / "private", 0o755)
    assert done.returncode == 0, done.stderr[-3000:]
    assert _reason(done.stdout, docs / "private") == (
        "unreadable folder (Permission denied); kept the 1 documents indexed from it before")
    assert "1 added, 0 updated, 0 removed, 2 unchanged" in done.stdout
    assert set(_documents(index)) == {"bicycle.txt", "new.txt", "private/tea.txt"}


def test_an_unreadable_file_keeps_the_version_indexed_before(tmp_path):
    """A file whose permissions changed says nothing about its content: it stays cited as it was, and the
    summary names it, rather than leaving the index as "removed" (a watch sync would do this on every chmod)."""
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "bicycle.txt").write_text("The bicycle shed is locked at night with a brass padlock.\n")
    (docs / "tea.txt").write_text("Tea plants grow best at altitudes between 600 and 2000 metres.\n")
    index = tmp_path / "index"
    assert _build([docs], index).returncode == 0
    without_root_reads = _without_root_reads()
    (docs / "tea.txt").write_text("Tea plants grow best at altitudes between 600 and 2200 metres.\n")
    os.chmod(docs / "tea.txt", 0)
    try:
        done = _build([docs], index, prefix=without_root_reads)
    finally:
        os.chmod(docs / "tea.txt", 0o644)
    assert done.returncode == 0, done.stderr[-3000:]
    assert _reason(done.stdout, docs / "tea.txt") == "unreadable (Permission denied); kept the version indexed before"
    assert "0 removed" in done.stdout
    assert "2000 metres" in _documents(index)["tea.txt"]


def test_a_file_that_vanishes_mid_build_is_named_and_the_build_goes_on(tmp_path, monkeypatch):
    """The walk lists a file, something deletes it before it is read (a sync tool, an editor's rename): the
    build names it and indexes the rest. The deletion is made to happen exactly then by deleting it while the
    first file is read, through the real loader."""
    import askdocs.index.build as build_module
    from askdocs.index.build import build_index
    from askdocs.index.settings import Settings

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a-first.txt").write_text("The bicycle shed is locked at night with a brass padlock.\n")
    (docs / "b-gone.txt").write_text("This note is deleted before the build reads it.\n")
    real_load = build_module.load_document

    def load_and_delete_the_next(path, *args, **kwargs):
        if path.name == "a-first.txt":
            (docs / "b-gone.txt").unlink()
        return real_load(path, *args, **kwargs)

    monkeypatch.setattr(build_module, "load_document", load_and_delete_the_next)
    report = build_index([docs], Settings(index=tmp_path / "index"), progress=False)
    assert report.documents == 1
    assert [(s.path, s.reason) for s in report.skipped] == [(str(docs / "b-gone.txt"), "vanished while the build ran")]
    assert "b-gone.txt: vanished while the build ran" in report.summary()
