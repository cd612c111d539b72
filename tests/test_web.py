"""The web page in real headless Chromium, driven by Playwright, against a real `askdocs serve`."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import expect, sync_playwright

from askdocs.index import ocr
from askdocs.index.build import build_index
from askdocs.index.settings import Settings

from .conftest import SEED_QUESTION, Server
from .fixtures import (
    SCANNED_PAGES, STRUCTURED_HTML, make_labelled_pdf, make_pdf, make_rotated_pdf, make_scanned_pdf,
)
from .format_fixtures import make_pptx

CHROMIUM = Path("/usr/bin/chromium")
# Playwright's own browser download fails on these machines; Debian's chromium is driven instead.
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
UNRELATED = "How long should sourdough bread proof?"

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium (apt-get install chromium)"
)

# Astral characters (two UTF-16 units each) before and inside the cited sentence: if the page sliced
# code-point offsets as UTF-16 indices, every mark would land characters off.
EMOJI_NOTE = """Lighthouse keeping log 🚀

Weather 🌊🌊 and moods 😀👍🏽 of the 𝔨𝔢𝔢𝔭𝔢𝔯 are noted daily.
The brass lamp 🔦 of the Ardnamurchan lighthouse is polished every Tuesday morning.
Fog signals are tested on the first day of each month.
"""
EMOJI_QUESTION = "When is the brass lamp of the Ardnamurchan lighthouse polished?"
TEA_PAGES = [
    "Tea cultivation guide\nTea plants grow best at altitudes between 600 and 2000 metres.\nThe leaves are picked by hand.",
    "Processing\nGreen tea is steamed or pan fired right after picking to stop oxidation.\nBlack tea is fully oxidised.",
]
TEA_QUESTION = "How is green tea processed right after picking?"
# The answer sentence runs from the foot of page 1 onto page 2.
STILL_PAGES = ["Distillery history\nThe copper still of the Glen Moray distillery was hammered in Glasgow in 1897 and then",
               "carried to the Speyside valley by rail in nine wagons.\nThe warehouse was added in 1910."]
STILL_QUESTION = "How was the copper still of the Glen Moray distillery carried to the Speyside valley?"
BICYCLE_PAGES = ["Bicycle repair\nA chain that skips is usually worn: measure its stretch with a chain checker."]


# Module scope, not session: Playwright's sync API keeps an event loop running in this thread while it is
# open, and any later test that runs its own loop (TestClient, the MCP client) would fail inside it.
@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser):
    """A fresh page that records script errors and every request, so a test can insist on both."""
    context = browser.new_context(viewport={"width": 1000, "height": 700})
    context.set_default_timeout(15_000)
    page = context.new_page()
    errors: list[str] = []
    requests: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("request", lambda request: requests.append(request.url))
    yield page
    context.close()
    assert errors == [], f"script errors: {errors}"
    # Offline by construction: nothing but the askdocs server (and inline data: URLs) is ever asked. A blob: URL
    # (a PDF page fetched with the API key) names its origin after "blob:".
    foreign = [url for url in requests
               if not url.startswith("data:") and urlsplit(url.removeprefix("blob:")).hostname != "127.0.0.1"]
    assert foreign == []


@pytest.fixture(scope="module")
def astral_server(tmp_path_factory):
    """A corpus with astral characters before the cited text, and a two-page PDF."""
    folder = tmp_path_factory.mktemp("web-corpus") / "docs"
    folder.mkdir()
    (folder / "lighthouse.txt").write_text(EMOJI_NOTE, encoding="utf-8")
    (folder / "tea.pdf").write_bytes(make_pdf(TEA_PAGES, title="Tea from leaf to cup"))
    (folder / "bicycle.pdf").write_bytes(make_pdf(BICYCLE_PAGES, title="Bicycle repair"))
    (folder / "still.pdf").write_bytes(make_pdf(STILL_PAGES, title="Distillery history"))
    index = folder.parent / "index"
    build_index([folder], Settings(index=index), progress=False)
    server = Server(index)
    yield server
    server.stop()


def ask(page, question: str) -> None:
    page.fill("#question", question)
    page.press("#question", "Enter")


def api_answer(server, question: str, mode: str = "hybrid") -> dict:
    return httpx.post(server.url + "/ask", json={"question": question, "mode": mode}, timeout=30).json()


def document_text(server, doc_id: str) -> str:
    return httpx.get(f"{server.url}/documents/{doc_id}", timeout=30).json()["text"]


def marked_in_view(page) -> str:
    """The document view's marks, one per cited line, joined back into the cited text."""
    return page.eval_on_selector_all("#document mark", "marks => marks.map(m => m.textContent).join('\\n')")


def passage_marks(page) -> list[str]:
    return page.eval_on_selector_all("#passages li mark", "marks => marks.map(m => m.textContent)")


