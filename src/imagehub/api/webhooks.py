"""Webhook endpoints of the calling key: /v1/webhooks/endpoints (also under /api).

POST registers a URL (checked by the SSRF guard) and answers its signing secret, once; GET lists
the key's endpoints; DELETE removes one; GET …/{id}/deliveries is its delivery log; POST
…/{id}/test queues a signed `webhook.test` delivery.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field
from starlette.requests import Request
from starlette.responses import Response

from imagehub.accounts.keys import KeyInfo
from imagehub.api.auth import require_key
from imagehub.api.body import read_json_body, validate_json
from imagehub.errors import InvalidRequest, NotFound
from imagehub.inputs.netguard import AddressPolicy
from imagehub.webhooks.models import EVENTS, WebhookDeliveryRow, WebhookEndpointRow
from imagehub.webhooks.sender import WebhookSender
from imagehub.webhooks.store import WebhookStore
from imagehub.webhooks.targets import parse_target, vetted_addresses

router = APIRouter(tags=["webhooks"])


class EndpointRequest(BaseModel):
    url: str = Field(description="Where events are POSTed; must resolve to a public address.")
    events: list[str] | None = Field(
        default=None, description=f"Subset of {', '.join(EVENTS)}; all if unset."
    )


def _store(request: Request) -> WebhookStore:
    store: WebhookStore = request.app.state.webhooks
    return store


def _json(body: object, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def _endpoint(row: WebhookEndpointRow, *, secret: bool = False) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": row.id,
        "object": "webhook_endpoint",
        "url": row.url,
        "events": row.events.split(","),
        "created_at": row.created_at // 1000,
    }
    if secret:
        body["secret"] = row.secret
    return body


def _delivery(row: WebhookDeliveryRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "object": "webhook_delivery",
        "event_type": row.event_type,
        "status": row.status,
        "attempts": row.attempts,
        "last_status_code": row.last_status_code,
        "last_error": row.last_error,
        "next_attempt_at": row.next_attempt_at // 1000 if row.status == "pending" else None,
        "created_at": row.created_at // 1000,
        "delivered_at": row.delivered_at // 1000 if row.delivered_at else None,
    }


async def create_endpoint(request: Request, key: KeyInfo = Depends(require_key)) -> Response:
    body = validate_json(await read_json_body(request, 64 * 1024), EndpointRequest)
    unknown = [event for event in body.events or [] if event not in EVENTS]
    if unknown:
        raise InvalidRequest(
            f"Unknown event(s): {', '.join(unknown)}; known: {', '.join(EVENTS)}.",
            param="events",
            code="invalid_value",
        )
    policy: AddressPolicy = request.app.state.webhook_policy
    await vetted_addresses(parse_target(body.url), policy)
    row = await _store(request).register(key.id, body.url, body.events or list(EVENTS))
    return _json(_endpoint(row, secret=True), 201)


async def list_endpoints(request: Request, key: KeyInfo = Depends(require_key)) -> Response:
    rows = await _store(request).endpoints(key.id)
    return _json({"object": "list", "data": [_endpoint(row) for row in rows]})


async def delete_endpoint(
    request: Request, endpoint_id: str, key: KeyInfo = Depends(require_key)
) -> Response:
    if not await _store(request).remove(endpoint_id, key.id):
        raise NotFound(f"No webhook endpoint '{endpoint_id}'.", param="endpoint_id", code="not_found")
    return _json({"id": endpoint_id, "object": "webhook_endpoint", "deleted": True})


async def _own(request: Request, endpoint_id: str, key: KeyInfo) -> WebhookEndpointRow:
    row = await _store(request).endpoint(endpoint_id, key.id)
    if row is None:
        raise NotFound(f"No webhook endpoint '{endpoint_id}'.", param="endpoint_id", code="not_found")
    return row


async def list_deliveries(
    request: Request,
    endpoint_id: str,
    after: str | None = None,
    limit: int = 20,
    key: KeyInfo = Depends(require_key),
) -> Response:
    await _own(request, endpoint_id, key)
    limit = max(1, min(limit, 100))
    rows = await _store(request).deliveries(endpoint_id, after=after, limit=limit + 1)
    page = [_delivery(row) for row in rows[:limit]]
    return _json(
        {
            "object": "list",
            "data": page,
            "last_id": page[-1]["id"] if page else None,
            "has_more": len(rows) > limit,
        }
    )


async def test_endpoint(request: Request, endpoint_id: str, key: KeyInfo = Depends(require_key)) -> Response:
    row = await _store(request).test(await _own(request, endpoint_id, key))
    sender: WebhookSender = request.app.state.webhook_sender
    sender.wake()
    return _json(_delivery(row), 202)


for _base in ("/api/webhooks/endpoints", "/v1/webhooks/endpoints"):
    _shown = _base.startswith("/api")
    router.add_api_route(_base, create_endpoint, methods=["POST"], include_in_schema=_shown, status_code=201)
    router.add_api_route(_base, list_endpoints, methods=["GET"], include_in_schema=_shown)
    router.add_api_route(
        _base + "/{endpoint_id}", delete_endpoint, methods=["DELETE"], include_in_schema=_shown
    )
    router.add_api_route(
        _base + "/{endpoint_id}/deliveries", list_deliveries, methods=["GET"], include_in_schema=_shown
    )
    router.add_api_route(
        _base + "/{endpoint_id}/test",
        test_endpoint,
        methods=["POST"],
        include_in_schema=_shown,
        status_code=202,
    )
