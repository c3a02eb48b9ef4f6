"""Pure ASGI middleware (no per-request task or body copying, unlike BaseHTTPMiddleware).

One layer does what every request needs: an id (`x-request-id`, also in the usage record, and
in every log line written while the request runs), request metrics, and one structured JSON log line.
"""

from __future__ import annotations

import functools
import logging
import time

import orjson
from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from imagehub.accounts.books import new_request_id
from imagehub.observability import logcontext, metrics

access_log = logging.getLogger("imagehub.access")


class RequestObserver:
    """Give every request an id (`scope["state"]["request_id"]`), count it, time it, log it.

    Handlers may add fields to the log line through `request.state.log` (a dict).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = new_request_id()
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        header = (b"x-request-id", request_id.encode())
        status = 500
        context_token = logcontext.start(request_id)

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), header]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            logcontext.end(context_token)
            elapsed = time.perf_counter() - started
            requests, latency = _series(_route_name(scope), status)
            requests.inc()
            latency.observe(elapsed)
            if access_log.isEnabledFor(logging.INFO):
                entry = {
                    "ts": round(time.time(), 3),
                    "request_id": request_id,
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 2),
                    **state.get("log", {}),
                }
                access_log.info(orjson.dumps(entry).decode())


@functools.cache
def _series(route: str, status: int) -> tuple[Counter, Histogram]:
    """The labelled children for a route and status; looking them up anew cost more than using them.

    Bounded: routes are templates, and statuses a few dozen.
    """
    return metrics.REQUESTS.labels(route, str(status)), metrics.LATENCY.labels(route)


def _route_name(scope: Scope) -> str:
    """The matched route's template (bounded label values), not the raw path."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return str(path) if path else "unmatched"