def cited_is_on_screen(page) -> bool:
    return page.evaluate(
        "() => { const r = document.getElementById('cited').getBoundingClientRect();"
        " return r.top >= 0 && r.top < window.innerHeight; }"
    )


def test_seed_question_is_answered_and_its_citation_checks_out_in_the_document(seeds_server, page):
    expected = api_answer(seeds_server, SEED_QUESTION)
    page.goto(seeds_server.url + "/")
    expect(page.locator("#stats")).to_contain_text("built 20")
    stats = page.inner_text("#stats")
    assert "1 document" in stats and "chunks" in stats and "all-MiniLM-L6-v2" in stats

    ask(page, SEED_QUESTION)
    answer = page.locator("#answer .answer-text")
    assert "France" in answer.inner_text()
    assert answer.text_content() == expected["answer"]["text"]
    assert page.locator("#status").inner_text().startswith("Answered in ")
    assert " ms" in page.inner_text("#status")
    assert passage_marks(page) == [p["highlight"]["text"] for p in expected["passages"]]

    citation = expected["answer"]["citation"]
    page.click("#answer a.citation")
    page.wait_for_url("**/view/**")
    page.wait_for_selector("mark#cited")
    text = document_text(seeds_server, citation["doc_id"])
    assert marked_in_view(page) == text[citation["char_start"] : citation["char_end"]]
    assert page.text_content("#document .line.cited .ln") == str(citation["line_start"])
    assert f"line {citation['line_start']}" in page.inner_text("#cited-where")
    assert page.inner_text("h1") == citation["title"]
    assert cited_is_on_screen(page)
    assert page.evaluate("document.activeElement.id") == "cited"

    # Back to the answer, then a passage: a multi-line span with blank lines is marked line by line.
    page.go_back()
    page.wait_for_selector("#answer .answer-text")
    passage = expected["passages"][0]["citation"]
    page.locator("#passages li").first.locator("a.citation").click()
    page.wait_for_selector("mark#cited")
    assert marked_in_view(page) == text[passage["char_start"] : passage["char_end"]]
    assert passage["line_end"] > passage["line_start"]
    cited_lines = page.eval_on_selector_all("#document .line.cited .ln", "ns => ns.map(n => Number(n.textContent))")
    assert cited_lines == list(range(passage["line_start"], passage["line_end"] + 1))


def test_unrelated_question_says_there_is_no_answer(seeds_server, page):
    page.goto(seeds_server.url + "/")
    ask(page, UNRELATED)
    page.wait_for_selector(".no-answer")
    assert "No answer in these documents" in page.inner_text("#answer")
    assert page.locator("#answer .answer-text").count() == 0


def test_empty_question_shows_the_servers_reason_in_words(seeds_server, page):
    page.goto(seeds_server.url + "/")
    with page.expect_response("**/ask") as response:
        page.click("#submit")
    assert response.value.status == 422
    error = page.locator("#error")
    error.wait_for()
    message = error.inner_text()
    assert "cannot be asked" in message and "question" in message
    assert "{" not in message and "detail" not in message
    assert page.locator("#results").is_hidden()


def test_mode_control_asks_again_in_that_mode(seeds_server, page):
    page.goto(seeds_server.url + "/")
    ask(page, SEED_QUESTION)
    page.wait_for_selector("#answer .answer-text")
    with page.expect_request("**/ask") as request:
        page.check('input[name="mode"][value="bm25"]')
    assert request.value.post_data_json == {"question": SEED_QUESTION, "mode": "bm25"}
    page.wait_for_url("**mode=bm25")
    expected = api_answer(seeds_server, SEED_QUESTION, mode="bm25")
    # A selector, not wait_for_function: a string predicate is eval'd in the page, which its CSP
    # (script-src 'self') refuses whenever the first check does not already pass.
    page.wait_for_selector("#submit:enabled")
    assert passage_marks(page) == [p["highlight"]["text"] for p in expected["passages"]]

    # The address carries question and mode, so a reload shows the same answer.
    page.reload()
    page.wait_for_selector("#answer .answer-text")
    assert page.is_checked('input[name="mode"][value="bm25"]')
    assert page.input_value("#question") == SEED_QUESTION


def test_keyboard_alone_reaches_the_answer_and_its_citation(seeds_server, page):
    page.goto(seeds_server.url + "/")
    assert page.evaluate("document.activeElement.id") == "question"  # autofocus: type straight away
    page.keyboard.type(SEED_QUESTION)
    page.keyboard.press("Enter")
    page.wait_for_selector("#answer .answer-text")
    for _ in range(10):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.classList.contains('citation')"):
            break
    assert page.evaluate("document.activeElement.closest('#answer') !== null")
    page.keyboard.press("Enter")
    page.wait_for_selector("mark#cited")
    assert page.evaluate("document.activeElement.id") == "cited"
    assert "France" in page.inner_text("mark#cited")


