"""``GET /tools`` and ``POST /tools/{name}``: the tool registry for OpenAI-style function calling over HTTP."""

# No `from __future__ import annotations` here: FastAPI reads each generated endpoint's annotations, and
# they name a different argument model per tool, so they must be real classes rather than strings.

from collections.abc import Callable

from fastapi import APIRouter, Request, Response

from askdocs.search import Engine

from .tools import TOOLS, OpenAITool, Tool, UnknownTool


def tools_router(engine: Callable[[Request, str | None], Engine]) -> APIRouter:
    """The /tools routes, each tool's body and response documented in OpenAPI by its own models.

    ``engine(request, collection)`` gives the index of the collection the arguments name, or raises the
    askdocs error that says why not (404 unknown, 403 not for this key, 503 none loaded), which api.errors answers.
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
        raise UnknownTool(name)

    return router


def _endpoint(tool: Tool, engine: Callable[[Request, str | None], Engine]):
    def run(arguments: tool.arguments, request: Request) -> Response:  # type: ignore[name-defined]
        result = tool.run(engine(request, arguments.collection), arguments)
        # Serialised by the model itself, as /ask's body is: returned as a model, FastAPI would validate it against
        # the response model again and encode it through Python objects, ~1 ms of a search (bench/README.md,
        # "The question path relative to the embedding"). response_model still documents it in OpenAPI.
        return Response(result.model_dump_json(), media_type="application/json")

    run.__name__ = f"tool_{tool.name}"
    return run
