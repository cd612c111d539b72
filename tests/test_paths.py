"""Issue 16: paths that fail loudly, stable document ids, every file accounted for, encodings, extension-less
and compressed text, titles. Every build is a real ``build-index`` subprocess; /health a real server."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
from pathlib import Path

import pytest

from askdocs.index.store import open_stored_index
from askdocs.index.walk import legacy_roots

from .conftest import BIN, Server
from .fixtures import make_pdf


def _build(paths, index: Path, *extra: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN / "build-index"), *map(str, paths), "--index", str(index), "--no-progress", *extra],
        capture_output=True, text=True, timeout=300, env={**os.environ, **(env or {})},
    )


def _stored(index: Path) -> dict[str, tuple[str, str, dict]]:
    """doc id -> (title, text, meta) as the live generation holds them."""
    stored = open_stored_index(index)
    try:
        return {d.doc_id: (d.title, d.text, d.meta) for d in stored.all_documents()}
    finally:
        stored.close()


# ---------------------------------------------------------------- paths that fail loudly, stable ids


def test_a_bad_path_is_an_error_and_adding_a_folder_renames_nothing(tmp_path):
    a, b = tmp_path / "docs" / "a", tmp_path / "docs" / "b"
    (a / "sub").mkdir(parents=True)
    b.mkdir()
    (a / "tea.txt").write_text("Green tea is steeped at eighty degrees for two minutes.\n")
    (a / "sub" / "coffee.txt").write_text("Espresso is brewed at nine bars of pressure.\n")
    (a / "draft.md").write_text("# Draft\n\nNot ready to be indexed.\n")
    (b / "bread.txt").write_text("Sourdough rises overnight in a cool kitchen.\n")
    index = tmp_path / "index"

    first = _build([a], index, "--include", "*.txt")
    assert first.returncode == 0, first.stderr
    assert sorted(_stored(index)) == ["sub/coffee.txt", "tea.txt"]
    assert "draft.md: excluded: matches no --include pattern" in first.stdout
    current = (index / "CURRENT").read_text()

    # A second folder: the first one's documents keep their ids (nothing removed), the new one's are prefixed.
    second = _build([a, b], index, "--include", "*.txt")
    assert second.returncode == 0, second.stderr
    assert "2 unchanged" in second.stdout and "0 removed" in second.stdout and "1 added" in second.stdout
    assert sorted(_stored(index)) == ["b/bread.txt", "sub/coffee.txt", "tea.txt"]
    current = (index / "CURRENT").read_text()

    # A typo, a path inside the index, the index itself: each is an error, before the model loads, and the
    # served generation stays.
    for paths, said in (([a, tmp_path / "docs" / "bb"], "bb: no such file or directory"),
                        ([index], "is an index folder"),
                        ([index / "generations"], "is an index folder"),
                        ([a, a / "sub"], "sub: is inside"),
                        ([a, tmp_path / "loop"], "broken or looping symlink")):
        if paths[-1].name == "loop":
            paths[-1].symlink_to(paths[-1])
        failed = _build(paths, index)
        assert failed.returncode != 0 and said in failed.stderr, failed.stderr
        assert "nothing was built" in failed.stderr and "removed" not in failed.stdout
        assert (index / "CURRENT").read_text() == current
    assert sorted(_stored(index)) == ["b/bread.txt", "sub/coffee.txt", "tea.txt"]

    # Dropping the first folder keeps the second one's prefix; a folder emptied (an unmounted share) is an
    # error rather than every document of it removed.
    (b / "bread.txt").unlink()
    emptied = _build([a, b], index, "--include", "*.txt")
    assert emptied.returncode != 0 and "gave 1 documents to the last build and none now" in emptied.stderr
    assert (index / "CURRENT").read_text() == current


def test_ids_of_an_index_built_before_roots_were_recorded_are_kept(tmp_path, monkeypatch):
    # Old manifests only hold the paths as given; ids were relative to their common folder.
    (tmp_path / "docs" / "a").mkdir(parents=True)
    (tmp_path / "docs" / "b").mkdir()
    (tmp_path / "notes.md").write_text("x")
    monkeypatch.chdir(tmp_path)
    real = os.path.realpath
    assert legacy_roots(["docs/a"]) == {real(tmp_path / "docs" / "a"): ""}
    assert legacy_roots(["docs/a", "docs/b"]) == {real(tmp_path / "docs" / "a"): "a",
                                                 real(tmp_path / "docs" / "b"): "b"}
    assert legacy_roots(["docs/a", "notes.md"]) == {real(tmp_path / "docs" / "a"): "docs/a",
                                                   real(tmp_path / "notes.md"): ""}


# ---------------------------------------------------------------- every file accounted for

LATIN1 = "Crème brûlée à la façon de grand-mère: the custard is baked in a bain-marie.\n"
CYRILLIC = "Пельмени варят в подсоленной воде десять минут после всплытия.\n"
UTF16 = "# Dumplings\n\nDumplings are boiled in salted water until they float.\n"


def _mixed_folder(root: Path, outside: Path) -> Path:
    docs = root / "docs"
    (docs / "guides").mkdir(parents=True)
    (docs / ".git").mkdir()
    (docs / ".git" / "config").write_text("[core]\n")
    (docs / ".env").write_text("SECRET=1\n")
    (docs / "drafts").mkdir()
    (docs / "drafts" / "wip.md").write_text("# Work in progress\n\nUnfinished thoughts about kettles.\n")
    (docs / ".askdocsignore").write_text("# not for the index\ndrafts/\n*.log\n")
    (docs / "build.log").write_text("compiler output\n")
    (docs / "private.txt").write_text("Excluded on the command line.\n")
    # Encodings: BOM-less legacy code pages, and BOMs of every Unicode form.
    (docs / "latin1.txt").write_bytes(LATIN1.encode("latin-1"))
    (docs / "cyrillic.txt").write_bytes(CYRILLIC.encode("cp1251"))
    (docs / "utf16.md").write_bytes(UTF16.encode("utf-16"))
    (docs / "utf32.txt").write_bytes("Tea is grown on terraced hillsides in Darjeeling.\n".encode("utf-32"))
    (docs / "bom8.txt").write_bytes("\ufeffKettles switch off at the boil.\n".encode("utf-8"))
    # Titles.
    (docs / "README").write_text("Copyright (c) 2024 The Kettle Project\nAll rights reserved.\n\nkettled\n=======\n\n"
                                 "kettled watches kettles and reports when the water boils.\n")
    (docs / "COPYING").write_text("Copyright 2024 The Kettle Project\n\n")
    (docs / "guides" / "front.md").write_text("---\ntitle: Brewing Guide\n---\n\n# Introduction\n\nBrew with care.\n")
    (docs / "guides" / "setext.txt").write_text(
        "\nBoiling\n-------\n\nWater boils at one hundred degrees at sea level.\n")
    (docs / "guides" / "page.html").write_text("<html><head><title>Steeping Times</title></head><body>"
                                               "<h1>Times</h1><p>Oolong steeps for three minutes.</p></body></html>")
    # Compressed text, as /usr/share/doc holds it.
    (docs / "changelog.Debian.gz").write_bytes(gzip.compress(b"kettled (1.2-1) unstable; urgency=low\n\n"
                                                             b"  * Fix the whistle on induction hobs.\n"))
    (docs / "NEWS.md.gz").write_bytes(gzip.compress(b"# News\n\nVersion 2 adds a timer for green tea.\n"))
    (docs / "bomb.txt.gz").write_bytes(gzip.compress(b"a" * 3_000_000))
    (docs / "broken.gz").write_bytes(b"\x1f\x8b\x08\x00garbage")
    # What is not indexed, for each reason.
    (docs / "slides.key").write_bytes(b"PK\x03\x04 a Keynote deck")
    (docs / "report.docx").write_bytes(b"PK\x03\x04 not really")
    (docs / "photo.psd").write_bytes(b"\x89PNG\r\n\x1a\n\x00")
    (docs / "diagram.psd").write_bytes(b"\x89PNG\r\n\x1a\n\x00")
    (docs / "blob").write_bytes(bytes(range(256)) * 8)
    (docs / "empty.txt").write_text("")
    (docs / "big.txt").write_text("big " * 600_000)
    (docs / "binary.txt").write_bytes(b"\x7fELF\x02\x01\x01\x00\x00\x00")
    (docs / "broken.pdf").write_bytes(b"%PDF-1.4 nonsense")
    (docs / "scan.pdf").write_bytes(make_pdf(["Chamomile is an herbal infusion, not a tea."]))
    (outside / "secret.txt").write_text("outside the corpus\n")
    (docs / "link.txt").symlink_to(outside / "secret.txt")
    (docs / "dangling.md").symlink_to(docs / "missing.md")
    return docs


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    root = tmp_path_factory.mktemp("mixed")
    outside = root / "outside"
    outside.mkdir()
    docs = _mixed_folder(root, outside)
    index = root / "index"
    env = {"ASKDOCS_MAX_FILE_MB": "2"}
    built = _build([docs], index, "--exclude", "private.txt", "--json", env=env)
    assert built.returncode == 0, built.stderr
    again = _build([docs], index, "--exclude", "private.txt", env=env)
    assert again.returncode == 0, again.stderr
    return docs, index, json.loads(built.stdout), again.stdout


def _every_entry(docs: Path) -> set[str]:
    """Every file and folder a build must account for: all files, but a hidden or excluded folder as itself."""
    found = set()
    for folder, dirs, files in os.walk(docs):
        for name in list(dirs):
            if name.startswith(".") or name == "drafts":
                found.add(os.path.join(folder, name))
                dirs.remove(name)
        found.update(os.path.join(folder, name) for name in files)
    return found


def test_every_file_is_indexed_or_named_with_its_reason(mixed):
    docs, index, report, _ = mixed
    stored = _stored(index)
    sources = {str(docs / doc_id) for doc_id in stored}
    not_indexed = {item["path"]: item for item in report["not_indexed"]}
    assert sources.isdisjoint(not_indexed)
    assert sources | set(not_indexed) == _every_entry(docs)
    assert [d["doc_id"] for d in report["indexed"]] == list(stored)

    def category(name: str) -> str:
        return not_indexed[str(docs / name.rstrip("/"))]["category"]

    assert {name: category(name) for name in (
        "slides.key", "report.docx", "photo.psd", "diagram.psd", "blob", ".git/", ".env", ".askdocsignore", "drafts/",
        "build.log", "private.txt", "empty.txt", "big.txt", "binary.txt", "broken.pdf", "link.txt", "dangling.md",
        "bomb.txt.gz", "broken.gz")} == {
        "slides.key": "unsupported type", "report.docx": "corrupt", "photo.psd": "unsupported type",
        "diagram.psd": "unsupported type",
        "blob": "unsupported type", ".git/": "hidden", ".env": "hidden", ".askdocsignore": "hidden",
        "drafts/": "excluded", "build.log": "excluded", "private.txt": "excluded", "empty.txt": "empty",
        "big.txt": "too large", "binary.txt": "binary", "broken.pdf": "corrupt", "link.txt": "symlink not followed",
        "dangling.md": "symlink not followed", "bomb.txt.gz": "too large", "broken.gz": "corrupt"}
    assert "folder not walked: matches 'drafts/' in" in not_indexed[str(docs / "drafts")]["reason"]
    assert "once decompressed" in not_indexed[str(docs / "bomb.txt.gz")]["reason"]
    assert "outside the indexed folder" in not_indexed[str(docs / "link.txt")]["reason"]
    counts = report["file_counts"]
    assert counts["unsupported_by_extension"] == {".key": 1, ".psd": 2, "(none)": 1}
    assert counts["indexed"] == len(stored) and counts["not_indexed"] == len(not_indexed)


def test_the_summary_groups_what_was_not_indexed_and_counts_unchanged_files(mixed):
    docs, index, report, summary = mixed
    assert f"0 added, 0 updated, 0 removed, {report['documents']} unchanged documents" in summary
    assert "  unsupported type: 4 (.psd 2, (none) 1, .key 1)" in summary
    hidden = next(line for line in summary.splitlines() if line.startswith("  hidden: 3 ("))
    assert f"{docs / '.git'};" in hidden and f"{docs / '.env'}," in hidden
    assert f"    {docs / 'big.txt'}: too large" in summary
    assert f"    {docs / 'private.txt'}: excluded: matches 'private.txt' in --exclude" in summary


def test_health_shows_the_last_builds_counts_and_documents_show_their_encoding(mixed):
    docs, index, report, _ = mixed
    server = Server(index)
    try:
        with server.client() as client:
            health = client.get("/health").json()
            counts = health["index"]["file_counts"]
            assert counts["indexed"] == report["documents"] and counts["not_indexed"] == len(report["not_indexed"])
            assert counts["not_indexed_by_reason"] == report["file_counts"]["not_indexed_by_reason"]
            encodings = {doc_id: client.get(f"/documents/{doc_id}").json() for doc_id in (
                "latin1.txt", "cyrillic.txt", "utf16.md", "utf32.txt", "bom8.txt", "README")}
    finally:
        server.stop()
    # UTF-8 is the default, not recorded: documents that always were UTF-8 keep the metadata they had.
    assert {k: v["meta"].get("encoding") for k, v in encodings.items()} == {
        "latin1.txt": "cp1252", "cyrillic.txt": "cp1251", "utf16.md": "utf-16", "utf32.txt": "utf-32",
        "bom8.txt": None, "README": None}
    assert encodings["latin1.txt"]["text"] == LATIN1
    assert encodings["cyrillic.txt"]["text"] == CYRILLIC
    assert encodings["utf16.md"]["text"] == UTF16
    assert encodings["bom8.txt"]["text"] == "Kettles switch off at the boil.\n"


def test_titles_and_extensionless_and_compressed_text(mixed):
    docs, index, _, _ = mixed
    stored = _stored(index)
    titles = {doc_id: title for doc_id, (title, _, _) in stored.items()}
    assert {doc_id: titles[doc_id] for doc_id in (
        "README", "COPYING", "guides/front.md", "guides/setext.txt", "guides/page.html", "utf16.md",
        "changelog.Debian.gz", "NEWS.md.gz", "scan.pdf")} == {
        "README": "kettled", "COPYING": "COPYING", "guides/front.md": "Brewing Guide",
        "guides/setext.txt": "Boiling", "guides/page.html": "Steeping Times", "utf16.md": "Dumplings",
        "changelog.Debian.gz": "kettled (1.2-1) unstable; urgency=low", "NEWS.md.gz": "News",
        "scan.pdf": "Chamomile is an herbal infusion, not a tea."}
    assert "Fix the whistle on induction hobs." in stored["changelog.Debian.gz"][1]
    assert stored["NEWS.md.gz"][1].startswith("# News")


def test_citations_of_the_new_kinds_slice_the_stored_text(mixed):
    _, index, _, _ = mixed
    stored = open_stored_index(index)
    try:
        texts = {d.doc_id: d.text for d in stored.all_documents()}
        for chunk in stored.all_chunks():
            doc_id = stored.doc_ids[chunk.doc_row]
            assert texts[doc_id][chunk.char_start:chunk.char_end] == chunk.text
    finally:
        stored.close()


def test_a_path_that_cannot_be_read_is_an_error(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "tea.txt").write_text("Green tea is steeped at eighty degrees.\n")
    drop = "-dac_override,-dac_read_search"  # root reads everything: drop the capabilities that let it
    without_root_reads = ["setpriv", f"--bounding-set={drop}", f"--inh-caps={drop}", "--"]
    probe = subprocess.run([*without_root_reads, "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip(f"capabilities cannot be dropped here: {probe.stderr.strip()}")
    os.chmod(docs, 0)
    try:
        failed = subprocess.run(
            [*without_root_reads, str(BIN / "build-index"), str(docs), "--index", str(tmp_path / "index"),
             "--no-progress"], capture_output=True, text=True, timeout=300)
    finally:
        os.chmod(docs, 0o755)
    assert failed.returncode != 0
    assert f"{docs}: cannot be read (Permission denied)" in failed.stderr
    assert not (tmp_path / "index" / "CURRENT").exists()