def test_pages_fit_a_phone_screen(seeds_server, page):
    page.set_viewport_size({"width": 360, "height": 740})
    page.goto(seeds_server.url + "/")
    ask(page, SEED_QUESTION)
    page.wait_for_selector("#answer .answer-text")
    fits = "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
    assert page.evaluate(fits)
    page.click("#answer a.citation")
    page.wait_for_selector("mark#cited")
    assert page.evaluate(fits)
    assert cited_is_on_screen(page)


def test_offsets_after_astral_characters_mark_exactly_the_cited_text(astral_server, page):
    expected = api_answer(astral_server, EMOJI_QUESTION)
    assert "Tuesday" in expected["answer"]["text"] and "🔦" in expected["answer"]["text"]
    page.goto(astral_server.url + "/")
    ask(page, EMOJI_QUESTION)
    page.wait_for_selector("#answer .answer-text")
    assert page.text_content("#answer .answer-text") == expected["answer"]["text"]
    assert passage_marks(page) == [p["highlight"]["text"] for p in expected["passages"]]
    # The highlighted sentence sits after the emoji of the passage, which the page must show unchanged.
    first = expected["passages"][0]
    assert page.locator("#passages li .passage-text").first.text_content() == first["text"]

    citation = expected["answer"]["citation"]
    page.click("#answer a.citation")
    page.wait_for_selector("mark#cited")
    text = document_text(astral_server, citation["doc_id"])
    assert "🌊" in text[: citation["char_start"]]
    assert marked_in_view(page) == text[citation["char_start"] : citation["char_end"]]
    assert page.text_content("#document .line.cited .ln") == str(citation["line_start"])


def test_pdf_citation_shows_its_page(astral_server, page):
    expected = api_answer(astral_server, TEA_QUESTION)
    citation = expected["answer"]["citation"]
    document = httpx.get(f"{astral_server.url}/documents/tea.pdf").json()
    assert citation["doc_id"] == "tea.pdf" and citation["char_start"] >= document["page_starts"][1]
    page.goto(astral_server.url + "/")
    ask(page, TEA_QUESTION)
    link = page.locator("#answer a.citation")
    # The results page shows the page the API reports (the view below works it out from page_starts).
    assert f"page {citation['page']}" in link.inner_text()
    link.click()
    page.wait_for_selector("mark#cited")
    assert "page 2" in page.inner_text("#cited-where")
    assert page.eval_on_selector_all(".page-break", "hs => hs.map(h => h.textContent)") == ["Page 1", "Page 2"]
    # The cited line comes after the "Page 2" heading.
    assert page.evaluate(
        "() => { const heads = document.querySelectorAll('.page-break');"
        " return !!(heads[1].compareDocumentPosition(document.getElementById('cited'))"
        " & Node.DOCUMENT_POSITION_FOLLOWING); }"
    )
    text = document["text"]
    assert marked_in_view(page) == text[citation["char_start"] : citation["char_end"]]


# Long enough for three-digit line numbers, with nested headings: the view's gutter and section path.
BEEKEEPING_MD = "# Beekeeping journal\n\n" + "".join(
    f"## Season {year}\n\n" + "".join(f"Week {week}: the colonies were inspected and fed.\n" for week in range(1, 30))
    + "\n" for year in (2021, 2022, 2023)
) + "## Winter care\n\n### Insulation\n\nHives are wrapped in straw bales when frost is forecast.\n"
HIVES_CSV = "Hive,Queen,Frames\nAlder,Marked blue,10\nBirch,Unmarked,8\nCedar,Marked green,12\n"


@pytest.fixture(scope="module")
def structured_server(tmp_path_factory):
    """An HTML page with sections, in a subfolder (so the file name differs from the title)."""
    folder = tmp_path_factory.mktemp("web-structured") / "docs"
    (folder / "library").mkdir(parents=True)
    (folder / "library" / "venv.html").write_text(STRUCTURED_HTML, encoding="utf-8")
    (folder / "garden").mkdir()
    (folder / "garden" / "beekeeping.md").write_text(BEEKEEPING_MD, encoding="utf-8")
    (folder / "garden" / "hives.csv").write_text(HIVES_CSV, encoding="utf-8")
    index = folder.parent / "index"
    build_index([folder], Settings(index=index), progress=False)
    server = Server(index)
    yield server
    server.stop()


