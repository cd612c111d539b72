"""One small file of every office, e-book, e-mail and markup format, written with the libraries that read them.

Each carries facts no other fixture has, so a question about one must find that file. ``FACTS`` maps a file
name to (question, words the cited sentence must contain, the locator the citation must carry).
"""

from __future__ import annotations

import email.message
import io
from pathlib import Path


def make_docx() -> bytes:
    import docx

    document = docx.Document()
    document.core_properties.title = "Lighthouse keeping handbook"
    document.add_heading("Lighthouse keeping handbook", 0)
    document.add_heading("Lamp maintenance", 1)
    document.add_paragraph("The Fresnel lens of the Skerryvore lighthouse is polished every Tuesday with chamois "
                           "leather and diluted vinegar.")
    document.add_heading("Fuel supplies", 2)
    document.add_paragraph("Paraffin is ordered in March", style="List Bullet")
    document.add_paragraph("Spare mantles are kept in the oil store", style="List Bullet")
    table = document.add_table(rows=2, cols=2)
    table.cell(0, 0).text, table.cell(0, 1).text = "Item", "Supplier"
    table.cell(1, 0).text, table.cell(1, 1).text = "Wicks", "Harbour chandlery of Tobermory"
    document.add_heading("Storm watch", 1)
    document.add_paragraph("During gales the keeper logs the barometer reading every half hour.")
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def make_odt() -> bytes:
    from odf import dc, table, text
    from odf.opendocument import OpenDocumentText

    document = OpenDocumentText()
    document.meta.addElement(dc.Title(text="Beekeeping calendar"))
    document.text.addElement(text.H(outlinelevel=1, text="Beekeeping calendar"))
    document.text.addElement(text.H(outlinelevel=2, text="Spring inspection"))
    document.text.addElement(text.P(text="In April the beekeeper checks each hive for a laying queen and adds "
                                         "a honey super when seven frames are covered."))
    bullets = text.List()
    for item in ("Smoker fuel: dried hessian", "Hive tool and spare frames"):
        entry = text.ListItem()
        entry.addElement(text.P(text=item))
        bullets.addElement(entry)
    document.text.addElement(bullets)
    grid = table.Table(name="Harvest")
    for cells in (("Month", "Yield"), ("August", "Heather honey, eleven kilograms")):
        row = table.TableRow()
        for value in cells:
            cell = table.TableCell()
            cell.addElement(text.P(text=value))
            row.addElement(cell)
        grid.addElement(row)
    document.text.addElement(grid)
    document.text.addElement(text.H(outlinelevel=2, text="Winter care"))
    document.text.addElement(text.P(text="Mouse guards go on the hive entrances in October."))
    buffer = io.BytesIO()
    document.write(buffer)
    return buffer.getvalue()


def make_pptx() -> bytes:
    from pptx import Presentation

    deck = Presentation()
    deck.core_properties.title = "Quarterly volcano survey"
    slides = [
        ("Quarterly volcano survey", ["Field team report"], ""),
        ("Seismic activity", ["Tremors near the summit crater doubled in September",
                              "Sensors on the north flank recorded 412 events"], ""),
        ("Gas emissions", ["Sulphur dioxide output fell to 900 tonnes per day"],
         "Remind the board that the helicopter survey of the fumaroles is booked for the ninth of November."),
    ]
    for title, lines, notes in slides:
        slide = deck.slides.add_slide(deck.slide_layouts[1])
        slide.shapes.title.text = title
        body = slide.placeholders[1].text_frame
        body.text = lines[0]
        for line in lines[1:]:
            body.add_paragraph().text = line
        if notes:
            slide.notes_slide.notes_text_frame.text = notes
    buffer = io.BytesIO()
    deck.save(buffer)
    return buffer.getvalue()


def make_xlsx() -> bytes:
    from openpyxl import Workbook

    workbook = Workbook()
    workbook.properties.title = "Observatory equipment"
    first = workbook.active
    first.title = "Telescopes"
    first.append(["Instrument", "Aperture", "Location"])
    first.append(["Refractor", "150 mm", "East dome"])
    first.append(["Dobsonian", "400 mm", "Roll-off roof shed"])
    first.append([])
    first.append(["Schmidt camera", "300 mm", "West dome"])
    second = workbook.create_sheet("Staff")
    second.append(["Name", "Role"])
    second.append(["Ingrid Solberg", "Night assistant responsible for the spectrograph"])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


CSV = ("City,River,Bridges\n"
       "Ljubljana,Ljubljanica,17\n"
       "Budapest,Danube,9\n"
       "\n"
       "\"Porto\",\"Douro\",\"6, including the Dom Luis I bridge\"\n")

TSV = ("Ferry\tRoute\tCrossing minutes\n"
       "MV Loch Seaforth\tUllapool to Stornoway\t165\n"
       "MV Isle of Mull\tOban to Craignure\t46\n")


