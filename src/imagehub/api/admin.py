"""Admin API (admin keys only): keys, their limits and credits."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import Response

from imagehub.accounts.keys import KeyInfo, KeyStore
from imagehub.api.auth import require_key
from imagehub.api.body import parse_json
from imagehub.api.responses import JsonResponse
from imagehub.errors import Forbidden, NotFound

router = APIRouter(prefix="/api/admin", tags=["admin"])


async def require_admin(key: KeyInfo = Depends(require_key)) -> KeyInfo:
    if not key.admin:
        raise Forbidden("This endpoint needs an admin key.", code="admin_key_required")
    return key


class KeyLimits(BaseModel):
    """Limits of a key; null clears one (no limit). Money in micro-USD."""

    model_config = ConfigDict(extra="forbid", strict=True)

    budget_micros: int | None = Field(default=None, ge=0)
    budget_period: Literal["day", "month"] | None = None
    allowed_models: list[str] | None = None
    max_n: int | None = Field(default=None, ge=1, le=10)
    rpm_limit: int | None = Field(default=None, ge=1)
    concurrency_limit: int | None = Field(default=None, ge=1)


class CreateKey(KeyLimits):
    name: str = Field(min_length=1, max_length=200)
    mode: Literal["live", "sandbox", "admin"] = "live"
    balance_micros: int | None = Field(
        default=None, ge=0, description="Prepaid credits; null = no balance limit."
    )


class TopUp(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    amount_micros: int = Field(gt=0)
    note: str | None = Field(default=None, max_length=200)


def _keys(request: Request) -> KeyStore:
    store: KeyStore = request.app.state.keys
    return store


def _max_body(request: Request) -> int:
    return int(request.app.state.settings.max_body_bytes)


@router.post("/keys", summary="Create a key (the secret is in this response only)")
async def create_key(request: Request, _: KeyInfo = Depends(require_admin)) -> Response:
    body = await parse_json(request, CreateKey, _max_body(request))
    key, secret = await _keys(request).create(body.name, body.mode)
    limits = body.model_dump(exclude={"name", "mode"}, exclude_unset=True)
    balance = limits.pop("balance_micros", None)
    if limits:
        key = await _keys(request).update_limits(key.id, limits) or key
    if balance:
        key = await _keys(request).top_up(key.id, balance, "initial balance") or key
    elif "balance_micros" in body.model_fields_set:
        key = await _keys(request).update_limits(key.id, {"balance_micros": balance}) or key
    return JsonResponse({**key.public(), "secret": secret}, status_code=201)


@router.get("/keys", summary="List keys")
async def list_keys(request: Request, _: KeyInfo = Depends(require_admin)) -> Response:
    return JsonResponse({"object": "list", "data": [key.public() for key in await _keys(request).list()]})


@router.get("/keys/{key_id}", summary="One key")
async def get_key(request: Request, key_id: str, _: KeyInfo = Depends(require_admin)) -> Response:
    key = await _keys(request).get(key_id)
    if key is None:
        raise NotFound(f"No key {key_id!r}.", code="key_not_found")
    return JsonResponse(key.public())


@router.patch("/keys/{key_id}", summary="Update a key's limits")
async def update_key(request: Request, key_id: str, _: KeyInfo = Depends(require_admin)) -> Response:
    body = await parse_json(request, KeyLimits, _max_body(request))
    key = await _keys(request).update_limits(key_id, body.model_dump(exclude_unset=True))
    if key is None:
        raise NotFound(f"No key {key_id!r}.", code="key_not_found")
    return JsonResponse(key.public())


@router.delete("/keys/{key_id}", summary="Revoke a key")
async def revoke_key(request: Request, key_id: str, _: KeyInfo = Depends(require_admin)) -> Response:
    if not await _keys(request).revoke(key_id):
        raise NotFound(f"No active key {key_id!r}.", code="key_not_found")
    key = await _keys(request).get(key_id)
    return JsonResponse(key.public() if key else {"id": key_id})


@router.post("/keys/{key_id}/credits", summary="Top up a key's prepaid balance")
async def top_up(request: Request, key_id: str, _: KeyInfo = Depends(require_admin)) -> Response:
    body = await parse_json(request, TopUp, _max_body(request))
    key = await _keys(request).top_up(key_id, body.amount_micros, body.note)
    if key is None:
        raise NotFound(f"No key {key_id!r}.", code="key_not_found")
    return JsonResponse(key.public())
