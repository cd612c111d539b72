"""GNU Info manuals (index/formats/info.py): what is stored of a node, how its text is typed, titles, sections,
split manuals, compressed parts, and a ``.info`` that is no Info manual.

The fixtures in tests/info_fixtures/ are makeinfo 6.8's output of lanterns.texi (``makeinfo --no-split`` for
lanterns.info, ``--split-size=1500`` for split/): regenerate them from the .texi with those commands.
"""

from __future__ import annotations

import gzip
import re
from pathlib import Path
from typing import get_args

import pytest

from askdocs.index.documents import LoadError, file_kind, load_document
from askdocs.index.formats import FORMATS
from askdocs.index.reading import EMPTY
from askdocs.index.structure import check_blocks
from askdocs.search.models import FileType
from .fixtures import section_of, typed_blocks

FIXTURES = Path(__file__).parent / "info_fixtures"
NAVIGATION = re.compile(r"\x1f|^File: .*Node:|\* Menu:|Tag Table|^Node: |Indirect:|Local Variables:|\*[Nn]ote\b"
                        r"|produced by makeinfo|INFO-DIR-SECTION|\(line +\d+\)|\x00|\x08", re.MULTILINE)


def _load(path: Path, name: str | None = None):
    doc = load_document(path, name or path.name, 50_000_000)
    check_blocks(doc.text, doc.blocks)
    return doc




@pytest.fixture(scope="module")
def manual():
    return _load(FIXTURES / "lanterns.info")


@pytest.mark.parametrize("name, kind", [
    ("bash.info", "info"), ("bash.info.gz", "info"), ("find.info-1", "info"), ("find.info-12.gz", "info"),
    ("FIND.INFO-2", "info"), ("find.info-x", None), ("notes.info-1.txt", "text"),
])
def test_info_names_and_parts_are_the_info_kind(name, kind):
    assert file_kind(name) == kind


def test_every_format_kind_is_a_type_filters_take():
    assert "info" in get_args(FileType)  # --filter type=info
    assert {f.kind for f in FORMATS} <= set(get_args(FileType))


def test_no_navigation_is_stored(manual):
    assert manual.kind == "info"
    assert NAVIGATION.search(manual.text) is None, NAVIGATION.search(manual.text)
    assert "Wicks come in three widths" in manual.text  # text after a menu is the node's again
    for dropped in ("Trimming and replacing wicks", "What to burn", "Every topic",  # menu descriptions
                    "Daily care",  # a menu comment
                    "wick, trimming",  # the index node's entry
                    "Keeping storm lanterns lit",  # the dir entry
                    "Household"):
        assert dropped not in manual.text


def test_title_is_the_top_nodes_heading(manual):
    assert manual.title == "Lantern Keeping"


def test_headings_and_levels_from_underlines(manual):
    headings = [(b.level, manual.text[b.start:b.end]) for b in manual.blocks if b.kind == "heading"]
    assert headings == [(1, "Lantern Keeping"), (1, "1 Wicks"), (2, "1.1 Trimming"), (3, "1.1.1 Spare wicks"),
                        (1, "2 Burning oils"), (2, "2.1 Colza"), (3, "2.1.1 Storing colza"),
                        (4, "2.1.1.1 In winter")]  # the index node ("Index") is not stored at all
    assert "*****" not in manual.text and "=====" not in manual.text and "....." not in manual.text


def test_section_paths_follow_the_manual(manual):
    assert section_of(manual, "blunt scissors") == ("1 Wicks", "1.1 Trimming")
    assert section_of(manual, "three spare wicks") == ("1 Wicks", "1.1 Trimming", "1.1.1 Spare wicks")
    assert section_of(manual, "refill tank") == ("2 Burning oils",)
    assert section_of(manual, "cloudy") == ("2 Burning oils", "2.1 Colza", "2.1.1 Storing colza",
                                             "2.1.1.1 In winter")


def test_table_items_and_definitions_are_terms_with_descriptions(manual):
    blocks = typed_blocks(manual)
    at = blocks.index(("term", "‘-f’"))
    assert blocks[at:at + 5] == [
        ("term", "‘-f’"), ("term", "‘--flat’"), ("description", "Trim the wick flat across its whole width."),
        ("description", "A flat wick gives the tallest flame."), ("term", "‘-r’")]
    assert blocks[at + 5:at + 10] == [
        ("description", "Round the corners."),
        ("term", "‘-o MODE’"), ("description", "Trim in MODE, one of:"),  # a blank line between them
        ("term", "‘storm’"), ("description", "Leave a long wick for high wind.")]  # a table in a description
    # An example whose output is indented further is no term and its description.
    assert ("code", "$ trim --report\n        wick1   flat") in blocks
    # A lead-in line right above a table is a paragraph, not one of its terms.
    at = blocks.index(("term", "‘full’"))
    assert blocks[at - 1:at + 2] == [("paragraph", "The tank gauge reads:"), ("term", "‘full’"),
                                     ("description", "No more oil fits.")]
    at = blocks.index(("term", "-- Command: refill tank LITRES"))
    assert blocks[at + 1] == ("description", "Fill the tank with LITRES of paraffin; never fill it more than\n"
                                             "three quarters full, or the oil expands onto the table.")
    assert ("term", "-- Function: lamp-brightness wick-height") in blocks


