"""The tools askdocs offers a language model, defined once.

Each ``Tool`` holds a name, a description written for the model, a pydantic model of its arguments,
the pydantic model it returns and the handler that turns one into the other. The MCP server
(``api.mcp``), ``GET /tools``, ``POST /tools/{name}`` and their OpenAPI docs (``api.tool_routes``)
are all generated from ``TOOLS``; no tool schema is written anywhere else.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from askdocs.index.errors import BadInput, NotFound, describe_validation
from askdocs.search import Engine
from askdocs.search.browse import CURSOR_PATTERN, check_cursor, get_passage, list_documents
from askdocs.search.models import (
    MAX_QUESTION_CHARS,
    MAX_TOP_K,
    AskResponse,
    DocumentList,
    Filters,
    Mode,
    PassageDetail,
    Question,
    SearchResponse,
    Text,
)

MAX_CONTEXT_CHARS = 10_000
MAX_PAGE = 500
COLLECTION_HELP = "Which collection of documents to use, when the server holds several; omit for its default."


def collection_field() -> Any:
    # The same field as Question.collection, so every tool names a collection alike.
    return Field(None, min_length=1, max_length=64, description=COLLECTION_HELP)


# A call that cannot succeed as made raises an askdocs error (index.errors) whose message is for the model:
# what was wrong and, in the hint, what to do instead. HTTP and MCP each answer it in one place.


class UnknownTool(NotFound):
    code = "unknown_tool"

    def __init__(self, name: str):
        super().__init__(f"no tool named {name!r}", f"the tools are {', '.join(TOOLS)}")


class InvalidArguments(BadInput):
    code = "invalid_arguments"


class UnknownChunk(NotFound):
    code = "unknown_chunk"


# ---------------------------------------------------------------- arguments


class SearchArguments(BaseModel):
    model_config = ConfigDict(extra="forbid")

    query: Text = Field(
        ..., min_length=1, max_length=MAX_QUESTION_CHARS, description="What to look for, in plain language or keywords."
    )
    top_k: int = Field(5, ge=1, le=MAX_TOP_K, description="How many passages to return.")
    mode: Mode = Field(
        "hybrid",
        description="hybrid: words and meaning (best in general); dense: meaning only, for paraphrases; "
        "bm25: exact words only, for names, codes and rare terms.",
    )
    filters: Filters | None = Field(
        None, description="Only search matching documents: source glob, doc_ids, types, modified range, meta values."
    )
    collection: Text | None = collection_field()

    @field_validator("query")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("query must not be blank")
        return value


class PassageArguments(BaseModel):
    model_config = ConfigDict(extra="forbid")

    chunk_id: Text = Field(..., min_length=1, description="citation.chunk_id of a passage, e.g. 'report.pdf#3'.")
    context_chars: int = Field(
        0, ge=0, le=MAX_CONTEXT_CHARS, description="Also return up to this many characters of the document before "
        "and after the passage."
    )
    collection: Text | None = collection_field()


class ListArguments(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cursor: str | None = Field(None, json_schema_extra={"pattern": CURSOR_PATTERN},
                               description="next_cursor from the previous page; omit for the first page.")
    limit: int = Field(50, ge=1, le=MAX_PAGE, description="Documents per page.")
    collection: Text | None = collection_field()

    @field_validator("cursor")
    @classmethod
    def _cursor(cls, value: str | None) -> str | None:
        # Digits only, and few: str.isdigit() also passes "²", and int() refuses over 4,300 digits.
        return None if value is None else check_cursor(value)


# ---------------------------------------------------------------- handlers


def _search(engine: Engine, args: SearchArguments) -> SearchResponse:
    passages = engine.search(args.query, args.top_k, args.mode, args.filters)
    return SearchResponse(query=args.query, mode=args.mode, passages=passages)


def _ask(engine: Engine, args: Question) -> AskResponse:
    return engine.ask(args)


def _get_passage(engine: Engine, args: PassageArguments) -> PassageDetail:
    found = get_passage(engine.stored, args.chunk_id, args.context_chars)
    if found is None:
        raise UnknownChunk(
            f"no passage with chunk id {args.chunk_id!r} in this index",
            "chunk ids come from the citation.chunk_id of search_documents or ask results, or are doc_id#N for N "
            "below list_documents' chunks count",
        )
    return found


def _list_documents(engine: Engine, args: ListArguments) -> DocumentList:
    return list_documents(engine.stored, args.cursor, args.limit)


# ---------------------------------------------------------------- registry


@dataclass(frozen=True)
class Tool:
    name: str
    title: str
    description: str
    arguments: type[BaseModel]
    result: type[BaseModel]
    handler: Callable[[Engine, Any], BaseModel]

    def input_schema(self) -> dict[str, Any]:
        return self.arguments.model_json_schema()

    def output_schema(self) -> dict[str, Any]:
        return self.result.model_json_schema()

    def parse(self, arguments: Mapping[str, Any]) -> BaseModel:
        try:
            return self.arguments.model_validate(arguments)
        except ValidationError as exc:
            raise InvalidArguments(f"invalid arguments for {self.name}: "
                                   f"{describe_validation(exc.errors(), 'arguments')}") from None

    def run(self, engine: Engine, arguments: BaseModel) -> BaseModel:
        return self.handler(engine, arguments)

    def openai(self) -> OpenAITool:
        return OpenAITool(function=FunctionSpec(name=self.name, description=self.description,
                                                parameters=self.input_schema()))


class FunctionSpec(BaseModel):
    name: str
    description: str
    parameters: dict[str, Any] = Field(description="JSON Schema of the arguments object.")


class OpenAITool(BaseModel):
    """A tool in the shape OpenAI's chat completions API (and most agent frameworks) take in ``tools``."""

    type: Literal["function"] = "function"
    function: FunctionSpec


