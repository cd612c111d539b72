"""The contract: what a question is and what an answer looks like.

HTTP, the CLI's ``--json``, MCP, ``/tools`` and the Python API all speak these models.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

# What GET /documents and filters call a file's kind (index.documents reads each).
FileType = Literal["text", "markdown", "html", "pdf", "docx", "odt", "pptx", "xlsx", "csv", "tsv", "epub", "email",
                   "rst", "rtf", "man", "info"]

MAX_QUESTION_CHARS = 2000
MAX_TOP_K = 50
Mode = Literal["hybrid", "dense", "bm25"]




def _valid_unicode(value: str) -> str:
    # JSON's \ud800 escapes decode to lone surrogates (a browser sends them when it cuts an emoji in half);
    # no UTF-8 encoder takes them, so such a string would fail deep inside a search or its response.
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(f"contains a lone UTF-16 surrogate at position {exc.start} (half of a character, "
                         "e.g. a cut emoji); send valid Unicode") from None
    return value


# Every string the API takes in is one of these.
Text = Annotated[str, AfterValidator(_valid_unicode)]

MetaValue = str | int | float | bool
# What a meta filter may compare with: NaN equals nothing and Infinity is no stored value.
# (Strings are checked by Filters._meta_unicode.)
MetaFilterValue = str | int | Annotated[float, Field(allow_inf_nan=False)] | bool


class Filters(BaseModel):
    """Restrict a question to some documents. Every filter given must hold (AND)."""

    model_config = ConfigDict(extra="forbid")

    source: Text | None = Field(
        None, min_length=1, max_length=1000,
        description="Glob on the document id (its path relative to the indexed folder), e.g. `reports/*.pdf`; "
        "`*` matches across folders too.",
    )
    doc_ids: list[Text] | None = Field(None, max_length=10000, description="Only these documents.")
    types: list[FileType] | None = Field(None, description="File types.")
    modified_after: datetime | None = Field(None, description="Files modified at or after this time (ISO 8601).")
    modified_before: datetime | None = Field(None, description="Files modified before this time (ISO 8601).")
    meta: dict[str, MetaFilterValue | list[MetaFilterValue]] | None = Field(
        None, description="Front matter / sidecar keys: a value must equal, a list means any one of its values."
    )

    @field_validator("meta")
    @classmethod
    def _meta_unicode(cls, value: dict | None) -> dict | None:
        # Checked here rather than by Text inside the union, whose error would name pydantic's union branch.
        for key, expected in (value or {}).items():
            _valid_unicode(key)
            for item in expected if isinstance(expected, list) else [expected]:
                if isinstance(item, str):
                    _valid_unicode(item)
        return value

    @field_validator("modified_after", "modified_before")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        # A time without a zone is read as UTC, so the same filter means the same thing on every server.
        return value.replace(tzinfo=timezone.utc) if value is not None and value.tzinfo is None else value

    def is_empty(self) -> bool:
        return all(getattr(self, name) is None for name in type(self).model_fields)


class Question(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"question": "Which G7 country voted in favour of the UN resolution?", "top_k": 5}]
        },
    )

    question: Text = Field(
        ..., min_length=1, max_length=MAX_QUESTION_CHARS, description="A question or search phrase in plain language."
    )
    top_k: int = Field(5, ge=1, le=MAX_TOP_K, description="How many passages to return.")
    mode: Mode = Field(
        "hybrid", description="hybrid: BM25 and dense fused (best in general); dense: meaning only; bm25: words only."
    )
    format: Literal["json", "context"] = Field(
        "json", description="context: also return `context`, the passages as a numbered Markdown block for a prompt."
    )
    filters: Filters | None = Field(None, description="Only search documents that match all of these.")
    collection: Text | None = Field(
        None, min_length=1, max_length=64,
        description="Which of the server's collections to ask (GET /collections lists them); omit for its default.",
    )

    @field_validator("question")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("question must not be blank")
        return value


class Highlight(BaseModel):
    """The sentence of a passage that best matches the question, as offsets in the document text."""

    char_start: int
    char_end: int
    text: str


class Citation(BaseModel):
    """Where a passage comes from. ``document.text[char_start:char_end]`` is exactly the cited text."""

    doc_id: str
    title: str
    source: str
    chunk_id: str
    char_start: int
    char_end: int
    line_start: int = Field(description="1-based line of char_start in the document text.")
    line_end: int = Field(description="1-based line of the last cited character.")
    page: int | None = Field(None, description="1-based PDF page of char_start; null for other formats.")
    page_label: str | None = Field(None, description="The page's own label where the PDF defines page labels "
                                   "(\"iv\", \"9\": what the page prints), else null.")
    slide: int | None = Field(None, description="1-based slide number of char_start in a slide deck (.pptx); null "
                              "for other formats.")
    sheet: str | None = Field(None, description="Spreadsheet (.xlsx) sheet of the cited rows; null for other formats "
                              "and for CSV/TSV files, which have one unnamed sheet.")
    row_start: int | None = Field(None, description="Spreadsheet (.xlsx, .csv, .tsv) row of char_start, numbered as "
                                  "the spreadsheet shows it (the header is usually row 1); null for other formats.")
    row_end: int | None = Field(None, description="Spreadsheet row of the last cited character; null for other "
                                "formats.")
    section: list[str] = Field(
        default_factory=list,
        description="The headings above the cited text, outermost first (e.g. [\"venv — Creation of virtual "
        "environments\", \"API\"]); empty when the document has none or the index was built before sections were kept.",
    )
    sha256: str | None = Field(None, description="The version of the document cited (sha256 of its file): pass it "
                               "back to GET /documents/{doc_id} to learn whether the document has changed since.")
    generation: int | None = Field(None, description="The index generation the citation was made from.")


class CitedVersion(BaseModel):
    """GET /documents/{doc_id} given a citation's sha256 (and span): is the cited text still there, and where."""

    status: Literal["current", "moved", "gone", "changed"] = Field(
        description="current: the document is the version cited, the span is as cited; moved: it changed, and the "
        "cited text occurs exactly once in it now, at char_start..char_end; gone: it changed, and the cited text "
        "is not in it (or not only once); changed: it changed, and the cited text is not known here (give `quote`, "
        "or the citation's generation while it is still on disk)."
    )
    message: str
    char_start: int | None = Field(None, description="Where the cited text is in the current version.")
    char_end: int | None = None