def test_citations_show_the_section_and_the_file_name(structured_server, page):
    question = "Which option deletes the contents of the environment directory?"
    expected = api_answer(structured_server, question)
    citation = expected["answer"]["citation"]
    assert citation["section"] == ["venv — Creation of virtual environments", "Creating virtual environments"]
    page.goto(structured_server.url + "/")
    ask(page, question)
    source = page.locator("#answer .source")
    source.wait_for()
    # The h1 equals the title, so it is shown once: title › section — lines, then the file.
    link = source.locator("a.citation")
    assert link.inner_text().startswith(
        "venv — Creation of virtual environments › Creating virtual environments — line")
    assert source.locator(".citation-file").inner_text() == "library/venv.html"
    passages = expected["passages"]
    shown = page.eval_on_selector_all("#passages li .passage-meta",
                                      "ps => ps.map(p => p.querySelector('.citation-file').textContent)")
    assert shown == [p["citation"]["doc_id"] for p in passages]
    first = page.locator("#passages li").first.locator("a.citation").inner_text()
    assert " › ".join([passages[0]["citation"]["title"]] + [
        h for h in passages[0]["citation"]["section"] if h.lower() != passages[0]["citation"]["title"].lower()
    ]) in first


def test_the_view_shows_headings_and_the_cited_section_and_numbers_fit_a_phone(structured_server, page):
    document = httpx.get(f"{structured_server.url}/documents/garden/beekeeping.md", timeout=30).json()
    text = document["text"]
    # The API gives the outline: each heading slices the stored text to the heading as written.
    assert [(text[h["start"]:h["end"]], h["level"]) for h in document["headings"]][-3:] == [
        ("Season 2023", 2), ("Winter care", 2), ("Insulation", 3)]
    start = text.index("Hives are wrapped")
    end = text.index("forecast.") + len("forecast.")
    page.set_viewport_size({"width": 390, "height": 800})
    page.goto(f"{structured_server.url}/view/garden/beekeeping.md?start={start}&end={end}")
    page.wait_for_selector("mark#cited")
    assert page.inner_text("#cited-where").endswith("in Beekeeping journal › Winter care › Insulation")
    assert page.inner_text("mark#cited") == text[start:end]
    levels = page.eval_on_selector_all(".line.heading", "ls => ls.map(l => [l.className, l.querySelector('.lt').innerText])")
    assert levels[-2:] == [["line heading h2", "## Winter care"], ["line heading h3", "### Insulation"]]
    assert len(levels) == 6
    # Every line number (three digits here) stays on one line at phone width.
    wrapped = page.evaluate("() => [...document.querySelectorAll('.ln')].filter(n => { const r = document.createRange();"
                            " r.selectNodeContents(n); return r.getClientRects().length !== 1"
                            " || r.getBoundingClientRect().height > 1.6 * parseFloat(getComputedStyle(n).fontSize); })"
                            ".map(n => n.textContent)")
    assert page.evaluate("document.querySelectorAll('.ln').length") >= 100
    assert wrapped == []
    assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")


def test_a_link_past_the_end_of_the_document_shows_it_unmarked_with_the_servers_reason(structured_server, page):
    text = httpx.get(f"{structured_server.url}/documents/garden/beekeeping.md", timeout=30).json()["text"]
    page.goto(f"{structured_server.url}/view/garden/beekeeping.md?start=10&end={len(text) + 5}")
    page.wait_for_selector(".line")
    assert page.inner_text("h1") == "Beekeeping journal"
    assert f"past the end of the document ({len(text)} characters)" in page.inner_text("#error")
    assert page.locator("#document mark").count() == 0 and page.inner_text("#cited-where") == ""


def test_a_spreadsheet_citation_names_its_rows(structured_server, page):
    text = httpx.get(f"{structured_server.url}/documents/garden/hives.csv", timeout=30).json()["text"]
    start = text.index("Hive: Birch")
    end = text.index("Frames: 12") + len("Frames: 12")
    page.goto(f"{structured_server.url}/view/garden/hives.csv?start={start}&end={end}")
    page.wait_for_selector("mark#cited")
    assert " · rows 3–4 · " in page.inner_text("#cited-where")


def test_unknown_document_is_a_readable_message(seeds_server, page):
    page.goto(seeds_server.url + "/view/no/such/doc.txt?start=0&end=4")
    error = page.locator("#error")
    error.wait_for()
    assert "No document with id 'no/such/doc.txt'" in error.inner_text()
    assert page.inner_text("h1") == "Document not available"


def test_without_an_index_the_page_says_what_to_run(tmp_path, page):
    server = Server(tmp_path / "missing-index")
    try:
        page.goto(server.url + "/")
        page.wait_for_selector("#stats .error-text")
        assert "build-index" in page.inner_text("#stats")
        ask(page, SEED_QUESTION)
        error = page.locator("#error")
        error.wait_for()
        assert "No index is loaded" in error.inner_text() and "build-index" in error.inner_text()
    finally:
        server.stop()


