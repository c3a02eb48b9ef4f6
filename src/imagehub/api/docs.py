"""/docs (Swagger UI) and /redoc served from files the hub ships, so they work without internet.

FastAPI's own pages load Swagger UI and ReDoc from a CDN and are blank offline. The assets here
come from the `fastapi-offline` package (Swagger UI's bundle and CSS, ReDoc's standalone build),
installed with the hub; nothing is fetched at run time.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import re
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.staticfiles import StaticFiles

from imagehub.api.openapi_doc import openapi_builder

ASSETS = "/docs/assets"


def assets_dir() -> Path:
    """fastapi-offline's static folder, found without importing the package (1 s of imports)."""
    spec = importlib.util.find_spec("fastapi_offline")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("/docs needs the 'fastapi-offline' package: pip install fastapi-offline")
    return Path(next(iter(spec.submodule_search_locations))) / "static"


REDOC_LOGO = b"https://cdn.redoc.ly/redoc/logo-mini.svg"
_INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", re.DOTALL)


def security_headers(html: bytes) -> dict[str, str]:
    """Headers for a docs page, as the console has: no sniffing, no framing, a tight CSP.

    Scripts: the page's own files and, by hash, the one inline script that starts Swagger UI.
    Inline styles stay allowed (both UIs set them from script), blob: workers for ReDoc's
    search, data: images for Swagger UI's icons; requests go to this origin only.
    """
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(body.encode()).digest()).decode() + "'"
        for body in _INLINE_SCRIPT.findall(html.decode())
    )
    policy = (
        f"default-src 'self'; script-src 'self' {hashes}; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    )
    return {
        "content-security-policy": " ".join(policy.split()),
        "x-frame-options": "DENY",
        "x-content-type-options": "nosniff",
        "referrer-policy": "no-referrer",
    }


def _secured(page: HTMLResponse) -> tuple[bytes, dict[str, str]]:
    """The page and its security headers; the same for every request, so built once."""
    body = bytes(page.body)
    return body, security_headers(body)


def local_redoc(path: Path) -> bytes:
    """ReDoc's bundle with its one remote asset (the "API docs by Redocly" logo) made local."""
    return path.read_bytes().replace(REDOC_LOGO, f"{ASSETS}/favicon.png".encode())


def install_docs(app: FastAPI) -> None:
    """Serve /docs, /redoc and their assets; the app must be made with docs_url=redoc_url=None."""
    app.openapi = openapi_builder(app)  # type: ignore[method-assign]
    redoc_js = local_redoc(assets_dir() / "redoc.standalone.js")

    async def redoc_script(_: Request) -> Response:
        return Response(redoc_js, media_type="text/javascript", headers={"cache-control": "max-age=86400"})

    app.add_route(f"{ASSETS}/redoc.standalone.js", redoc_script, include_in_schema=False)
    app.mount(ASSETS, StaticFiles(directory=assets_dir()), name="docs-assets")

    swagger_page = _secured(
        get_swagger_ui_html(
            openapi_url="/openapi.json",
            title=f"{app.title} - API",
            swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS}/favicon.png",
            # validatorUrl None: no badge fetched from validator.swagger.io.
            swagger_ui_parameters={"tryItOutEnabled": True, "validatorUrl": None},
        )
    )
    redoc_page = _secured(
        get_redoc_html(
            openapi_url="/openapi.json",
            title=f"{app.title} - API reference",
            redoc_js_url=f"{ASSETS}/redoc.standalone.js",
            redoc_favicon_url=f"{ASSETS}/favicon.png",
            with_google_fonts=False,
        )
    )

    async def swagger(_: Request) -> Response:
        return HTMLResponse(swagger_page[0], headers=swagger_page[1])

    async def redoc(_: Request) -> Response:
        return HTMLResponse(redoc_page[0], headers=redoc_page[1])

    app.add_route("/docs", swagger, include_in_schema=False)
    app.add_route("/redoc", redoc, include_in_schema=False)
