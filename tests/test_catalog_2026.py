"""The 2026 catalog through the SDK: gpt-image-2's size rule, chatgpt-image-latest, Gemini's 1K/2K/4K
tables, the deprecated aliases, OpenAI's default-model rule, output_compression 100 and usage.

Upstream request bodies are asserted at the fake upstreams; the sandbox covers what needs none.
"""

from __future__ import annotations

import base64
from typing import Any

import httpx
import openai
import pytest

from tests.conftest import Keys, LiveHub
from tests.fakes import FakeGoogle, FakeOpenAI
from tests.hub import Hub
from tests.images import decode_b64, tiny_png
from tests.payloads import png

Upstreams = tuple[FakeOpenAI, FakeGoogle]


def _usage_shape(usage: Any) -> None:
    assert usage is not None
    details = usage.input_tokens_details
    assert usage.input_tokens == details.text_tokens + details.image_tokens
    assert usage.total_tokens == usage.input_tokens + usage.output_tokens


# -- gpt-image-2 -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "pixels"), [("1280x720", (1280, 720)), ("1024x640", (1024, 640)), ("auto", (1024, 1024))]
)
def test_gpt_image_2_draws_free_sizes(sdk: openai.OpenAI, size: str, pixels: tuple[int, int]) -> None:
    result = sdk.images.generate(model="gpt-image-2", prompt="a wide harbour", size=size, quality="low")
    assert result.data is not None and result.data[0].b64_json
    assert decode_b64(result.data[0].b64_json).size == pixels
    assert result.size == f"{pixels[0]}x{pixels[1]}"  # type: ignore[comparison-overlap]
    assert result.quality == "low"


@pytest.mark.parametrize(
    ("size", "words"),
    [
        ("1000x1000", "multiple of 16"),
        ("3840x1024", "aspect ratio"),
        ("640x640", "655,360"),
        ("4096x2048", "3840"),
    ],
)
def test_gpt_image_2_refuses_sizes_naming_the_rule(sdk: openai.OpenAI, size: str, words: str) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.images.generate(model="gpt-image-2", prompt="x", size=size)
    assert caught.value.param == "size" and caught.value.code == "invalid_value"
    assert words in caught.value.message and "1:3 and 3:1" in caught.value.message


def test_gpt_image_2_size_reaches_openai_and_usage_comes_back(live: LiveHub, upstreams: Upstreams) -> None:
    fake, _ = upstreams
    result = live.sdk().images.generate(
        model="gpt-image-2", prompt="poster", size="2048x1152", quality="high"
    )
    sent = fake.last
    assert sent is not None and sent.path == "/v1/images/generations"
    assert sent.json == {
        "model": "gpt-image-2",
        "prompt": "poster",
        "n": 1,
        "size": "2048x1152",
        "quality": "high",
        "output_format": "png",
    }
    _usage_shape(result.usage)
    assert result.usage is not None and result.usage.output_tokens_details is not None
    assert result.usage.output_tokens_details.image_tokens == 7024


def test_gpt_image_2_snapshot_is_sent_by_its_own_name(live: LiveHub, upstreams: Upstreams) -> None:
    fake, _ = upstreams
    live.sdk().images.generate(model="gpt-image-2-2026-04-21", prompt="dated", size="1536x864")
    assert fake.last is not None and fake.last.json["model"] == "gpt-image-2-2026-04-21"
    assert fake.last.json["size"] == "1536x864"


def test_gpt_image_2_edit_with_input_fidelity(live: LiveHub, upstreams: Upstreams) -> None:
    fake, _ = upstreams
    result = live.sdk().images.edit(
        model="gpt-image-2",
        image=("a.png", png(width=96, height=64), "image/png"),
        prompt="keep the face",
        input_fidelity="high",
        size="1536x1024",
    )
    sent = fake.last
    assert sent is not None and sent.path == "/v1/images/edits"
    assert sent.field("input_fidelity") == "high" and sent.field("model") == "gpt-image-2"
    assert result.data is not None and result.data[0].b64_json


# -- chatgpt-image-latest -------------------------------------------------------------------------


def test_chatgpt_image_latest_is_served_by_its_successor(live: LiveHub, upstreams: Upstreams) -> None:
    """Shut down on 2026-12-01: gpt-image-2.6-sunburst serves it, generations and edits alike."""
    fake, _ = upstreams
    made = live.sdk().images.generate(model="chatgpt-image-latest", prompt="ok", size="1024x1536")
    assert made.data is not None and decode_b64(made.data[0].b64_json or "").size == (1024, 1536)
    assert fake.last is not None and fake.last.json["model"] == "gpt-image-2.6-sunburst"
    assert "response_format" not in fake.last.json, "GPT image models reject it upstream"
    live.sdk().images.edit(
        model="chatgpt-image-latest", image=("a.png", png(), "image/png"), prompt="blue", input_fidelity="low"
    )
    assert fake.last.path == "/v1/images/edits" and fake.last.field("model") == "gpt-image-2.6-sunburst"


# -- sandbox usage ------------------------------------------------------------------------------


