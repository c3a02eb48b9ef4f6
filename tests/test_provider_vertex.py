"""Vertex AI through the hub: Gemini image models with a service account's OAuth tokens."""

from __future__ import annotations

import base64

import openai
import pytest

from tests.clouds import PROJECT, Clouds
from tests.fakes import FakeGoogle, Fault
from tests.images import decode_b64, tiny_png

MODELS = f"/v1/projects/{PROJECT}/locations/us-central1/publishers/google/models"


@pytest.mark.parametrize(
    ("size", "ratio", "tier"),
    [("1376x768", "16:9", "1K"), ("2048x2048", "1:1", "2K"), ("848x1264", "2:3", "1K")],
)
def test_gemini_3_pro_image_with_a_service_account(clouds: Clouds, size: str, ratio: str, tier: str) -> None:
    result = clouds.sdk().images.generate(
        model="gemini-3-pro-image", prompt="a fox", size=size, response_format="b64_json"
    )
    [sent] = clouds.vertex.requests_to(":generateContent")
    assert sent.path == f"{MODELS}/gemini-3-pro-image:generateContent"
    scheme, _, token = sent.headers["authorization"].partition(" ")
    assert scheme == "Bearer" and token in clouds.vertex.tokens, "a token granted for the signed JWT"
    assert "x-goog-api-key" not in sent.headers
    assert sent.json == {
        "contents": [{"role": "user", "parts": [{"text": "a fox"}]}],
        "generationConfig": {
            "responseModalities": ["TEXT", "IMAGE"],
            "imageConfig": {"aspectRatio": ratio, "imageSize": tier},
        },
    }
    width, height = (int(v) for v in size.split("x"))
    assert result.data is not None and decode_b64(result.data[0].b64_json or "").size == (width, height)
    assert not clouds.google.requests
    assert clouds.vertex.grants == 1, "one token for the hub's life so far: cached, not fetched per call"


def test_n_is_concurrent_calls_with_inline_edits(clouds: Clouds) -> None:
    source = tiny_png()
    result = clouds.sdk().images.generate(
        model="gemini-2.5-flash-image",
        prompt="add a hat",
        n=2,
        response_format="b64_json",
        extra_body={"image": "data:image/png;base64," + base64.b64encode(source).decode()},
    )
    calls = clouds.vertex.requests_to(":generateContent")
    assert len(calls) == 2 and calls[0].path == f"{MODELS}/gemini-2.5-flash-image:generateContent"
    assert calls[0].json is not None
    inline = calls[0].json["contents"][0]["parts"][1]["inlineData"]
    assert base64.b64decode(inline["data"]) == source
    assert result.data is not None and len(result.data) == 2


@pytest.mark.parametrize("fault", [Fault.content_policy(), Fault.no_image("IMAGE_SAFETY")])
def test_safety_blocks_are_content_policy_violations(clouds: Clouds, fault: Fault) -> None:
    clouds.vertex.enqueue(fault)
    with pytest.raises(openai.BadRequestError) as caught:
        clouds.sdk().images.generate(model="gemini-3-pro-image", prompt="blocked")
    assert caught.value.code == "content_policy_violation" and "Vertex AI" in caught.value.message
    assert len(clouds.vertex.requests_to(":generateContent")) == 1 and not clouds.google.requests


def test_a_refusing_project_falls_over_to_the_gemini_api(clouds: Clouds) -> None:
    clouds.vertex.enqueue(Fault.status(403))
    result = clouds.sdk().images.generate(
        model="gemini-3-pro-image", prompt="elsewhere", size="1376x768", response_format="b64_json"
    )
    assert len(clouds.vertex.requests_to(":generateContent")) == 1
    sent = clouds.google.last
    assert sent.path == "/v1beta/models/gemini-3-pro-image:generateContent"
    assert sent.headers["x-goog-api-key"] == clouds.google.api_key
    expected = FakeGoogle.image_for((1376, 768), "gemini-3-pro-image", "elsewhere")
    assert result.data is not None and base64.b64decode(result.data[0].b64_json or "") == expected


def test_rate_limits_are_retried_on_vertex(clouds: Clouds) -> None:
    clouds.vertex.enqueue(Fault.rate_limited())
    result = clouds.sdk().images.generate(model="gemini-3-pro-image", prompt="again")
    assert len(clouds.vertex.requests_to(":generateContent")) == 2 and not clouds.google.requests
    assert result.data is not None


def test_invalid_argument_passes_through(clouds: Clouds) -> None:
    clouds.vertex.enqueue(Fault.status(400))
    with pytest.raises(openai.BadRequestError) as caught:
        clouds.sdk().images.generate(model="gemini-3-pro-image", prompt="bad")
    assert caught.value.code == "invalid_argument"
