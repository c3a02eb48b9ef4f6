"""POST /api/images/generations (also /v1/...): OpenAI's images API, served by the hub."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import Response

from imagehub.accounts.keys import KeyInfo
from imagehub.api.auth import require_key
from imagehub.api.body import parse_json
from imagehub.api.responses import JsonResponse
from imagehub.generation import GenerationService
from imagehub.protocol import ImageGenerationRequest, ImagesResponse

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
    }
}


def public_base_url(request: Request) -> str:
    configured: str | None = request.app.state.settings.public_url
    if configured:
        return configured
    return f"{request.url.scheme}://{request.url.netloc}"


async def _create_image(request: Request, key: KeyInfo = Depends(require_key)) -> Response:
    settings = request.app.state.settings
    body = await parse_json(request, ImageGenerationRequest, settings.max_body_bytes)
    service: GenerationService = request.app.state.generation
    outcome = await service.generate(body, key, public_base_url(request))
    content: dict[str, object] = {"created": outcome.created, "data": outcome.data, **outcome.echo}
    headers = {"x-imagehub-provider": outcome.provider}
    if outcome.sandbox:
        headers["x-imagehub-sandbox"] = "true"
    return JsonResponse(content, headers=headers)


for _path in ("/api/images/generations", "/v1/images/generations"):
    router.add_api_route(
        _path,
        _create_image,
        methods=["POST"],
        response_model=ImagesResponse,
        responses={400: _ERROR_SCHEMA, 401: _ERROR_SCHEMA, 503: _ERROR_SCHEMA},
        openapi_extra=_REQUEST_BODY,
        summary="Create images from a prompt",
        include_in_schema=_path.startswith("/api"),
    )
