"""The HTTP API. Routes only translate between HTTP and the search package's models."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from contextlib import asynccontextmanager
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from fastapi import FastAPI, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError
from starlette.middleware.cors import CORSMiddleware

from askdocs.index.errors import NotFound
from askdocs.index.settings import Settings
from askdocs.search import Engine
from askdocs.search.answer_cache import AnswerCache
from askdocs.search.browse import CURSOR_PATTERN, list_documents
from askdocs.search.models import AskResponse, DocumentList, DocumentOut, Filters, Health, Question

from .api_docs import docs_router
from .collections import CollectionList, Collections
from .errors import HeadMiddleware, JsonBodyMiddleware, Utf8PathMiddleware, install_error_handlers
from .mcp_http import mount as mount_mcp
from .metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from .metrics import Metrics, MetricsMiddleware, set_mode
from .page_routes import pages_router
from .pages import web_router
from .reload import EngineHolder, ReloadResult
from .security import (
    LOOPBACK_NAMES, ApiKeyMiddleware, BodyLimitMiddleware, HostGuardMiddleware, RequestIdMiddleware,
    allowed_collections, allowed_host_names, api_keys, cors_origins,
)
from .tool_routes import tools_router
from .tools import MAX_PAGE

log = logging.getLogger("askdocs.api")

__all__ = ["VERSION", "EngineHolder", "create_app"]

try:
    VERSION = version("askdocs")
except PackageNotFoundError:  # running from a checkout that was never installed
    VERSION = "0"


COLLECTION_QUERY = Query(None, min_length=1, max_length=64,
                         description="Which collection (GET /collections lists them); omit for the default.")
FILTER_DOCS = {name: Filters.model_fields[name].description for name in ("source", "modified_after", "modified_before")}
REFUSALS = {403: {"description": "The API key may not use this collection"},
            404: {"description": "No collection with that name"}}


def create_app(settings: Settings | None = None, allowed_hosts: Sequence[str] = LOOPBACK_NAMES,
               indexes: Mapping[str, Path] | None = None, watch: bool = False, poll: float | None = None) -> FastAPI:
    """The app over ``indexes`` ({collection name: folder}; None: one collection, ``default``, at
    ``settings.index``). ``allowed_hosts``: the Host names the app answers to besides ASKDOCS_ALLOWED_HOSTS and
    IP addresses (DNS-rebinding guard). ``watch``/``poll``: keep every index in sync with its folders while
    the app runs (index.watch)."""
    if settings is None:  # a face: the one place, with the CLI, that reads the environment
        import os

        settings = Settings.from_environment(os.environ)
    collections = Collections(settings, indexes, watch=watch, poll=poll)
    keys = api_keys(settings, collections.names)  # raises KeyConfigError before anything is served
    origins = cors_origins(settings)
    hosts = allowed_host_names(settings, allowed_hosts)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        collections.load()
        collections.start_watching()
        try:
            async with mcp_session():
                yield
        finally:
            collections.stop_watching()
            collections.close()

    app = FastAPI(
        title="askdocs",
        version=VERSION,
        summary="Ask questions of a folder of documents; every answer cites the exact characters it came from.",
        lifespan=lifespan,
        # Served offline by api.api_docs instead of FastAPI's CDN-loading pages.
        docs_url=None, redoc_url=None,
        # A client that sends no content type at all still gets its JSON read (a form content type too:
        # JsonBodyMiddleware).
        strict_content_type=False,
    )
    app.state.collections = collections
    metrics = app.state.metrics = Metrics(collections)

    # Added innermost first: a request meets the request id, then CORS (so preflights and 401s carry its
    # headers), then the key check, then the body limit, then address checks (HEAD as GET, UTF-8 paths),
    # and only then a route.
    app.add_middleware(JsonBodyMiddleware)
    app.add_middleware(HeadMiddleware)
    app.add_middleware(Utf8PathMiddleware)
    app.add_middleware(BodyLimitMiddleware, limit=settings.max_body_bytes)
    app.add_middleware(ApiKeyMiddleware, keys=keys, public=["/metrics"] if settings.metrics_public else [])
    if origins:
        app.add_middleware(
            CORSMiddleware, allow_origins=origins, allow_methods=["GET", "POST"],
            allow_headers=["authorization", "content-type", "x-request-id"], expose_headers=["x-request-id"],
            max_age=600,
        )
    # Outermost but for the request id, so a refusal carries one and nothing else sees a rebound request.
    app.add_middleware(HostGuardMiddleware, hosts=hosts)
    # Outside every check, so refused requests are counted too.
    app.add_middleware(MetricsMiddleware, metrics=metrics, routes=app.router.routes)
    app.add_middleware(RequestIdMiddleware)
    if keys:
        _document_bearer_auth(app)

    def holder(request: Request, name: str | None) -> EngineHolder:
        """The collection ``name`` names (None: the default), if it exists and the request's key may use it."""
        found = collections.holder(name)
        collections.check_access(name, allowed_collections(request.scope))
        return found

    def engine(request: Request, name: str | None) -> Engine:
        # Resolved once per request: the request keeps this engine even if a reload swaps in another.
        return holder(request, name).get()

    app.include_router(tools_router(engine))  # GET /tools, POST /tools/{name}
    def build_mcp_server():
        from .mcp import build_server

        return build_server(collections, VERSION, keyed=bool(keys))

    mcp_session = mount_mcp(app, build_mcp_server, hosts=hosts, origins=origins)  # MCP over streamable HTTP at /mcp

    install_error_handlers(app)

    @app.post("/ask", response_model=AskResponse, summary="Answer a question with cited passages", responses=REFUSALS)
    async def ask(question: Question, request: Request) -> Response:
        set_mode(request.scope, question.mode)
        served = engine(request, question.collection)
        # A repeated question is answered on the event loop from bytes serialised once: no hop to the thread pool,
        # no validation or serialisation of the passages again (bench/README.md, "The answer cache").
        key = AnswerCache.key(question)
        found = served.cached_body(key)
        if found is not None:
            (body, no_answer), cached = found, True
        else:
            body, no_answer, cached = await run_in_threadpool(served.ask_body, question, key)
        metrics.count_answer(question.mode, no_answer, cached)
        return Response(body, media_type="application/json")

    @app.get("/metrics", summary="Prometheus metrics: requests, latencies, answers, index and sync figures",
             response_class=Response, responses={200: {"content": {METRICS_CONTENT_TYPE: {}}}},
             description="Prometheus text format. Needs an API key like the rest of the API unless the server "
                         "runs with --metrics-public.")
    def prometheus_metrics() -> Response:
        return Response(metrics.render(), media_type=METRICS_CONTENT_TYPE)

    @app.get("/documents", response_model=DocumentList, summary="The documents, a page at a time, optionally filtered",
             responses=REFUSALS)
    def documents(
        request: Request, collection: str | None = COLLECTION_QUERY,
        cursor: str | None = Query(None, pattern=CURSOR_PATTERN,
                                   description="next_cursor of the previous page; omit for the first page."),
        limit: int = Query(50, ge=1, le=MAX_PAGE, description="Documents per page."),
        source: str | None = Query(None, description=FILTER_DOCS["source"]),
        doc_id: list[str] | None = Query(None, description="Only these documents (repeat the parameter)."),
        type: list[str] | None = Query(None, description="Only these file types (repeat), as in /ask's filters.types."),
        modified_after: str | None = Query(None, description=FILTER_DOCS["modified_after"]),
        modified_before: str | None = Query(None, description=FILTER_DOCS["modified_before"]),
        meta: list[str] | None = Query(None, description="NAME=VALUE: a front matter / sidecar value (repeat; the "
                                       "same NAME twice means either value)."),
    ) -> DocumentList:
        # The same filters as POST /ask, spelled as query parameters, validated by the same model.
        wanted = {"source": source, "doc_ids": doc_id, "types": type, "modified_after": modified_after,
                  "modified_before": modified_before, "meta": _meta_filter(meta)}
        try:
            filters = Filters.model_validate({k: v for k, v in wanted.items() if v is not None})
        except ValidationError as exc:
            raise RequestValidationError([{**e, "loc": ("query", *e["loc"])} for e in exc.errors()]) from None
        index = engine(request, collection)
        only = None if filters.is_empty() else index.documents_table.documents(filters)
        return list_documents(index.stored, cursor, limit, only)

    # Before GET /documents/{doc_id:path}, which would take ".../pages/3.png" as a document id.
    app.include_router(pages_router(engine, COLLECTION_QUERY, REFUSALS, lambda *args: document(*args)))

    @app.get(
        "/documents/{doc_id:path}",
        response_model=DocumentOut,
        summary="The stored text of one document, to check citations against",
        responses={**REFUSALS, 404: {"description": "No document with that id, or no collection with that name"}},
    )
    def document(
        doc_id: str, request: Request, collection: str | None = COLLECTION_QUERY,
        sha256: str | None = Query(None, pattern="^[0-9a-f]{64}$", description=(
            "A citation's sha256: the response's `cited` then says whether the document is still that version "
            "and, if not, where the cited text is now.")),
        generation: int | None = Query(None, ge=1, description="The citation's generation (with start and end: "
                                                             "the cited text is read from it while it is on disk)."),
        start: int | None = Query(None, ge=0, description="A span's (a citation's) char_start: the response then "
                                  "has the span's `section` and, for a PDF, `span_boxes`."),
        end: int | None = Query(None, ge=0, description="The span's char_end: start <= end <= len(text) (of the "
                                "version `sha256` names, if given)."),
        quote: str | None = Query(None, min_length=1, max_length=20_000,
                                  description="The cited text as the client kept it, to find it in a changed version."),
    ) -> DocumentOut:
        if (start is None) != (end is None) or (start is not None and end < start):
            # Raised as FastAPI's own validation error, so the 422 has the documented shape.
            raise RequestValidationError([{"type": "value_error", "loc": ("query", "end" if start is not None else
                                                                          "start"),
                                           "msg": "start and end go together, with start <= end",
                                           "input": end if start is not None else start}])
        # The id is looked up in the index, never joined to a path: no id can reach a file outside it.
        found = engine(request, collection).document(doc_id, sha256, generation, start, end, quote)
        if found is None:
            where = "this index" if collection is None else f"collection {collection!r}"
            raise NotFound(f"no document with id {doc_id!r} in {where}")
        return found

    @app.get("/collections", response_model=CollectionList, summary="The collections this server holds, with stats")
    def list_collections() -> CollectionList:
        return collections.info()

    key_check = ApiKeyMiddleware(app, keys)

    @app.get("/health", response_model=Health, summary="Index statistics and model", responses={503: {"model": Health}},
             description="With API keys configured, a request without a valid key gets status and generation only.")
    def health(request: Request):
        # The default collection's, as before there were several; `collections` says how the others are.
        default = collections.holder(None)
        served = default.engine
        damaged = default.damaged
        status = "no_index" if served is None else "degraded" if damaged else "ok"
        code = 200 if status == "ok" else 503
        generation = served.stats().generation if served is not None else None
        if keys and key_check.match(request.headers.get("authorization")) is None:
            # /health is public for monitors; paths, collection names and errors (which hold paths) are not.
            return JSONResponse(status_code=code, content={"status": status, "generation": generation})
        summary = collections.summary()
        if served is None:
            return JSONResponse(status_code=503, content=Health(
                status="no_index", index=None, error=default.error, collections=summary,
                sync=collections.sync_status(None)).model_dump())
        found = Health(status=status, generation=generation, index=served.stats(), error=damaged,
                       reload_error=default.reload_error, collections=summary,
                       sync=collections.sync_status(None))
        return found if code == 200 else JSONResponse(status_code=code, content=found.model_dump())

    @app.post(
        "/admin/reload",
        response_model=ReloadResult,
        summary="Serve the index generation published last, if it is not the one served",
        description="Index folders are also watched (ASKDOCS_RELOAD_INTERVAL), so this is only needed to reload "
                    "at once. Requests in flight finish on the generation they started with.",
        responses={**REFUSALS, 409: {"description": "The new generation was refused; the served one stays"}},
    )
    def reload(request: Request, collection: str | None = COLLECTION_QUERY) -> ReloadResult:
        return holder(request, collection).reload()

    app.include_router(web_router())  # the web page at / and /view/{doc_id}
    app.include_router(docs_router())  # /docs and /redoc, with their assets, from installed files
    return app


def _meta_filter(items: list[str] | None) -> dict | None:
    """``["year=2024", "team=a", "team=b"]`` -> ``{"year": "2024", "team": ["a", "b"]}``, as /ask's filters.meta."""
    if not items:
        return None
    meta: dict[str, list[str]] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise RequestValidationError([{"type": "value_error", "loc": ("query", "meta"), "input": item,
                                           "msg": f"meta {item!r} is not NAME=VALUE"}])
        meta.setdefault(name, []).append(value)
    return {name: values[0] if len(values) == 1 else values for name, values in meta.items()}


def _document_bearer_auth(app: FastAPI) -> None:
    """Declare the key in the OpenAPI schema, so /docs can send it ("Authorize") and generated clients know."""
    build_schema = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            schema = build_schema()
            schema.setdefault("components", {})["securitySchemes"] = {"apiKey": {"type": "http", "scheme": "bearer"}}
            schema["security"] = [{"apiKey": []}]
            schema["paths"]["/health"]["get"]["security"] = []
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi
