// The question page: ask /ask, show the answer with its citation and the ranked passages.
// The question and mode live in the address (/?q=…&mode=…) so Back from a document view, a reload
// or a shared link shows the same answer again.
import { api, el, linesLabel, pageName, rowsName, showStats, toUtf16, viewUrl } from "./common.js";

const form = document.getElementById("ask");
const input = document.getElementById("question");
const submit = document.getElementById("submit");
const status = document.getElementById("status");
const error = document.getElementById("error");
const results = document.getElementById("results");
const answerBox = document.getElementById("answer");
const passageList = document.getElementById("passages");

let latest = 0; // only the newest request may paint; a slow earlier answer must not overwrite it
let shown = null; // {question, mode} on screen, so changing the mode can ask again

function currentMode() {
  return form.querySelector('input[name="mode"]:checked').value;
}

function setMode(mode) {
  const radio = form.querySelector(`input[name="mode"][value="${CSS.escape(mode)}"]`);
  if (radio) radio.checked = true;
}

function pageUrl(question, mode) {
  return question ? `/?${new URLSearchParams({ q: question, mode })}` : "/";
}

async function ask(question, mode) {
  const request = ++latest;
  error.textContent = "";
  status.textContent = "Searching…";
  submit.disabled = true;
  form.setAttribute("aria-busy", "true");
  try {
    const body = await api("/ask", {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json" },
      body: JSON.stringify({ question, mode }),
    });
    if (request !== latest) return;
    render(body);
    shown = { question, mode };
  } catch (failure) {
    if (request !== latest) return;
    results.hidden = true;
    shown = null;
    status.textContent = "";
    error.textContent = failure.message;
  } finally {
    if (request === latest) {
      submit.disabled = false;
      form.removeAttribute("aria-busy");
    }
  }
}

function render(body) {
  const took = `${body.took_ms.toFixed(body.took_ms < 10 ? 1 : 0)} ms`;
  if (body.no_answer) {
    answerBox.replaceChildren(
      el("div", { class: "no-answer" },
        el("h2", {}, "No answer in these documents"),
        el("p", {}, body.passages.length
          ? "Nothing here answers that closely enough. The closest passages follow, for what they are worth."
          : "Nothing in the index matches that question.")),
    );
    status.textContent = `No answer in these documents (searched in ${took}).`;
  } else {
    const answer = body.answer;
    answerBox.replaceChildren(
      el("div", { class: "answer" },
        el("h2", {}, "Answer"),
        el("blockquote", { class: "answer-text" }, answer.text),
        el("p", { class: "source" }, "Source: ", citationLink(answer.citation, body))),
    );
    status.textContent = `Answered in ${took}.`;
  }
  passageList.replaceChildren(...body.passages.map((passage) => passageItem(passage, body)));
  passageList.previousElementSibling.hidden = body.passages.length === 0;
  results.hidden = false;
}

function passageItem(passage, body) {
  const c = passage.citation;
  return el("li", { class: "passage", value: passage.rank },
    // Scores stay out of sight: hybrid scores are fused z-scores, whose sign and scale mean nothing to a reader.
    el("p", { class: "passage-meta" }, citationLink(c, body)),
    el("p", { class: "passage-text" }, ...markedText(passage)));
}

// The passage text with its highlight sentence in <mark>. Highlight offsets are code points into the
// document; the passage is the document from citation.char_start, so subtract and convert to UTF-16.
function markedText(passage) {
  const text = passage.text;
  const offset = passage.citation.char_start;
  const [start, end] = toUtf16(text, [passage.highlight.char_start - offset, passage.highlight.char_end - offset]);
  return [text.slice(0, start), el("mark", {}, text.slice(start, end)), text.slice(end)];
}

// ", sheet Budget, rows 4–9" for a spreadsheet passage (a CSV file's one sheet has no name); "" otherwise.
function rowsLabel(citation) {
  return citation.row_start == null ? "" : `, ${rowsName(citation.sheet, citation.row_start, citation.row_end)}`;
}

// "Title › Section › Subsection — lines 3–5, page 2" as the link, then the file it comes from.
function citationLink(citation, body) {
  const page = (citation.page ? `, ${pageName(citation.page, citation.page_label)}` : "")
    + (citation.slide ? `, slide ${citation.slide}` : "") + rowsLabel(citation);
  const title = citation.title.trim();
  // A page's first heading is usually its title: shown once.
  const section = (citation.section || []).filter((heading) => heading.toLowerCase() !== title.toLowerCase());
  const label = [title, ...section].join(" › ");
  return el("span", { class: "citation-line" },
    el("a", {
      class: "citation",
      href: viewUrl(citation, body.question, body.mode),
      title: `Open ${citation.source} with the cited text highlighted`,
    }, `${label} — ${linesLabel(citation.line_start, citation.line_end)}${page}`),
    " ",
    el("span", { class: "citation-file" }, citation.doc_id));
}

function fromAddress() {
  const params = new URLSearchParams(location.search);
  const question = params.get("q") || "";
  setMode(params.get("mode") || "hybrid");
  input.value = question;
  if (question) {
    ask(question, currentMode());
  } else {
    results.hidden = true;
    status.textContent = "";
    error.textContent = "";
  }
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  // Sent as typed, even when empty: the server's 422 says what is wrong in its own words.
  const question = input.value;
  const mode = currentMode();
  const url = pageUrl(question.trim() ? question : "", mode);
  if (url !== location.pathname + location.search) history.pushState(null, "", url);
  ask(question, mode);
});

form.addEventListener("change", (event) => {
  if (event.target.name !== "mode" || !shown) return;
  history.replaceState(null, "", pageUrl(shown.question, currentMode()));
  ask(shown.question, currentMode());
});

window.addEventListener("popstate", fromAddress);

// The example in the question box comes from this corpus: the title of its first document, so it suggests
// something these documents can answer. Only once /health has shown the index (with a key, if one is needed).
async function suggestExample() {
  const health = await showStats(document.getElementById("stats"));
  if (!health || !health.index || !health.index.documents) return;
  try {
    const listing = await api("/documents?limit=1");
    const title = listing.documents.length ? listing.documents[0].title.trim() : "";
    if (title) input.placeholder = `e.g. ${title}`;
  } catch {
    // The generic example stays.
  }
}

suggestExample();
fromAddress();
