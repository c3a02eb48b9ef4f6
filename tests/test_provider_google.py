"""Live keys through the Google adapter: Gemini generateContent (Imagen names: test_model_catalog.py)."""

from __future__ import annotations

import base64

import httpx
import openai
import pytest

from tests.conftest import LiveHub
from tests.fakes import FakeGoogle, FakeOpenAI, Fault
from tests.images import decode_b64, tiny_png

Upstreams = tuple[FakeOpenAI, FakeGoogle]


@pytest.mark.parametrize(
    ("size", "ratio"), [("1024x1024", "1:1"), ("1344x768", "16:9"), ("832x1248", "2:3"), ("1536x672", "21:9")]
)
def test_gemini_request_and_sizes(live: LiveHub, upstreams: Upstreams, size: str, ratio: str) -> None:
    _, fake = upstreams
    result = live.sdk().images.generate(
        model="gemini-2.5-flash-image", prompt="a fox", size=size, response_format="b64_json"
    )
    sent = fake.last
    assert sent is not None
    assert (sent.method, sent.path) == ("POST", "/v1beta/models/gemini-2.5-flash-image:generateContent")
    assert sent.headers["x-goog-api-key"] == fake.api_key
    assert "authorization" not in sent.headers
    assert sent.json == {
        "contents": [{"role": "user", "parts": [{"text": "a fox"}]}],
        "generationConfig": {"responseModalities": ["TEXT", "IMAGE"], "imageConfig": {"aspectRatio": ratio}},
    }
    assert result.data is not None
    width, height = (int(v) for v in size.split("x"))
    assert decode_b64(result.data[0].b64_json or "").size == (width, height)


@pytest.fixture
def live(archive: LiveHub) -> LiveHub:
    """These tests pin the wire format of models shut down since: the hub as of 2026-04-01."""
    return archive


def test_gemini_n_is_concurrent_calls_and_usage_adds_up(live: LiveHub, upstreams: Upstreams) -> None:
    _, fake = upstreams
    result = live.sdk().images.generate(
        model="gemini-2.5-flash-image", prompt="three", n=3, response_format="url"
    )
    assert len(fake.requests) == 3
    assert result.data is not None and len(result.data) == 3
    for item in result.data:
        assert httpx.get(item.url or "").status_code == 200


def test_gemini_passes_base64_through_untouched(live: LiveHub, upstreams: Upstreams) -> None:
    result = live.sdk().images.generate(
        model="gemini-3-pro-image", prompt="exact", size="1376x768", response_format="b64_json"
    )
    assert result.data is not None
    expected = FakeGoogle.image_for((1376, 768), "gemini-3-pro-image", "exact")
    assert base64.b64decode(result.data[0].b64_json or "") == expected


def test_gemini_skips_thought_images(live: LiveHub, upstreams: Upstreams) -> None:
    _, fake = upstreams
    fake.enqueue(Fault.thoughts())
    result = live.sdk().images.generate(
        model="gemini-3-pro-image", prompt="think first", response_format="b64_json"
    )
    assert result.data is not None
    expected = FakeGoogle.image_for((1024, 1024), "gemini-3-pro-image", "think first")
    assert base64.b64decode(result.data[0].b64_json or "") == expected


def test_gemini_edit_sends_inline_data(live: LiveHub, upstreams: Upstreams) -> None:
    _, fake = upstreams
    source = tiny_png()
    live.sdk().images.generate(
        model="gemini-2.5-flash-image",
        prompt="add a hat",
        response_format="b64_json",
        extra_body={"image": "data:image/png;base64," + base64.b64encode(source).decode()},
    )
    sent = fake.last
    assert sent is not None and sent.json is not None
    parts = sent.json["contents"][0]["parts"]
    assert parts[0] == {"text": "add a hat"}
    assert parts[1] == {"inlineData": {"mimeType": "image/png", "data": base64.b64encode(source).decode()}}


@pytest.mark.parametrize("fault", [Fault.content_policy(), Fault.no_image("IMAGE_SAFETY")])
def test_gemini_safety_blocks_are_400(live: LiveHub, upstreams: Upstreams, fault: Fault) -> None:
    _, fake = upstreams
    fake.enqueue(fault)
    with pytest.raises(openai.BadRequestError) as caught:
        live.sdk().images.generate(model="gemini-2.5-flash-image", prompt="blocked")
    assert caught.value.code == "content_policy_violation"
    assert len(fake.requests) == 1


def test_gemini_text_only_answer_is_502(live: LiveHub, upstreams: Upstreams) -> None:
    _, fake = upstreams
    fake.enqueue(Fault.no_image("STOP", "I would rather describe it."))
    with pytest.raises(openai.APIStatusError) as caught:
        live.sdk().images.generate(model="gemini-2.5-flash-image", prompt="words only")
    assert caught.value.status_code == 502
    assert isinstance(caught.value.body, dict) and caught.value.body["code"] == "upstream_no_image"


def test_google_invalid_argument_passes_through(live: LiveHub, upstreams: Upstreams) -> None:
    _, fake = upstreams
    fake.enqueue(Fault.status(400))
    with pytest.raises(openai.BadRequestError) as caught:
        live.sdk().images.generate(model="gemini-2.5-flash-image", prompt="bad")
    assert caught.value.code == "invalid_argument"
