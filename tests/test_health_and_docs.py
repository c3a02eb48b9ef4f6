"""Probes and the OpenAPI document."""

from __future__ import annotations

import httpx


def test_healthz(http: httpx.Client) -> None:
    assert http.get("/healthz").json() == {"status": "ok"}


def test_readyz_checks_database_and_store(http: httpx.Client) -> None:
    body = http.get("/readyz").json()
    assert body == {"status": "ready", "checks": {"database": "ok", "store": "ok"}}


def test_openapi_shows_the_real_request_and_response(http: httpx.Client) -> None:
    spec = http.get("/openapi.json").json()
    operation = spec["paths"]["/api/images/generations"]["post"]
    request_schema = operation["requestBody"]["content"]["application/json"]["schema"]
    assert {
        "prompt",
        "model",
        "image",
        "n",
        "size",
        "response_format",
        "quality",
        "style",
        "background",
        "output_format",
        "output_compression",
        "moderation",
        "user",
    } <= set(request_schema["properties"])
    assert request_schema["required"] == ["prompt"]
    response_schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert response_schema["$ref"].endswith("/ImagesResponse")
    assert http.get("/docs").status_code == 200