class Passage(BaseModel):
    rank: int
    score: float
    text: str
    highlight: Highlight
    citation: Citation


class Answer(BaseModel):
    """The span that best answers the question: a sentence, or a definition-list term with its description, or a
    lead-in with its list (docs/how-it-works.md); its citation covers just that span. ``score`` is the answer
    scorer's logit."""

    text: str
    score: float
    passage_rank: int
    citation: Citation


class Signals(BaseModel):
    """The evidence behind the no-answer decision, so a client can see why."""

    dense: float = Field(description="Cosine similarity of the top passage to the question.")
    coverage: float = Field(description="Share of the question's words (idf-weighted) found in the top passage.")
    confidence: float = Field(description="dense + weight * coverage (the evidence before the answer scorer).")
    threshold: float = Field(description="evidence under this means no_answer (ASKDOCS_NO_ANSWER_THRESHOLD).")
    answer_score: float = Field(0.0, description="The answer scorer's probability that the chosen answer answers.")
    unknown_terms: float = Field(0.0, description="Share of the question's idf-weighted terms the index never uses.")
    rare_term_missing: bool = Field(False, description="The question's rarest name (a capitalised or "
                                    "non-dictionary word: MariaDB, matplotlib) is in neither the top passage nor its title.")
    unseen_name: str | None = Field(None, description="Something the question names that the passages cannot be "
                                    "about: a name the index never uses (InnoDB) or an identifier with underscores "
                                    "in none of the passages (max_parallel_vacuum_memory); None when there is none.")
    evidence: float = Field(0.0, description="confidence + scorer and unknown-term terms; under threshold means "
                            "no_answer (docs/how-it-works.md).")