def test_pdf_citation_shows_the_rendered_page_with_the_cited_characters_boxed(astral_server, page):
    citation = api_answer(astral_server, TEA_QUESTION)["answer"]["citation"]
    page.goto(astral_server.url + "/")
    ask(page, TEA_QUESTION)
    page.locator("#answer a.citation").click()
    page.wait_for_function("() => { const i = document.querySelector('.page-image img');"
                           " return i && i.complete && i.naturalWidth > 0; }")
    highlight = httpx.get(f"{astral_server.url}/documents/tea.pdf", timeout=30, params={
        "start": citation["char_start"], "end": citation["char_end"]}).json()["span_boxes"]
    assert [h["page"] for h in highlight] == [2]
    assert page.eval_on_selector_all(".page-image", "fs => fs.map(f => f.dataset.page)") == ["2"]
    # Each drawn box is the API's box scaled to the image as shown, so it sits on the cited characters.
    drawn = page.evaluate(
        "() => { const img = document.querySelector('.page-image img').getBoundingClientRect();"
        " return [img.width, [...document.querySelectorAll('.page-box')].map(b => { const r = b.getBoundingClientRect();"
        " return [r.left - img.left, r.top - img.top, r.right - img.left, r.bottom - img.top]; })]; }")
    shown_width, boxes = drawn
    scale = shown_width / highlight[0]["width"]
    assert len(boxes) == len(highlight[0]["boxes"]) >= 1
    for got, want in zip(boxes, highlight[0]["boxes"]):
        assert got == pytest.approx([v * scale for v in want], abs=1.0)
    # The rendered pixels under the boxes are ink: the boxes lie on the text, not beside it.
    assert sum(ink_under_boxes(page.locator(".page-image").first)) > 20
    assert marked_in_view(page)  # the text view is still there below


def test_a_span_across_a_page_break_shows_both_pages_and_n_moves_between_them(astral_server, page):
    document = httpx.get(f"{astral_server.url}/documents/tea.pdf", timeout=30).json()
    second = document["page_starts"][1]
    page.goto(f"{astral_server.url}/view/tea.pdf?start={second - 15}&end={second + 10}")
    page.wait_for_selector(".page-image[data-page='2'] .page-box")
    assert page.eval_on_selector_all(".page-image", "fs => fs.map(f => f.dataset.page)") == ["1", "2"]
    assert page.locator(".page-image[data-page='1'] .page-box").count() >= 1
    page.keyboard.press("n")
    assert page.evaluate("() => document.activeElement.dataset.page") == "2"
    page.keyboard.press("p")
    assert page.evaluate("() => document.activeElement.dataset.page") == "1"


def test_cited_pages_zoom_with_their_boxes_still_on_the_characters(astral_server, page):
    document = httpx.get(f"{astral_server.url}/documents/tea.pdf", timeout=30).json()
    second = document["page_starts"][1]
    page.goto(f"{astral_server.url}/view/tea.pdf?start={second - 15}&end={second + 10}")
    loaded = ("() => [...document.querySelectorAll('.page-image img')].every(i => i.complete && i.naturalWidth > 0)"
              " && document.querySelectorAll('.page-image img').length === 2")
    page.wait_for_function(loaded)
    relative = ("() => { const f = document.querySelector('.page-image[data-page=\"2\"] .page-frame');"
                " const img = f.querySelector('img').getBoundingClientRect();"
                " const b = f.querySelector('.page-box').getBoundingClientRect();"
                " return [img.width, (b.left - img.left) / img.width, (b.top - img.top) / img.height,"
                " b.width / img.width, f.querySelector('img').naturalWidth,"
                " document.querySelector('.pages').clientWidth]; }")
    fitted = page.evaluate(relative)
    page.click("button.zoom")
    page.wait_for_function("() => [...document.querySelectorAll('.page-image img')].every(i => i.complete"
                           f" && i.naturalWidth > {fitted[4]})")
    zoomed = page.evaluate(relative)
    # Zoomed, one page a row at twice the column's width (the section scrolls sideways).
    assert zoomed[0] == pytest.approx(2 * zoomed[5], rel=0.02) and zoomed[0] >= 2 * fitted[0]
    assert zoomed[4] > fitted[4]  # fetched sharper, not stretched
    assert zoomed[1:4] == pytest.approx(fitted[1:4], abs=0.01)
    assert page.get_attribute("button.zoom", "aria-pressed") == "true"
    page.keyboard.press("-")
    assert page.get_attribute("button.zoom", "aria-pressed") == "false"
    page.keyboard.press("+")
    assert page.get_attribute("button.zoom", "aria-pressed") == "true"


