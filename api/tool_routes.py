"""``GET /tools`` and ``POST /tools/{name}``: the tool registry for OpenAI-style function calling over HTTP."""

# No `from __future__ import annotations` here: FastAPI reads each generated endpoint's annotations, and
# they name a different argument model per tool, so they must be real classes rather than strings.

from collections.abc import Callable

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse

from search import Engine

from .tools import TOOLS, OpenAITool, Tool, ToolFailure


def tools_router(engine: Callable[[Request, str | None], Engine]) -> APIRouter:
    """The /tools routes, each tool's body and response documented in OpenAPI by its own models.

    ``engine(request, collection)`` gives the index of the collection the arguments name, or raises the
    HTTPException that says why not (404 unknown, 403 not for this key, 503 none loaded).
    """
    router = APIRouter(prefix="/tools", tags=["tools"])

    @router.get("", response_model=list[OpenAITool], summary="The tools, as OpenAI function-tool definitions")
    def list_tools() -> list[OpenAITool]:
        return [tool.openai() for tool in TOOLS.values()]

    for tool in TOOLS.values():
        router.add_api_route(
            f"/{tool.name}",
            _endpoint(tool, engine),
            methods=["POST"],
            response_model=tool.result,
            summary=tool.title,
            description=tool.description + "\n\nThe body is the tool's arguments object, as a model would send it.",
            operation_id=f"tool_{tool.name}",
            responses={403: {"description": "The API key may not use this collection"},
                       404: {"description": "Not found (an unknown collection; get_passage: unknown chunk id)"},
                       503: {"description": "No index loaded"}},
        )

    @router.post("/{name}", include_in_schema=False)
    def unknown_tool(name: str) -> None:
        raise HTTPException(status_code=404, detail=f"no tool named {name!r}; the tools are {', '.join(TOOLS)}")

    return router


def _endpoint(tool: Tool, engine: Callable[[Request, str | None], Engine]):
    def run(arguments: tool.arguments, request: Request):  # type: ignore[name-defined]
        index = engine(request, arguments.collection)
        try:
            return tool.run(index, arguments)
        except ToolFailure as exc:
            if exc.status == 422:
                # Shaped like every other 422 of this API, as its OpenAPI schema says: a detail list and a message.
                return JSONResponse(status_code=422, content={
                    "detail": [{"type": "value_error", "loc": ["body"], "msg": str(exc)}], "message": str(exc),
                })
            raise HTTPException(status_code=exc.status, detail=str(exc)) from None

    run.__name__ = f"tool_{tool.name}"
    return run