class AskResponse(BaseModel):
    question: str
    mode: Mode
    answer: Answer | None
    no_answer: bool = Field(description="True when nothing in the index scores as an answer; answer is then null.")
    signals: Signals | None = Field(None, description="Null when the index returned no passage at all.")
    passages: list[Passage]
    took_ms: float
    cached: bool = Field(False, description="Answered from the cache of repeated questions (same question and "
                                            "parameters, same index generation); took_ms is then the lookup's.")
    context: str | None = Field(
        None,
        description='With format "context": the passages as Markdown, numbered [1]..[n], and the sources they cite.',
    )


class SearchResponse(BaseModel):
    """Ranked passages for a query, without deciding on an answer sentence."""

    query: str
    mode: Mode
    passages: list[Passage]


class PassageDetail(BaseModel):
    """One stored passage, looked up by chunk id, with the document text around it if asked for."""

    chunk_id: str
    text: str = Field(description="The passage: document.text[citation.char_start:citation.char_end].")
    citation: Citation
    context_before: str = Field("", description="The document text just before the passage (up to context_chars).")
    context_after: str = Field("", description="The document text just after the passage (up to context_chars).")
    previous_chunk_id: str | None = Field(description="The passage before this one in its document, if any.")
    next_chunk_id: str | None = Field(description="The passage after this one in its document, if any.")


class DocumentSummary(BaseModel):
    doc_id: str
    title: str
    source: str
    chunks: int = Field(description="How many passages; their chunk ids are doc_id#0 .. doc_id#(chunks-1).")


class DocumentList(BaseModel):
    documents: list[DocumentSummary]
    total: int = Field(description="Documents in the index (GET /documents with filters: documents that match).")
    next_cursor: str | None = Field(description="Pass as cursor for the next page; null on the last page.")


class DocumentLocators(BaseModel):
    """Where each slide of a deck or row of a spreadsheet begins in the stored text."""

    unit: Literal["slide", "row"]
    starts: list[int] = Field(description="Char offset where each slide / non-empty row begins, ascending.")
    numbers: list[int] = Field(description="Its slide number, or its row number as the spreadsheet shows it.")
    sheets: list[str] = Field(default_factory=list, description="Rows: the sheet of each row (\"\" in a CSV/TSV).")


class DocumentHeading(BaseModel):
    """A heading of the stored text: text[start:end] is the heading as shown."""

    start: int
    end: int
    level: int = Field(description="1 (outermost) .. 6. The section path at an offset is the text of the last "
                       "heading of each level above it, outermost first (a citation's `section`).")


class SpanBoxes(BaseModel):
    """The characters of a span on one PDF page, as rectangles to draw over the rendered page."""

    page: int = Field(description="1-based page, as in GET /documents/{id}/pages/{page}.png.")
    width: float | None = Field(description="The page's width in PDF points (1/72 inch), as rendered.")
    height: float | None = Field(description="The page's height in PDF points.")
    boxes: list[list[float]] = Field(description="[x0, y0, x1, y1] in points from the page's top-left corner as "
                                     "rendered (a page with /Rotate turned, as the PNG shows it), one per run of the "
                                     "span's characters on one line. Scale by image width / `width`.")
    ocr: bool = Field(False, description="The page's text was recognised by OCR: `boxes` are where OCR read the "
                      "characters (close, not exact), and empty where OCR did not place them, so nothing can be "
                      "highlighted on the image.")


