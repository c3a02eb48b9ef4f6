"""CORS for operators whose browser apps call the hub: off unless IMAGEHUB_CORS_ORIGINS is set.

It wraps the whole ASGI app, FastPath included, so the generation endpoints that bypass
FastAPI's middleware answer preflights and carry the headers like every other route.
"""

from __future__ import annotations

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp

# What a browser app may read from a response besides the CORS-safelisted headers.
EXPOSED_HEADERS = (
    "x-request-id",
    "x-imagehub-provider",
    "x-imagehub-sandbox",
    "x-imagehub-cost-micros",
    "x-idempotent-replay",
    "retry-after",
    "x-ratelimit-limit-requests",
    "x-ratelimit-remaining-requests",
    "x-ratelimit-reset-requests",
)


def parse_origins(value: str | None) -> list[str]:
    return [origin.strip().rstrip("/") for origin in (value or "").split(",") if origin.strip()]


def with_cors(app: ASGIApp, origins: str | None) -> ASGIApp:
    """`app` unchanged when no origin is configured; else behind Starlette's CORSMiddleware.

    No credentials mode: the hub authenticates with a Bearer header, never a cookie.
    """
    allowed = parse_origins(origins)
    if not allowed:
        return app
    return CORSMiddleware(
        app,
        allow_origins=allowed,
        allow_methods=["GET", "POST", "PATCH", "DELETE", "OPTIONS"],
        allow_headers=["authorization", "content-type", "idempotency-key", "x-aigne-hub-client-did"],
        expose_headers=list(EXPOSED_HEADERS),
        max_age=600,
    )
