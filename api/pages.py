"""The web page: static files from ``api/web/``, served by the same app as the API.

The page only calls the public HTTP API (``/ask``, ``/documents``, ``/health``), so it stays a
plain client of the contract and needs no routes of its own beyond its files.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse

WEB = Path(__file__).with_name("web")
MEDIA_TYPES = {".js": "text/javascript", ".css": "text/css", ".html": "text/html"}

# Only this app's own files may load anything: the page must work offline and never leak a
# question to a third party. No inline script or style either, so injected markup cannot run.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
# Assets are small; revalidating them every time means an upgraded askdocs never runs a stale script.
HEADERS = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}


def _file(name: str) -> FileResponse:
    path = WEB / name
    headers = {**HEADERS, "Content-Security-Policy": CSP} if path.suffix == ".html" else HEADERS
    return FileResponse(path, media_type=MEDIA_TYPES[path.suffix], headers=headers)


def web_router() -> APIRouter:
    # A fixed list, read once: a request can never name a file outside api/web/.
    assets = {p.name for p in WEB.iterdir() if p.suffix in MEDIA_TYPES and p.suffix != ".html"}
    router = APIRouter(include_in_schema=False)

    @router.get("/")
    def home() -> FileResponse:
        return _file("index.html")

    @router.get("/view/{doc_id:path}")
    def view(doc_id: str) -> FileResponse:
        # One page for every document: view.js reads the id from the URL and fetches /documents/{doc_id}.
        return _file("view.html")

    @router.get("/web/{name}")
    def asset(name: str) -> FileResponse:
        if name not in assets:
            raise HTTPException(status_code=404, detail=f"no file {name!r}")
        return _file(name)

    return router
