"""GET /api/models (and /v1/models): the models this hub can serve for the calling key, now."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import Response

from imagehub.accounts.keys import KeyInfo
from imagehub.api.auth import require_key
from imagehub.api.responses import JsonResponse
from imagehub.catalog import Catalog
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
        data.append({"id": spec.name, "object": "model", "created": 0, "owned_by": ",".join(owners)})
    return JsonResponse({"object": "list", "data": data})


for _path in ("/api/models", "/v1/models"):
    router.add_api_route(
        _path,
        list_models,
        methods=["GET"],
        summary="List the models you can use now",
        include_in_schema=_path.startswith("/api"),
    )
