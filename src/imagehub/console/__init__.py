"""The console: a browser app served by the hub at `/` for trying models and watching spend.

Everything it needs is local: its own files in `static/` and plotly.js from the `plotly`
package, so it works on a machine without internet. It holds no server-side state: the page
keeps the user's API key in the tab's sessionStorage and calls the public API with it (admin
views call the admin API), exactly as any other client would.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from starlette.staticfiles import StaticFiles

STATIC = Path(__file__).with_name("static")
ASSETS = "/console/assets"

# The page runs only its own scripts and talks only to its own origin; images may come from the
# hub's public URL (another origin when IMAGEHUB_PUBLIC_URL says so), data: and blob: URLs.
SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data: blob: http: https:; connect-src 'self'; frame-ancestors 'none'; "
        "base-uri 'none'; form-action 'none'"
    ),
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "x-content-type-options": "nosniff",
    "cache-control": "no-cache",
}


def package_dir(name: str) -> Path:
    """Where an installed package lives, without importing it (plotly's import alone costs 0.3 s)."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"the console needs the {name!r} package: pip install {name}")
    return Path(next(iter(spec.submodule_search_locations)))


def plotly_js() -> Path:
    """plotly.min.js as the `plotly` Python package ships it (no CDN, no build step)."""
    return package_dir("plotly") / "package_data" / "plotly.min.js"


def install_console(app: FastAPI) -> None:
    """Serve the console at `/` with its assets under /console/."""
    index = (STATIC / "index.html").read_text(encoding="utf-8")
    chart_library = plotly_js()

    async def page(_: Request) -> Response:
        return HTMLResponse(index, headers=SECURITY_HEADERS)

    async def console_redirect(_: Request) -> Response:
        return RedirectResponse("/", status_code=308)

    async def charts(_: Request) -> Response:
        return FileResponse(
            chart_library, media_type="text/javascript", headers={"cache-control": "max-age=86400"}
        )

    app.add_route("/", page, include_in_schema=False)
    app.add_route("/console", console_redirect, include_in_schema=False)
    app.add_route(f"{ASSETS}/vendor/plotly.min.js", charts, include_in_schema=False)
    app.mount(ASSETS, StaticFiles(directory=STATIC), name="console-assets")
