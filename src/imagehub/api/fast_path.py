"""An ASGI layer in front of FastAPI that serves the generation endpoints directly.

Every image request is a POST to one of two paths. Through FastAPI it passed six middleware
layers (server errors, telemetry, body limit, exceptions, exit stack, routing), each a
coroutine and a wrapped `send`, about an eighth of the hub's CPU per request under load.
Here those requests get what they need from that stack and nothing more: the app in the scope
(for `request.app.state`), the request observer (id, metrics, access log), and the same
OpenAI-shaped error answers. Every other request goes to FastAPI unchanged.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from starlette._utils import get_route_path  # the router's own matching rule
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from imagehub.api.errors import hub_error_response, internal_error_response
from imagehub.api.middleware import RequestObserver
from imagehub.errors import HubError

Endpoint = Callable[[Request], Awaitable[Response]]


class FastPath:
    """Route `POST <path>` for the given paths straight to their endpoints; the rest to `app`."""

    def __init__(self, app: ASGIApp, routes: Mapping[str, tuple[BaseRoute, Endpoint]]) -> None:
        self.app = app
        self._routes = dict(routes)
        self._observed = RequestObserver(self._serve)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        found = None
        if scope["type"] == "http" and scope["method"] == "POST":
            found = self._routes.get(get_route_path(scope))
        if found is None:
            await self.app(scope, receive, send)
            return
        # What Starlette's routing would have put in the scope (the route names the metrics).
        scope["app"] = self.app
        scope["route"], scope["endpoint"] = found
        await self._observed(scope, receive, send)

    async def _serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        endpoint: Endpoint = scope["endpoint"]
        try:
            response = await endpoint(Request(scope, receive, send))
        except HubError as error:
            response = hub_error_response(error)
        except Exception as error:
            response = internal_error_response(error)
        # A failure while sending propagates: the server drops a connection with half an answer.
        await response(scope, receive, send)