TOOLS: dict[str, Tool] = {
    tool.name: tool
    for tool in [
        Tool(
            name="search_documents",
            title="Search the documents",
            description=(
                "Find the passages of the indexed documents that best match a query. Use it to explore what the "
                "documents say about a topic or to gather evidence before writing an answer yourself. Returns ranked "
                "passages, each with its text, the sentence that matches best (highlight) and a citation: document "
                "id and title, character offsets, lines, PDF page (and the page_label it prints), slide (of a "
                ".pptx), sheet and row range (of a spreadsheet) and the chunk_id that get_passage takes. Cite "
                "passages by their document and lines (and page label, slide or rows where given)."
            ),
            arguments=SearchArguments,
            result=SearchResponse,
            handler=_search,
        ),
        Tool(
            name="ask",
            title="Answer a question from the documents",
            description=(
                "Answer a factual question from the indexed documents. Use it when the user asks something the "
                "documents should answer. Returns the one sentence that best answers it, with an exact citation, and "
                "the passages it was chosen from. When no_answer is true the documents do not answer the question: "
                "say so instead of guessing. With format 'context' the result also has `context`, the passages as "
                "Markdown numbered [1]..[n] with a sources list, ready to quote."
            ),
            arguments=Question,
            result=AskResponse,
            handler=_ask,
        ),
        Tool(
            name="get_passage",
            title="Read a passage and its surroundings",
            description=(
                "Fetch one passage by the chunk_id in a citation from search_documents or ask, optionally with up to "
                "context_chars characters of the document before and after it. Use it when a passage is cut off or "
                "you need more of the document to answer; previous_chunk_id and next_chunk_id let you read on."
            ),
            arguments=PassageArguments,
            result=PassageDetail,
            handler=_get_passage,
        ),
        Tool(
            name="list_documents",
            title="List the documents",
            description=(
                "List the indexed documents (id, title, source path, number of passages), a page at a time. Use it "
                "to see what the collection covers or to find a document's id. Pass next_cursor back as cursor for "
                "the next page."
            ),
            arguments=ListArguments,
            result=DocumentList,
            handler=_list_documents,
        ),
    ]
}

