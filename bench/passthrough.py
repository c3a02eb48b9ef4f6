"""The ceiling: a bare Starlette pass-through with no features, aiohttp as its upstream client.

`bench/run.py` measures it beside the hub so that the hub's throughput can be read against what
any Python gateway on the same stack could reach on the machine at hand (the issue quotes about
4,700 req/s at c16 for this on its reference machine). It forwards the body and the
Authorization header and returns the upstream's bytes untouched: no auth, validation, metering,
logging or metrics.

Usage: python bench/passthrough.py UPSTREAM_PORT PORT
"""

from __future__ import annotations

import sys

import aiohttp
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

UPSTREAM = f"http://127.0.0.1:{sys.argv[1]}/v1/images/generations"
_session: aiohttp.ClientSession | None = None


async def forward(request: Request) -> Response:
    global _session
    if _session is None:
        _session = aiohttp.ClientSession()
    headers = {"Content-Type": "application/json", "Authorization": request.headers.get("authorization", "")}
    async with _session.post(UPSTREAM, data=await request.body(), headers=headers) as upstream:
        content = await upstream.read()
    return Response(content, status_code=upstream.status, media_type="application/json")


app = Starlette(routes=[Route("/v1/images/generations", forward, methods=["POST"])])

if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning", access_log=False)
