"""Issue 15, section 1: documents keep their structure (typed blocks, section paths, furniture)."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from askdocs.index.build import build_index, make_chunker
from askdocs.index.documents import file_kind, load_document
from askdocs.index.plaintext import text_structure
from askdocs.index.embedder import load_embedder
from askdocs.index.retrieval_text import chunk_prefix, retrieval_text, title_prefix
from askdocs.index.settings import Settings
from askdocs.index.store import CHUNKS_DB, MANIFEST, SENTENCES, open_stored_index, sha256_file
from askdocs.index.structure import KINDS, STRUCTURE_VERSION, Sections, check_blocks, furniture_within
from askdocs.search.engine import open_index

from .fixtures import (
    STRUCTURED_HTML, STRUCTURED_MARKDOWN, STRUCTURED_TEXT, make_pdf, make_structured_pdf, write_corpus,
)


def _write(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "venv.html").write_text(STRUCTURED_HTML, encoding="utf-8")
    (folder / "owls.md").write_text(STRUCTURED_MARKDOWN, encoding="utf-8")
    (folder / "faq.txt").write_text(STRUCTURED_TEXT, encoding="utf-8")
    (folder / "tea.pdf").write_bytes(make_structured_pdf())
    (folder / "tea-outline.pdf").write_bytes(make_structured_pdf(outline=True))
    return folder


@pytest.fixture(scope="module")
def structured(tmp_path_factory) -> Path:
    folder = _write(tmp_path_factory.mktemp("structured") / "docs")
    write_corpus(folder / "plain")  # the older fixtures too: every loader's fixtures are checked
    return folder


@pytest.fixture(scope="module")
def structured_index(structured) -> Path:
    index = structured.parent / "index"
    build_index([structured], Settings(index=index), progress=False)
    return index


@pytest.fixture(scope="module")
def embedder():
    return load_embedder(Settings().model, "torch").load()


def _load(folder: Path, name: str):
    return load_document(folder / name, name, 10**7)


def _blocks(doc, kind: str | None = None) -> list[tuple[str, str, int]]:
    return [(b.kind, doc.text[b.start:b.end], b.level) for b in doc.blocks if kind is None or b.kind == kind]


def _texts(doc, kind: str) -> list[str]:
    return [t for _, t, _ in _blocks(doc, kind)]


# ---------------------------------------------------------------- loaders


def test_html_headings_unwrapped_paragraphs_and_no_navigation(structured):
    doc = _load(structured, "venv.html")
    check_blocks(doc.text, doc.blocks)
    assert doc.title == "venv — Creation of virtual environments"
    assert [(t, lv) for _, t, lv in _blocks(doc, "heading")] == [
        ("venv — Creation of virtual environments", 1), ("Creating virtual environments", 2), ("API", 2)]
    # Source line breaks inside <p>, <dd> and <li> are spaces; <pre> keeps its lines.
    assert ("The venv module supports creating lightweight virtual environments, each with their own independent "
            "set of Python packages.") in _texts(doc, "paragraph")
    assert _texts(doc, "description")[0] == ("Delete the contents of the environment directory if it already "
                                             "exists, before environment creation.")
    assert _texts(doc, "list_item") == ["with_pip: ensure pip is installed in the virtual environment."]
    assert _texts(doc, "code") == ["python -m venv /path/to/new/virtual/environment\nsource env/bin/activate"]
    assert _texts(doc, "term") == ["--clear", "--upgrade-deps"]
    assert _texts(doc, "table_row") == ["Argument | Default", "system_site_packages | False"]
    assert "Builder arguments" in _texts(doc, "caption") and "Note" in _texts(doc, "caption")
    # Navigation, breadcrumbs, Prev/Next lines, the footer, permalink markers and scripts are not stored.
    for gone in ("Prev", "Next", "Library", "Copyright", "¶", "#", "tracking"):
        assert gone not in doc.text, gone


DOCBOOK_PAGE = """<html><head><title>6.7. Upgrading</title></head><body>
<ul class="docnav top"><li class="previous"><a href="a.html"><strong>Prev</strong></a></li>
<li class="home">The Administrator's Handbook</li><li class="next"><a href="b.html"><strong>Next</strong></a></li></ul>
<div class="md-nav"><span>On this page</span> <a href="i.html">Install</a></div>
<div class="topNav"><a href="overview.html">Overview</a> Package Class</div>
<div class="section"><h2>6.7. Upgrading Between Releases</h2>
<div class="para">Read the release notes before upgrading.</div>
<div class="sidebar"><div class="titlepage"><div><div><p class="title"><strong>TIP Finding changed files</strong></p>
</div></div></div><div class="para">The debsums command checks installed files against their checksums.</div></div>
<div class="sidebar"><ul><li><a href="c1.html">Chapter 1</a></li><li><a href="c2.html">Chapter 2</a></li></ul></div>
</div></body></html>"""


def test_html_docbook_boxes_are_content_and_any_themes_navigation_is_not(tmp_path):
    """DocBook's "sidebar" is a titled box of content (the Debian Administrator's Handbook has 420 of them); a theme's
    sidebar is links. Navigation named by compound classes (Publican's docnav, MkDocs' md-nav, javadoc's topNav)
    is dropped like the plain names."""
    (tmp_path / "upgrade.html").write_text(DOCBOOK_PAGE)
    doc = _load(tmp_path, "upgrade.html")
    check_blocks(doc.text, doc.blocks)
    assert _texts(doc, "caption") == ["TIP Finding changed files"]
    assert "The debsums command checks installed files against their checksums." in _texts(doc, "paragraph")
    for gone in ("Prev", "Next", "Handbook", "On this page", "Install", "Overview", "Package Class", "Chapter"):
        assert gone not in doc.text, gone
    assert doc.text.startswith("6.7. Upgrading Between Releases\n\nRead the release notes")


def test_html_title_is_never_a_box_heading(tmp_path):
    page = ("<html><body><div class='warning'><h3>Warning</h3><p>Careful.</p></div>"
            "<h1>pg_dumpall</h1><p>Extract a cluster.</p></body></html>")
    (tmp_path / "p.html").write_text(page)
    doc = _load(tmp_path, "p.html")
    assert doc.title == "pg_dumpall"
    assert [t for _, t, _ in _blocks(doc, "heading")] == ["pg_dumpall"]


RTD_PAGE = """<html><head><title>API Reference - attrs</title></head><body class="wy-body-for-nav">
<div class="wy-grid-for-nav"><nav class="wy-nav-side"><a href="index.html">attrs</a></nav>
<section class="wy-nav-content-wrap"><div class="wy-nav-content"><div class="rst-content">
<div role="navigation"><ul class="wy-breadcrumbs"><li><a href="index.html">Home</a></li>
<li class="breadcrumb-item active">API Reference</li></ul></div>
<div role="main" class="document"><section id="api"><h1>API Reference</h1>
<p>attrs works by decorating a class.</p></section></div>
<footer><div class="rst-footer-buttons" role="navigation"><a href="a.html" rel="prev">Previous</a>
<a href="b.html" rel="next">Next</a></div><p>Built with Sphinx.</p></footer>
</div></div></section></div></body></html>"""


def test_html_a_layout_wrapper_named_for_navigation_keeps_the_page(tmp_path):
    """sphinx_rtd_theme wraps the whole document in "wy-grid-for-nav" / "wy-nav-content": read as navigation, the
    page came out empty and the fallback kept the breadcrumbs and the footer as text."""
    (tmp_path / "api.html").write_text(RTD_PAGE)
    doc = _load(tmp_path, "api.html")
    check_blocks(doc.text, doc.blocks)
    assert doc.text == "API Reference\n\nattrs works by decorating a class."
    assert _blocks(doc)[0] == ("heading", "API Reference", 1)


TEXINFO_PAGE = """<html><head><title>Memory Handling (GNU MPFR)</title></head><body>
<div class="section" id="Memory-Handling"><div class="header"><p>
Next: <a href="e.html" rel="next">Getting the Best Efficiency</a>, Previous: <a href="x.html" rel="prev">Exceptions</a>,
Up: <a href="b.html" rel="up">MPFR Basics</a> &nbsp; [<a href="i.html" rel="index">Index</a>]</p></div><hr>
<h3 class="section">4.7 Memory Handling</h3>
<p>The caches can be freed with <a href="f.html">mpfr_free_cache</a>.</p>
<p><a href="i.html">Index</a> and <a href="c.html">Contents</a> of the manual list every function.</p>
<p><a href="p.html">PathArgument</a> (<a href="a.html">ArrayIndex</a> index)</p>
<table><tr><th>Jump to: &nbsp; </th><td><a href="#A"><b>A</b></a> &nbsp; <a href="#C"><b>C</b></a> &nbsp;
<a href="#E"><b>E</b></a> &nbsp; <a href="#F"><b>F</b></a> &nbsp; <a href="#G"><b>G</b></a></td></tr></table>
<div class="genindex-jumpbox"><a href="#A">A</a> | <a href="#C">C</a> | <a href="#D">D</a> | <a href="#E">E</a>
| <a href="#F">F</a></div>
<div class="nav-panel"><p>Next: <a href="e.html">Getting the Best Efficiency</a>, Up: <a href="b.html">MPFR Basics</a></p></div>
</div></body></html>"""


def test_html_texinfo_next_previous_up_lines_are_navigation(tmp_path):
    """makeinfo's header line keeps some words outside its links ("Next:", ", Previous:", "[Index]"), so it was
    not link-only enough to drop, and "Next: ..., Previous: ..., Up: ... [Index]" was indexed on every page; so
    were the letter bars of texinfo's and Sphinx's indexes. A word outside links is not a label: "( index)" stays."""
    (tmp_path / "mem.html").write_text(TEXINFO_PAGE)
    doc = _load(tmp_path, "mem.html")
    check_blocks(doc.text, doc.blocks)
    assert doc.text == ("4.7 Memory Handling\n\nThe caches can be freed with mpfr_free_cache.\n\n"
                        "Index and Contents of the manual list every function.\n\n"
                        "PathArgument (ArrayIndex index)")


DOXYGEN_PAGE = """<html><head><meta name="generator" content="Doxygen 1.9.1"/></head><body>
<div id="top"><div id="nav-path" class="navpath"><ul><li class="navelem"><a href="n.html">Json</a></li></ul></div></div>
<div class="header"><div class="summary"><a href="#pub-methods">Public Member Functions</a> &#124;
<a href="m.html">List of all members</a></div>
<div class="headertitle"><div class="title">Json::Features Class Reference<span class="mlabels"><span
class="mlabel">abstract</span></span></div></div></div>
<div class="contents"><p>Configuration passed to reader and writer. <a href="#details">More...</a></p>
<h2 class="memtitle"><span class="permalink"><a href="#a1">&#9670;&#160;</a></span>get()</h2>
<div class="memitem"><div class="memproto"><table class="memname"><tr>
<td class="memname">Value Json::Value::get </td><td>(</td><td class="paramtype">ArrayIndex&#160;</td>
<td class="paramname"><em>index</em>, </td></tr>
<tr><td class="paramkey"></td><td></td><td class="paramtype">const Value &amp;&#160;</td>
<td class="paramname"><em>defaultValue</em></td></tr><tr><td></td><td>)</td><td></td><td> const</td></tr></table></div>
<div class="memdoc"><p>Returns the element at index.</p>
<div class="fragment"><div class="line"><a name="l00001"></a><span class="lineno">    1</span>&#160;<span class="keyword">if</span> (ok) {</div>
<div class="line"><a name="l00002"></a><span class="lineno">    2</span>&#160;  root.get(0);</div>
<div class="line"><a name="l00003"></a><span class="lineno">    3</span>&#160;}</div>
<div class="ttc" id="a1"><div class="ttname"><a href="v.html">Json::Value::get</a></div>
<div class="ttdoc">Tooltip text shown on hover only.</div></div>
</div></div></div></div>
<hr class="footer"/><address class="footer"><small>Generated by <a href="https://www.doxygen.org">doxygen</a></small></address>
</body></html>"""


def test_html_doxygen_title_signatures_and_code_listings(tmp_path):
    """Doxygen's page title is a div.title (the first heading was taken as the title: "Public Member Functions"),
    its listings are one div.line per line with a line-number gutter, its tooltips are hidden duplicates, its
    member headings carry a permalink diamond and its signatures are laid out as a table, a parameter a row."""
    (tmp_path / "features.html").write_text(DOXYGEN_PAGE)
    doc = _load(tmp_path, "features.html")
    check_blocks(doc.text, doc.blocks)
    assert doc.title == "Json::Features Class Reference abstract"
    assert _blocks(doc)[0] == ("heading", "Json::Features Class Reference abstract", 1)
    assert _texts(doc, "heading")[1:] == ["get()"]
    assert _texts(doc, "table_row") == ["Value Json::Value::get ( ArrayIndex index, const Value & defaultValue ) const"]
    assert _texts(doc, "code") == ["if (ok) {\n  root.get(0);\n}"]
    assert "Configuration passed to reader and writer." in _texts(doc, "paragraph")
    for gone in ("More...", "Tooltip", "List of all members", "doxygen", "\u25c6", "Json\n"):
        assert gone not in doc.text, gone


def test_html_doxygen_notes_on_source_files_are_not_content(tmp_path):
    """Doxygen closes each member with "Definition at line 71 of file allocator.h." and "References ..." and each
    page with "The documentation for this class was generated from the following files:" and the file list; that
    sentence was chosen as the answer to questions about a class. A glossary's class="definition" is content."""
    (tmp_path / "reader.html").write_text("""<html><body><div class="contents">
<div class="memdoc"><p>Read a Value from a JSON document.</p>
<p class="definition">Definition at line <a class="el" href="r.html#l71">71</a> of file <a href="r.html">reader.h</a>.</p>
<p class="reference">References <a class="el" href="v.html">Json::Value::asString()</a>.</p>
<p class="referencedby">Referenced by <a class="el" href="m.html">main()</a>.</p></div>
<hr/>The documentation for this class was generated from the following files:<ul>
<li>include/json/<a class="el" href="r.html">reader.h</a></li><li>src/lib_json/<a href="j.html">json_reader.cpp</a></li>
</ul></div></body></html>""")
    doc = _load(tmp_path, "reader.html")
    check_blocks(doc.text, doc.blocks)
    assert doc.text == "Read a Value from a JSON document."
    (tmp_path / "glossary.html").write_text("""<html><body><h1>Glossary</h1>
<p class="definition">References are kept in the catalogue of the library.</p>
<p class="reference">Definition at line level is what the parser does first.</p></body></html>""")
    glossary = _load(tmp_path, "glossary.html")
    assert _texts(glossary, "paragraph") == ["References are kept in the catalogue of the library.",
                                             "Definition at line level is what the parser does first."]


JAVADOC_PAGE = """<html><head><title>JXPathContext (Commons JXPath 1.3 API)</title></head><body>
<main role="main"><div class="header"><h2 title="Class JXPathContext" class="title">Class JXPathContext</h2></div>
<div class="contentContainer"><div class="description"><ul class="blockList"><li class="blockList">
<pre>public abstract class JXPathContext</pre>
<div class="block">JXPathContext provides APIs for the traversal of graphs of JavaBeans.</div></li></ul></div>
<div class="summary"><ul><li><h3>Method Summary</h3><p>JXPath uses JavaBeans introspection.</p>
<table class="memberSummary"><tr><th class="colFirst" scope="col">Modifier and Type</th>
<th class="colSecond" scope="col">Method</th><th class="colLast" scope="col">Description</th></tr>
<tr class="altColor"><td class="colFirst"><code>static CompiledExpression</code></td>
<th class="colSecond" scope="row"><code><a href="#compile">compile</a>&#8203;(java.lang.String&nbsp;xpath)</code></th>
<td class="colLast"><div class="block">Compiles the supplied XPath.</div></td></tr></table>
</li></ul></div></div></main></body></html>"""


def test_html_javadoc_block_lists_are_layout_and_member_rows_are_rows(tmp_path):
    """javadoc wraps whole sections in ``<ul class="blockList"><li>`` (with a heading, or a class's description
    without one), so they were typed as list items, and its member tables' cells (``<td><div class="block">``)
    were read as layout, each cell a list item."""
    (tmp_path / "ctx.html").write_text(JAVADOC_PAGE)
    doc = _load(tmp_path, "ctx.html")
    check_blocks(doc.text, doc.blocks)
    assert _texts(doc, "paragraph") == ["JXPathContext provides APIs for the traversal of graphs of JavaBeans.",
                                        "JXPath uses JavaBeans introspection."]
    assert _texts(doc, "list_item") == []
    assert _texts(doc, "table_row") == [
        "Modifier and Type | Method | Description",
        "static CompiledExpression | compile(java.lang.String xpath) | Compiles the supplied XPath."]


MKDOCS_PAGE = """<html><head><title>Configuration - MkDocs</title></head><body>
<div class="container"><div class="col-md-9" role="main">
<div class="admonition warning"><p class="admonition-title">Warning</p><p>Back up first.</p></div><h1>Configuration</h1>
<p>Mass and energy: <span class="katex"><span class="katex-html" aria-hidden="true">E = mc2</span></span>.</p>
<p>For example, a page named 'foo/bar.md' will have its edit link lead to:<br />
<a href="https://example.com/repo/blob/main/docs/foo/bar.md">https://example.com/repo/blob/main/docs/foo/bar.md</a></p>
<div class="admonition note"><p class="admonition-title">Note</p><p>The edit_uri is derived from repo_url.</p></div>
<a href="next.html">Next</a>
</div></div>
<div class="modal" id="mkdocs_search_modal" role="dialog" aria-hidden="true"><h4 class="modal-title">Search</h4>
<p>From here you can search these documents.</p></div>
<div class="modal" id="kbd" role="dialog" aria-hidden="true"><table><tr><td>n</td><td>Next page</td></tr></table></div>
</body></html>"""


def test_html_admonition_titles_hidden_dialogs_and_shown_addresses(tmp_path):
    """MkDocs and Sphinx title their boxes with p.admonition-title ("Note"), a paragraph before; the search and
    keyboard-shortcut dialogs are hidden (aria-hidden) yet were indexed at the end of every MkDocs page; a line
    whose link shows its own address was dropped as navigation."""
    (tmp_path / "conf.html").write_text(MKDOCS_PAGE)
    doc = _load(tmp_path, "conf.html")
    check_blocks(doc.text, doc.blocks)
    assert _texts(doc, "caption") == ["Warning", "Note"]  # a box before the first heading titles no page
    assert _texts(doc, "heading") == ["Configuration"]
    assert "Mass and energy: E = mc2." in _texts(doc, "paragraph")
    assert "https://example.com/repo/blob/main/docs/foo/bar.md" in _texts(doc, "paragraph")
    for gone in ("Search", "search these documents", "Next page"):
        assert gone not in doc.text, gone


def test_markdown_front_matter_title_setext_headings_and_fences(structured):
    doc = _load(structured, "owls.md")
    check_blocks(doc.text, doc.blocks)
    assert doc.title == "Field guide to owls"  # front matter title: wins over the first heading
    assert [(t, lv) for _, t, lv in _blocks(doc, "heading")] == [("Owls", 1), ("Barn owls", 2), ("Tawny owls", 2)]
    assert _texts(doc, "code") == ["# not a heading: inside a fence\ncount-owls --species tawny"]
    assert _texts(doc, "list_item") == ["- It nests in old barns\n  and church towers.",
                                        "- It screeches rather than hoots."]
    assert _texts(doc, "table_row") == ["| species | call |", "| tawny | hoot |"]
    assert _texts(doc, "furniture")[0].startswith("---\ntitle: Field guide to owls")


def test_markdown_comments_and_link_definitions_are_furniture(tmp_path):
    """What a renderer never shows: Node.js's API docs keep each function's version history in an HTML comment,
    and reference links are defined at the bottom; neither may be retrieved or be an answer."""
    (tmp_path / "fs.md").write_text(
        "# File system\n\n<!--introduced_in=v0.10.0-->\n\n## `fs.rm(path)`\n\n<!-- YAML\nadded: v14.14.0\n"
        "changes:\n  - version: v17.3.0\n    description: Removed the `recursive` default.\n-->\n\n"
        "Removes files and directories, as [`rm -rf`][] does.\n[not-a-definition]: inside a paragraph\n"
        "<!-- a comment ends a paragraph, as in CommonMark -->\n\n"
        "[`rm -rf`]: https://man7.org/linux/man-pages/man1/rm.1.html\n[caveats]: #caveats\n")
    doc = _load(tmp_path, "fs.md")
    check_blocks(doc.text, doc.blocks)
    assert _texts(doc, "furniture") == [
        "<!--introduced_in=v0.10.0-->",
        "<!-- YAML\nadded: v14.14.0\nchanges:\n  - version: v17.3.0\n    description: Removed the `recursive` "
        "default.\n-->",
        "<!-- a comment ends a paragraph, as in CommonMark -->",
        "[`rm -rf`]: https://man7.org/linux/man-pages/man1/rm.1.html", "[caveats]: #caveats"]
    # A definition cannot interrupt a paragraph (CommonMark): there it is text.
    assert _texts(doc, "paragraph") == ["Removes files and directories, as [`rm -rf`][] does.\n"
                                        "[not-a-definition]: inside a paragraph"]


def test_markdown_section_paths_read_as_rendered(tmp_path):
    """A citation's section showed "`fs.rm(path)`" with its backticks; the stored heading keeps them (offsets are
    the contract), the path a reader sees does not. Python's dunder names are not emphasis."""
    (tmp_path / "fs.md").write_text("# File **system**\n\n## `fs.rm(path)` and [rm](rm.md)\n\nRemoves files.\n\n"
                                    "## The __init__ method\n\nRuns first.\n")
    doc = _load(tmp_path, "fs.md")
    sections = Sections(doc.text, doc.blocks)
    assert doc.title == "File system"
    assert _texts(doc, "heading")[1] == "`fs.rm(path)` and [rm](rm.md)"
    assert sections.path_at(doc.text.index("Removes")) == ("File system", "fs.rm(path) and rm")
    assert sections.path_at(doc.text.index("Runs")) == ("File system", "The __init__ method")


def test_text_underlined_and_numbered_headings(structured):
    doc = _load(structured, "faq.txt")
    check_blocks(doc.text, doc.blocks)
    assert doc.text == STRUCTURED_TEXT and doc.title == "R FAQ notes"
    assert [(t, lv) for _, t, lv in _blocks(doc, "heading")] == [
        ("Introduction", 1), ("2.10 What is CRAN?", 2), ("Installation", 2)]
    assert _texts(doc, "furniture") == ["============", "------------"]
    sections = Sections(doc.text, doc.blocks)
    assert sections.path_at(doc.text.index("Comprehensive")) == ("Introduction", "2.10 What is CRAN?")
    assert sections.path_at(doc.text.index("from source")) == ("Introduction", "Installation")


def _plain(text: str) -> list[tuple[str, str, int]]:
    blocks = text_structure(text)
    check_blocks(text, blocks)
    return [(b.kind, text[b.start:b.end], b.level) for b in blocks]


def test_text_separator_rules_are_furniture_not_underlines():
    # A page-wide rule closing a paragraph (Vim's help, valgrind's FAQ) is a separator: the paragraph's last line
    # is no heading. A title's underline sits under the group's first line.
    text = ("Dont feel bad: almost everyone gets it wrong at first.\n" + "-" * 72 + "\n\n"
            "Copy the tutor file and edit it:\n\tvimtutor\n<\n" + "=" * 78 + "\n\n********\n\n"
            "Installation\n------------\nRun make.\n")
    assert _plain(text) == [
        ("paragraph", "Dont feel bad: almost everyone gets it wrong at first.", 0), ("furniture", "-" * 72, 0),
        ("paragraph", "Copy the tutor file and edit it:\n\tvimtutor\n<", 0), ("furniture", "=" * 78, 0),
        ("furniture", "********", 0),
        ("heading", "Installation", 2), ("furniture", "------------", 0), ("paragraph", "Run make.", 0)]


def test_text_overlined_titles_vim_help_sections_and_asciidoc_listings():
    text = ("=" * 78 + "\n*01.1*\tTwo manuals\n\nThe documentation has two parts.\n\n" + "=" * 78 +
            "\n2. Two ways of undo\t\t\t\t*undo-two-ways* *E99*\n\n"
            "*****\nHPUX build failure\n-------------------\n\n*****\nOSF/1 4.0d and AIX build failures\n-----\n\n"
            "Since v1.46.5.\nE2fsprogs 1.46.6 (February 1, 2023)\n=====================================\n\n"
            "------------\n$ git checkout-index -a -f\n------------\nis printed when it is missing.\n")
    blocks = _plain(text)
    assert [(t, lv) for k, t, lv in blocks if k == "heading"] == [
        ("*01.1*\tTwo manuals", 1), ("2. Two ways of undo", 1), ("HPUX build failure", 1),  # Vim's tags left out
        ("OSF/1 4.0d and AIX build failures", 1), ("E2fsprogs 1.46.6 (February 1, 2023)", 1)]
    assert ("code", "$ git checkout-index -a -f", 0) in blocks
    assert blocks[-1] == ("paragraph", "is printed when it is missing.", 0)
    assert Sections(text, text_structure(text)).path_at(text.index("documentation")) == ("*01.1* Two manuals",)


def test_text_gnu_news_outline_releases_parts_and_entries():
    text = ("GNU gzip NEWS                                    -*- outline -*-\n\n"
            "* Noteworthy changes in release 1.12 (2022-04-07) [stable]\n\n** Bug fixes\n\n"
            "  'zdiff -C 5' no longer misbehaves.\n\n"
            "* Noteworthy changes in release 1.11 (2021-09-03)\n\n"
            "** Fix a double free in FTP\n\n** Add option to select TLS 1.3\n")
    blocks = _plain(text)
    assert [(t, lv) for k, t, lv in blocks if k == "heading"] == [
        ("Noteworthy changes in release 1.12 (2022-04-07) [stable]", 1), ("Bug fixes", 2),
        ("Noteworthy changes in release 1.11 (2021-09-03)", 1)]
    # Entries with only their siblings below are the changes themselves: list items, which can answer.
    assert [t for k, t, _ in blocks if k == "list_item"] == ["** Fix a double free in FTP",
                                                              "** Add option to select TLS 1.3"]
    path = Sections(text, text_structure(text)).path_at(text.index("zdiff"))
    assert path == ("Noteworthy changes in release 1.12 (2022-04-07) [stable]", "Bug fixes")
    # Without the outline marker or a "** " line, a "* " line is not read as an outline heading.
    assert _plain("* Internationalisation\n\n    man uses catgets.\n")[0][0] == "paragraph"


def test_text_faq_questions_over_indented_answers_and_numbers_with_no_break_spaces():
    text = ("Why don't I see SMP stats in top?\n\n\tYou didn't enable it. Press '1'.\n\n"
            "Where is the answer? Right below.\n\nNot indented, so not a question heading.\n\n"
            "5.12.\xa0Where is Google Earth?\n\n    Google Earth is available from Google.\n\n"
            " 5. deflate() returns Z_BUF_ERROR.\n\n    Make sure avail_out is not zero.\n\n"
            "6. A numbered sentence at the margin.\n\nIts next paragraph, not indented.\n\n"
            "7. Create a database owned by joe:\n\n    createdb -O joe joework\n")
    blocks = _plain(text)
    assert [(t, lv) for k, t, lv in blocks if k == "heading"] == [
        ("Why don't I see SMP stats in top?", 1), ("5.12.\xa0Where is Google Earth?", 2),
        ("5. deflate() returns Z_BUF_ERROR.", 1)]


def test_text_tables_drawn_with_bars_are_rows_and_borders_furniture():
    text = ("+--------+------+\n|System  | Path |\n+--------+------+\n|Debian  | /usr |\n+--------+------+\n")
    assert _plain(text) == [("furniture", "+--------+------+", 0), ("table_row", "|System  | Path |", 0),
                            ("furniture", "+--------+------+", 0), ("table_row", "|Debian  | /usr |", 0),
                            ("furniture", "+--------+------+", 0)]


def test_text_option_lists_are_terms_and_descriptions():
    text = ("Some of the options include:\n  -c               compact instead of pretty-printed output;\n"
            "  -n               use `null` as the single input value;\n"
            "  --width WIDTH, -w WIDTH\n                        When using --yaml-output, specify\n"
            "                        string wrap width\n  --out-ver {1.1,1.2}  grammar version\n"
            "See the manpage.\n\nA line that starts with -f option is prose, and one is not a list:\n"
            "  -v    print more\n")
    blocks = _plain(text)
    assert blocks[:9] == [
        ("paragraph", "Some of the options include:", 0),
        ("term", "-c", 0), ("description", "compact instead of pretty-printed output;", 0),
        ("term", "-n", 0), ("description", "use `null` as the single input value;", 0),
        ("term", "--width WIDTH, -w WIDTH", 0),
        ("description", "When using --yaml-output, specify\n                        string wrap width", 0),
        ("term", "--out-ver {1.1,1.2}", 0), ("description", "grammar version", 0)]
    assert blocks[9:] == [("paragraph", "See the manpage.", 0), (
        "paragraph", "A line that starts with -f option is prose, and one is not a list:\n  -v    print more", 0)]


@pytest.mark.parametrize("content, title", [
    ("*undo.txt*      For Vim version 9.0.  Last change: 2022 Jun 02\n\n\n\t\t  VIM REFERENCE MANUAL    by Bram "
     "Moolenaar\n\n\nUndo and redo\t\t\t\t\t\t*undo-redo*\n\nThe basics are explained in section |02.5|.\n",
     "Vim: Undo and redo"),
    ("*change.txt*    For Vim version 9.0.\n\n\t\t  VIM REFERENCE MANUAL    by Bram Moolenaar\n\n"
     "This file describes commands that delete or change text.  In this context,\n", "Vim: change.txt"),
    ("GNU grep NEWS                                    -*- outline -*-\n\n* Noteworthy changes in release 3.8\n",
     "GNU grep NEWS"),
    ("-*-indented-text-*-\n\nGNU make can use the Customs library.\n", "GNU make can use the Customs library."),
])
def test_text_titles_of_vim_help_and_files_with_an_emacs_mode_line(content, title, tmp_path):
    (tmp_path / "doc.txt").write_text(content)
    assert load_document(tmp_path / "doc.txt", "doc.txt", 10**6).title == title


@pytest.mark.parametrize("name, kind", [
    ("README.Debian", ""), ("TODO.Debian", ""), ("README.ssp", ""), ("NEWS.Debian.gz", ""), ("ChangeLog.old", ""),
    ("MANIFEST.sha256", None), ("notes.Debian", None), ("README.md", "markdown"), ("README", ""),
])
def test_documentation_names_with_a_suffix_no_loader_knows_are_read_as_text(name, kind, tmp_path):
    assert file_kind(name) == kind
    if kind == "":
        (tmp_path / "README.Debian").write_text("README for Debian\n=================\n\nUse pgrep.\n")
        doc = load_document(tmp_path / "README.Debian", "README.Debian", 10**6)
        assert doc.kind == "text" and _texts(doc, "heading") == ["README for Debian"]


def test_pdf_furniture_toc_hyphenation_and_pages(structured):
    doc = _load(structured, "tea.pdf")
    check_blocks(doc.text, doc.blocks)
    # Hyphenation at a line end is joined before offsets are taken: pages still start where they say.
    assert "leaves of identical bushes" in doc.text and "identi-" not in doc.text
    assert [doc.text[s:].split("\n")[0] for s in doc.page_starts] == [
        "Tea Handbook", "Tea Handbook 2", "Tea Handbook 3", "Tea Handbook 4"]
    assert doc.page_at(doc.text.index("identical")) == 2 and doc.page_at(doc.text.index("Black tea")) == 4
    furniture = _texts(doc, "furniture")
    # Running headers (repeated but for the page number), page numbers and dot-leader TOC lines.
    for line in ("Tea Handbook 2", "Tea Handbook 3", "Tea Handbook 4", "2", "3", "4", "i",
                 "1 Cultivation . . . . . . . . . . . . 2", "2 Processing . . . . . . . . . . . . . 3"):
        assert line in furniture, line
    assert [(t, lv) for _, t, lv in _blocks(doc, "heading")] == [("1 Cultivation", 1), ("2 Processing", 1)]


def test_pdf_running_headers_that_name_their_section_are_furniture(tmp_path):
    """Sphinx and texinfo headers name the section they are in ("1.2. Picking  Tea Handbook", "Chapter 3: Black
    Tea 7"), so each one repeats on a page or two only; their frame (the book's title, "Chapter N:") repeats on
    most pages. Found on the Ubuntu Packaging Guide, the ReportLab guide, and the bash, R and gnuplot manuals."""
    sections = ["1.1. Soil", "1.2. Climate", "1.3. Picking", "2.1. Withering", "2.2. Rolling", "2.3. Drying",
                "3.1. Green Tea", "3.2. Black Tea"]
    pages = ["Tea Handbook\nA guide for growers and tasters", "Tea Handbook ii\nContents come first.\nii"]
    for number, section in enumerate(sections, 3):
        header = f"{section} Tea Handbook" if number % 2 else f"Tea Handbook Chapter {section[0]}. Work"
        body = f"{section[5:]} is the step growers ask about most, and this page says how it is done."
        lines = [header, f"{section[:3]} {section[5:]}" if section.endswith(("1. Soil", "Withering")) else body,
                 body.replace("most", "first"), str(number)]
        pages.append("\n".join(lines))
    path = tmp_path / "handbook.pdf"
    path.write_bytes(make_pdf(pages))
    doc = load_document(path, "handbook.pdf", 10**7)
    check_blocks(doc.text, doc.blocks)
    furniture = _texts(doc, "furniture")
    for page in pages[1:]:
        assert page.split("\n")[0] in furniture, page
    assert [t for t in _texts(doc, "heading")] == ["1.1 Soil", "2.1 Withering"]
    assert _texts(doc, "paragraph")[0] == "Tea Handbook\nA guide for growers and tasters"  # a cover is no header


def _pdf_doc(tmp_path, pages: list[str]):
    path = tmp_path / "manual.pdf"
    path.write_bytes(make_pdf(pages))
    doc = load_document(path, "manual.pdf", 10**7)
    check_blocks(doc.text, doc.blocks)
    return doc


_BODY = "Brewing tea well takes water at the right heat and a few minutes of patience, as this page explains."


def test_pdf_contents_without_dot_leaders_are_furniture(tmp_path):
    """Sphinx's LaTeX prints chapter lines without leaders ("1 Foreword 3"), dblatex and FOP too ("Chapter 2.
    Installing 17"), gnuplot many entries without a number ("Copyright 21"); as paragraphs they were retrieved.
    Found on the Why3 (Sphinx), Auto Multiple Choice and Debian Reference (dblatex), FreeFEM and gnuplot PDFs."""
    contents = ["Contents", "1 Picking the Leaves 3", "1.1 When to pick . . . . . . . . . . 3",
                "1.2 Which leaves . . . . . . . . . 3", "2 Withering and Rolling 4", "2.1 Withering . . . . . . . . . 4",
                "2.2 Rolling the leaves by hand, the old way, on a bamboo mat and a table of slate",
                "and wood . . . . . . . 5", "Brewing 6", "Chapter 3. Tasting Notes 7", "Index 8", "i"]
    pages = ["Tea Handbook\nA guide for growers", "\n".join(contents)]
    for number, heading in enumerate(["1 Picking the Leaves", "1.1 When to pick", "2 Withering and Rolling",
                                      "2.2 Rolling the leaves", "Brewing", "Chapter 3. Tasting Notes", "Index"], 3):
        pages.append(f"{heading}\n{_BODY}\n{number}")
    doc = _pdf_doc(tmp_path, pages)
    furniture = _texts(doc, "furniture")
    for line in contents:
        assert line in furniture, line
    assert _texts(doc, "paragraph")[0] == "Tea Handbook\nA guide for growers"
    # The headings are the chapters' own lines, not their contents entries.
    assert _texts(doc, "heading") == ["1 Picking the Leaves", "1.1 When to pick", "2 Withering and Rolling",
                                      "2.2 Rolling the leaves", "Chapter 3. Tasting Notes"]


def test_pdf_contents_without_leaders_or_title_are_furniture(tmp_path):
    """dblatex's chapter lines alone, no "Contents" above them: their page numbers rise and name pages the PDF has."""
    contents = ["1 Picking the Leaves 3", "2 Withering and Rolling 4", "3 Tasting Notes 5", "A Tea Words 6"]
    pages = ["Tea Handbook", "\n".join(contents), *(f"{_BODY}\n{n}" for n in range(3, 7))]
    doc = _pdf_doc(tmp_path, pages)
    assert set(contents) <= set(_texts(doc, "furniture"))


def test_pdf_numbered_lists_and_tables_on_pages_are_not_contents(tmp_path):
    """Lines that end in a number are not contents unless a page of them looks like one: a numbered list of steps
    whose numbers do not rise, a table whose numbers name no page of the PDF, a table of numbers, and a list on a
    page well after the front matter stay text."""
    steps = ["1 Set the kettle's dial to 3", "2 Wait for the whistle, about minute 5", "3 Turn the dial back to 1",
             "4 Pour the water at step 2"]
    grades = ["1 Assam 12", "2 Darjeeling 15", "3 Ceylon 18", "4 Nilgiri 30"]
    numbers = ["2019 2020 2021", "12 15 18", "20 22 25", "31 33 40"]
    late = ["1 Rinse the pot 2", "2 Warm the cups 3", "3 Measure the leaves 5", "4 Steep and pour 9"]
    pages = ["Tea Handbook", "\n".join(steps), "\n".join(grades), "\n".join(numbers),
             *(f"{_BODY}\n{n}" for n in range(5, 14)), "\n".join(late)]
    doc = _pdf_doc(tmp_path, pages)
    furniture = set(_texts(doc, "furniture"))
    for line in steps + grades + numbers + late:
        assert line not in furniture, line
    assert "2019 2020 2021\n12 15 18\n20 22 25\n31 33 40" in _texts(doc, "paragraph")


def test_pdf_outline_headings_quoted_otherwise_are_found(tmp_path):
    """An outline may spell quotes otherwise than the page: the Debian Reference's ”$LANG” sections were text."""
    import io

    from pypdf import PdfReader, PdfWriter

    pages = ["1.5.2 The \"$LANG\" variable\nThe locale of a shell comes from this variable, then from LC_ALL."]
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(make_pdf(pages))))
    writer.add_outline_item(title="The “$LANG” variable", page_number=0)
    out = io.BytesIO()
    writer.write(out)
    path = tmp_path / "shells.pdf"
    path.write_bytes(out.getvalue())
    doc = load_document(path, "shells.pdf", 10**7)
    check_blocks(doc.text, doc.blocks)
    assert _texts(doc, "heading") == ['1.5.2 The "$LANG" variable']


