"""Admission to a generation: the key may generate, within its limits; where its URLs point."""

from __future__ import annotations

from starlette.requests import Request

from imagehub.accounts.keys import KeyInfo
from imagehub.accounts.ratelimit import Permit, RateLimiter
from imagehub.api.recorded import request_context
from imagehub.errors import Forbidden
from imagehub.generation import DEFAULT_MODEL
from imagehub.protocol import ImageGenerationRequest


def public_base_url(request: Request) -> str:
    """IMAGEHUB_PUBLIC_URL, else the scheme and Host the client used (proxy headers only when trusted,
    which uvicorn has already applied to the scope)."""
    configured: str | None = request.app.state.settings.public_url
    if configured:
        return configured
    host = request.headers.get("host")
    if not host:
        server = request.scope.get("server") or ("127.0.0.1", 80)
        host = f"{server[0]}:{server[1]}"
    return f"{request.scope.get('scheme', 'http')}://{host}"


async def admit(request: Request, key: KeyInfo, body: ImageGenerationRequest) -> Permit:
    """A generating key within its rate and concurrency limits; the permit is the caller's to release."""
    request_context(request).model = body.model or DEFAULT_MODEL
    if key.admin:
        raise Forbidden("Admin keys manage the hub; use a live or sandbox key to generate.", code="admin_key")
    limiter: RateLimiter = request.app.state.rate_limiter
    return await limiter.acquire(key.id, rpm=key.rpm_limit, concurrency=key.concurrency_limit)
