"""Admin API (admin keys only): keys, their limits and credits."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import Response

from imagehub.accounts.keys import KeyInfo, KeyStore
from imagehub.accounts.limits import INT_RULES, TOP_UP, check_int, check_name, validated_limits
from imagehub.api.auth import require_key
from imagehub.api.body import parse_json
from imagehub.api.responses import JsonResponse
from imagehub.catalog import Catalog
from imagehub.errors import Forbidden, InvalidRequest, NotFound

router = APIRouter(prefix="/api/admin", tags=["admin"])


async def require_admin(key: KeyInfo = Depends(require_key)) -> KeyInfo:
    if not key.admin:
        raise Forbidden("This endpoint needs an admin key.", code="admin_key_required")
    return key


def _limit(name: str) -> Any:
    return Field(default=None, description=f"{INT_RULES[name].describe()}; null = no limit.")


class KeyLimits(BaseModel):
    """Limits of a key; null clears one (no limit). Money in micro-USD.

    Only the types are checked here; the ranges and model names are `accounts.limits`'s rules,
    the same ones the CLI applies.
    """

    model_config = ConfigDict(extra="forbid", strict=True)

    budget_micros: int | None = _limit("budget_micros")
    budget_period: Literal["day", "month"] | None = None
    allowed_models: list[str] | None = Field(
        default=None, description="Catalog model names; null = every model."
    )
    max_n: int | None = _limit("max_n")
    rpm_limit: int | None = _limit("rpm_limit")
    concurrency_limit: int | None = _limit("concurrency_limit")


class CreateKey(KeyLimits):
    name: str = Field(description="Who or what the key is for (1-200 characters).")
    mode: Literal["live", "sandbox", "admin"] = "live"
    balance_micros: int | None = Field(
        default=None, description=f"Prepaid credits, {INT_RULES['balance_micros'].describe()}; null = none."
    )


class TopUp(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    amount_micros: int = Field(description=f"Credits to add: {TOP_UP.describe()}.")
    note: str | None = Field(default=None, max_length=200)


def _body(model: type[BaseModel]) -> dict[str, Any]:
    """Document the JSON body that `parse_json` reads (FastAPI cannot see it in the signature)."""
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": model.model_json_schema()}},
        }
    }


def _keys(request: Request) -> KeyStore:
    store: KeyStore = request.app.state.keys
    return store


def _catalog(request: Request) -> Catalog:
    catalog: Catalog = request.app.state.catalog
    return catalog


def _max_body(request: Request) -> int:
    return int(request.app.state.settings.max_body_bytes)


@router.post(
    "/keys", summary="Create a key (the secret is in this response only)", openapi_extra=_body(CreateKey)
)
async def create_key(request: Request, _: KeyInfo = Depends(require_admin)) -> Response:
    body = await parse_json(request, CreateKey, _max_body(request))
    name = check_name(body.name)
    limits = validated_limits(
        body.model_dump(exclude={"name", "mode"}, exclude_unset=True), _catalog(request)
    )
    key, secret = await _keys(request).create(name, body.mode)
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


@router.patch("/keys/{key_id}", summary="Update a key's limits", openapi_extra=_body(KeyLimits))
async def update_key(request: Request, key_id: str, _: KeyInfo = Depends(require_admin)) -> Response:
    body = await parse_json(request, KeyLimits, _max_body(request))
    changes = validated_limits(body.model_dump(exclude_unset=True), _catalog(request))
    if not changes:
        raise InvalidRequest(
            f"Nothing to change: send at least one of {', '.join(KeyLimits.model_fields)}.",
            code="empty_update",
        )
    key = await _keys(request).update_limits(key_id, changes)
    if key is None:
        raise NotFound(f"No key {key_id!r}.", code="key_not_found")
    return JsonResponse(key.public())


@router.delete("/keys/{key_id}", summary="Revoke a key")
async def revoke_key(request: Request, key_id: str, _: KeyInfo = Depends(require_admin)) -> Response:
    if not await _keys(request).revoke(key_id):
        raise NotFound(f"No active key {key_id!r}.", code="key_not_found")
    key = await _keys(request).get(key_id)
    return JsonResponse(key.public() if key else {"id": key_id})


@router.post("/keys/{key_id}/credits", summary="Top up a key's prepaid balance", openapi_extra=_body(TopUp))
async def top_up(request: Request, key_id: str, _: KeyInfo = Depends(require_admin)) -> Response:
    body = await parse_json(request, TopUp, _max_body(request))
    amount = check_int("amount_micros", body.amount_micros, TOP_UP, nullable=False)
    assert amount is not None
    key = await _keys(request).top_up(key_id, amount, body.note)
    if key is None:
        raise NotFound(f"No key {key_id!r}.", code="key_not_found")
    return JsonResponse(key.public())
