"""The interactive API docs (/docs: Swagger UI, /redoc: ReDoc), served offline.

FastAPI's own pages load Swagger UI and ReDoc from a CDN, so they are blank without internet. The same
assets come here from the fastapi-offline package (pinned), which ships them as files; the pages are ours,
with no inline script, so they keep a policy that lets them load nothing but this server's own files.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import fastapi_offline
from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse, HTMLResponse, Response

from .pages import HEADERS, MEDIA_TYPES

ASSETS = Path(fastapi_offline.__file__).with_name("static")
ASSET_PATH = "/docs-assets"
# Swagger UI and ReDoc set styles on elements as they render (ReDoc writes <style> elements), so styles may be
# inline; scripts, fonts, images and API calls come from this server only.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; connect-src 'self'; "
    "img-src 'self' data:; font-src 'self'; worker-src 'self' blob:; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)

SWAGGER_PAGE = f"""<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>askdocs - HTTP API</title>
  <link rel="icon" href="{ASSET_PATH}/favicon.png">
  <link rel="stylesheet" href="{ASSET_PATH}/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="{ASSET_PATH}/swagger-ui-bundle.js"></script>
  <script src="/web/swagger-init.js"></script>
</body>
</html>
"""

REDOC_PAGE = f"""<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>askdocs - HTTP API (ReDoc)</title>
  <link rel="icon" href="{ASSET_PATH}/favicon.png">
</head>
<body>
  <redoc spec-url="/openapi.json"></redoc>
  <script src="{ASSET_PATH}/redoc.standalone.js"></script>
</body>
</html>
"""

_MEDIA_TYPES = {**MEDIA_TYPES, ".png": "image/png"}
# ReDoc's sidebar always shows Redocly's logo from their CDN; the policy would block it, but a browser would
# still try (and report it). An image that cannot load is hidden by ReDoc, so it gets one that never leaves.
REWRITES = {"redoc.standalone.js": [(b"https://cdn.redoc.ly/redoc/logo-mini.svg", b"data:,")]}


@lru_cache(maxsize=None)
def _rewritten(name: str) -> bytes:
    data = (ASSETS / name).read_bytes()
    for old, new in REWRITES[name]:
        if old not in data:
            # A fastapi-offline upgrade moved it: say so rather than quietly let the request through again.
            raise RuntimeError(f"{name} from fastapi-offline no longer contains {old!r}; update api/api_docs.py")
        data = data.replace(old, new)
    return data


def docs_router() -> APIRouter:
    # A fixed list, read once: a request can never name a file outside the package's folder.
    assets = {p.name for p in ASSETS.iterdir() if p.suffix in _MEDIA_TYPES}
    router = APIRouter(include_in_schema=False)
    page_headers = {**HEADERS, "Content-Security-Policy": CSP}

    @router.get("/docs")
    def swagger() -> HTMLResponse:
        return HTMLResponse(SWAGGER_PAGE, headers=page_headers)

    @router.get("/redoc")
    def redoc() -> HTMLResponse:
        return HTMLResponse(REDOC_PAGE, headers=page_headers)

    @router.get(ASSET_PATH + "/{name}")
    def asset(name: str) -> Response:
        if name not in assets:
            raise HTTPException(status_code=404, detail=f"no file {name!r}")
        media_type = _MEDIA_TYPES[Path(name).suffix]
        if name in REWRITES:
            return Response(_rewritten(name), media_type=media_type, headers=HEADERS)
        return FileResponse(ASSETS / name, media_type=media_type, headers=HEADERS)

    return router
