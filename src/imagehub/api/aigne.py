"""AIGNE Hub's routes, so apps on the AIGNE framework (`@aigne/aigne-hub`) can use this hub.

Another wire format over the same service: validation, routing, storage and errors are the
ones `/api/images/generations` uses. The client first fetches `/__blocklet__.js?type=json` at
the origin to learn where the hub is mounted, then posts to `<mount>/api/v2/image`.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import Response

from imagehub.accounts.keys import KeyInfo
from imagehub.api.aigne_wire import (
    AigneImageInput,
    AigneImageRequest,
    AigneImagesResponse,
    to_aigne_images,
    to_aigne_usage,
    to_generation_request,
)
from imagehub.api.auth import require_key
from imagehub.api.body import parse_json
from imagehub.api.images import _create_image, generate_images
from imagehub.api.recorded import recorded
from imagehub.api.responses import JsonResponse
from imagehub.catalog import Catalog, ModelSpec, today
from imagehub.schema.wire import ImagesResponse
from imagehub.service.generation import GenerationOutcome
from imagehub.service.succession import serving_model
from imagehub.service.validation import DEFAULT_MODEL
from imagehub.upstream.routing import Router

log = logging.getLogger("imagehub.aigne")
router = APIRouter(tags=["aigne"])

# The component DID `@aigne/aigne-hub` looks for in the discovery document.
AIGNE_HUB_DID = "z8ia3xzq2tMq8CRHfaXj1BTYJyYnEcHbqP8cJ"
CLIENT_DID_HEADER = "x-aigne-hub-client-did"
_MAX_CLIENT_DID = 200  # the usage table's client_did column
_PROVIDER_NAMES = {"openai": "OpenAI", "google": "Google"}
_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"description": "`{error: {message, type, param, code}}`"} for status in (400, 401, 503)
}
_REQUEST_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["input"],
                    "properties": {
                        "input": AigneImageInput.model_json_schema(),
                        "agent": {"type": "string"},
                        "options": {"type": "object"},
                    },
                }
            }
        },
    }
}


def mount_point(request: Request) -> str:
    """The configured mount point as `/`, or `/prefix` without a trailing slash."""
    configured: str = request.app.state.settings.mount_point
    return "/" + configured.strip("/")


@router.get("/__blocklet__.js", summary="Blocklet discovery, read by @aigne/aigne-hub")
async def blocklet_info(request: Request, type: str | None = None) -> Response:
    doc = {
        "appName": "imagehub",
        "componentMountPoints": [
            {
                "did": AIGNE_HUB_DID,
                "name": "imagehub",
                "title": "imagehub",
                "mountPoint": mount_point(request),
            }
        ],
    }
    if type == "json":
        return JsonResponse(doc)
    # Without ?type=json a Blocklet server answers a script for browsers; so do we.
    script = b"window.blocklet = " + orjson.dumps(doc) + b";\n"
    return Response(script, media_type="application/javascript")


def _client_did(request: Request) -> str | None:
    value = request.headers.get(CLIENT_DID_HEADER, "").strip()
    return value[:_MAX_CLIENT_DID] or None


def _served_model(request: Request, requested: str | None, outcome: GenerationOutcome) -> str:
    """`provider/model` naming what served the request, in a form the hub accepts back.

    Live: the kind of the deployment that answered (`openai`, `google`). Sandbox: the pinned or
    catalog provider, so apps see the same id they will see in production; `x-imagehub-sandbox`
    says it was the sandbox.
    """
    catalog: Catalog = request.app.state.catalog
    spec, pinned = catalog.resolve(requested or DEFAULT_MODEL)
    if spec is None:  # unreachable after a successful generation; keep the name as sent
        return requested or DEFAULT_MODEL
    kind = None
    if not outcome.sandbox:
        hub_router: Router = request.app.state.router
        kind = next((r.provider.kind for r in hub_router.routes if r.provider.name == outcome.provider), None)
    return f"{kind or pinned or spec.providers[0]}/{spec.name}"


async def create_image(request: Request, key: KeyInfo = Depends(require_key)) -> Response:
    """AIGNE's image call: translate, take the main route's path (limits, service), answer as AIGNE."""
    client_did = _client_did(request)
    request.state.client_did = client_did  # request_context() puts it on the usage record
    return await recorded(request, key, lambda context: _serve_aigne(request, key, client_did))


async def _serve_aigne(request: Request, key: KeyInfo, client_did: str | None) -> Response:
    envelope = await parse_json(request, AigneImageRequest, request.app.state.settings.max_body_bytes)
    body = to_generation_request(envelope.input)
    outcome, headers = await generate_images(request, key, body)
    model = _served_model(request, body.model, outcome)
    log.info(
        "aigne image generation key_id=%s model=%s client_did=%s images=%d",
        key.id,
        model,
        client_did,
        len(outcome.data),
        extra={"key_id": key.id, "model": model, "client_did": client_did, "images": len(outcome.data)},
    )
    content = {"images": to_aigne_images(outcome), "usage": to_aigne_usage(outcome), "model": model}
    return JsonResponse(content, headers=headers)


router.add_api_route(
    "/api/v2/image",
    create_image,
    methods=["POST"],
    response_model=AigneImagesResponse,
    responses=_ERRORS,
    openapi_extra=_REQUEST_BODY,
    summary="Create images (AIGNE Hub's format, used by @aigne/aigne-hub)",
)

# AIGNE Hub's older OpenAI-style paths, and the root path the client's OpenAI mode posts to when
# its baseURL is the hub itself and the model `openai/...`: the main route's handler, unchanged.
for _path in ("/api/v1/image/generations", "/api/v2/image/generations", "/images/generations"):
    router.add_api_route(
        _path,
        _create_image,
        methods=["POST"],
        response_model=ImagesResponse,
        responses=_ERRORS,
        summary="Create images (AIGNE Hub's legacy path; same as /api/images/generations)",
        include_in_schema=False,
    )


def _model_entry(spec: ModelSpec, available: bool) -> dict[str, object]:
    provider = spec.providers[0]
    return {
        "key": f"{provider}/{spec.name}",
        "model": spec.name,
        "type": "image",
        "provider": provider,
        # The catalog has no prices yet; AIGNE's client requires the fields, as strings.
        "input_credits_per_token": "0",
        "output_credits_per_token": "0",
        "modelMetadata": {
            "imageGeneration": {
                "max": spec.max_n,
                "size": list(spec.sizes),
                "quality": list(spec.qualities),
                "style": list(spec.styles),
            },
            "displayName": spec.display_name,
            "defaultSize": spec.default_size,
            "outputFormats": list(spec.output_formats),
            "maxPromptChars": spec.max_prompt_chars,
            "canEdit": spec.can_edit,
        },
        "providerDisplayName": _PROVIDER_NAMES.get(provider, provider.title()),
        "status": {"available": available},
    }


@router.get("/api/ai/models", summary="Image models in AIGNE Hub's format")
async def list_aigne_models(request: Request, type: str | None = None) -> Response:
    """Public, as on AIGNE Hub (the client sends no key). With a sandbox key, all are available."""
    if type not in (None, "", "image"):
        return JsonResponse([])  # this hub serves images only
    sandbox = "authorization" in request.headers and (await require_key(request)).sandbox
    catalog: Catalog = request.app.state.catalog
    hub_router: Router = request.app.state.router

    def available(name: str) -> bool:
        """Served today: by a deployment of its own, or (shut down) by its successor's."""
        serving = serving_model(catalog, name, hub_router.serves, hub_router.reported_gone, today())
        return serving is not None and hub_router.serves(serving)

    return JsonResponse([_model_entry(spec, sandbox or available(spec.name)) for spec in catalog])
