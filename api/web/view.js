// The document view: /view/{doc_id}?start=&end= shows the stored text with line numbers (and PDF pages)
// and the cited characters text[start:end] marked and scrolled into view, so a claim can be checked in context.
import { ApiError, api, apiImage, documentUrl, el, linesLabel, pageName, plural, rowsName, showStats, toUtf16 } from "./common.js";

const params = new URLSearchParams(location.search);
const docPath = location.pathname.replace(/^\/view\//, "");
const errorBox = document.getElementById("error");
// The widest page image the server renders (index/page_render.py MAX_WIDTH); asking wider is a 422.
const MAX_PAGE_WIDTH = 2000;

function backLink() {
  const back = document.getElementById("back");
  const question = params.get("q");
  if (question) {
    back.href = `/?${new URLSearchParams({ q: question, mode: params.get("mode") || "hybrid" })}`;
  } else {
    back.textContent = "← Ask a question";
  }
}

// The requested span in code points, or null when the address names none (or nonsense).
function requestedSpan() {
  const start = Number.parseInt(params.get("start"), 10);
  const end = Number.parseInt(params.get("end"), 10);
  if (!Number.isInteger(start) || !Number.isInteger(end) || start < 0 || end < start) return null;
  return { start, end };
}

// Index of the last line starting at or before `unit` (lineStarts is sorted, UTF-16 units).
function lineAt(lineStarts, unit) {
  let low = 0;
  let high = lineStarts.length - 1;
  while (low < high) {
    const middle = (low + high + 1) >> 1;
    if (lineStarts[middle] <= unit) low = middle;
    else high = middle - 1;
  }
  return low;
}

function render(doc, span) {
  document.title = `${doc.title} · askdocs`;
  document.getElementById("title").textContent = doc.title;

  const text = doc.text;
  const lines = text.split("\n");
  if (lines.length > 1 && lines[lines.length - 1] === "") lines.pop(); // a final newline ends a line, not starts one
  const lineStarts = [];
  let at = 0;
  for (const line of lines) {
    lineStarts.push(at);
    at += line.length + 1;
  }
  document.getElementById("source").textContent = `${doc.source} · ${doc.kind} · ${plural(lines.length, "line")}`;

  const pageStarts = doc.page_starts || [];
  const [start, end, ...pageUnits] = toUtf16(text, [span ? span.start : 0, span ? span.end : 0, ...pageStarts]);

  // A heading before the line each PDF page (or slide of a deck) begins on: reachable by heading navigation too.
  const pageBefore = new Map();
  pageUnits.forEach((unit, i) => {
    const name = pageName(i + 1, (doc.page_labels || [])[i]);
    pageBefore.set(lineAt(lineStarts, unit), name[0].toUpperCase() + name.slice(1));
  });
  const slides = doc.locators && doc.locators.unit === "slide" ? doc.locators : null;
  if (slides) {
    toUtf16(text, slides.starts).forEach((unit, i) => pageBefore.set(lineAt(lineStarts, unit), `Slide ${slides.numbers[i]}`));
  }
  // Heading lines read as headings (level by size), so an HTML or Markdown page keeps its shape in the view.
  const headings = doc.headings || [];
  const headingUnits = toUtf16(text, headings.flatMap((h) => [h.start, h.end]));
  const headingLevel = new Map();
  headings.forEach((heading, i) => {
    const first = lineAt(lineStarts, headingUnits[2 * i]);
    const last = lineAt(lineStarts, Math.max(headingUnits[2 * i], headingUnits[2 * i + 1] - 1));
    for (let line = first; line <= last; line += 1) headingLevel.set(line, Math.min(heading.level, 6));
  });
  // Line numbers never wrap: the gutter is as wide as the longest number.
  document.getElementById("document").style.setProperty("--ln-digits", String(String(lines.length).length));

  const fragment = document.createDocumentFragment();
  let first = null;
  lines.forEach((line, i) => {
    if (pageBefore.has(i)) fragment.append(el("h2", { class: "page-break" }, pageBefore.get(i)));
    const lineStart = lineStarts[i];
    const lineEnd = lineStart + line.length; // the "\n" after the line sits at lineEnd
    // Every line the span touches gets a <mark>, an empty one for a blank line, so the marks joined
    // by "\n" are exactly text[start:end].
    const cited = span !== null && start < lineEnd + 1 && end > lineStart && start !== end;
    let content = [line];
    if (cited) {
      const from = Math.max(start, lineStart) - lineStart;
      const to = Math.min(end, lineEnd) - lineStart;
      const mark = el("mark", {}, line.slice(from, to));
      if (first === null) {
        first = mark;
        mark.id = "cited";
        mark.tabIndex = -1;
      }
      content = [line.slice(0, from), mark, line.slice(to)];
    }
    const classes = ["line", cited && "cited", headingLevel.has(i) && `heading h${headingLevel.get(i)}`];
    fragment.append(
      el("div", { class: classes.filter(Boolean).join(" "), id: `L${i + 1}` },
        el("span", { class: "ln", "aria-hidden": "true" }, String(i + 1)),
        el("span", { class: "lt" }, ...content)),
    );
  });
  document.getElementById("document").replaceChildren(fragment);

  const where = document.getElementById("cited-where");
  if (first) {
    const lineStart = lineAt(lineStarts, start) + 1;
    const lineEnd = lineAt(lineStarts, Math.max(start, end - 1)) + 1;
    const number = pageStarts.filter((p) => p <= span.start).length || 1;
    const page = pageStarts.length ? ` · ${pageName(number, (doc.page_labels || [])[number - 1])}` : "";
    const section = doc.section || []; // the server's answer: the same path a citation's `section` carries
    where.replaceChildren(
      "Cited: ",
      el("a", { href: "#cited" }, linesLabel(lineStart, lineEnd)),
      `${page}${locatorLabel(doc.locators, span)} · characters ${span.start}–${span.end}`,
      section.length ? el("span", { class: "cited-section" }, ` · in ${section.join(" › ")}`) : null,
    );
    // Centre the citation, then focus it without a second jump, so keyboard and screen-reader
    // users start reading exactly there.
    first.scrollIntoView({ block: "center" });
    first.focus({ preventScroll: true });
  } else {
    where.textContent = "";
  }
}

// " · slide 3" or " · sheet Sheet1, rows 4–6" for a span in a deck or a spreadsheet (code-point offsets), else "".
function locatorLabel(locators, span) {
  if (!locators || !locators.starts.length) return "";
  const at = (offset) => Math.max(0, locators.starts.filter((s) => s <= offset).length - 1);
  const first = at(span.start);
  const last = at(Math.max(span.start, span.end - 1));
  if (locators.unit === "slide") {
    const [a, b] = [locators.numbers[first], locators.numbers[last]];
    return a === b ? ` · slide ${a}` : ` · slides ${a}–${b}`;
  }
  return ` · ${rowsName(locators.sheets[first], locators.numbers[first], locators.numbers[last])}`;
}

// A hand-typed or cut address (`/view/%`, `/view/%ED%A0%80`) is not valid %-encoded UTF-8:
// decodeURIComponent throws URIError, and the page must say so rather than keep loading.
function decodedDocId() {
  try {
    return { docId: decodeURIComponent(docPath) };
  } catch (failure) {
    return { error: `This address does not name a document: it is not valid %-encoded UTF-8 (${failure.name}: ${failure.message}).` };
  }
}

// A link made from a citation carries the document version it cited: the server says if it changed since.
// The span is always sent: for a PDF the answer then carries its highlight boxes on the pages.
function versionQuery(span) {
  const query = new URLSearchParams();
  const sha256 = params.get("sha256");
  if (sha256) {
    query.set("sha256", sha256);
    const generation = params.get("generation");
    if (generation) query.set("generation", generation);
  }
  if (span) {
    query.set("start", span.start);
    query.set("end", span.end);
  }
  const text = query.toString();
  return text ? `?${text}` : "";
}

// A PDF's cited span on the rendered pages it touches, each with the span's characters boxed; the text view
// below stays as it is. Keys n / p move between highlighted pages.
async function showPages(docId, doc, span) {
  let spanBoxes = doc.span_boxes;
  if (!spanBoxes && span && doc.cited && doc.cited.status === "moved") {
    spanBoxes = (await api(documentUrl(docId) + `?start=${span.start}&end=${span.end}`)).span_boxes;
  }
  // A page read by OCR is shown even without boxes (OCR did not place those characters), saying so.
  const pages = (spanBoxes || []).filter((page) => (page.boxes.length || page.ocr) && page.width);
  const section = document.getElementById("pages");
  if (!pages.length) return;
  const width = Math.min(MAX_PAGE_WIDTH, Math.round(Math.min(section.clientWidth || 800, 1000) * (window.devicePixelRatio || 1)));
  const figures = pages.map((page) => {
    const name = pageName(page.page, (doc.page_labels || [])[page.page - 1]);
    const frame = el("div", { class: "page-frame" });
    const caption = name[0].toUpperCase() + name.slice(1);
    const figure = el("figure", { class: "page-image", tabindex: "-1", "data-page": String(page.page) },
      frame, el("figcaption", {}, caption,
        page.ocr && !page.boxes.length ? el("span", { class: "ocr-note" }, " · text recognised by OCR: no highlight on the image")
          : page.ocr ? el("span", { class: "ocr-note" }, " · text recognised by OCR: highlighted where OCR read it") : null));
    // Boxes in percent of the page: they stay on their characters at any displayed size (zoom, phone width).
    for (const [x0, y0, x1, y1] of page.boxes) {
      const box = el("div", { class: "page-box" });
      box.style.left = `${(100 * x0) / page.width}%`;
      box.style.top = `${(100 * y0) / page.height}%`;
      box.style.width = `${(100 * (x1 - x0)) / page.width}%`;
      box.style.height = `${(100 * (y1 - y0)) / page.height}%`;
      frame.append(box);
    }
    const image = el("img", { alt: `${name} of ${doc.title}` + (page.boxes.length ? ", the cited text highlighted" : "") });
    frame.prepend(image);
    image.dataset.page = String(page.page);
    loadPage(image, docId, page.page, width, figure, frame);
    return figure;
  });
  const zoom = el("button", { type: "button", class: "zoom", "aria-pressed": "false" }, "Zoom in");
  section.replaceChildren(
    el("p", { class: "pages-help" }, `The cited text on the PDF's ${pages.length > 1 ? "pages" : "page"}` +
      ` (keys${pages.length > 1 ? " n and p: next and previous page," : ""} + and −: zoom) `, zoom),
    ...figures);
  section.hidden = false;
  // Zoomed, each page is twice the column's width (scrolling sideways, also on a phone) and fetched at that
  // resolution; the boxes are in percent of the page, so they stay on their characters.
  const setZoom = (zoomed) => {
    if (zoomed === section.classList.contains("zoomed")) return;
    section.classList.toggle("zoomed", zoomed);
    zoom.setAttribute("aria-pressed", String(zoomed));
    zoom.textContent = zoomed ? "Fit to width" : "Zoom in";
    for (const image of section.querySelectorAll(".page-image img")) {
      loadPage(image, docId, Number(image.dataset.page), zoomed ? Math.min(MAX_PAGE_WIDTH, 2 * width) : width);
    }
    figures[current].scrollIntoView({ block: "start" });
  };
  zoom.addEventListener("click", () => setZoom(!section.classList.contains("zoomed")));
  let current = 0;
  figures[0].scrollIntoView({ block: "start" });
  document.addEventListener("keydown", (event) => {
    if (event.altKey || event.ctrlKey || event.metaKey || /^(INPUT|TEXTAREA|SELECT)$/.test(event.target.tagName)) return;
    if (event.key === "+" || event.key === "=") return setZoom(true);
    if (event.key === "-" || event.key === "−") return setZoom(false);
    if (event.key !== "n" && event.key !== "p") return;
    current = Math.max(0, Math.min(figures.length - 1, current + (event.key === "n" ? 1 : -1)));
    figures[current].scrollIntoView({ block: "start" });
    figures[current].focus({ preventScroll: true });
  });
}

function loadPage(image, docId, page, width, figure = image.closest("figure"), frame = image.parentElement) {
  apiImage(`${documentUrl(docId)}/pages/${page}.png?width=${width}`)
    .then((url) => { image.src = url; })
    .catch((failure) => {
      figure.classList.add("failed");
      frame.replaceChildren(el("p", { class: "error" }, `The page image is not available: ${failure.message}`));
    });
}

// The span to mark: as cited, where the cited text moved to, or none (said in the notice) if it is gone.
function citedSpan(doc, span) {
  const cited = doc.cited;
  const notice = document.getElementById("version-notice");
  if (!cited || cited.status === "current") return span;
  notice.hidden = false;
  notice.textContent = cited.status === "moved"
    ? "This document has changed since it was cited; the cited text is still in it, marked below where it is now."
    : cited.message;
  return cited.status === "moved" ? { start: cited.char_start, end: cited.char_end } : null;
}

// The document with the span's section (and boxes); offsets it does not have (a link cut or made for another
// version) are refused by the server: the document is still shown, unmarked, with the server's reason.
async function fetchDocument(docId, span) {
  try {
    return await api(documentUrl(docId) + versionQuery(span));
  } catch (failure) {
    if (!span || !(failure instanceof ApiError) || failure.status !== 422) throw failure;
    errorBox.textContent = `The cited characters are not in this document (${failure.message}): ` +
      "it has changed since the citation was made, or the link was cut.";
    return { ...(await api(documentUrl(docId) + versionQuery(null))), span_refused: true };
  }
}

async function main() {
  backLink();
  showStats(document.getElementById("stats"));
  const { docId, error } = decodedDocId();
  if (error) {
    document.getElementById("title").textContent = "Document not available";
    errorBox.textContent = error;
    return;
  }
  if (!docId) {
    document.getElementById("title").textContent = "No document named";
    return;
  }
  try {
    const span = requestedSpan();
    const doc = await fetchDocument(docId, span);
    const cited = doc.span_refused ? null : citedSpan(doc, span);
    render(doc, cited);
    if (doc.kind === "pdf" && cited) await showPages(docId, doc, cited);
  } catch (failure) {
    document.getElementById("title").textContent = "Document not available";
    errorBox.textContent = failure.message;
  }
}

main();