def test_pdf_outline_gives_headings(structured):
    doc = _load(structured, "tea-outline.pdf")
    check_blocks(doc.text, doc.blocks)
    headings = [(t, lv) for _, t, lv in _blocks(doc, "heading")]
    assert headings == [("Contents", 1), ("1 Cultivation", 1), ("2 Processing", 1)]
    assert doc.page_at(doc.blocks[[b.kind for b in doc.blocks].index("heading")].start) == 1


# ---------------------------------------------------------------- chunks, sentences, retrieval text


def test_chunks_and_sentences_respect_blocks_sections_and_furniture(structured, embedder):
    chunker = make_chunker(embedder, Settings(chunk_tokens=40, chunk_overlap=10))
    for path in sorted(p for p in structured.rglob("*") if p.is_file()):
        doc = _load(path.parent, path.name)
        check_blocks(doc.text, doc.blocks)
        sections = Sections(doc.text, doc.blocks)
        chunks = chunker.chunk(doc)
        assert chunks, path.name
        for chunk in chunks:
            assert chunk.section == sections.path_at(chunk.char_start)
            assert len(chunk.kinds) == len(chunk.sentences)
            assert len({sections.top_section_at(s) for s, _ in chunk.sentences}) == 1  # one top-level section
            for (s, e), code in zip(chunk.sentences, chunk.kinds):
                assert chunk.char_start <= s < e <= chunk.char_end
                block = next(b for b in doc.blocks if b.start <= s and e <= b.end)  # never across blocks
                assert KINDS[code] == block.kind != "furniture"
            assert chunk.furniture == furniture_within(doc.blocks, chunk.char_start, chunk.char_end)
            # The retrieval text leaves furniture out, and its sentence spans still point at the sentences.
            chunk_text = doc.text[chunk.char_start:chunk.char_end]
            prefix = chunk_prefix(title_prefix(doc.title, embedder), chunk.section, doc.title, chunk_text, embedder)
            text, spans = retrieval_text(prefix, chunk_text, chunk.char_start, chunk.sentences, chunk.furniture)
            for (s, e), (rs, re_) in zip(chunk.sentences, spans):
                assert text[rs:re_] == doc.text[s:e]
            for s, e in chunk.furniture:
                assert doc.text[s:e] not in text.split("\n")