def test_cited_pdf_pages_fit_a_phone_one_above_the_other_boxed_on_their_text(astral_server, page):
    document = httpx.get(f"{astral_server.url}/documents/still.pdf", timeout=30).json()
    start = document["text"].index("The copper still")
    end = document["text"].index("nine wagons.") + len("nine wagons.")
    page.set_viewport_size({"width": 390, "height": 800})
    page.goto(f"{astral_server.url}/view/still.pdf?start={start}&end={end}")
    page.wait_for_function("() => [...document.querySelectorAll('.page-image img')].filter(i => i.complete"
                           " && i.naturalWidth > 0).length === 2")
    assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")
    first, second = (page.locator(f".page-image[data-page='{n}']").bounding_box() for n in (1, 2))
    assert second["y"] >= first["y"] + first["height"] and first["width"] <= 390
    for number in ("1", "2"):
        assert all(dark > 10 for dark in ink_under_boxes(page.locator(f".page-image[data-page='{number}']")))


def ink_under_boxes(figure) -> list[int]:
    """Per drawn box of one rendered page, how many of the pixels under it are dark (text, not margin)."""
    from io import BytesIO

    from PIL import Image

    image = figure.locator("img")
    boxes = figure.evaluate("f => { const img = f.querySelector('img').getBoundingClientRect();"
                            " return [...f.querySelectorAll('.page-box')].map(b => { const r = b.getBoundingClientRect();"
                            " return [r.left - img.left, r.top - img.top, r.right - img.left, r.bottom - img.top]; }); }")
    pixels = Image.open(BytesIO(image.screenshot())).convert("L")
    return [sum(1 for x in range(int(x0) + 1, int(x1) - 1) for y in range(int(y0) + 1, int(y1) - 1)
                if pixels.getpixel((x, y)) < 200) for x0, y0, x1, y1 in boxes]


def test_an_answer_that_crosses_a_page_break_opens_both_pages_boxed_on_its_text(astral_server, page):
    answer = api_answer(astral_server, STILL_QUESTION)["answer"]
    assert answer["text"].startswith("The copper still") and answer["text"].endswith("in nine wagons.")
    page.goto(astral_server.url + "/")
    ask(page, STILL_QUESTION)
    page.locator("#answer a.citation").click()
    page.wait_for_function("() => [...document.querySelectorAll('.page-image img')].filter(i => i.complete"
                           " && i.naturalWidth > 0).length === 2")
    assert page.eval_on_selector_all(".page-image", "fs => fs.map(f => f.dataset.page)") == ["1", "2"]
    expected = httpx.get(f"{astral_server.url}/documents/still.pdf", timeout=30, params={
        "start": answer["citation"]["char_start"], "end": answer["citation"]["char_end"]}).json()["span_boxes"]
    for number, want in zip(("1", "2"), expected):
        figure = page.locator(f".page-image[data-page='{number}']")
        assert figure.locator(".page-box").count() == len(want["boxes"]) >= 1
        assert all(dark > 10 for dark in ink_under_boxes(figure)), number
    assert marked_in_view(page) == answer["text"]


ROTATIONS = [0, 90, 180, 270]


@pytest.fixture(scope="module")
def pages_server(tmp_path_factory):
    """A PDF whose pages carry each /Rotate, one with page labels, a slide deck, and (with the OCR extra) a
    scanned PDF."""
    folder = tmp_path_factory.mktemp("web-pages") / "docs"
    folder.mkdir()
    (folder / "handbook.pdf").write_bytes(make_labelled_pdf())
    (folder / "volcano.pptx").write_bytes(make_pptx())
    pages = [f"Turned {turn} degrees: the harbour master logs every ship.\nTides are posted at the quay."
             for turn in ROTATIONS]
    (folder / "turned.pdf").write_bytes(make_rotated_pdf(pages, ROTATIONS))
    if ocr.available():
        (folder / "scanned.pdf").write_bytes(make_scanned_pdf(SCANNED_PAGES))
    index = folder.parent / "index"
    build_index([folder], Settings(index=index), progress=False)
    server = Server(index)
    yield server
    server.stop()


@pytest.mark.parametrize("turn", ROTATIONS)
def test_a_rotated_page_is_shown_turned_with_its_boxes_on_the_cited_ink(pages_server, page, turn):
    document = httpx.get(f"{pages_server.url}/documents/turned.pdf", timeout=30).json()
    number = ROTATIONS.index(turn) + 1
    # The page's whole text: pdfium reads a turned page's lines in its own order.
    start, *after = (document["page_starts"] + [len(document["text"])])[number - 1:number + 1]
    end = start + len(document["text"][start:after[0]].rstrip())
    assert f"Turned {turn} degrees" in document["text"][start:end]
    page.goto(f"{pages_server.url}/view/turned.pdf?start={start}&end={end}")
    page.wait_for_function("() => { const i = document.querySelector('.page-image img');"
                           " return i && i.complete && i.naturalWidth > 0; }")
    figure = page.locator(f".page-image[data-page='{number}']")
    size = figure.locator("img").evaluate("i => [i.naturalWidth, i.naturalHeight]")
    assert (size[0] > size[1]) == (turn in (90, 270))  # rendered turned, as a viewer shows it
    ink = ink_under_boxes(figure)
    assert len(ink) == 2 and all(dark > 10 for dark in ink), ink  # both cited lines, each on its text


