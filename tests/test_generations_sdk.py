"""The official openai SDK against a real hub, for every model the sandbox serves."""

from __future__ import annotations

import base64

import httpx
import openai
import pytest

from imagehub.catalog import load_catalog
from tests.conftest import Keys
from tests.hub import Hub
from tests.images import decode_b64, open_bytes, tiny_png

CATALOG = load_catalog()


#: Pillow's name for each raster output format; a model whose default output is not raster
#: (Recraft's SVG models) is left out of the checks that decode the image, and an edit-only one
#: (stable-image-inpaint, tests/vendors/test_vendor_edits.py) of the generation checks.
PIL_FORMATS = {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}
RASTER = [spec for spec in CATALOG if spec.output_formats[0] in PIL_FORMATS and spec.generates]


def _each_model_and_size() -> list[tuple[str, str]]:
    return [(spec.name, size) for spec in RASTER for size in spec.sizes]


@pytest.mark.parametrize(("model", "size"), _each_model_and_size())
def test_every_catalog_model_and_size_as_b64(sdk: openai.OpenAI, model: str, size: str) -> None:
    spec = CATALOG.get(model)
    assert spec is not None
    result = sdk.images.generate(
        model=model,
        prompt=f"a lighthouse for {model}",
        size=size,  # type: ignore[arg-type]
        response_format="b64_json",
    )
    assert result.data is not None and len(result.data) == 1
    item = result.data[0]
    assert item.url is None and item.b64_json
    image = decode_b64(item.b64_json)
    assert image.size == spec.pixel_size(size)
    assert image.format == PIL_FORMATS[spec.output_formats[0]]  # the model's default output


@pytest.mark.parametrize("model", [spec.name for spec in RASTER])
def test_every_catalog_model_as_url(sdk: openai.OpenAI, hub: Hub, model: str) -> None:
    result = sdk.images.generate(model=model, prompt="a red bicycle", response_format="url")
    assert result.data is not None
    url = result.data[0].url
    assert url is not None and url.startswith(f"{hub.url}/api/images/files/")
    assert result.data[0].b64_json is None
    fetched = httpx.get(url)  # no API key: signed URLs are public until they expire
    assert fetched.status_code == 200
    spec = CATALOG.get(model)
    assert spec is not None
    assert fetched.headers["content-type"] == f"image/{spec.output_formats[0]}"
    assert open_bytes(fetched.content).size == spec.pixel_size(spec.default_size)


def test_raw_json_has_only_the_requested_field(hub: Hub, keys: Keys) -> None:
    headers = {"Authorization": f"Bearer {keys.sandbox}"}
    for fmt, present, absent in (("url", "url", "b64_json"), ("b64_json", "b64_json", "url")):
        body = httpx.post(
            f"{hub.url}/api/images/generations",
            headers=headers,
            json={"prompt": "a kite", "response_format": fmt},
            timeout=60,
        ).json()
        assert set(body) == {"created", "data"}
        assert present in body["data"][0] and absent not in body["data"][0]
        assert "revised_prompt" not in body["data"][0]


def test_v1_base_url_works_too(hub: Hub, keys: Keys) -> None:
    client = openai.OpenAI(base_url=f"{hub.url}/v1", api_key=keys.sandbox, max_retries=0)
    result = client.images.generate(prompt="a tiny boat", size="256x256", response_format="b64_json")
    assert result.data is not None
    assert decode_b64(result.data[0].b64_json or "").size == (256, 256)


def test_n_images_are_distinct_and_deterministic(sdk: openai.OpenAI) -> None:
    def run() -> list[str]:
        result = sdk.images.generate(prompt="three owls", n=3, size="256x256", response_format="b64_json")
        assert result.data is not None
        return [item.b64_json or "" for item in result.data]

    first, second = run(), run()
    assert len(first) == 3 and len(set(first)) == 3, "each image of a request differs"
    assert first == second, "the same request gives the same bytes"
    other = sdk.images.generate(prompt="three cats", n=3, size="256x256", response_format="b64_json")
    assert other.data is not None and other.data[0].b64_json != first[0]