def test_toc_lines_and_running_headers_are_never_retrieved_text(structured, embedder):
    doc = _load(structured, "tea.pdf")
    chunker = make_chunker(embedder, Settings())
    texts = []
    for chunk in chunker.chunk(doc):
        chunk_text = doc.text[chunk.char_start:chunk.char_end]
        texts.append(retrieval_text("", chunk_text, chunk.char_start, chunk.sentences, chunk.furniture)[0])
        assert all(doc.text[s:e] not in {"Tea Handbook 3", "i", "2", "3"} for s, e in chunk.sentences)
    joined = "\n".join(texts)
    assert ". . . ." not in joined and "Tea Handbook 3" not in joined
    assert "identical bushes" in joined


def test_section_line_is_in_the_retrieval_text_and_takes_from_the_budget(structured, embedder):
    doc = _load(structured, "venv.html")
    settings = Settings()
    chunk = next(c for c in make_chunker(embedder, settings).chunk(doc) if c.section[-1:] == ("API",))
    chunk_text = doc.text[chunk.char_start:chunk.char_end]
    prefix = chunk_prefix(title_prefix(doc.title, embedder), chunk.section, doc.title, chunk_text, embedder)
    # The h1 equals the title: said once.
    assert prefix == "venv — Creation of virtual environments\nAPI\n"
    text, _ = retrieval_text(prefix, chunk_text, chunk.char_start, chunk.sentences, chunk.furniture)
    assert len(embedder.token_spans([text])[0]) <= embedder.max_content_tokens