@pytest.mark.skipif(not ocr.available(), reason="needs the ocr extra (rapidocr): pip install 'askdocs[ocr]'")
def test_a_scanned_page_is_shown_with_the_cited_text_boxed_where_ocr_read_it(pages_server, page):
    text = document_text(pages_server, "scanned.pdf")
    start = text.index("Brew oolong")
    end = text.index("five times.", start) + len("five times.")
    page.goto(f"{pages_server.url}/view/scanned.pdf?start={start}&end={end}")
    page.wait_for_function("() => { const i = document.querySelector('.page-image img');"
                           " return i && i.complete && i.naturalWidth > 0; }")
    assert page.eval_on_selector_all(".page-image", "fs => fs.map(f => f.dataset.page)") == ["2"]
    assert page.inner_text(".page-image figcaption") == "Page 2 · text recognised by OCR: highlighted where OCR read it"
    ink = ink_under_boxes(page.locator(".page-image").first)
    assert len(ink) == 2 and all(dark > 10 for dark in ink), ink
    assert marked_in_view(page) == text[start:end]


def test_a_pdf_page_is_named_by_the_number_it_prints(pages_server, page):
    text = document_text(pages_server, "handbook.pdf")
    start = text.index("Green tea is steamed")
    page.goto(f"{pages_server.url}/view/handbook.pdf?start={start}&end={start + 30}")
    page.wait_for_selector(".page-image[data-page='3'] .page-box")
    assert " · page 2 (PDF page 3) · " in page.inner_text("#cited-where")
    assert page.inner_text(".page-image figcaption") == "Page 2 (PDF page 3)"
    assert page.eval_on_selector_all(".page-break", "hs => hs.map(h => h.textContent)") == [
        "Page i (PDF page 1)", "Page 1 (PDF page 2)", "Page 2 (PDF page 3)", "Page 3 (PDF page 4)"]


def test_a_slide_deck_citation_names_its_slide(pages_server, page):
    text = document_text(pages_server, "volcano.pptx")
    start = text.index("Sensors on the north flank")
    page.goto(f"{pages_server.url}/view/volcano.pptx?start={start}&end={start + 20}")
    page.wait_for_selector("mark#cited")
    assert " · slide 2 · " in page.inner_text("#cited-where")
    assert page.eval_on_selector_all(".page-break", "hs => hs.map(h => h.textContent)") == [
        "Slide 1", "Slide 2", "Slide 3"]
    assert page.locator(".page-image").count() == 0  # rendered pages are for PDFs only


def test_a_pdf_that_no_longer_renders_keeps_its_text_view_with_a_note(astral_server, page):
    document = httpx.get(f"{astral_server.url}/documents/bicycle.pdf", timeout=30).json()
    start = document["text"].index("A chain")
    end = start + len("A chain that skips is usually worn")
    pdf = Path(document["source"])
    original = pdf.read_bytes()
    pdf.write_bytes(make_pdf(["Some other text altogether."]))  # changed since indexing: its page is refused
    try:
        page.goto(f"{astral_server.url}/view/bicycle.pdf?start={start}&end={end}")
        note = page.locator(".page-image.failed .error")
        note.wait_for()
        assert note.inner_text().startswith("The page image is not available:")
        assert "changed" in note.inner_text()
        assert marked_in_view(page) == document["text"][start:end]
    finally:
        pdf.write_bytes(original)


def test_page_and_assets_are_served_by_the_app_with_a_self_only_policy(seeds_server):
    home = httpx.get(seeds_server.url + "/")
    assert home.status_code == 200 and "text/html" in home.headers["content-type"]
    assert "default-src 'none'" in home.headers["content-security-policy"]
    for asset in ("/web/app.js", "/web/common.js", "/web/view.js", "/web/style.css"):
        assert httpx.get(seeds_server.url + asset).status_code == 200
    assert httpx.get(seeds_server.url + "/web/index.html").status_code == 404
    assert httpx.get(seeds_server.url + "/web/..%2Fweb.py").status_code == 404
    assert "/" not in httpx.get(seeds_server.url + "/openapi.json").json()["paths"]


