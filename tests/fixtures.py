"""Small documents the tests make themselves: a PDF with real text, HTML, Markdown."""

from __future__ import annotations

import socket
from pathlib import Path


def make_pdf(pages: list[str], title: str | None = None) -> bytes:
    """A minimal, valid PDF with one text line per entry of each page's lines (Helvetica, uncompressed)."""
    objects: list[bytes] = []

    def add(body: bytes) -> int:
        objects.append(body)
        return len(objects)

    catalog = add(b"")  # filled in below, once the pages object number is known
    pages_obj = add(b"")
    font = add(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    page_ids = []
    for text in pages:
        lines = text.split("\n")
        ops = ["BT", "/F1 11 Tf", "14 TL", "72 720 Td"]
        for line in lines:
            escaped = line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
            ops.append(f"({escaped}) Tj T*")
        ops.append("ET")
        stream = "\n".join(ops).encode("latin-1")
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