# ---------------------------------------------------------------- stored, cited


def test_every_stored_chunk_sentence_and_section_is_exact(structured_index):
    stored = open_stored_index(structured_index)
    try:
        assert stored.has_structure and stored.sentence_kinds is not None
        assert len(stored.sentence_kinds) == len(stored.sentence_spans)
        chunks = stored.all_chunks()
        for row, chunk in enumerate(chunks):
            document = stored.document(stored.doc_ids[chunk.doc_row])
            text = document.text
            assert text[chunk.char_start:chunk.char_end] == chunk.text
            blocks = stored.document_blocks(chunk.doc_row)
            check_blocks(text, blocks)
            assert list(chunk.section) == stored.chunk_sections([row])[0]
            assert tuple(chunk.section) == Sections(text, blocks).path_at(chunk.char_start)
            window = slice(chunk.sentence_first, chunk.sentence_first + chunk.sentence_count)
            for (s, e), code in zip(stored.sentence_spans[window], stored.sentence_kinds[window]):
                assert chunk.char_start <= s < e <= chunk.char_end
                assert KINDS[code] != "furniture"
                assert any(b.start <= s and e <= b.end and b.kind == KINDS[code] for b in blocks)
            for heading in (b for b in blocks if b.kind == "heading"):
                assert text[heading.start:heading.end] == text[heading.start:heading.end].strip()
        # Rows out of order and repeated, as a question's passages ask for them.
        rows = [*reversed(range(len(chunks))), 0]
        assert stored.chunk_texts_and_sections(rows) == [(chunks[row].text, list(chunks[row].section)) for row in rows]
        assert stored.chunk_texts(rows) == [chunks[row].text for row in rows]
        assert stored.section_at(stored.doc_row_by_id["faq.txt"], 200) == ["Introduction", "2.10 What is CRAN?"]
    finally:
        stored.close()


