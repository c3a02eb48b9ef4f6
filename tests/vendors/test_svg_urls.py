"""Recraft's vector model with `response_format=url`: the hub stores the SVG and serves it so
that its scripts cannot run on the hub's origin, from the local store and from an S3 bucket."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from tests.fakes.vendors import FakeRecraft
from tests.hub import Hub, create_key
from tests.s3_server import S3Server
from tests.vendors.conftest import VendorHub


def _policy(header: str) -> dict[str, str]:
    return {name: value for name, _, value in (part.strip().partition(" ") for part in header.split(";"))}


def test_a_vector_model_answers_a_url_that_serves_the_svg_sandboxed(vendors: VendorHub) -> None:
    result = vendors.sdk().images.generate(
        model="recraftv4_1_vector", prompt="an icon", size="1024x1024", response_format="url"
    )
    assert result.data is not None and result.data[0].url and result.data[0].b64_json is None
    url = result.data[0].url
    assert url.startswith(vendors.hub.url) and ".svg?" in url
    for method in ("GET", "HEAD"):
        response = httpx.request(method, url, timeout=30)
        assert response.status_code == 200, method
        assert response.headers["content-type"] == "image/svg+xml"
        assert response.headers["x-content-type-options"] == "nosniff"
        policy = _policy(response.headers["content-security-policy"])
        assert policy["default-src"] == "'none'", "no script, no fetch, no frame"
        assert "sandbox" in policy, "an origin of its own even if a browser renders it"
        assert "script-src" not in policy
        assert response.headers["content-disposition"].startswith("attachment")
    body = httpx.get(url, timeout=30).content
    assert body.startswith(b"<svg") and b"<script>" in body, "the bytes are the vendor's, unchanged"
    ranged = httpx.get(url, headers={"Range": "bytes=0-3"}, timeout=30)
    assert ranged.status_code == 206 and ranged.headers["content-disposition"].startswith("attachment")


def test_raster_images_get_the_policy_but_open_inline(vendors: VendorHub) -> None:
    result = vendors.sdk().images.generate(model="recraftv4_1", prompt="a photo", response_format="url")
    assert result.data is not None and result.data[0].url
    response = httpx.get(result.data[0].url, timeout=30)
    assert response.headers["content-type"] == "image/png"
    assert _policy(response.headers["content-security-policy"])["default-src"] == "'none'"
    assert "content-disposition" not in response.headers


@pytest.fixture
def s3_vector_hub(tmp_path: Path) -> Iterator[tuple[S3Server, openai.OpenAI]]:
    (tmp_path / "moto").mkdir()
    s3 = S3Server().start(tmp_path / "moto")
    try:
        s3.create_bucket("vectors")
        with FakeRecraft("rk-test") as recraft:
            env = {
                **s3.hub_env("vectors"),
                "IMAGEHUB_IMAGE_URLS": "presigned",
                "RECRAFT_API_TOKEN": recraft.api_key,
                "RECRAFT_BASE_URL": f"{recraft.url}/v1",
            }
            hub = Hub(tmp_path / "data", env=env).start()
            try:
                key = create_key(tmp_path / "data", "s3-svg", sandbox=False, env=env)
                yield s3, openai.OpenAI(base_url=f"{hub.url}/api", api_key=key, max_retries=0, timeout=60)
            finally:
                hub.stop()
    finally:
        s3.stop()


def test_a_presigned_svg_from_the_bucket_is_an_attachment(
    s3_vector_hub: tuple[S3Server, openai.OpenAI],
) -> None:
    """A presigned URL skips the hub, so the object itself carries Content-Disposition."""
    s3, client = s3_vector_hub
    result = client.images.generate(model="recraftv4_1_vector", prompt="a logo", response_format="url")
    assert result.data is not None and result.data[0].url
    url = result.data[0].url
    assert url.startswith(f"{s3.url}/vectors/images/") and ".svg?" in url
    response = httpx.get(url, timeout=30)
    assert response.status_code == 200 and response.content.startswith(b"<svg")
    assert response.headers["content-type"] == "image/svg+xml"
    assert response.headers["content-disposition"] == "attachment"
