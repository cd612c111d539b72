"""The web page: static files from ``api/web/``, served by the same app as the API.

The page only calls the public HTTP API (``/ask``, ``/documents``, ``/health``), so it stays a
plain client of the contract and needs no routes of its own beyond its files.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse, Response

from askdocs.search.models import MAX_QUESTION_CHARS

WEB = Path(__file__).with_name("web")
MEDIA_TYPES = {".js": "text/javascript", ".css": "text/css", ".html": "text/html"}

# Only this app's own files may load anything: the page must work offline and never leak a
# question to a third party. blob: images are the PDF pages the view fetches with the API key. No inline script or style either, so injected markup cannot run.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data: blob:; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
# Assets are small; revalidating them every time means an upgraded askdocs never runs a stale script.
HEADERS = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}


# Values the pages show that the API defines, filled in where a page says {{name}}; the one place each is set.
PAGE_VALUES = {"max_question_chars": str(MAX_QUESTION_CHARS)}


def _file(name: str) -> Response:
    path = WEB / name
    if path.suffix != ".html":
        return FileResponse(path, media_type=MEDIA_TYPES[path.suffix], headers=HEADERS)
    html = path.read_text(encoding="utf-8")
    for key, value in PAGE_VALUES.items():
        html = html.replace("{{" + key + "}}", value)
    return Response(html, media_type="text/html", headers={**HEADERS, "Content-Security-Policy": CSP})


def web_router() -> APIRouter:
    # A fixed list, read once: a request can never name a file outside api/web/.
    assets = {p.name for p in WEB.iterdir() if p.suffix in MEDIA_TYPES and p.suffix != ".html"}
    router = APIRouter(include_in_schema=False)

    @router.get("/")
    def home() -> Response:
        return _file("index.html")

    @router.get("/view/{doc_id:path}")
    def view(doc_id: str) -> Response:
        # One page for every document: view.js reads the id from the URL and fetches /documents/{doc_id}.
        return _file("view.html")

    @router.get("/web/{name}")
    def asset(name: str) -> Response:
        if name not in assets:
            raise HTTPException(status_code=404, detail=f"no file {name!r}")
        return _file(name)

    return router