def test_citations_carry_the_section(structured_index):
    engine = open_index(structured_index)
    try:
        response = engine.ask("Which option deletes the contents of the environment directory?", top_k=3)
        top = response.passages[0]
        assert top.citation.doc_id == "venv.html"
        assert top.citation.section == ["venv — Creation of virtual environments", "Creating virtual environments"]
        assert response.answer is not None and response.answer.citation.section == top.citation.section
        text = engine.document("venv.html").text
        assert text[top.citation.char_start:top.citation.char_end] == top.text
        response = engine.ask("What does the barn owl hunt?", top_k=1)
        assert response.passages[0].citation.section == ["Owls", "Barn owls"]
    finally:
        engine.close()


@pytest.fixture(scope="module")
def structured_server(structured_index):
    from .conftest import Server

    running = Server(structured_index)
    yield running
    running.stop()


def test_the_document_api_gives_a_spans_section_as_its_citation_carries_it(structured_server):
    questions = ["Which option deletes the contents of the environment directory?", "What does the barn owl hunt?"]
    with structured_server.client() as client:
        citations = []
        for question in questions:
            answered = client.post("/ask", json={"question": question, "top_k": 5}).json()
            citations += [answered["answer"]["citation"]] + [p["citation"] for p in answered["passages"]]
        nested = [c for c in citations if len(c["section"]) >= 2]
        assert {c["doc_id"] for c in nested} >= {"venv.html", "owls.md"}
        for citation in citations:
            found = client.get(f"/documents/{citation['doc_id']}",
                               params={"start": citation["char_start"], "end": citation["char_end"]})
            assert found.status_code == 200, found.text
            assert found.json()["section"] == citation["section"], citation
        assert client.get("/documents/owls.md").json()["section"] is None  # no span asked for


