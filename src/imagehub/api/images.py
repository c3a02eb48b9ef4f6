"""POST /api/images/generations (also /v1/...): OpenAI's images API, served by the hub.

The route owns what is about HTTP: the key's rate limits (and their headers), Idempotency-Key
replays, and rendering the ImagesResponse. The GenerationService does the rest.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson
from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Match, Route
from starlette.types import Scope

from imagehub.accounts.idempotency import StoredResponse
from imagehub.accounts.keys import KeyInfo
from imagehub.accounts.ratelimit import rate_limit_headers
from imagehub.api.admission import admit, public_base_url, served_headers
from imagehub.api.auth import require_key
from imagehub.api.body import read_json_body, validate_json
from imagehub.api.disconnect import cancel_on_disconnect
from imagehub.api.idempotent import claim_or_replay
from imagehub.api.jobs import submit_job
from imagehub.api.prefer import parse_prefer
from imagehub.api.recorded import recorded, request_context
from imagehub.api.streams import stream_images
from imagehub.payloads.spool import Spool, spool_text
from imagehub.schema.wire import ImageGenerationRequest, ImagesResponse
from imagehub.service.generation import GenerationOutcome, GenerationService, close_outcome

log = logging.getLogger("imagehub.api")
router = APIRouter(tags=["images"])

_ERROR_SCHEMA = {
    "description": "OpenAI error shape",
    "content": {
        "application/json": {
            "example": {
                "error": {
                    "message": "...",
                    "type": "invalid_request_error",
                    "param": "size",
                    "code": "invalid_value",
                }
            }
        }
    },
}
_REQUEST_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": ImageGenerationRequest.model_json_schema()}},
    },
    "parameters": [
        {
            "name": "Idempotency-Key",
            "in": "header",
            "required": False,
            "schema": {"type": "string", "maxLength": 255},
            "description": "Retrying with the same key and body within 24 h returns the original response.",
        }
    ],
}


async def generate_images(
    request: Request, key: KeyInfo, body: ImageGenerationRequest
) -> tuple[GenerationOutcome, dict[str, str]]:
    """The shared path of every wire format: rate limits, then the service. Returns extra headers."""
    service: GenerationService = request.app.state.generation
    context = request_context(request)
    permit = await admit(request, key, body)
    try:
        work = service.generate(body, key, public_base_url(request), context)
        outcome = await cancel_on_disconnect(request, work)
    finally:
        await permit.release()
    request.state.log = {
        "key_id": key.id,
        "model": context.model,
        "provider": outcome.provider,
        "images": len(outcome.data),
    }
    if outcome.job is not None and outcome.job.asked is not None:
        request.state.log["requested_model"] = outcome.job.asked.spec.name
    headers = {
        "x-imagehub-provider": outcome.provider,
        "x-imagehub-cost-micros": str(outcome.price_micros),
        **rate_limit_headers(permit.state),
        **served_headers(request.app.state.catalog, body.model, outcome.job),
    }
    if outcome.sandbox:
        headers["x-imagehub-sandbox"] = "true"
    return outcome, headers


def render_images_response(outcome: GenerationOutcome) -> bytes:
    """The whole ImagesResponse in memory (small answers, and stored idempotent replays)."""
    try:
        return orjson.dumps(
            {"created": outcome.created, "data": outcome.data, **outcome.echo}, default=spool_text
        )
    finally:
        close_outcome(outcome)


STREAM_ABOVE = 1 << 20  # bytes of image data above which the response is streamed
_CHUNK = 64 << 10  # what one send may leave in the transport's buffer, per client in flight


def _response_size(outcome: GenerationOutcome) -> int:
    return sum(len(value) for item in outcome.data for value in item.values())


async def _stream_images_response(outcome: GenerationOutcome) -> AsyncIterator[bytes]:
    """The same JSON as `render_images_response`, produced a megabyte at a time.

    Rendering n large base64 images into one bytes object would hold the payload twice (the
    strings and the rendering) and then the socket buffer a third time. Streamed, the hub holds
    one chunk: a spooled image is read from its file as the client takes it (the server's flow
    control waits for a slow client before the next chunk is read), and closed once sent or
    when the client goes. Base64 needs no JSON escaping, so its text is written as is.
    """
    try:
        yield b'{"created":' + str(outcome.created).encode() + b',"data":['
        for index, item in enumerate(outcome.data):
            if index:
                yield b","
            yield b"{"
            for position, (name, value) in enumerate(item.items()):
                if position:
                    yield b","
                if isinstance(value, Spool):
                    yield b'"b64_json":"'
                    for chunk in value.text_chunks(_CHUNK):
                        yield chunk
                    value.close()
                    yield b'"'
                elif name == "b64_json":
                    yield b'"b64_json":"'
                    for start in range(0, len(value), _CHUNK):
                        yield value[start : start + _CHUNK].encode("ascii")
                    yield b'"'
                else:
                    yield orjson.dumps(name) + b":" + orjson.dumps(value)
            yield b"}"
        yield b"]"
        if outcome.echo:
            yield b"," + orjson.dumps(outcome.echo)[1:-1]
        yield b"}"
    finally:
        close_outcome(outcome)


def images_response(outcome: GenerationOutcome, headers: dict[str, str]) -> Response:
    if _response_size(outcome) > STREAM_ABOVE:
        return StreamingResponse(
            _stream_images_response(outcome), media_type="application/json", headers=headers
        )
    return Response(render_images_response(outcome), media_type="application/json", headers=headers)


async def _create_image(request: Request, key: KeyInfo = Depends(require_key)) -> Response:
    return await recorded(request, key, lambda context: _serve_generation(request, key))


async def _serve_generation(request: Request, key: KeyInfo) -> Response:
    raw = await read_json_body(request, request.app.state.settings.max_body_bytes)
    body = validate_json(raw, ImageGenerationRequest)
    claim = await claim_or_replay(request, key, raw)
    if isinstance(claim, Response):
        return claim
    prefer = parse_prefer(request.headers.getlist("prefer"))
    if prefer.asynchronous:
        return await submit_job(request, key, body, claim, prefer)
    if body.stream:
        return await stream_images(request, key, body, claim)
    try:
        outcome, headers = await generate_images(request, key, body)
    except BaseException:
        if claim is not None:
            await claim.free()
        raise
    if claim is None:
        return images_response(outcome, headers)
    content = render_images_response(outcome)
    await claim.keep(StoredResponse(200, headers, content))
    return Response(content, media_type="application/json", headers=headers)


async def create_image(request: Request) -> Response:
    """The hot path without FastAPI's dependency machinery (see `fast_routes`)."""
    return await _create_image(request, await require_key(request))