def test_lists_examples_quotations_and_footnotes(manual):
    blocks = typed_blocks(manual)
    assert ("list_item", "• Lower the wick until only a rim shows.") in blocks
    assert ("list_item", "• Cut straight across, then pinch off the corners so that the flame\nstays round.") \
        in blocks
    assert ("list_item", "1. Light it.") in blocks
    assert ("code", "$ trim --flat wick1\n$ trim -r wick2") in blocks
    # @quotation is indented like @example, but filled: prose.
    assert ("paragraph", "A lantern keeper who trims every evening will never need to clean\n"
                         "the chimney glass more than once a week, whatever the weather.") in blocks
    assert ("paragraph", "The trimmer accepts these options:") in blocks
    assert ("paragraph", "(1) Rinse it in fresh water monthly.") in blocks  # the footnote is content
    assert ("furniture", "---------- Footnotes ----------") in blocks


def test_cross_references_read_as_words(manual):
    assert "See Fuel, for the oils that burn cleanly." in manual.text  # @xref{Fuel}
    assert "held level with the burner (see Wicks)." in manual.text  # @pxref{Wicks}
    # @ref{Fuel, oil chapter, ...}: its label; makeinfo's period after "Fuel" ends no sentence.
    assert "as the oil chapter\nexplains." in manual.text


def test_split_manual_parts_are_documents_and_its_table_is_not(tmp_path):
    split = FIXTURES / "split"
    with pytest.raises(LoadError) as refused:
        _load(split / "lanterns.info")
    assert refused.value.category == EMPTY
    assert "split Info manual" in str(refused.value) and "lanterns.info-1, lanterns.info-2" in str(refused.value)
    first, second = _load(split / "lanterns.info-1"), _load(split / "lanterns.info-2")
    assert first.kind == second.kind == "info"
    assert first.title == "Lantern Keeping"
    assert second.title == "lanterns"  # no Top node in this part: the manual's name from its header line
    whole = _load(FIXTURES / "lanterns.info").text
    for part in (first, second):
        assert NAVIGATION.search(part.text) is None
        assert all(part.text[b.start:b.end] in whole for b in part.blocks)
    assert "blunt scissors" in first.text and "refill tank" in second.text
    assert section_of(second, "cloudy")[0] == "2 Burning oils"


def test_compressed_manual_and_part(tmp_path):
    plain = _load(FIXTURES / "lanterns.info")
    for name, source in (("lanterns.info.gz", FIXTURES / "lanterns.info"),
                         ("lanterns.info-2.gz", FIXTURES / "split" / "lanterns.info-2")):
        path = tmp_path / name
        path.write_bytes(gzip.compress(source.read_bytes(), mtime=0))
        doc = _load(path)
        assert doc.kind == "info" and NAVIGATION.search(doc.text) is None
        if name == "lanterns.info.gz":
            assert (doc.text, doc.title, doc.blocks) == (plain.text, plain.title, plain.blocks)


def test_a_dot_info_file_that_is_no_info_manual_is_plain_text(tmp_path):
    path = tmp_path / "x.info"
    path.write_text("Metadata-Version: 2.1\nName: lanterns\nVersion: 1.0\nSummary: Keeping lanterns lit\n")
    doc = _load(path)
    assert doc.kind == "text"
    assert doc.text.startswith("Metadata-Version: 2.1")
    binary = tmp_path / "blob.info"
    binary.write_bytes(b"\x00\x01\x02 not text \x00")
    with pytest.raises(LoadError) as refused:
        _load(binary)
    assert "not an Info manual" in str(refused.value)


def test_a_node_without_a_heading_is_a_section_named_after_it(tmp_path):
    path = tmp_path / "plain.info"
    path.write_text(
        "This is plain.info, produced by hand.\n\n"
        "\x1f\nFile: plain.info,  Node: Top,  Next: Brewing,  Up: (dir)\n\nTea\n***\n\n* Menu:\n\n* Brewing::\n\n"
        "\x1f\nFile: plain.info,  Node: Brewing,  Prev: Top,  Up: Top\n\n"
        "Brew green tea at eighty degrees for two minutes.\n\n"
        "\x1f\nTag Table:\nNode: Top\x7f36\nNode: Brewing\x7f120\n\x1f\nEnd Tag Table\n")
    doc = _load(path)
    assert typed_blocks(doc) == [("heading", "Tea"), ("heading", "Brewing"),
                            ("paragraph", "Brew green tea at eighty degrees for two minutes.")]
    assert section_of(doc, "eighty") == ("Tea", "Brewing") and doc.blocks[1].level == 2
    assert doc.title == "Tea"


def test_an_info_file_with_only_an_index_is_empty(tmp_path):
    path = tmp_path / "only.info-3"
    path.write_bytes(b"\x1f\nFile: only.info,  Node: Index,  Up: Top\n\nIndex\n*****\n\n\x00\x08[index\x00\x08]\n"
                     b"* Menu:\n\n* brewing:   Brewing.   (line 6)\n")
    with pytest.raises(LoadError) as refused:
        _load(path)
    assert refused.value.category == EMPTY and "index nodes and menus only" in str(refused.value)


def test_text_past_the_limit_is_refused(tmp_path):
    with pytest.raises(LoadError, match="too much text"):
        load_document(FIXTURES / "lanterns.info", "lanterns.info", 50_000_000, max_text_chars=500)
