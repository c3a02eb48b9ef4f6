"""Liveness and readiness probes for load balancers and orchestrators."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from sqlalchemy import text
from starlette.requests import Request
from starlette.responses import Response

from imagehub.api.responses import JsonResponse
from imagehub.observability import metrics

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process is up")
async def healthz() -> Response:
    return JsonResponse({"status": "ok"})


@router.get("/readyz", summary="The database and image store are reachable")
async def readyz(request: Request) -> Response:
    """503 when this hub cannot serve; a shared store that is down is reported but not a 503.

    Every hub shares an S3 store, so failing readiness for it would take all of them out of the
    load balancer at once, b64_json requests included; `url` requests answer 503 on their own.
    A local store that is not writable is this machine's problem, so that one is a 503.
    """
    checks: dict[str, str] = {}
    try:
        async with request.app.state.engine.connect() as connection:
            await asyncio.wait_for(connection.execute(text("SELECT 1")), timeout=2)
        checks["database"] = "ok"
    except Exception as exc:  # any failure means not ready; say which
        checks["database"] = f"error: {type(exc).__name__}"
    store = request.app.state.store
    try:
        problem = await asyncio.wait_for(store.check(), timeout=3)
    except TimeoutError:
        problem = "timed out"
    checks["store"] = "ok" if problem is None else f"error: {problem}"
    ready = checks["database"] == "ok" and (problem is None or store.shared)
    status = "ready" if ready and problem is None else "degraded" if ready else "not ready"
    return JsonResponse({"status": status, "checks": checks}, status_code=200 if ready else 503)


@router.get("/metrics", summary="Prometheus metrics", include_in_schema=True)
async def prometheus_metrics() -> Response:
    body, content_type = metrics.render()
    return Response(body, media_type=content_type)
