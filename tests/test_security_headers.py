"""Security headers per route family: image URLs (GET and HEAD, every format), /docs and /redoc.

The console already sends them (tests/test_console.py); the docs pages must still work under
their CSP, which tests/test_docs_offline.py checks in a real browser.
"""

from __future__ import annotations

import httpx
import openai
import pytest

from tests.hub import Hub


@pytest.mark.parametrize("output_format", ["png", "jpeg", "webp"])
def test_image_urls_say_nosniff_on_get_and_head(sdk: openai.OpenAI, output_format: str) -> None:
    result = sdk.images.generate(
        model="gpt-image-1",
        prompt="headers",
        response_format="url",
        output_format=output_format,  # type: ignore[arg-type]
    )
    assert result.data and result.data[0].url
    url = result.data[0].url
    for method in ("GET", "HEAD"):
        response = httpx.request(method, url, timeout=30)
        assert response.status_code == 200
        assert response.headers["content-type"] == f"image/{output_format}"
        assert response.headers["x-content-type-options"] == "nosniff", method
    ranged = httpx.get(url, headers={"Range": "bytes=0-9"}, timeout=30)
    assert ranged.status_code == 206 and ranged.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_docs_pages_refuse_sniffing_framing_and_foreign_scripts(hub: Hub, path: str) -> None:
    response = httpx.get(hub.url + path, timeout=30)
    assert response.status_code == 200
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    header = response.headers["content-security-policy"]
    policy = {name: value for name, _, value in (part.strip().partition(" ") for part in header.split(";"))}
    assert policy["frame-ancestors"] == "'none'"
    assert policy["default-src"] == "'self'"
    assert "'unsafe-inline'" not in policy["script-src"] and "http" not in policy["script-src"]
    assert "http" not in policy["connect-src"]
