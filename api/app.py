"""The HTTP API. Routes only translate between HTTP and the search package's models."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from contextlib import asynccontextmanager
from importlib.metadata import PackageNotFoundError, version

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.middleware.cors import CORSMiddleware

from index.settings import Settings
from search import Engine
from search.models import AskResponse, DocumentOut, Health, Question

from .mcp import build_server as build_mcp_server
from .mcp import mount as mount_mcp
from .pages import web_router
from .reload import EngineHolder, ReloadRefused, ReloadResult, Watcher
from .security import (
    LOOPBACK_NAMES, ApiKeyMiddleware, BodyLimitMiddleware, RequestIdMiddleware, cors_origins, key_digests,
)
from .tool_routes import tools_router

log = logging.getLogger("askdocs.api")

__all__ = ["VERSION", "EngineHolder", "create_app"]

try:
    VERSION = version("askdocs")
except PackageNotFoundError:  # running from a checkout that was never installed
    VERSION = "0"


def create_app(settings: Settings | None = None, allowed_hosts: Sequence[str] = LOOPBACK_NAMES) -> FastAPI:
    """The app over ``settings.index``. ``allowed_hosts``: the Host names /mcp answers to (DNS-rebinding guard)."""
    settings = settings or Settings()
    holder = EngineHolder(settings)
    watcher = Watcher(holder, settings.reload_interval)
    digests = key_digests(settings)  # raises KeyConfigError before anything is served
    origins = cors_origins(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        holder.load()
        watcher.start()
        try:
            async with mcp_session():
                yield
        finally:
            watcher.stop()
            holder.close()

    app = FastAPI(
        title="askdocs",
        version=VERSION,
        summary="Ask questions of a folder of documents; every answer cites the exact characters it came from.",
        lifespan=lifespan,
        # `curl -d '{...}'` sends form content-type; a JSON API should still read the JSON it was given.
        strict_content_type=False,
    )
    app.state.holder = holder

    # Added innermost first: a request meets the request id, then CORS (so preflights and 401s carry its
    # headers), then the key check, then the body limit, and only then a route.
    app.add_middleware(BodyLimitMiddleware, limit=settings.max_body_bytes)
    app.add_middleware(ApiKeyMiddleware, digests=digests)
    if origins:
        app.add_middleware(
            CORSMiddleware, allow_origins=origins, allow_methods=["GET", "POST"],
            allow_headers=["authorization", "content-type", "x-request-id"], expose_headers=["x-request-id"],
            max_age=600,
        )
    app.add_middleware(RequestIdMiddleware)
    if digests:
        _document_bearer_auth(app)

    def engine() -> Engine:
        # Resolved once per request: the request keeps this engine even if a reload swaps in another.
        current = holder.engine
        if current is None:
            raise HTTPException(status_code=503, detail=holder.error or "no index loaded: run `build-index`")
        return current

    app.include_router(tools_router(engine))  # GET /tools, POST /tools/{name}
    extra_hosts = [h.strip() for h in settings.allowed_hosts.split(",") if h.strip()]
    mcp_session = mount_mcp(app, build_mcp_server(holder.get, VERSION), hosts=[*allowed_hosts, *extra_hosts],
                            origins=origins)  # MCP over streamable HTTP at /mcp

    @app.exception_handler(RequestValidationError)
    async def readable_validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        message = "; ".join(_describe(error) for error in errors)
        return JSONResponse(status_code=422, content={"detail": jsonable_encoder(_jsonable(errors)), "message": message})

    @app.post("/ask", response_model=AskResponse, summary="Answer a question with cited passages")
    def ask(question: Question, engine: Engine = Depends(engine)) -> AskResponse:
        return engine.ask(question)

    @app.get(
        "/documents/{doc_id:path}",
        response_model=DocumentOut,
        summary="The stored text of one document, to check citations against",
        responses={404: {"description": "No document with that id"}},
    )
    def document(doc_id: str, engine: Engine = Depends(engine)) -> DocumentOut:
        # The id is looked up in the index, never joined to a path: no id can reach a file outside it.
        found = engine.document(doc_id)
        if found is None:
            raise HTTPException(status_code=404, detail=f"no document with id {doc_id!r} in this index")
        return found

    @app.get("/health", response_model=Health, summary="Index statistics and model", responses={503: {"model": Health}})
    def health():
        served = holder.engine
        if served is None:
            return JSONResponse(status_code=503, content=Health(status="no_index", index=None, error=holder.error).model_dump())
        return Health(status="ok", index=served.stats(), reload_error=holder.reload_error)

    @app.post(
        "/admin/reload",
        response_model=ReloadResult,
        summary="Serve the index generation published last, if it is not the one served",
        description="Index folders are also watched (ASKDOCS_RELOAD_INTERVAL), so this is only needed to reload "
                    "at once. Requests in flight finish on the generation they started with.",
        responses={409: {"description": "The new generation was refused; the served one stays"}},
    )
    def reload() -> ReloadResult:
        try:
            return holder.reload()
        except ReloadRefused as exc:
            raise HTTPException(status_code=409, detail=str(exc)) from None

    app.include_router(web_router())  # the web page at / and /view/{doc_id}
    return app


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


def _describe(error: dict) -> str:
    location = ".".join(str(part) for part in error.get("loc", ()) if part != "body") or "body"
    if error.get("type") == "json_invalid":
        return "request body is not valid JSON"
    if error.get("type") == "extra_forbidden":
        return f"unknown field {location!r}"
    return f"{location}: {error.get('msg', 'invalid')}"


def _jsonable(errors: list[dict]) -> list[dict]:
    # pydantic puts the exception object in ctx; JSON cannot carry it.
    return [{**e, "ctx": {k: str(v) for k, v in e["ctx"].items()}} if "ctx" in e else e for e in errors]
