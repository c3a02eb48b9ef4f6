"""Edits and variations through the official SDK, end to end.

Sandbox keys: the offline engine edits deterministically (tinted input, captioned). Live keys: a
fake OpenAI and a fake Gemini assert the multipart or JSON each receives.
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
from tests.images import decode_b64, open_bytes
from tests.payloads import jpeg, mask_png, png, rgba_png

Upstreams = tuple[FakeOpenAI, FakeGoogle]
# The SDK marks create_variation deprecated (OpenAI retired it upstream); the hub still serves it.
pytestmark = pytest.mark.filterwarnings("ignore:deprecated:DeprecationWarning")
RED = (200, 40, 40)


def data_uri(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64," + base64.b64encode(data).decode()


def edit_json(hub: Hub, key: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(
        f"{hub.url}/api/images/edits", json=body, headers={"Authorization": f"Bearer {key}"}, timeout=60
    )


@pytest.fixture
def live(archive: LiveHub) -> LiveHub:
    """These tests pin the edit wire format of models shut down since: the hub as of 2026-04-01."""
    return archive


# --- sandbox: what clients testing edit flows offline get --------------------------------------------


def test_sdk_edit_one_file_returns_the_input_tinted(sdk: openai.OpenAI) -> None:
    result = sdk.images.edit(model="gpt-image-1", image=("in.png", png(colour=RED)), prompt="bluer")
    assert result.data is not None and len(result.data) == 1 and result.size == "1024x1024"
    image = decode_b64(result.data[0].b64_json or "").convert("RGB")
    assert image.size == (1024, 1024)
    pixel = image.getpixel((900, 300))
    assert isinstance(pixel, tuple) and pixel != RED and pixel[0] > pixel[2], "red input, tinted"


def test_sdk_edit_is_deterministic_and_depends_on_the_input(sdk: openai.OpenAI) -> None:
    def run(colour: tuple[int, int, int]) -> str:
        result = sdk.images.edit(model="gpt-image-1", image=("in.png", png(colour=colour)), prompt="same")
        assert result.data is not None
        return result.data[0].b64_json or ""

    assert run(RED) == run(RED)
    assert run(RED) != run((20, 20, 200))


def test_sdk_edit_list_of_files_and_output_options(sdk: openai.OpenAI) -> None:
    files = [("a.png", png()), ("b.jpg", jpeg(), "image/jpeg"), ("c.png", png(colour=(0, 0, 255)))]
    result = sdk.images.edit(
        model="gpt-image-1.5",
        image=files,  # type: ignore[arg-type]
        prompt="merge",
        n=2,
        size="1536x1024",
        output_format="webp",
        quality="low",
    )
    assert result.data is not None and len(result.data) == 2
    assert result.output_format == "webp" and result.quality == "low" and result.size == "1536x1024"
    first = decode_b64(result.data[0].b64_json or "")
    assert first.format == "WEBP" and first.size == (1536, 1024)


def test_sdk_edit_with_mask_edits_only_transparent_areas(sdk: openai.OpenAI) -> None:
    result = sdk.images.edit(
        model="gpt-image-1", image=("in.png", png(colour=RED)), mask=("m.png", mask_png()), prompt="left"
    )
    assert result.data is not None
    image = decode_b64(result.data[0].b64_json or "").convert("RGB")
    assert image.getpixel((900, 300)) == RED, "opaque in the mask: untouched"
    assert image.getpixel((100, 300)) != RED, "transparent in the mask: edited"


def test_sdk_dall_e_2_edit_uses_the_image_alpha_and_returns_a_url(sdk: openai.OpenAI) -> None:
    result = sdk.images.edit(model="dall-e-2", image=("in.png", rgba_png()), prompt="fill", size="256x256")
    assert result.data is not None and result.data[0].url
    image = open_bytes(httpx.get(result.data[0].url).content).convert("RGB")
    assert image.size == (256, 256)
    assert image.getpixel((230, 100)) == RED, "opaque half kept"
    assert image.getpixel((20, 100)) != (0, 0, 0), "transparent half edited"


def test_sdk_variation(sdk: openai.OpenAI) -> None:
    result = sdk.images.create_variation(
        image=("in.png", png()), n=2, size="512x512", response_format="b64_json"
    )
    assert result.data is not None and len(result.data) == 2
    images = [decode_b64(item.b64_json or "") for item in result.data]
    assert all(image.size == (512, 512) for image in images)
    assert result.data[0].b64_json != result.data[1].b64_json


def test_v1_paths_and_sandbox_header(hub: Hub, keys: Keys) -> None:
    client = openai.OpenAI(base_url=f"{hub.url}/v1", api_key=keys.sandbox, max_retries=0)
    raw = client.images.with_raw_response.edit(model="gpt-image-1-mini", image=("in.png", png()), prompt="v1")
    assert raw.headers["x-imagehub-sandbox"] == "true"
    assert client.images.create_variation(image=("in.png", png())).data


def test_json_edit_with_data_urls(hub: Hub, keys: Keys) -> None:
    response = edit_json(
        hub,
        keys.sandbox,
        {
            "model": "gpt-image-1",
            "prompt": "json",
            "images": [
                {"image_url": data_uri(png(colour=RED))},
                {"image_url": data_uri(jpeg(), "image/jpeg")},
            ],
            "mask": {"image_url": data_uri(mask_png())},
            "response_format": "url",
        },
    )
    assert response.status_code == 200, response.text
    url = response.json()["data"][0]["url"]
    assert open_bytes(httpx.get(url).content).convert("RGB").getpixel((900, 300)) == RED


def test_edits_default_to_gpt_image_1_5(hub: Hub, keys: Keys) -> None:
    response = edit_json(hub, keys.sandbox, {"prompt": "x", "images": [{"image_url": data_uri(png())}]})
    assert response.status_code == 200, response.text
    assert response.json()["output_format"] == "png" and "b64_json" in response.json()["data"][0]


def test_image_field_on_generations_in_the_sandbox(sdk: openai.OpenAI) -> None:
    result = sdk.images.generate(
        model="gemini-2.5-flash-image", prompt="edit me", extra_body={"image": data_uri(png(colour=RED))}
    )
    assert result.data is not None and result.data[0].url


# --- live keys: the exact upstream request ----------------------------------------------------------


def test_gpt_image_edit_multipart_upstream(live: LiveHub, upstreams: Upstreams) -> None:
    fake, _ = upstreams
    sources = [png(colour=RED), png(colour=(0, 0, 255))]
    result = live.sdk().images.edit(
        model="gpt-image-1",
        image=[("a.png", sources[0]), ("b.png", sources[1])],
        mask=("m.png", mask_png()),
        prompt="combine",
        n=2,
        size="1024x1536",
        quality="high",
        input_fidelity="high",
        background="transparent",
        output_format="webp",
        output_compression=70,
        user="u-9",
    )
    sent = fake.last
    assert (sent.method, sent.path) == ("POST", "/v1/images/edits")
    assert sent.headers["content-type"].startswith("multipart/form-data")
    assert [f.data for f in sent.files("image[]")] == sources and sent.files("image") == []
    [mask] = sent.files("mask")
    assert mask.data == mask_png() and mask.content_type == "image/png"
    text = {name: sent.field(name) for name in (sent.form or {}) if sent.field(name) is not None}
    assert text == {
        "model": "gpt-image-1",
        "prompt": "combine",
        "n": "2",
        "size": "1024x1536",
        "quality": "high",
        "input_fidelity": "high",
        "background": "transparent",
        "output_format": "webp",
        "output_compression": "70",
        "user": "u-9",
    }
    assert result.data is not None and len(result.data) == 2 and result.output_format == "webp"


def test_dall_e_2_edit_single_image_and_stored_url(live: LiveHub, upstreams: Upstreams) -> None:
    fake, _ = upstreams
    result = live.sdk().images.edit(
        model="dall-e-2", image=("in.png", rgba_png()), prompt="sky", size="512x512"
    )
    sent = fake.last
    assert sent.path == "/v1/images/edits"
    assert [f.data for f in sent.files("image")] == [rgba_png()] and sent.files("mask") == []
    assert sent.field("response_format") == "b64_json", "the hub asks for bytes and stores them itself"
    assert (sent.field("model"), sent.field("size"), sent.field("n")) == ("dall-e-2", "512x512", "1")
    assert result.data is not None and result.data[0].url and result.data[0].url.startswith(live.hub.url)
    assert httpx.get(result.data[0].url).content == FakeOpenAI.image_for("512x512", "dall-e-2", "sky")


def test_variation_multipart_upstream(live: LiveHub, upstreams: Upstreams) -> None:
    fake, _ = upstreams
    source = png(128, 128)
    result = live.sdk().images.create_variation(
        image=("in.png", source), n=3, size="256x256", response_format="b64_json", user="u-1"
    )
    sent = fake.last
    assert sent.path == "/v1/images/variations"
    assert [f.data for f in sent.files("image")] == [source]
    assert sent.field("prompt") is None and sent.field("quality") is None
    fields = {name: sent.field(name) for name in ("model", "n", "size", "response_format", "user")}
    assert fields == {
        "model": "dall-e-2",
        "n": "3",
        "size": "256x256",
        "response_format": "b64_json",
        "user": "u-1",
    }
    assert result.data is not None and len(result.data) == 3


def test_json_edit_becomes_multipart_upstream(live: LiveHub, upstreams: Upstreams) -> None:
    fake, _ = upstreams
    response = edit_json(
        live.hub,
        live.key,
        {
            "model": "gpt-image-1-mini",
            "prompt": "from json",
            "images": [{"image_url": data_uri(png(colour=RED))}],
            "mask": {"image_url": data_uri(mask_png())},
            "quality": "low",
        },
    )
    assert response.status_code == 200, response.text
    sent = fake.last
    assert [f.data for f in sent.files("image")] == [png(colour=RED)]
    assert [f.data for f in sent.files("mask")] == [mask_png()]
    assert sent.field("quality") == "low" and sent.field("response_format") is None


def test_gemini_edit_sends_inline_data(live: LiveHub, upstreams: Upstreams) -> None:
    _, google = upstreams
    sources = [png(colour=RED), jpeg()]
    result = live.sdk().images.edit(
        model="gemini-2.5-flash-image",
        image=[("a.png", sources[0]), ("b.jpg", sources[1], "image/jpeg")],
        prompt="blend",
        size="1344x768",
    )
    sent = google.last
    assert sent.path.endswith("/models/gemini-2.5-flash-image:generateContent")
    parts = sent.json["contents"][0]["parts"]
    assert parts[0] == {"text": "blend"}
    assert [p["inlineData"]["mimeType"] for p in parts[1:]] == ["image/png", "image/jpeg"]
    assert [base64.b64decode(p["inlineData"]["data"]) for p in parts[1:]] == sources
    assert sent.json["generationConfig"]["imageConfig"]["aspectRatio"] == "16:9"
    assert result.data is not None and result.data[0].url


def test_refused_edits_never_reach_upstream(live: LiveHub, upstreams: Upstreams) -> None:
    fake, google = upstreams
    client = live.sdk()
    cases: list[dict[str, Any]] = [
        {"model": "gemini-2.5-flash-image", "image": ("a.png", png()), "mask": ("m.png", mask_png())},
        {"model": "dall-e-2", "image": ("a.png", png(64, 32, mode="RGBA"))},
        {"model": "gpt-image-1", "image": ("a.png", b"GIF89a not really")},
        {"model": "dall-e-3", "image": ("a.png", png())},
    ]
    for case in cases:
        with pytest.raises(openai.BadRequestError):
            client.images.edit(prompt="no", **case)
    with pytest.raises(openai.BadRequestError):
        client.images.create_variation(image=("a.png", jpeg(64, 64)))
    assert fake.requests == [] and google.requests == []
