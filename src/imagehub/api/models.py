"""GET /api/models (and /v1/models): the models this hub can serve for the calling key, now.

Each entry is OpenAI's model object plus `capabilities`: what the catalog says the model takes
(sizes, n, qualities, styles, formats, edits), so a client such as the console can offer only
valid choices. The SDK ignores the extra field.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import Response

from imagehub.accounts.keys import KeyInfo
from imagehub.api.auth import require_key
from imagehub.api.responses import JsonResponse
from imagehub.catalog import Catalog, ModelSpec
from imagehub.routing import Router

router = APIRouter(tags=["models"])


async def list_models(request: Request, key: KeyInfo = Depends(require_key)) -> Response:
    """Sandbox keys see the whole catalog; live keys see models with a configured deployment."""
    catalog: Catalog = request.app.state.catalog
    hub_router: Router = request.app.state.router
    data = []
    for spec in catalog:
        if key.sandbox:
            owners = ["imagehub-sandbox"]
        else:
            owners = sorted({route.provider.kind for route in hub_router.candidates(spec.name)})
            if not owners:
                continue
        data.append(
            {
                "id": spec.name,
                "object": "model",
                "created": 0,
                "owned_by": ",".join(owners),
                "capabilities": capabilities(spec),
            }
        )
    return JsonResponse({"object": "list", "data": data})


def capabilities(spec: ModelSpec) -> dict[str, object]:
    """The catalog's facts a client needs to build a valid request; None where the field is not taken."""
    takes = spec.accepts
    return {
        "display_name": spec.display_name,
        "fields": sorted(spec.fields),
        "max_prompt_chars": spec.max_prompt_chars,
        "max_n": spec.max_n,
        "sizes": list(spec.sizes),
        "default_size": spec.default_size,
        "size_range": (
            {"min": spec.min_side, "max": spec.max_side, "multiple": spec.side_multiple}
            if spec.has_size_range
            else None
        ),
        "qualities": list(spec.qualities) if takes("quality") else None,
        "default_quality": spec.default_quality,
        "styles": list(spec.styles) if takes("style") else None,
        "default_style": spec.default_style,
        "backgrounds": list(spec.backgrounds) if takes("background") else None,
        "output_formats": list(spec.output_formats) if takes("output_format") else None,
        "response_formats": ["url", "b64_json"],
        "default_response_format": spec.default_response_format,
        "seed": takes("seed"),
        "revises_prompt": spec.revises_prompt,
        "edits": spec.edit_endpoint,
        "mask": spec.accepts_mask,
        "max_input_images": spec.max_input_images if spec.edit_endpoint else 0,
        "input_formats": list(spec.input_formats),
    }


for _path in ("/api/models", "/v1/models"):
    router.add_api_route(
        _path,
        list_models,
        methods=["GET"],
        summary="List the models you can use now",
        include_in_schema=_path.startswith("/api"),
    )
