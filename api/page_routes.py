"""GET /documents/{id}/pages/{n}.png: a PDF page as the document view draws highlights over it."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from askdocs.index.errors import NotFound
from askdocs.index.page_render import MAX_WIDTH, MIN_WIDTH

PNG = {200: {"content": {"image/png": {}}, "description": "The page as PNG, `width` pixels wide"}}


def pages_router(engine: Callable, collection_query, refusals: dict, document: Callable) -> APIRouter:
    """``engine(request, collection)``: the Engine the request may use; ``document``: the GET /documents route,
    for an id that itself ends in /pages/N.png."""
    router = APIRouter()

    @router.get(
        "/documents/{doc_id:path}/pages/{page}.png",
        summary="One page of a PDF, rendered",
        description="Rendered on demand and cached beside the index. Draw `span_boxes` (GET /documents/{id}?start=&"
                    "end=) over it, scaled by the image's width / the page's `width`.",
        response_class=Response,
        responses={**PNG, **refusals, 404: {"description": "No PDF with that id, or no such page"},
                   409: {"description": "The file changed since it was indexed, or cannot be rendered"}},
    )
    def page_image(doc_id: str, page: str, request: Request, collection: str | None = collection_query,
                   width: int = Query(1000, ge=MIN_WIDTH, le=MAX_WIDTH, description="Image width in pixels.")):
        found = engine(request, collection)
        whole = f"{doc_id}/pages/{page}.png"
        if found.has_document(whole) or not page.isascii() or not page.isdigit():
            # A document of that very name (a scanned page image): the route it would have had.
            return document(whole, request, collection, None, None, None, None, None)
        png = found.page_image(doc_id, int(page), width)  # NoSuchPage, PageUnavailable: api.errors answers
        if png is None:
            raise NotFound(f"no PDF with id {doc_id!r}")
        # The same URL shows other pixels once the file is re-indexed: caches must ask again.
        return Response(png, media_type="image/png", headers={"Cache-Control": "no-cache"})

    return router
