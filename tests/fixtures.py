"""Small documents the tests make themselves: a PDF with real text, HTML, Markdown."""

from __future__ import annotations

import socket
import time
from pathlib import Path


def make_pdf(pages: list[str], title: str | None = None) -> bytes:
    """A minimal, valid PDF with one text line per entry of each page's lines (Helvetica, uncompressed)."""
    streams = []
    for text in pages:
        ops = ["BT", "/F1 11 Tf", "14 TL", "72 720 Td"]
        for line in text.split("\n"):
            escaped = line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
            ops.append(f"({escaped}) Tj T*")
        ops.append("ET")
        streams.append("\n".join(ops).encode("latin-1"))
    return pdf_of_streams(streams, title)


def make_rotated_pdf(pages: list[str], rotations: list[int]) -> bytes:
    """make_pdf's pages, each given a /Rotate (degrees clockwise, as a viewer turns it) by pypdf."""
    import io

    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter()
    for page, rotation in zip(PdfReader(io.BytesIO(make_pdf(pages))).pages, rotations, strict=True):
        writer.add_page(page).rotate(rotation)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def make_placed_words_pdf(lines: list[str]) -> bytes:
    """One page whose words are each placed on their own (a text matrix per word, no space characters), the way
    many typesetters write them: the gaps between words exist only as positions."""
    ops = ["BT", "/F1 11 Tf"]
    for row, line in enumerate(lines):
        x = 72.0
        for word in line.split():
            ops.append(f"1 0 0 1 {x:.1f} {720 - 16 * row} Tm ({word}) Tj")
            x += 6.2 * len(word) + 4
    ops.append("ET")
    return pdf_of_streams(["\n".join(ops).encode("latin-1")])


