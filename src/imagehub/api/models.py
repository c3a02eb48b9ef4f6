"""GET /api/models and /api/models/{id} (also /v1/...): the catalog as OpenAI's Models API.

The list holds what the calling key can use now: every model and alias for sandbox keys, those
with a configured deployment for live keys. Retrieve answers for any catalog name, saying under
`imagehub.available` whether this key can use it now; an unknown name is 404 model_not_found.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import Response

from imagehub.accounts.keys import KeyInfo
from imagehub.api.auth import require_key
from imagehub.api.model_cards import EXTENSION_KEY, model_object
from imagehub.api.responses import JsonResponse
from imagehub.catalog import Alias, Catalog, ModelSpec
from imagehub.service.generation import GenerationService
from imagehub.service.validation import lookup_model
from imagehub.upstream.routing import Router

router = APIRouter(tags=["models"])


def _entry(request: Request, key: KeyInfo, name: str, spec: ModelSpec, alias: Alias | None) -> dict[str, Any]:
    """A model's card: available when it, or the successor serving it today, has a deployment."""
    hub_router: Router = request.app.state.router
    service: GenerationService = request.app.state.generation
    serving = service.served_by(spec.name, key)
    deployed = sorted({route.provider.kind for route in hub_router.candidates(serving)}) if serving else []
    owners = ["imagehub-sandbox"] if key.sandbox else deployed or list(spec.providers)
    available = serving is not None and (key.sandbox or bool(deployed))
    entry = model_object(name, spec, owners, available=available, prices=service.prices, alias=alias)
    entry[EXTENSION_KEY]["served_by"] = serving
    if serving is not None and serving != spec.name:
        entry[EXTENSION_KEY]["price"] = service.prices.listing(serving)  # what it is charged at now
    return entry


async def list_models(request: Request, key: KeyInfo = Depends(require_key)) -> Response:
    """Sandbox keys see the whole catalog; live keys see models with a configured deployment."""
    catalog: Catalog = request.app.state.catalog
    entries = [_entry(request, key, spec.name, spec, None) for spec in catalog]
    for alias in catalog.aliases():
        spec = catalog.get(alias.target)
        if spec is not None:
            entries.append(_entry(request, key, alias.name, spec, alias))
    data = [entry for entry in entries if entry["imagehub"]["available"]]
    return JsonResponse({"object": "list", "data": data})


async def retrieve_model(request: Request, model: str, key: KeyInfo = Depends(require_key)) -> Response:
    """One model (`dall-e-3`, `openai/dall-e-3` or an alias), as the SDK's `models.retrieve`."""
    found = lookup_model(request.app.state.catalog, model)
    return JsonResponse(_entry(request, key, model, found.spec, found.alias))


for _prefix in ("/api", "/v1"):
    router.add_api_route(
        f"{_prefix}/models",
        list_models,
        methods=["GET"],
        summary="List the models you can use now",
        include_in_schema=_prefix == "/api",
    )
    router.add_api_route(
        f"{_prefix}/models/{{model:path}}",
        retrieve_model,
        methods=["GET"],
        summary="Describe one model: OpenAI's fields, and sizes, limits and prices under `imagehub`",
        include_in_schema=_prefix == "/api",
    )
