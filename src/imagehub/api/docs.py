"""/docs (Swagger UI) and /redoc served from files the hub ships, so they work without internet.

FastAPI's own pages load Swagger UI and ReDoc from a CDN and are blank offline. The assets here
come from the `fastapi-offline` package (Swagger UI's bundle and CSS, ReDoc's standalone build),
installed with the hub; nothing is fetched at run time.
"""

from __future__ import annotations

import importlib.util
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

    async def swagger(_: Request) -> Response:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title=f"{app.title} - API",
            swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS}/favicon.png",
            # validatorUrl None: no badge fetched from validator.swagger.io.
            swagger_ui_parameters={"tryItOutEnabled": True, "validatorUrl": None},
        )

    async def redoc(_: Request) -> HTMLResponse:
        return get_redoc_html(
            openapi_url="/openapi.json",
            title=f"{app.title} - API reference",
            redoc_js_url=f"{ASSETS}/redoc.standalone.js",
            redoc_favicon_url=f"{ASSETS}/favicon.png",
            with_google_fonts=False,
        )

    app.add_route("/docs", swagger, include_in_schema=False)
    app.add_route("/redoc", redoc, include_in_schema=False)
