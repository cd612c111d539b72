"""The MCP server: the tool registry over stdio (``askdocs mcp``) and streamable HTTP (``/mcp`` on the app).

Built on the SDK's low-level ``Server`` rather than ``MCPServer`` (FastMCP): MCPServer derives each tool's
input schema from a Python function signature, whereas the low-level server takes schemas as data, so
MCP lists exactly the ``model_json_schema()`` of the same argument models that ``GET /tools`` serves.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import anyio
import mcp_types as types
from mcp.server.lowlevel import Server
from mcp.server.stdio import stdio_server

from askdocs.index.errors import AskdocsError

from .collections import CollectionForbidden, Collections
from .security import allowed_collections
from .tools import TOOLS, UnknownTool

log = logging.getLogger("askdocs.mcp")

INSTRUCTIONS = (
    "askdocs searches one fixed collection of documents and answers from it with exact citations. "
    "Use ask for a factual question, search_documents to gather passages on a topic, get_passage to read "
    "around a cited passage, list_documents to see what the collection holds. Cite documents and lines from "
    "the citations; when ask says no_answer, the documents do not answer the question."
)


def instructions(collections: Collections) -> str:
    if len(collections.names) == 1:
        return INSTRUCTIONS
    return (
        f"askdocs holds several collections of documents: {collections.described()}. Every tool takes "
        "`collection` (omit it for the default); a chunk_id is only valid in the collection it came from. "
        + INSTRUCTIONS.split(". ", 1)[1]
    )

_READ_ONLY = types.ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True,
                                   open_world_hint=False)


def build_server(collections: Collections, version: str, keyed: bool = False) -> Server:
    """An MCP server for the tools over ``collections``.

    ``keyed``: served over HTTP behind ApiKeyMiddleware, so every call must come with the HTTP request its key
    was checked on; without one the key's collections are unknown and the call is refused rather than allowed.
    """
    listed = types.ListToolsResult(
        tools=[
            types.Tool(name=tool.name, title=tool.title, description=tool.description,
                       input_schema=tool.input_schema(), output_schema=tool.output_schema(), annotations=_READ_ONLY)
            for tool in TOOLS.values()
        ]
    )

    async def list_tools(ctx: Any, params: types.PaginatedRequestParams | None) -> types.ListToolsResult:
        return listed

    async def call_tool(ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
        tool = TOOLS.get(params.name)
        if tool is None:
            return _error(UnknownTool(params.name))
        arguments = params.arguments or {}

        def run():
            parsed = tool.parse(arguments)
            return tool.run(collections.engine(parsed.collection, _allowed(ctx, keyed)), parsed)

        try:
            # Retrieval is CPU-bound and synchronous; a worker thread keeps the transport responsive meanwhile.
            result = await anyio.to_thread.run_sync(run)
        except AskdocsError as exc:
            return _error(exc)
        except Exception:
            # A bug must cost one call, not the session: log it here, tell the model only that it failed.
            log.exception("tool %s failed", tool.name)
            return _error(AskdocsError(f"{tool.name} failed inside askdocs", "the server log has the details"))
        return types.CallToolResult(
            # Clients that predate structured content read the same JSON as text.
            content=[types.TextContent(type="text", text=result.model_dump_json())],
            structured_content=result.model_dump(mode="json"),
        )

    return Server("askdocs", version=version, instructions=instructions(collections), on_list_tools=list_tools,
                  on_call_tool=call_tool)


def _allowed(ctx: Any, keyed: bool) -> frozenset[str] | None:
    """The collections the caller's API key may use (None: all), from the HTTP request the call came in."""
    scope = getattr(getattr(ctx, "request", None), "scope", None)
    if scope is None:
        if keyed:
            raise CollectionForbidden("cannot tell which API key made this call, so it is refused")
        return None  # stdio: the user who started the process may use everything it serves
    return allowed_collections(scope)


def _error(exc: AskdocsError) -> types.CallToolResult:
    """``exc`` as MCP: a tool result marked as an error, whose text is the message and hint as every face words
    them. No structured content: a tool's output schema describes its results, not its refusals."""
    return types.CallToolResult(content=[types.TextContent(type="text", text=str(exc))], is_error=True)


async def serve_stdio(server: Server, load: Callable[[], None]) -> None:
    """Serve ``server`` on stdin/stdout until the client closes them; ``load`` opens the index first."""
    async with stdio_server() as (read_stream, write_stream):
        # Loaded once the SDK holds the real stdout, so nothing the model libraries print can corrupt the protocol.
        await anyio.to_thread.run_sync(load)
        await server.run(read_stream, write_stream, server.create_initialization_options())