def pdf_of_streams(streams: list[bytes], title: str | None = None) -> bytes:
    """A PDF with one page per content stream (Helvetica as /F1, letter size, uncompressed)."""
    objects: list[bytes] = []

    def add(body: bytes) -> int:
        objects.append(body)
        return len(objects)

    catalog = add(b"")  # filled in below, once the pages object number is known
    pages_obj = add(b"")
    font = add(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    page_ids = []
    for stream in streams:
        content = add(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
        page_ids.append(
            add(
                b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 612 792] /Contents %d 0 R "
                b"/Resources << /Font << /F1 %d 0 R >> >> >>" % (pages_obj, content, font)
            )
        )
    objects[catalog - 1] = b"<< /Type /Catalog /Pages %d 0 R >>" % pages_obj
    kids = b" ".join(b"%d 0 R" % p for p in page_ids)
    objects[pages_obj - 1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, len(page_ids))
    info = add(b"<< /Title (%s) >>" % title.encode("latin-1")) if title else None

    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    trailer = b"<< /Size %d /Root %d 0 R" % (len(objects) + 1, catalog)
    if info:
        trailer += b" /Info %d 0 R" % info
    out += b"trailer\n" + trailer + b" >>\nstartxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)


HTML_PAGE = """<!doctype html>
<html><head><title>Solar power at home</title><script>var tracking = "do not index me";</script>
<style>body { color: red; }</style></head>
<body><nav><a href="/">Home</a> | <a href="/about">About</a></nav>
<article><h1>Solar power at home</h1>
<p>Solar panels convert sunlight into electricity using photovoltaic cells made of silicon.
They work best on roofs that face the sun for most of the day.</p>
<p>A home battery stores the surplus energy produced at noon, so the house can use it after sunset.
Most home batteries today use lithium iron phosphate chemistry.</p>
<p>Net metering lets a household sell its extra electricity back to the grid at the retail price.</p>
</article><footer>Copyright 2024 Example Energy</footer></body></html>
"""

MARKDOWN_NOTE = """---
owner: facilities
year: 2024
---
# Office coffee machine

The coffee machine on the third floor is descaled every Friday by the facilities team.
If it shows error E7, the water tank is empty: refill it with filtered water.

## Ordering beans

Beans are ordered from a roaster in Ghent; the budget is 120 euros a month.
"""

PLAIN_NOTE = """Bicycle maintenance

Check the tyre pressure every week: road tyres need 6 to 8 bar.
Clean and lubricate the chain every 300 kilometres, more often after rain.
Brake pads should be replaced when the groove on their surface has worn away.
"""

PDF_PAGES = [
    "Tea cultivation guide\nTea plants grow best at altitudes between 600 and 2000 metres.\nThe leaves are picked by hand every two weeks.",
    "Processing\nGreen tea is steamed or pan fired right after picking to stop oxidation.\nBlack tea is fully oxidised before drying.",
]


def write_corpus(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "notes").mkdir(exist_ok=True)
    (root / "solar.html").write_text(HTML_PAGE, encoding="utf-8")
    (root / "notes" / "coffee.md").write_text(MARKDOWN_NOTE, encoding="utf-8")
    (root / "notes" / "bicycle.txt").write_text(PLAIN_NOTE, encoding="utf-8")
    (root / "tea.pdf").write_bytes(make_pdf(PDF_PAGES, title="Tea from leaf to cup"))
    return root


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def make_pdf_bomb(pages: int = 200, stream_bytes: int = 20_000_000) -> bytes:
    """A small PDF whose pages all draw one Flate-compressed content stream of ``stream_bytes`` text operators:
    a few hundred KB on disk, ``pages`` times the stream's text when extracted."""
    import zlib

    line = b"(" + b"lorem ipsum dolor sit amet " * 4 + b") Tj T*\n"
    body = b"BT /F1 11 Tf 14 TL 72 720 Td\n" + line * (stream_bytes // len(line)) + b"ET"
    packed = zlib.compress(body, 9)
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"",  # the page tree, once the page numbers are known
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(packed) + packed + b"\nendstream",
    ]
    first_page = len(objects) + 1
    for _ in range(pages):
        objects.append(b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
                       b"/Resources << /Font << /F1 3 0 R >> >> >>")
    kids = b" ".join(b"%d 0 R" % n for n in range(first_page, first_page + pages))
    objects[1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, pages)
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


# ---------------------------------------------------------------- documents with structure (issue 15, section 1)

# Navigation, breadcrumbs, a Prev/Next line, a footer, permalink markers, a box heading before the h1, hard-wrapped
# paragraph text, a definition list, a table and preformatted code.
STRUCTURED_HTML = """<?xml version="1.0" encoding="UTF-8" standalone="no"?>
<!DOCTYPE html><html xmlns="http://www.w3.org/1999/xhtml"><head><title>venv — Creation of virtual environments</title>
<script>var x = "tracking";</script></head><body>
<div class="navheader"><table><tr><td><a href="prev.html">Prev</a></td><td><a href="up.html">Up</a></td>
<td><a href="index.html">Home</a></td><td><a href="next.html">Next</a></td></tr></table></div>
<div class="breadcrumbs"><a href="/">Docs</a> » <a href="/lib">Library</a> » venv</div>
<div class="note"><h3>Note</h3><p>This page is an example.</p></div>
<h1>venv — Creation of virtual environments<a class="headerlink" href="#venv">¶</a></h1>
<p>The venv module supports creating lightweight
   virtual environments, each with their own
   independent set of Python packages.</p>
<h2 id="cli">Creating virtual environments <a href="#cli">#</a></h2>
<p>Creation of virtual environments is done by
executing the command venv.</p>
<dl><dt><code>--clear</code></dt>
<dd>Delete the contents of the environment
directory if it already exists, before environment creation.</dd>
<dt><code>--upgrade-deps</code></dt><dd>Upgrade core dependencies to the latest version in PyPI.</dd></dl>
<pre>python -m venv /path/to/new/virtual/environment
source env/bin/activate</pre>
<h2 id="api">API</h2>
<p>The high-level method described above makes use of a simple API.</p>
<table><caption>Builder arguments</caption><tr><th>Argument</th><th>Default</th></tr>
<tr><td>system_site_packages</td><td>False</td></tr></table>
<ul><li>with_pip: ensure pip is installed
  in the virtual environment.</li></ul>
<p><a href="prev.html">Prev</a> | <a href="index.html">Home</a> | <a href="next.html">Next</a></p>
<footer>Copyright 2024 Example Docs</footer>
</body></html>
"""

STRUCTURED_MARKDOWN = """---
title: Field guide to owls
tags: birds
---
# Owls

Owls are nocturnal birds of prey with upright posture.

Barn owls
---------

The barn owl hunts small mammals over open fields at night.

- It nests in old barns
  and church towers.
- It screeches rather than hoots.

## Tawny owls

```sh
# not a heading: inside a fence
count-owls --species tawny
```

| species | call |
|---------|------|
| tawny | hoot |
"""

STRUCTURED_TEXT = """R FAQ notes

Introduction
============

This file answers frequently asked questions about R.

2.10 What is CRAN?

The Comprehensive R Archive Network is a collection of sites which carry identical material.

Installation
------------

R can be installed from source or from binaries.
"""

# Pages with a running header and a page-number footer, a table of contents, a heading and a hyphenated word.
STRUCTURED_PDF_PAGES = [
    "Tea Handbook\nContents\n1 Cultivation . . . . . . . . . . . . 2\n2 Processing . . . . . . . . . . . . . 3\ni",
    "Tea Handbook 2\n1 Cultivation\n"
    "Tea plants grow best at altitudes between 600 and 2000 metres; the leaves of identi-\n"
    "cal bushes are picked by hand every two weeks.\n2",
    "Tea Handbook 3\n2 Processing\nGreen tea is steamed or pan fired right after picking to stop oxidation.\n3",
    "Tea Handbook 4\nBlack tea is fully oxidised before drying, which gives it a darker colour.\n4",
]


def make_labelled_pdf() -> bytes:
    """STRUCTURED_PDF_PAGES with page labels, as books number them: the contents page "i", the chapters "1".."3"."""
    import io

    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(make_pdf(STRUCTURED_PDF_PAGES, title="Tea Handbook"))))
    writer.set_page_label(0, 0, style="/r")
    writer.set_page_label(1, 3, style="/D", start=1)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def make_structured_pdf(outline: bool = False) -> bytes:
    """STRUCTURED_PDF_PAGES; with ``outline``, bookmarks for the contents (page 1) and the chapters (pages 2, 3)."""
    data = make_pdf(STRUCTURED_PDF_PAGES, title="Tea Handbook")
    if not outline:
        return data
    import io

    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(data)))
    writer.add_outline_item(title="Contents", page_number=0)  # not numbered: only the outline makes it a heading
    writer.add_outline_item(title="Cultivation", page_number=1)
    writer.add_outline_item(title="Processing", page_number=2)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def wait_for(predicate, what: str = "the condition", seconds: float = 20):
    """Poll ``predicate`` until it returns something true (returned), or fail saying what never happened."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"{what}: not true within {seconds} s")


# ---------------------------------------------------------------- pictures of text (issue 16: scans and images)

SCANNED_PAGES = [
    "Oolong tea\n\nOolong tea is partly oxidised, between green and black tea.\n"
    "It is rolled into small balls after wilting.",
    "Brewing\n\nBrew oolong with water at 90 degrees for three minutes.\nThe same leaves can be infused five times.",
]


def text_image(text: str, width: int = 1275, height: int = 1650):
    """A white page (150 DPI letter size) with ``text`` drawn in black, one drawn line per line of text."""
    from PIL import Image, ImageDraw, ImageFont

    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=34)
    y = 120
    for line in text.split("\n"):
        if line:
            draw.text((110, y), line, fill="black", font=font)
        y += 56
    return image


def make_scanned_pdf(pages: list[str]) -> bytes:
    """An image-only PDF: each page is a picture of its text, with no text layer (what a scanner writes)."""
    import io

    images = [text_image(text) for text in pages]
    out = io.BytesIO()
    images[0].save(out, "PDF", resolution=150, save_all=True, append_images=images[1:])
    return out.getvalue()


def make_png(text: str, **size) -> bytes:
    import io

    out = io.BytesIO()
    text_image(text, **size).save(out, "PNG")
    return out.getvalue()


def section_of(doc, needle: str) -> tuple[str, ...]:
    """The section path a loaded document gives the first occurrence of ``needle``."""
    from askdocs.index.structure import Sections

    return Sections(doc.text, doc.blocks).path_at(doc.text.index(needle))


def typed_blocks(doc) -> list[tuple[str, str]]:
    """A loaded document's blocks as (kind, text) pairs."""
    return [(b.kind, doc.text[b.start:b.end]) for b in doc.blocks]
