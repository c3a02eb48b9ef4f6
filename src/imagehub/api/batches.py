"""OpenAI's Batch API for image generations: /v1/batches (also /api/batches).

`client.batches.create(input_file_id=..., endpoint="/v1/images/generations",
completion_window="24h")` of the official SDK works unchanged; so do retrieve, cancel and list.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import Response

from imagehub.accounts.keys import KeyInfo
from imagehub.api.admission import public_base_url
from imagehub.api.auth import require_key
from imagehub.api.body import read_json_body
from imagehub.api.pages import cursor_page
from imagehub.batches.models import BatchRow
from imagehub.batches.service import BatchService, metadata_of
from imagehub.batches.views import batch_object
from imagehub.errors import InvalidRequest, NotFound

router = APIRouter(tags=["batches"])


def _batches(request: Request) -> BatchService:
    batches: BatchService = request.app.state.batches
    return batches


def _json(body: object, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


async def _view(request: Request, row: BatchRow) -> dict[str, Any]:
    return batch_object(row, await _batches(request).counts(row))


def _text(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise InvalidRequest(
            f"Missing required parameter: '{name}'.", param=name, code="missing_required_parameter"
        )
    return value


async def create_batch(request: Request, key: KeyInfo = Depends(require_key)) -> Response:
    body = orjson.loads(await read_json_body(request, 64 * 1024))
    if not isinstance(body, dict):
        raise InvalidRequest("The body must be a JSON object.", code="invalid_json")
    row = await _batches(request).create(
        key,
        input_file_id=_text(body, "input_file_id"),
        endpoint=_text(body, "endpoint"),
        completion_window=_text(body, "completion_window"),
        metadata=metadata_of(body),
        base_url=public_base_url(request),
    )
    request.app.state.jobs.runner.wake()
    return _json(await _view(request, row))


async def _own(request: Request, batch_id: str, key: KeyInfo) -> BatchRow:
    row = await _batches(request).get(batch_id, key.id)
    if row is None:
        raise NotFound(f"No batch with id '{batch_id}'.", param="batch_id", code="batch_not_found")
    return row


async def get_batch(request: Request, batch_id: str, key: KeyInfo = Depends(require_key)) -> Response:
    return _json(await _view(request, await _own(request, batch_id, key)))


async def cancel_batch(request: Request, batch_id: str, key: KeyInfo = Depends(require_key)) -> Response:
    await _own(request, batch_id, key)
    row = await _batches(request).cancel(batch_id, key.id)
    if row is None:
        raise NotFound(f"No batch with id '{batch_id}'.", param="batch_id", code="batch_not_found")
    return _json(await _view(request, row))


async def list_batches(
    request: Request, after: str | None = None, limit: int = 20, key: KeyInfo = Depends(require_key)
) -> Response:
    limit = max(1, min(limit, 100))
    rows = await _batches(request).page(key.id, after=after, limit=limit + 1)
    return _json(cursor_page([await _view(request, row) for row in rows[:limit]], len(rows) > limit))


for _base in ("/api/batches", "/v1/batches"):
    _shown = _base.startswith("/api")
    router.add_api_route(_base, create_batch, methods=["POST"], include_in_schema=_shown)
    router.add_api_route(_base, list_batches, methods=["GET"], include_in_schema=_shown)
    router.add_api_route(_base + "/{batch_id}", get_batch, methods=["GET"], include_in_schema=_shown)
    router.add_api_route(
        _base + "/{batch_id}/cancel", cancel_batch, methods=["POST"], include_in_schema=_shown
    )