class DocumentOut(BaseModel):
    doc_id: str
    title: str
    source: str
    kind: str
    sha256: str
    size: int
    text: str
    page_starts: list[int] = Field(default_factory=list, description="Char offset where each PDF page begins.")
    page_labels: list[str] = Field(default_factory=list,
                                   description="Each PDF page's own label, where the PDF defines page labels.")
    folder: str = Field("", description="Folder of the document id; empty at the top of the indexed folder.")
    modified: datetime | None = Field(None, description="The file's modification time when it was indexed.")
    meta: dict[str, MetaValue | list[MetaValue]] = Field(
        default_factory=dict, description="Front matter and sidecar key/values."
    )
    cited: CitedVersion | None = Field(None, description="Given `sha256` (a citation's): whether the cited text is "
                                       "still there, and where.")
    locators: DocumentLocators | None = Field(None, description="Slides (.pptx) or rows (spreadsheets); null for "
                                              "other formats.")
    headings: list[DocumentHeading] = Field(
        default_factory=list, description="The document's headings (HTML, Markdown, PDF outline, office formats), in "
        "text order; empty for text without structure or an index built before structure was kept.")
    section: list[str] | None = Field(
        None, description="Given `start` and `end`: the span's section path, the headings above `text[start]`, "
        "outermost first: the `section` a citation of that span carries ([] where no heading is above it). With a "
        "`sha256` of another version, the section of where the cited text is now (`cited`), null if it is gone.")
    span_boxes: list[SpanBoxes] | None = Field(
        None, description="Given `start` and `end` on a PDF indexed with page boxes (and `sha256`, if given, "
        "still this version): the span's characters on each page it touches. Null otherwise.")


class IndexStats(BaseModel):
    path: str
    generation: int
    built_at: str
    documents: int
    chunks: int
    model: str
    dimension: int
    runtime: str = Field(description="The runtime that embedded the chunks (torch or onnx).")
    precision: str | None = Field(None, description="Of the chunk vectors: fp32, bf16 (torch) or int8 (onnx).")
    vectors: str = Field(description="Where the chunk vectors are searched: the FAISS index type (flat = exact, or "
                         "IVF with the lists probed per question) or the Milvus collection.")
    file_counts: dict[str, int | dict[str, int]] | None = Field(
        None, description="How the files under the build's paths fared, counted at build time: indexed, not_indexed, "
        "not_indexed_by_reason, unsupported_by_extension (and added, updated, unchanged, removed for an incremental "
        "build). None for an index built before they were recorded.")


class SyncRecord(BaseModel):
    """One sync of a watched index: an incremental build after a burst of changes (docs/operating.md)."""

    at: str = Field(description="When it started (UTC, ISO 8601).")
    seconds: float
    ok: bool
    error: str | None = Field(None, description="Why it failed; the served generation stayed as it was.")
    published: bool | None = Field(None, description="False when nothing had changed, so nothing was published.")
    documents: int | None = None
    chunks: int | None = None
    embedded: int | None = Field(None, description="Chunks that went through the model (reused ones do not).")
    skipped: int | None = Field(None, description="Files not indexed, each named in the build summary.")
    hashed: int | None = Field(None, description="Files read to compare their bytes: those whose size, mtime, ctime "
                               "or inode changed, or every file in a full check (at start, then hourly).")
    added: int | None = None
    updated: int | None = None
    removed: int | None = None


class SyncStatus(BaseModel):
    folders: list[str] = Field(description="The folders and files the index is kept in sync with.")
    mode: str = Field(description="events (file-system notifications) or 'poll every N s'.")
    syncs: int = Field(description="Syncs since the server started, the one at start included.")
    pending_changes: int = Field(description="Changed paths seen and not yet built (a sync is gathering or running).")
    last: SyncRecord | None = None
    build_process: int | None = Field(None, description="The process id that runs the syncs' builds: a child of the "
                                      "server, kept between syncs with the model loaded; null before the first.")


class Health(BaseModel):
    status: str = Field(description="ok; degraded: the served generation fails reads (see error), HTTP 503; "
                        "no_index: nothing is served (see error), HTTP 503.")
    generation: int | None = Field(None, description="The generation served (the only detail, with status, shown "
                                   "to a request without a valid key when the server has API keys).")
    index: IndexStats | None = None
    error: str | None = None
    reload_error: str | None = Field(
        None, description="Why the last newly published generation was refused; the index above is still served."
    )
    collections: dict[str, Literal["ok", "no_index", "reload_refused", "degraded"]] | None = Field(
        None, description="Every collection the server holds and whether it is served (GET /collections has details); "
        "`index` above is the default collection's.",
    )
    sync: SyncStatus | None = Field(None, description="serve --watch: the default collection's folder sync.")