@pytest.mark.parametrize("params, wrong", [
    ({"start": 0, "end": 10**6}, "end"), ({"start": 5, "end": 4}, "end"), ({"start": -1, "end": 4}, "start"),
    ({"start": "one", "end": 4}, "start"), ({"start": 4}, "end"), ({"end": 4}, "start"),
])
def test_a_span_the_document_does_not_have_is_a_clear_422(structured_server, params, wrong):
    with structured_server.client() as client:
        refused = client.get("/documents/owls.md", params=params)
        assert refused.status_code == 422, refused.text
        body = refused.json()
        assert body["detail"][0]["loc"] == ["query", wrong] and body["message"]
        if params.get("end") == 10**6:
            length = len(client.get("/documents/owls.md").json()["text"])
            assert body["message"] == f"end 1000000 is past the end of the document ({length} characters)"
        # Offsets of another version are that version's: checked against it (search.versions), not refused.
        if "start" in params and "end" in params and params["start"] == 0:
            other = client.get("/documents/owls.md", params={**params, "sha256": "0" * 64})
            assert other.status_code == 200 and other.json()["cited"]["status"] == "changed"


def _downgrade_to_pre_structure(index: Path) -> None:
    """Make the live generation look like one built before structure was kept (and keep it checksummed)."""
    generation = index / "generations" / (index / "CURRENT").read_text().strip()
    connection = sqlite3.connect(generation / CHUNKS_DB)
    connection.execute("ALTER TABLE chunks DROP COLUMN section")
    connection.execute("ALTER TABLE documents DROP COLUMN blocks")
    connection.commit()
    connection.execute("VACUUM")
    connection.close()
    with np.load(generation / SENTENCES) as sentences:
        spans, vectors = sentences["spans"], sentences["vectors"]
    with open(generation / SENTENCES, "wb") as handle:
        np.savez(handle, spans=spans, vectors=vectors)
    manifest = json.loads((generation / MANIFEST).read_text())
    manifest.pop("structure")
    for name in (CHUNKS_DB, SENTENCES):
        path = generation / name
        manifest["files"][name] = {"bytes": path.stat().st_size, "sha256": sha256_file(path)}
    (generation / MANIFEST).write_text(json.dumps(manifest))


