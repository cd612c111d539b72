// Shared by the question page and the document view. No framework: a few DOM helpers and the API calls.

// Builds an element. Children are nodes or strings; strings become text nodes, so document text
// can never be parsed as markup.
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") node.className = value;
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

// The API counts offsets in code points (Python string indices); JavaScript strings index UTF-16
// units, where an emoji or any other astral character takes two. Maps each code-point offset to the
// UTF-16 index of the same position, in one walk over the text. Offsets past the end map to its length.
export function toUtf16(text, offsets) {
  const wanted = [...new Set(offsets)].sort((a, b) => a - b);
  const found = new Map();
  let point = 0;
  let unit = 0;
  for (const target of wanted) {
    while (point < target && unit < text.length) {
      unit += text.codePointAt(unit) > 0xffff ? 2 : 1;
      point += 1;
    }
    found.set(target, unit);
  }
  return offsets.map((offset) => found.get(offset));
}

// Errors the page shows in words. `status` is the HTTP status, 0 when the server could not be reached.
export class ApiError extends Error {
  constructor(message, status) {
    super(message);
    this.status = status;
  }
}

// A server with API keys wants one on every API call. The page asks for it once and keeps it in this
// tab only (sessionStorage): never in the address, never in a cookie another site's request would carry.
const KEY_STORE = "askdocs-api-key";

// Calls the API and returns parsed JSON, or throws an ApiError whose message a reader can act on:
// the 422 `message`, the 503/404 `detail`, never a raw JSON dump.
export async function api(path, options = {}) {
  const headers = { accept: "application/json", ...options.headers };
  const key = sessionStorage.getItem(KEY_STORE);
  if (key) headers.authorization = `Bearer ${key}`;
  let response;
  try {
    response = await fetch(path, { ...options, headers });
  } catch {
    throw new ApiError("Could not reach the askdocs server. Is `askdocs serve` still running?", 0);
  }
  if (response.status === 401) {
    if (key) sessionStorage.removeItem(KEY_STORE);
    showKeyForm();
    throw new ApiError(key ? "That API key was not accepted. Paste a valid one above."
      : "This server needs an API key. Paste it above.", 401);
  }
  let body = null;
  try {
    body = await response.json();
  } catch {
    // Not JSON (a proxy's error page, say): fall through to the status line.
  }
  if (response.ok && body !== null) return body;
  throw new ApiError(describeError(response, body), response.status);
}

// An image from the API (a rendered PDF page) as an object URL: an <img src> could not send the API key.
export async function apiImage(path) {
  const headers = {};
  const key = sessionStorage.getItem(KEY_STORE);
  if (key) headers.authorization = `Bearer ${key}`;
  const response = await fetch(path, { headers });
  if (!response.ok) {
    let body = null;
    try {
      body = await response.json();
    } catch {
      // Not JSON: the status line says enough.
    }
    throw new ApiError(describeError(response, body), response.status);
  }
  return URL.createObjectURL(await response.blob());
}

function describeError(response, body) {
  const said = body && (body.message || (typeof body.detail === "string" ? body.detail : null) || body.error);
  if (response.status === 422) return `That question cannot be asked: ${said || "the request was invalid"}.`;
  if (response.status === 503) return `No index is loaded, so nothing can be answered yet. ${said || ""}`.trim();
  if (response.status === 404) return said ? capitalise(said) + "." : "Not found.";
  return `The server answered ${response.status} ${response.statusText}${said ? `: ${said}` : "."}`;
}

function capitalise(text) {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

export function plural(count, word) {
  return `${count.toLocaleString("en")} ${word}${count === 1 ? "" : "s"}`;
}

// "page 9 (PDF page 13)" where the PDF gives the page a label of its own, else "page 13" (search/context.py).
export function pageName(page, label) {
  return label && label !== String(page) ? `page ${label} (PDF page ${page})` : `page ${page}`;
}

// "row 4", "rows 4–9", "sheet Budget, rows 4–9" (a CSV file's one sheet has no name).
export function rowsName(sheet, first, last) {
  const rows = first === last ? `row ${first}` : `rows ${first}–${last}`;
  return sheet ? `sheet ${sheet}, ${rows}` : rows;
}

export function linesLabel(start, end) {
  return start === end ? `line ${start}` : `lines ${start}–${end}`;
}

// The document view's address for a cited span; `q` and `mode` let its back link restore the answer, and the
// citation's sha256 and generation let the view say whether the document changed since.
export function viewUrl(citation, question, mode) {
  const path = citation.doc_id.split("/").map(encodeURIComponent).join("/");
  const params = new URLSearchParams({ start: citation.char_start, end: citation.char_end });
  if (citation.sha256) params.set("sha256", citation.sha256);
  if (citation.generation) params.set("generation", citation.generation);
  if (question) params.set("q", question);
  if (mode) params.set("mode", mode);
  return `/view/${path}?${params}`;
}

export function documentUrl(docId) {
  return `/documents/${docId.split("/").map(encodeURIComponent).join("/")}`;
}

// Fills an element with the index statistics from /health, or the reason there is no index.
// serve --watch: which folders are followed, and what the last sync did (or why it failed).
function syncLabel(sync) {
  if (!sync) return [];
  const folders = plural(sync.folders.length, "folder");
  const last = sync.last;
  let what = "";
  if (sync.pending_changes) what = ` · syncing ${plural(sync.pending_changes, "change")}`;
  else if (last && !last.ok) return [" · ", el("span", { class: "error-text" }, `watching ${folders}; last sync failed: ${last.error}`)];
  else if (last && last.published === false) what = " · up to date";
  else if (last && last.added !== null) what = ` · last sync: ${last.added} added, ${last.updated} updated, ${last.removed} removed`;
  return [` · watching ${folders}${what}`];
}

export async function showStats(target) {
  try {
    const health = await api("/health");
    const index = health.index;
    if (!index) {
      // A server with API keys shows the index's details only to a request with a key.
      target.replaceChildren(health.generation ? `index generation ${health.generation}` : "");
      return;
    }
    const built = index.built_at.replace("T", " ").replace(/\+00:00$/, " UTC");
    target.replaceChildren(
      `${plural(index.documents, "document")} · ${plural(index.chunks, "chunk")} · model ${index.model} · built ${built}`,
      ...syncLabel(health.sync),
    );
    return health;
  } catch (error) {
    target.replaceChildren(el("span", { class: "error-text" }, error.message));
  }
  return null;
}

// The form that takes an API key; once saved, the page reloads and asks again with it.
function showKeyForm() {
  if (document.getElementById("api-key")) return;
  const input = el("input", { id: "api-key", type: "password", autocomplete: "off", required: true });
  const form = el("form", { class: "key-form", "aria-label": "API key" },
    el("label", { for: "api-key" }, "API key"), input, el("button", { type: "submit" }, "Use key"));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem(KEY_STORE, input.value.trim());
    location.reload();
  });
  document.querySelector("main").prepend(form);
  input.focus();
}
