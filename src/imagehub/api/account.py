"""GET /api/key: the calling key as the admin API shows it, for the key's own dashboard.

Any key may read itself (never its secret): its mode, balance, budget and what it has used of it,
and its limits. Admins read other keys through /api/admin/keys.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import Response

from imagehub.accounts.budget_view import budget_spent
from imagehub.accounts.keys import KeyInfo
from imagehub.api.auth import require_key
from imagehub.api.responses import JsonResponse

router = APIRouter(tags=["usage"])


@router.get("/api/key", summary="The calling key: balance, budget, limits")
async def get_own_key(request: Request, key: KeyInfo = Depends(require_key)) -> Response:
    budget = await budget_spent(request.app.state.sessions, key)
    return JsonResponse({**key.public(), "budget_usage": budget})