def test_an_index_built_before_sections_is_read_with_empty_sections_and_rebuilt_in_full(structured_index, tmp_path):
    index = tmp_path / "index"
    shutil.copytree(structured_index, index)
    _downgrade_to_pre_structure(index)
    engine = open_index(index)
    try:
        assert engine.stored.has_structure is False and engine.stored.sentence_kinds is None
        rows = [1, 0, 1]
        assert engine.stored.chunk_sections(rows) == [[], [], []]
        assert engine.stored.chunk_texts_and_sections(rows) == [(text, []) for text in engine.stored.chunk_texts(rows)]
        response = engine.ask("What does the barn owl hunt?", top_k=2)
        assert all(p.citation.section == [] for p in response.passages)
        assert response.answer is None or response.answer.citation.section == []
    finally:
        engine.close()
    report = build_index([Path(str(structured_index.parent / "docs"))], Settings(index=index), progress=False)
    assert report.changes is None
    assert f"structure settings changed (version None -> {STRUCTURE_VERSION})" in report.full_build_reason
    stored = open_stored_index(index)
    try:
        assert stored.has_structure and any(stored.chunk_sections(list(range(stored.n_chunks))))
    finally:
        stored.close()


def test_an_incremental_build_keeps_blocks_and_sections_equal_to_a_fresh_build(structured, tmp_path):
    folder = _write(tmp_path / "docs")
    index, fresh = tmp_path / "index", tmp_path / "fresh"
    build_index([folder], Settings(index=index), progress=False)
    (folder / "faq.txt").write_text(STRUCTURED_TEXT + "\nMirrors\n-------\n\nCRAN has mirrors worldwide.\n")
    report = build_index([folder], Settings(index=index), progress=False)
    assert report.changes is not None and report.changes.updated == ["faq.txt"]
    build_index([folder], Settings(index=fresh), progress=False)
    a, b = open_stored_index(index), open_stored_index(fresh)
    try:
        assert a.all_documents() == b.all_documents()
        assert a.all_chunks() == b.all_chunks()
        assert np.array_equal(a.sentence_kinds, b.sentence_kinds)
        assert np.array_equal(a.sentence_spans, b.sentence_spans)
    finally:
        a.close()
        b.close()