def make_epub() -> bytes:
    from ebooklib import epub

    book = epub.EpubBook()
    book.set_identifier("askdocs-test-epub")
    book.set_title("The orchard almanac")
    book.set_language("en")
    chapters = []
    for number, (title, body) in enumerate([
        ("Grafting apples", "<p>Whip and tongue grafts of the Bramley scion are made in late February.</p>"),
        ("Pruning pears", "<h2>Summer pruning</h2><p>Conference pear cordons are pruned in the last week of "
                          "July.</p><h2>Winter pruning</h2><p>Dead wood goes in January.</p>"),
    ], 1):
        chapter = epub.EpubHtml(title=title, file_name=f"chapter{number}.xhtml", lang="en")
        # The first chapter has no heading of its own: its table-of-contents title becomes its section.
        chapter.content = f"<html><head><title>{title}</title></head><body>{body}</body></html>"
        book.add_item(chapter)
        chapters.append(chapter)
    book.toc = tuple(epub.Link(c.file_name, c.title, c.file_name) for c in chapters)
    book.add_item(epub.EpubNcx())
    book.add_item(epub.EpubNav())
    # Spine order is reading order: the second chapter is read first.
    book.spine = ["nav", chapters[1], chapters[0]]
    buffer = io.BytesIO()
    epub.write_epub(buffer, book)
    return buffer.getvalue()


def make_eml(attachments: tuple[tuple[str, bytes], ...] = ()) -> bytes:
    message = email.message.EmailMessage()
    message["Subject"] = "Choir rehearsal moved"
    message["From"] = "Maren Holt <Maren.Holt@example.org>"
    message["To"] = "altos@example.org, tenors@example.org"
    message["Date"] = "Tue, 05 Mar 2024 09:30:00 +0100"
    message.set_content("Hello all,\n\nThis week's rehearsal of the Fauré Requiem moves to the crypt of "
                        "St Columba's church on Thursday at seven.\n\nMaren\n")
    for filename, data in attachments:
        message.add_attachment(data, maintype="application", subtype="octet-stream", filename=filename)
    return bytes(message)


RST = """\
=====================
Sourdough field notes
=====================

Starter care
============

Feed the rye starter at a ratio of 1:5:5 when the kitchen is above 24 degrees.

* Discard half before each feed
* Keep a spare in the fridge

Baking
======

Oven spring
-----------

A preheated cast iron pot gives the loaf its oven spring at 250 degrees.

.. code-block:: text

   bake 20 minutes lid on, 25 minutes lid off

.. include:: /etc/passwd
"""

RTF = (r"{\rtf1\ansi\deff0{\fonttbl{\f0 Times;}}{\info{\title Canal lock rota}}"
       r"\f0\pard Canal lock rota\par\par "
       r"The lock keeper at Caen Hill opens the flight at eight o'clock from Easter to October.\par "
       r"Boaters must book passage through the 16 locks the day before.\par}")


def all_files() -> dict[str, bytes]:
    return {
        "handbook.docx": make_docx(), "bees.odt": make_odt(), "volcano.pptx": make_pptx(),
        "observatory.xlsx": make_xlsx(), "bridges.csv": CSV.encode(), "ferries.tsv": TSV.encode(),
        "orchard.epub": make_epub(), "choir.eml": make_eml(), "sourdough.rst": RST.encode(), "canal.rtf": RTF.encode(),
        # makeinfo's output of info_fixtures/lanterns.texi (tests/test_info.py has the Info format's own tests)
        "lanterns.info": (Path(__file__).parent / "info_fixtures" / "lanterns.info").read_bytes(),
    }


# file -> (question, words of the passage that answers it, locator fields the passage's citation must carry)
FACTS = {
    "handbook.docx": ("How often is the Fresnel lens of the Skerryvore lighthouse polished?", ["Tuesday"], {}),
    "bees.odt": ("When does the beekeeper add a honey super?", ["seven frames"], {}),
    "volcano.pptx": ("When is the helicopter survey of the fumaroles booked?", ["ninth of November"], {"slide": 3}),
    "observatory.xlsx": ("Which instrument has a 400 mm aperture?", ["Dobsonian"], {"sheet": "Telescopes"}),
    "bridges.csv": ("How many bridges does Ljubljana have?", ["Ljubljana", "17"], {"sheet": None}),
    "ferries.tsv": ("How long is the ferry crossing from Oban to Craignure?", ["46"], {"sheet": None}),
    "orchard.epub": ("When are Conference pear cordons pruned?", ["last week of July"], {}),
    "choir.eml": ("Where does the Fauré Requiem rehearsal move to?", ["crypt"], {}),
    "sourdough.rst": ("What gives the sourdough loaf its oven spring?", ["cast iron pot"], {}),
    "canal.rtf": ("When does the Caen Hill lock keeper open the flight?", ["eight o'clock"], {}),
    "lanterns.info": ("How full may the lantern's paraffin tank be filled?", ["three quarters"], {}),
}
