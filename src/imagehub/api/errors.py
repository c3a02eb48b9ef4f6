"""Render every failure in OpenAI's error shape, never FastAPI's `{"detail": ...}`."""

from __future__ import annotations

import logging
from http import HTTPStatus

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from imagehub.api.responses import JsonResponse
from imagehub.errors import HubError

log = logging.getLogger("imagehub.api")


def error_response(
    status: int,
    message: str,
    *,
    type_: str = "invalid_request_error",
    param: str | None = None,
    code: str | None = None,
    headers: dict[str, str] | None = None,
) -> JsonResponse:
    body = {"error": {"message": message, "type": type_, "param": param, "code": code}}
    return JsonResponse(body, status_code=status, headers=headers)


def hub_error_response(exc: HubError) -> JsonResponse:
    return JsonResponse(exc.body(), status_code=exc.status, headers=exc.headers or None)


def internal_error_response(exc: BaseException) -> JsonResponse:
    """A 500 that says nothing of the cause to the client; the cause goes to the log."""
    log.exception("unhandled error", exc_info=exc)
    return error_response(
        500, "The hub hit an internal error. It has been logged.", type_="server_error", code="internal_error"
    )


async def _hub_error(_: Request, exc: Exception) -> JsonResponse:
    assert isinstance(exc, HubError)
    return hub_error_response(exc)


API_PREFIXES = ("/v1", "/api")


def not_found_message(request: Request) -> str:
    """A 404's hint: an SDK whose base_url lacks `/v1` asks for /models; say where that lives."""
    path = request.url.path
    for prefix in API_PREFIXES:
        candidate = prefix + path
        if path.startswith(prefix + "/") or not _routed(request, candidate):
            continue
        return (
            f"Unknown route {path}; the API is at {candidate}. Point the SDK's base_url at the hub "
            f"with /v1 (or /api) at the end, e.g. http://HOST:PORT/v1."
        )
    return (
        "Unknown route. The OpenAI-compatible API is under /v1 and /api (e.g. POST /v1/images/generations, "
        "GET /v1/models): an SDK's base_url ends in /v1 (or /api)."
    )


def _routed(request: Request, path: str) -> bool:
    scope = {**request.scope, "path": path}
    return any(route.matches(scope)[0] is not Match.NONE for route in request.app.router.routes)


async def _http_error(request: Request, exc: Exception) -> JsonResponse:
    assert isinstance(exc, StarletteHTTPException)
    phrase = HTTPStatus(exc.status_code).phrase if exc.status_code in HTTPStatus._value2member_map_ else ""
    detail = exc.detail if isinstance(exc.detail, str) and exc.detail != phrase else None
    if exc.status_code == 404 and detail is None:
        detail = not_found_message(request)
    message = detail or {405: "Method not allowed on this route."}.get(
        exc.status_code, phrase or "Request failed."
    )
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code)
    return error_response(exc.status_code, message, code=code, headers=dict(exc.headers or {}) or None)


async def _validation_error(_: Request, exc: Exception) -> JsonResponse:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {}
    loc = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path")]
    return error_response(
        400, f"Invalid request: {first.get('msg', 'validation failed')}.", param=".".join(loc) or None
    )


async def _unexpected_error(_: Request, exc: Exception) -> JsonResponse:
    return internal_error_response(exc)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(HubError, _hub_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _unexpected_error)