def test_sandbox_is_labelled_in_a_header(sdk: openai.OpenAI) -> None:
    raw = sdk.images.with_raw_response.generate(prompt="labelled", size="256x256")
    assert raw.headers["x-imagehub-sandbox"] == "true"
    assert raw.headers["x-imagehub-provider"] == "sandbox"


def test_dall_e_3_keeps_its_size_and_has_no_revised_prompt_from_its_successor(sdk: openai.OpenAI) -> None:
    """Shut down 2026-05-12: gpt-image-2.5-sunburst draws it and revises no prompt."""
    result = sdk.images.generate(
        model="dall-e-3",
        prompt="a quiet harbour",
        quality="hd",
        style="natural",
        size="1024x1792",
        response_format="b64_json",
    )
    assert result.data is not None
    assert result.data[0].revised_prompt is None
    assert decode_b64(result.data[0].b64_json or "").size == (1024, 1792)


def test_gpt_image_defaults_to_b64_and_echoes_its_parameters(sdk: openai.OpenAI) -> None:
    result = sdk.images.generate(model="gpt-image-1", prompt="a paper crane", quality="low")
    assert result.data is not None and result.data[0].b64_json and result.data[0].url is None
    assert result.size == "1024x1024"
    assert result.quality == "low"
    assert result.output_format == "png"
    assert result.background == "opaque"


@pytest.mark.parametrize(
    ("output_format", "pil_format"), [("png", "PNG"), ("jpeg", "JPEG"), ("webp", "WEBP")]
)
def test_gpt_image_output_formats(sdk: openai.OpenAI, output_format: str, pil_format: str) -> None:
    kwargs = {"output_compression": 50} if output_format != "png" else {}
    result = sdk.images.generate(
        model="gpt-image-1-mini", prompt="formats", size="1536x1024", output_format=output_format, **kwargs
    )  # type: ignore[arg-type]
    assert result.data is not None
    image = decode_b64(result.data[0].b64_json or "")
    assert image.format == pil_format and image.size == (1536, 1024)
    assert result.output_format == output_format


def test_gpt_image_transparent_background_has_alpha(sdk: openai.OpenAI) -> None:
    result = sdk.images.generate(
        model="gpt-image-1.5",
        prompt="a sticker",
        background="transparent",
        output_format="png",
        moderation="low",
        user="tester-1",
    )
    assert result.data is not None and result.background == "transparent"
    image = decode_b64(result.data[0].b64_json or "")
    assert image.mode == "RGBA"
    assert image.getextrema()[3][0] < 255


def test_gpt_image_honours_url(sdk: openai.OpenAI) -> None:
    result = sdk.images.generate(
        model="gpt-image-1", prompt="stored for me", response_format="url", output_format="webp"
    )
    assert result.data is not None and result.data[0].url
    fetched = httpx.get(result.data[0].url)
    assert fetched.headers["content-type"] == "image/webp"
    assert open_bytes(fetched.content).format == "WEBP"


def test_sandbox_edit_uses_the_input_image(sdk: openai.OpenAI) -> None:
    source = base64.b64encode(tiny_png(colour=(255, 0, 0))).decode()
    result = sdk.images.generate(
        model="gpt-image-1", prompt="make it blue", size="1024x1024", extra_body={"image": source}
    )
    assert result.data is not None
    edited = decode_b64(result.data[0].b64_json or "").convert("RGB")
    red, _, _ = edited.getpixel((512, 300))  # type: ignore[misc]
    assert red > 120, "the tinted source image shows through"


def test_live_key_without_a_provider_gets_403_not_retried(hub: Hub, keys: Keys) -> None:
    """403, not 503: the SDK would retry a 503 three times, and nothing changes until the operator acts."""
    client = openai.OpenAI(base_url=f"{hub.url}/api", api_key=keys.live, max_retries=3)
    with pytest.raises(openai.PermissionDeniedError) as caught:
        client.images.generate(model="dall-e-3", prompt="no provider")
    assert caught.value.status_code == 403
    assert caught.value.response.request.headers.get("x-stainless-retry-count") == "0", "no retry"
    body = caught.value.body
    assert isinstance(body, dict)
    assert "dall-e-3" in body["message"] and body["code"] == "model_not_available"
    assert "OPENAI_API_KEY" in body["message"] and "IMAGEHUB_CONFIG_FILE" in body["message"]