def test_sandbox_reports_deterministic_usage(sdk: openai.OpenAI) -> None:
    first = sdk.images.generate(model="gpt-image-2", prompt="count my tokens", quality="high", n=2)
    again = sdk.images.generate(model="gpt-image-2", prompt="count my tokens", quality="high", n=2)
    _usage_shape(first.usage)
    assert first.usage == again.usage
    assert first.usage is not None and first.usage.output_tokens == 2 * 7024
    assert first.usage.output_tokens_details is not None
    assert first.usage.output_tokens_details.image_tokens == first.usage.output_tokens


def test_sandbox_usage_counts_input_images(sdk: openai.OpenAI) -> None:
    result = sdk.images.edit(
        model="gpt-image-2", image=("a.png", png(), "image/png"), prompt="tint", quality="low"
    )
    _usage_shape(result.usage)
    assert result.usage is not None and result.usage.input_tokens_details.image_tokens > 0


def test_dall_e_responses_carry_no_usage(sdk: openai.OpenAI) -> None:
    assert sdk.images.generate(model="dall-e-3", prompt="x").usage is None


# -- OpenAI's default-model rule ------------------------------------------------------------------


@pytest.mark.parametrize(
    "fields",
    [
        {"output_format": "webp"},
        {"background": "transparent"},
        {"moderation": "low"},
        {"output_compression": 100},
        {"partial_images": 0},
    ],
    ids=lambda fields: next(iter(fields)),
)
def test_gpt_only_field_without_model_gets_the_gpt_image_default(
    http: httpx.Client, keys: Keys, fields: dict[str, Any]
) -> None:
    response = http.post(
        "/api/images/generations",
        json={"prompt": "no model given", **fields},
        headers={"Authorization": f"Bearer {keys.sandbox}"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert "b64_json" in body["data"][0], "gpt-image-1.5 answers base64 by default"
    assert body["output_format"] == fields.get("output_format", "png") and "usage" in body


def test_without_model_or_gpt_fields_the_default_stays_dall_e_2(sdk: openai.OpenAI) -> None:
    result = sdk.images.generate(prompt="plain", size="256x256")
    assert result.data is not None and result.data[0].url and result.usage is None


# -- output_compression 100 ---------------------------------------------------------------------


@pytest.mark.parametrize("output_format", [None, "png"])
def test_compression_100_with_png_on_generations(sdk: openai.OpenAI, output_format: str | None) -> None:
    extra = {"output_format": output_format} if output_format else {}
    result = sdk.images.generate(model="gpt-image-1", prompt="x", output_compression=100, **extra)  # type: ignore[arg-type]
    assert result.output_format == "png"


def test_compression_100_on_edits_multipart_and_json(hub: Hub, sdk: openai.OpenAI, keys: Keys) -> None:
    edited = sdk.images.edit(
        model="gpt-image-1", image=("a.png", png(), "image/png"), prompt="x", output_compression=100
    )
    assert edited.output_format == "png"
    data_url = "data:image/png;base64," + base64.b64encode(tiny_png()).decode()
    response = httpx.post(
        f"{hub.url}/api/images/edits",
        json={
            "images": [{"image_url": data_url}],
            "prompt": "x",
            "output_compression": 100,
            "output_format": "png",
        },
        headers={"Authorization": f"Bearer {keys.sandbox}"},
        timeout=60,
    )
    assert response.status_code == 200, response.text


def test_compression_below_100_with_png_is_still_refused(sdk: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.images.generate(model="gpt-image-1", prompt="x", output_compression=99)
    assert caught.value.param == "output_compression"


# -- Gemini ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "size", "ratio", "tier"),
    [
        ("gemini-3.1-flash-image", "1024x1024", "1:1", "1K"),
        ("gemini-3.1-flash-image", "2752x1536", "16:9", "2K"),
        ("gemini-3.1-flash-image", "512x2048", "1:4", "1K"),
        ("gemini-3.1-flash-image", "6144x768", "8:1", "2K"),
        ("gemini-3.1-flash-image", "12288x1536", "8:1", "4K"),
        ("gemini-3-pro-image", "1584x672", "21:9", "1K"),
        ("gemini-3-pro-image", "1696x2528", "2:3", "2K"),
        ("gemini-3-pro-image", "6336x2688", "21:9", "4K"),
        ("gemini-nano-banana-2.1", "2752x1536", "16:9", "2K"),
        ("gemini-nano-banana-2.1", "2048x8192", "1:4", "4K"),
        ("gemini-3.1-flash-lite-image", "1264x848", "3:2", "1K"),
    ],
)
def test_gemini_sizes_become_aspect_ratio_and_image_size(
    live: LiveHub, upstreams: Upstreams, model: str, size: str, ratio: str, tier: str
) -> None:
    _, fake = upstreams
    result = live.sdk().images.generate(model=model, prompt="tiers", size=size, response_format="b64_json")
    sent = fake.last
    assert sent is not None and sent.path == f"/v1beta/models/{model}:generateContent"
    assert sent.json["generationConfig"]["imageConfig"] == {"aspectRatio": ratio, "imageSize": tier}
    assert result.data is not None
    width, height = (int(side) for side in size.split("x"))
    assert decode_b64(result.data[0].b64_json or "").size == (width, height)


def test_gemini_25_is_served_by_its_successor_at_the_asked_size(live: LiveHub, upstreams: Upstreams) -> None:
    """Listed for shutdown on 2026-10-02: the same ratio's 1K size on gemini-3.1-flash-image."""
    _, fake = upstreams
    raw = live.sdk().images.with_raw_response.generate(
        model="gemini-2.5-flash-image", prompt="1K only", size="1344x768", response_format="b64_json"
    )
    assert fake.last is not None and fake.last.path.endswith("/gemini-3.1-flash-image:generateContent")
    assert fake.last.json["generationConfig"]["imageConfig"] == {"aspectRatio": "16:9", "imageSize": "1K"}
    assert raw.headers["x-imagehub-model"] == "gemini-3.1-flash-image"
    assert decode_b64(raw.parse().data[0].b64_json or "").size == (1344, 768)  # type: ignore[index]


def test_sandbox_draws_the_extreme_ratios(sdk: openai.OpenAI) -> None:
    result = sdk.images.generate(
        model="gemini-3.1-flash-image", prompt="banner", size="3072x384", response_format="b64_json"
    )
    assert result.data is not None and decode_b64(result.data[0].b64_json or "").size == (3072, 384)


# -- deprecated aliases ---------------------------------------------------------------------------


def test_preview_name_is_served_by_the_ga_model_with_deprecation_headers(
    live: LiveHub, upstreams: Upstreams
) -> None:
    _, fake = upstreams
    raw = live.sdk().images.with_raw_response.generate(
        model="gemini-3-pro-image-preview", prompt="old name", size="2048x2048", response_format="b64_json"
    )
    assert fake.last is not None and fake.last.path == "/v1beta/models/gemini-3-pro-image:generateContent"
    assert fake.last.json["generationConfig"]["imageConfig"] == {"aspectRatio": "1:1", "imageSize": "2K"}
    assert raw.headers["deprecation"] == "@1779926400"  # announced 2026-05-28
    assert raw.headers["sunset"] == "Thu, 25 Jun 2026 00:00:00 GMT"
    assert raw.headers["x-imagehub-model"] == "gemini-3-pro-image"
    assert raw.parse().data is not None


@pytest.mark.parametrize(
    ("alias", "target", "size", "ratio", "pixels"),
    [
        ("imagen-4.0-generate-001", "gemini-nano-banana-2.1", "1408x768", "16:9", (1376, 768)),
        ("imagen-4.0-fast-generate-001", "gemini-nano-banana-2.1", "896x1280", "3:4", (896, 1200)),
        ("imagen-4.0-ultra-generate-001", "gemini-3-pro-image", "1024x1024", "1:1", (1024, 1024)),
    ],
)
def test_imagen_is_routed_to_its_successor(
    live: LiveHub,
    upstreams: Upstreams,
    alias: str,
    target: str,
    size: str,
    ratio: str,
    pixels: tuple[int, int],
) -> None:
    _, fake = upstreams
    raw = live.sdk().images.with_raw_response.generate(
        model=alias, prompt="a lake", size=size, n=2, response_format="b64_json"
    )
    assert [r.path for r in fake.requests] == [f"/v1beta/models/{target}:generateContent"] * 2
    assert fake.last is not None
    assert fake.last.json["generationConfig"]["imageConfig"] == {"aspectRatio": ratio, "imageSize": "1K"}
    assert raw.headers["deprecation"] == "@1781481600"  # announced 2026-06-15
    assert raw.headers["sunset"] == "Mon, 17 Aug 2026 00:00:00 GMT"
    assert raw.headers["x-imagehub-model"] == target
    result = raw.parse()
    assert result.data is not None and decode_b64(result.data[0].b64_json or "").size == pixels
    assert f"deprecated model '{alias}'" in live.hub.log()


def test_current_models_carry_no_deprecation_header(sdk: openai.OpenAI) -> None:
    raw = sdk.images.with_raw_response.generate(model="gemini-nano-banana-2.1", prompt="new")
    assert "deprecation" not in raw.headers and "x-imagehub-model" not in raw.headers


def test_a_deprecated_model_still_served_says_so(sdk: openai.OpenAI) -> None:
    """gemini-3.1-flash-image: deprecated 2026-10-06, no shutdown date: served, with a notice."""
    raw = sdk.images.with_raw_response.generate(model="gemini-3.1-flash-image", prompt="old")
    assert raw.headers["deprecation"] == "@1791244800"  # 2026-10-06
    assert raw.headers["x-imagehub-model"] == "gemini-3.1-flash-image" and "sunset" not in raw.headers


def test_sandbox_image_of_the_alias_is_real(sdk: openai.OpenAI) -> None:
    result = sdk.images.generate(model="imagen-4.0-generate-001", prompt="fox", response_format="b64_json")
    assert result.data is not None
    assert decode_b64(result.data[0].b64_json or "").size == (1024, 1024)