class NamedRoute(Route):
    """A Starlette Route that, like FastAPI's, records itself in the scope (for metrics labels)."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child = super().matches(scope)
        if match is not Match.NONE:
            child["route"] = self
        return match, child


def fast_routes() -> list[Route]:
    """Plain Starlette routes for the generation endpoints, matched before the documented ones.

    Every image request passes here, and FastAPI's per-request dependency solving and
    validation wrappers cost a measurable share of the hub's own time. The APIRoutes below
    stay for /docs and the OpenAPI schema; these, registered first, serve the traffic.
    """
    return [NamedRoute(path, create_image, methods=["POST"]) for path in GENERATION_PATHS]


def fast_path_endpoints() -> dict[str, tuple[Route, Callable[[Request], Awaitable[Response]]]]:
    """The same endpoints for `FastPath`, which serves them without FastAPI's middleware stack."""
    return {route.path: (route, create_image) for route in fast_routes()}


GENERATION_PATHS = ("/api/images/generations", "/v1/images/generations")

for _path in GENERATION_PATHS:
    router.add_api_route(
        _path,
        _create_image,
        methods=["POST"],
        response_model=ImagesResponse,
        responses={
            400: _ERROR_SCHEMA,
            401: _ERROR_SCHEMA,
            402: _ERROR_SCHEMA,
            409: _ERROR_SCHEMA,
            429: _ERROR_SCHEMA,
            503: _ERROR_SCHEMA,
        },
        openapi_extra=_REQUEST_BODY,
        summary="Create images from a prompt",
        include_in_schema=_path.startswith("/api"),
    )
