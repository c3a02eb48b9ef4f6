"""The OpenAPI document as a user of /docs needs it: a Bearer scheme, real examples, true errors.

FastAPI derives most of the document from the routes; this pass adds what it cannot know: which
routes need a key, request examples that are valid requests, an example per error status the
route really answers, and it drops the 422 FastAPI documents by default (the hub answers 400).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

BEARER = "bearerAuth"
# Routes anyone may call: probes, metrics, signed image URLs, discovery documents.
PUBLIC = ("/healthz", "/readyz", "/metrics", "/api/images/files/", "/__blocklet__.js", "/api/ai/models")


def _error(
    message: str, code: str | None, type_: str = "invalid_request_error", param: str | None = None
) -> Any:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


ERRORS: dict[str, tuple[str, Any]] = {
    "400": (
        "Invalid request: a field, its type or its value",
        _error(
            "Invalid value for 'size': '512x512'. dall-e-3 supports: 1024x1024, 1792x1024, 1024x1792.",
            "invalid_value",
            param="size",
        ),
    ),
    "401": (
        "Missing, malformed, unknown or revoked API key",
        _error("Incorrect, unknown or revoked API key.", "invalid_api_key"),
    ),
    "402": (
        "The key's balance or budget does not cover the request",
        _error(
            "This key's credit balance ($0.01) does not cover this request (up to $0.04). "
            "Ask the operator to top it up.",
            "insufficient_quota",
            type_="insufficient_quota",
        ),
    ),
    "403": (
        "The key may not do this (model not allowed, admin endpoint, admin key generating)",
        _error("This key may not use dall-e-3. Allowed: dall-e-2.", "model_not_allowed", param="model"),
    ),
    "404": ("No such key, image or route", _error("No key 'key_0123456789abcdef'.", "key_not_found")),
    "409": (
        "Idempotency-Key reused with another body, or its request still in progress",
        _error(
            "This Idempotency-Key was already used with a different request body.", "idempotency_key_reused"
        ),
    ),
    "410": (
        "The signed image URL has expired",
        _error("This image URL has expired. Generate the image again.", "url_expired"),
    ),
    "413": (
        "The body is larger than the hub accepts",
        _error("The request body is larger than 1048576 bytes.", "payload_too_large"),
    ),
    "415": (
        "The body is not JSON (or multipart, for edits)",
        _error("Content-Type must be application/json, not 'text/plain'.", "unsupported_media_type"),
    ),
    "429": (
        "The key's rate or concurrency limit (see Retry-After)",
        _error(
            "Rate limit reached for requests per minute (RPM): limit 60. Please try again in 1s.",
            "rate_limit_exceeded",
            type_="requests",
        ),
    ),
    "502": (
        "The upstreams failed after retries and fallback",
        _error(
            "The upstream for 'dall-e-3' failed (1 deployment(s) tried). Last error: HTTP 500",
            "upstream_error",
            type_="server_error",
        ),
    ),
    "503": (
        "No provider configured for the model, or every deployment cooling down",
        _error(
            "No provider is configured for model 'dall-e-3' on this hub. Ask the operator to configure "
            "one, or use a sandbox key to test offline.",
            "model_not_available",
            type_="server_error",
            param="model",
        ),
    ),
    "504": (
        "The upstreams timed out after retries and fallback",
        _error(
            "The upstream for 'dall-e-3' failed (1 deployment(s) tried). Last error: timed out",
            "upstream_timeout",
            type_="server_error",
        ),
    ),
}
_GENERATION_ERRORS = ("400", "401", "402", "403", "409", "413", "415", "429", "502", "503", "504")
STATUSES: dict[str, tuple[str, ...]] = {
    "/api/images/generations": _GENERATION_ERRORS,
    "/api/images/edits": _GENERATION_ERRORS,
    "/api/images/variations": _GENERATION_ERRORS,
    "/api/v2/image": _GENERATION_ERRORS,
    "/api/images/files/{name}": ("403", "404", "410"),
    "/api/admin/": ("400", "401", "403", "404"),
    "/api/usage": ("400", "401"),
    "/api/key": ("401",),
    "/api/models": ("401",),
}

GENERATION_EXAMPLES = {
    "dall-e-3": {
        "summary": "DALL-E 3, wide, hd",
        "value": {
            "model": "dall-e-3",
            "prompt": "a lighthouse at dawn, oil painting",
            "size": "1792x1024",
            "quality": "hd",
            "style": "natural",
        },
    },
    "dall-e-2": {
        "summary": "DALL-E 2, two small images",
        "value": {"model": "dall-e-2", "prompt": "a red fox in the snow", "n": 2, "size": "512x512"},
    },
    "gpt-image-1": {
        "summary": "GPT image, transparent webp as base64",
        "value": {
            "model": "gpt-image-1",
            "prompt": "a sticker of a smiling cactus",
            "background": "transparent",
            "output_format": "webp",
            "quality": "medium",
        },
    },
    "gemini": {
        "summary": "Gemini, portrait",
        "value": {"model": "gemini-2.5-flash-image", "prompt": "a cosy reading nook", "size": "832x1248"},
    },
}
ADMIN_EXAMPLES = {
    ("/api/admin/keys", "post"): {
        "name": "team-a",
        "mode": "live",
        "balance_micros": 25_000_000,
        "budget_micros": 10_000_000,
        "budget_period": "month",
        "rpm_limit": 60,
    },
    ("/api/admin/keys/{key_id}", "patch"): {"rpm_limit": 120, "allowed_models": ["dall-e-3", "gpt-image-1"]},
    ("/api/admin/keys/{key_id}/credits", "post"): {"amount_micros": 5_000_000, "note": "November top-up"},
}


def _statuses(path: str) -> tuple[str, ...]:
    for prefix, statuses in STATUSES.items():
        if path == prefix or (prefix.endswith("/") and path.startswith(prefix)):
            return statuses
    return ()


def _error_response(status: str) -> dict[str, Any]:
    description, example = ERRORS[status]
    return {
        "description": description,
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/Error"}, "example": example}
        },
    }


def _hoist_defs(node: Any, schemas: dict[str, Any]) -> Any:
    """Move `$defs` of schemas embedded with model_json_schema() into components.schemas.

    Their `#/$defs/X` references point nowhere inside an OpenAPI document: Swagger UI copes,
    ReDoc stops with "Invalid reference token: $defs".
    """
    if isinstance(node, list):
        return [_hoist_defs(item, schemas) for item in node]
    if not isinstance(node, dict):
        return node
    for name, definition in node.pop("$defs", {}).items():
        schemas.setdefault(name, _hoist_defs(definition, schemas))
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        node["$ref"] = "#/components/schemas/" + ref.removeprefix("#/$defs/")
    return {key: _hoist_defs(value, schemas) for key, value in node.items()}


def refine(document: dict[str, Any]) -> dict[str, Any]:
    """Apply the hub's facts to FastAPI's document (in place, and returned)."""
    components = document.setdefault("components", {})
    components.setdefault("securitySchemes", {})[BEARER] = {
        "type": "http",
        "scheme": "bearer",
        "description": "An API key: ih-sbx-… (sandbox), ih-live-… or ih-admin-… (the admin API).",
    }
    schemas = components.setdefault("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    schemas["Error"] = {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["message", "type", "param", "code"],
                "properties": {
                    "message": {"type": "string"},
                    "type": {"type": "string"},
                    "param": {"type": ["string", "null"]},
                    "code": {"type": ["string", "null"]},
                },
            }
        },
    }
    for path, operations in document.get("paths", {}).items():
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            responses.pop("422", None)
            if path.startswith(PUBLIC):
                operation["security"] = []
            else:
                operation["security"] = [{BEARER: []}]
            for status in _statuses(path):
                responses[status] = _error_response(status)
            content = operation.get("requestBody", {}).get("content", {})
            if path == "/api/images/generations" and "application/json" in content:
                content["application/json"]["examples"] = GENERATION_EXAMPLES
            if (path, method) in ADMIN_EXAMPLES and "application/json" in content:
                content["application/json"]["example"] = ADMIN_EXAMPLES[(path, method)]
    document["paths"] = _hoist_defs(document.get("paths", {}), schemas)
    return document


def openapi_builder(app: FastAPI) -> Callable[[], dict[str, Any]]:
    """A replacement for `app.openapi` that builds the refined document once."""

    def build() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = refine(
                get_openapi(
                    title=app.title,
                    version=app.version,
                    summary=app.summary,
                    description=app.description,
                    routes=app.routes,
                )
            )
        return app.openapi_schema

    return build