def test_blocks_round_trip_through_the_store(structured_index, structured):
    stored = open_stored_index(structured_index)
    try:
        for doc_id in ("venv.html", "owls.md", "faq.txt", "tea.pdf", "tea-outline.pdf"):
            assert stored.document_blocks(stored.doc_row_by_id[doc_id]) == _load(structured, doc_id).blocks
    finally:
        stored.close()



def test_text_saved_from_a_terminal_is_stored_without_its_formatting(tmp_path):
    """man-db ships its manual as grotty output (SGR escapes), and `man ls > ls.txt` keeps backspace overstrike:
    "\\x1b[1mman-db\\x1b[0m" was the title, and "N\\bNA\\bAM\\bME\\bE" matched no question's "name"."""
    (tmp_path / "manual.txt").write_bytes(
        b"\x1b[1mman-db - the database cached manual pager suite\x1b[0m\n\n"
        b"N\x08NA\x08AM\x08ME\x08E\n       ls - list directory contents\n\n"
        b"       The _\x08f_\x08i_\x08l_\x08e is read \x1b[4monce\x1b[24m.\n")
    doc = _load(tmp_path, "manual.txt")
    check_blocks(doc.text, doc.blocks)
    assert doc.title == "man-db - the database cached manual pager suite"
    assert "NAME\n" in doc.text and "The file is read once." in doc.text
    assert "\x1b" not in doc.text and "\x08" not in doc.text
