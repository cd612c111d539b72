"""The HTTP API. Routes only translate between HTTP and the search package's models."""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from importlib.metadata import PackageNotFoundError, version

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from index.settings import Settings
from index.store import IndexUnavailable
from search import Engine, open_index
from search.models import AskResponse, DocumentOut, Health, Question

from .mcp import build_server as build_mcp_server
from .mcp import mount as mount_mcp
from .tool_routes import tools_router
from .pages import web_router

log = logging.getLogger("askdocs.api")

try:
    VERSION = version("askdocs")
except PackageNotFoundError:  # running from a checkout that was never installed
    VERSION = "0"


class EngineHolder:
    """The app's one opened index, or the reason there is none."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.engine: Engine | None = None
        self.error: str | None = None

    def load(self) -> None:
        try:
            self.engine = open_index(settings=self.settings)
            self.error = None
            # The first query pays for lazy initialisation inside torch; pay it before the first user does.
            self.engine.ask("warm up", top_k=1)
        except IndexUnavailable as exc:
            self.engine, self.error = None, str(exc)
            log.error("%s", exc)

    def get(self) -> Engine:
        if self.engine is None:
            raise IndexUnavailable(self.error or "no index loaded: run `build-index`")
        return self.engine

    def close(self) -> None:
        if self.engine is not None:
            self.engine.close()


def create_app(settings: Settings | None = None) -> FastAPI:
    holder = EngineHolder(settings or Settings())

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        holder.load()
        async with mcp_session():
            yield
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

    def engine() -> Engine:
        if holder.engine is None:
            raise HTTPException(status_code=503, detail=holder.error or "no index loaded: run `build-index`")
        return holder.engine

    app.include_router(tools_router(engine))  # GET /tools, POST /tools/{name}
    mcp_session = mount_mcp(app, build_mcp_server(holder.get, VERSION))  # MCP over streamable HTTP at /mcp

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
        found = engine.document(doc_id)
        if found is None:
            raise HTTPException(status_code=404, detail=f"no document with id {doc_id!r} in this index")
        return found

    @app.get("/health", response_model=Health, summary="Index statistics and model", responses={503: {"model": Health}})
    def health():
        if holder.engine is None:
            return JSONResponse(status_code=503, content=Health(status="no_index", index=None, error=holder.error).model_dump())
        return Health(status="ok", index=holder.engine.stats())

    app.include_router(web_router())  # the web page at / and /view/{doc_id}
    return app


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