def test_with_api_keys_the_page_asks_for_one_and_keeps_it_for_the_tab(keyed_server, browser):
    from .conftest import API_KEY

    context = browser.new_context(viewport={"width": 1000, "height": 700})
    context.set_default_timeout(15_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        page.goto(keyed_server.url + "/")
        expect(page.locator("#stats")).to_contain_text("index generation")  # /health says more only with a key
        ask(page, SEED_QUESTION)
        expect(page.locator("#error")).to_contain_text("needs an API key")
        page.fill("#api-key", "not-the-key")
        page.press("#api-key", "Enter")
        expect(page.locator("#error")).to_contain_text("not accepted")

        page.fill("#api-key", API_KEY)
        page.press("#api-key", "Enter")  # saved for this tab; the page reloads and asks again
        expect(page.locator("#answer .answer-text")).to_contain_text("France")
        assert page.locator("#api-key").count() == 0
        assert page.evaluate("sessionStorage.getItem('askdocs-api-key')") == API_KEY
        expect(page.locator("#stats")).to_contain_text("1 document")
        assert API_KEY not in page.url

        page.click("#answer a.citation")  # the document view's own API call sends the key too
        page.wait_for_selector("mark#cited")
        assert "France" in marked_in_view(page)
    finally:
        context.close()
    assert errors == []


@pytest.mark.parametrize("address", ["/view/%", "/view/%ED%A0%80", "/view/report%2.txt?start=0&end=4"])
def test_a_malformed_address_says_the_document_is_not_available(seeds_server, page, address):
    # decodeURIComponent throws URIError on these; the page must not stay at "Loading document…".
    page.goto(seeds_server.url + address)
    error = page.locator("#error")
    error.wait_for()
    assert "not valid %-encoded UTF-8" in error.inner_text() and "URIError" in error.inner_text()
    assert page.inner_text("h1") == "Document not available"


def test_a_stale_citation_link_says_the_document_changed_and_marks_where_the_text_is_now(tmp_path, page):
    from .fixtures import wait_for
    from .test_versions import FALCON, LEAD, QUESTION

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "falcon.txt").write_text(FALCON)
    index = tmp_path / "index"
    build_index([docs], Settings(index=index), progress=False)
    server = Server(index, env={"ASKDOCS_RELOAD_INTERVAL": "0.2"})
    try:
        page.goto(server.url + "/")
        ask(page, QUESTION["question"])
        link = page.locator("#answer a.citation")
        link.wait_for()
        href = link.get_attribute("href")
        assert "sha256=" in href and "generation=1" in href
        (docs / "falcon.txt").write_text(FALCON.replace("\n\nProject", "\n\nA paragraph added later.\n\nProject"))
        build_index([docs], Settings(index=index), progress=False)
        wait_for(lambda: httpx.get(server.url + "/health", timeout=30).json()["generation"] == 2, "the reload")
        page.goto(server.url + href)
        notice = page.locator("#version-notice")
        expect(notice).to_be_visible()
        assert "changed since it was cited" in notice.inner_text()
        page.locator("#document mark").first.wait_for()
        assert marked_in_view(page) == LEAD
    finally:
        server.stop()


def test_question_box_suggests_from_this_corpus_and_keeps_to_the_apis_limit(astral_server, page):
    from askdocs.search.models import MAX_QUESTION_CHARS

    page.goto(astral_server.url + "/")
    first = httpx.get(astral_server.url + "/documents?limit=1").json()["documents"][0]["title"]
    expect(page.locator("#question")).to_have_attribute("placeholder", f"e.g. {first}")
    assert "G7" not in page.get_attribute("#question", "placeholder")
    assert page.get_attribute("#question", "maxlength") == str(MAX_QUESTION_CHARS)
    page.fill("#question", "x" * (MAX_QUESTION_CHARS + 100))
    assert len(page.input_value("#question")) == MAX_QUESTION_CHARS  # the box stops where the API would refuse
    page.fill("#question", "   ")
    page.press("#question", "Enter")
    error = page.locator("#error")
    error.wait_for()
    assert error.inner_text() == "That question cannot be asked: question must not be blank."


def test_api_docs_render_offline_from_installed_assets(seeds_server, page):
    """/docs (Swagger UI) and /redoc (ReDoc) with every request outside the server failing, as offline: the
    page fixture also insists nothing else was asked for and no script failed."""
    refused: list[str] = []
    page.on("console", lambda message: refused.append(message.text)
            if "Content Security Policy" in message.text else None)
    page.context.route(lambda url: urlsplit(url).hostname != "127.0.0.1", lambda route: route.abort())
    docs = page.goto(seeds_server.url + "/docs")
    assert "script-src 'self'" in docs.headers["content-security-policy"]
    page.wait_for_selector(".opblock")
    shown = page.eval_on_selector_all(".opblock .opblock-summary-path", "ps => ps.map(p => p.textContent.trim())")
    assert {"/ask", "/documents", "/health", "/collections"} <= {p.replace("\u200b", "") for p in shown}
    page.goto(seeds_server.url + "/redoc")
    page.wait_for_selector("text=Answer a question with cited passages")
    assert page.locator("text=The documents, a page at a time, optionally filtered").count() >= 1
    assert refused == []
