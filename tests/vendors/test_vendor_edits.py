"""Edits through `client.images.edit` on vendors that have them: Stability's inpaint service and
Ideogram 3.0's inpaint, multipart with the source image and the mask in the vendor's colours;
and Ideogram 4.0's generate call (`text_prompt`)."""

from __future__ import annotations

import io

import openai
import pytest
from PIL import Image

from tests.images import decode_b64
from tests.payloads import mask_png, png, rgba_png
from tests.vendors.conftest import VendorHub


def _file(data: bytes, name: str = "image.png") -> tuple[str, bytes, str]:
    return (name, data, "image/png")


def _halves(data: bytes) -> tuple[int, int]:
    """A sent mask's value on its left half (transparent in OpenAI's mask) and its right half."""
    with Image.open(io.BytesIO(data)) as mask:
        assert mask.mode == "L", "a greyscale mask, as the vendor reads it"
        return mask.getpixel((1, 1)), mask.getpixel((mask.width - 2, 1))  # type: ignore[return-value]


def test_stability_inpaint_sends_the_image_and_a_white_where_to_paint_mask(vendors: VendorHub) -> None:
    fake = vendors.fakes["stability"]
    source = png(64, 64)
    result = vendors.sdk().images.edit(
        model="stable-image-inpaint",
        image=_file(source),
        mask=_file(mask_png(64, 64), "mask.png"),
        prompt="a window",
        size="64x64",
        response_format="b64_json",
        extra_body={"seed": 5, "negative_prompt": "fog"},
    )
    assert result.data is not None and decode_b64(result.data[0].b64_json or "").size == (64, 64)
    sent = fake.last
    assert sent.path == "/v2beta/stable-image/edit/inpaint"
    assert sent.headers["authorization"] == f"Bearer {fake.api_key}"
    assert sent.headers["content-type"].startswith("multipart/form-data")
    texts = {name: sent.field(name) for name in sent.form or {} if sent.field(name) is not None}
    assert texts == {"prompt": "a window", "output_format": "png", "seed": "5", "negative_prompt": "fog"}
    assert sent.files("image")[0].data == source, "the source image, unchanged"
    assert _halves(sent.files("mask")[0].data) == (255, 0), "white repaints the transparent half"


def test_stability_inpaint_without_a_mask_uses_the_images_transparency(vendors: VendorHub) -> None:
    fake = vendors.fakes["stability"]
    source = rgba_png(64, 64)
    result = vendors.sdk().images.edit(
        model="stable-image-inpaint", image=_file(source), prompt="sky", size="64x64", response_format="url"
    )
    assert result.data is not None and result.data[0].url
    assert fake.last.files("image")[0].data == source and not fake.last.files("mask")


def test_ideogram_inpaint_sends_a_black_where_to_paint_mask(vendors: VendorHub) -> None:
    fake = vendors.fakes["ideogram"]
    result = vendors.sdk().images.edit(
        model="ideogram-v3",
        image=_file(png(1024, 1024)),
        mask=_file(mask_png(1024, 1024), "mask.png"),
        prompt="a neon sign",
        size="1024x1024",
        quality="high",
        n=2,
        response_format="b64_json",
    )
    assert result.data is not None and len(result.data) == 2
    assert all(decode_b64(item.b64_json or "").size == (1024, 1024) for item in result.data)
    (sent,) = fake.requests_to("/v1/ideogram-v3/inpaint")
    assert sent.headers["api-key"] == fake.api_key and "authorization" not in sent.headers
    assert sent.field("prompt") == "a neon sign" and sent.field("num_images") == "2"
    assert sent.field("rendering_speed") == "QUALITY" and sent.field("resolution") is None
    assert _halves(sent.files("mask")[0].data) == (0, 255), "black repaints the transparent half"


def test_ideogram_inpaint_without_a_mask_paints_the_images_transparency(vendors: VendorHub) -> None:
    fake = vendors.fakes["ideogram"]
    vendors.sdk().images.edit(model="ideogram-v3", image=_file(rgba_png(1024, 1024)), prompt="a moon")
    (sent,) = fake.requests_to("/v1/ideogram-v3/inpaint")
    assert _halves(sent.files("mask")[0].data) == (0, 255)


@pytest.mark.parametrize(
    ("model", "image", "size", "words"),
    [
        ("stable-image-inpaint", rgba_png(64, 64), None, "Send size='64x64'"),  # 1024x1024 by default
        ("ideogram-v3", rgba_png(1024, 1024), "1312x736", "Send size='1024x1024'"),  # not the source's
        ("ideogram-v3", rgba_png(1024, 1024), "1000x1000", "1312x736"),  # not one Ideogram makes: listed
    ],
)
def test_an_edit_at_a_size_the_vendor_cannot_make_is_a_400(
    vendors: VendorHub, model: str, image: bytes, size: str | None, words: str
) -> None:
    extra = {"size": size} if size else {}
    with pytest.raises(openai.BadRequestError) as caught:
        vendors.sdk().images.edit(model=model, image=_file(image), prompt="x", **extra)  # type: ignore[arg-type]
    assert isinstance(caught.value.body, dict) and caught.value.body["param"] == "size"
    assert words in caught.value.message
    assert not any(fake.requests for fake in vendors.fakes.values()), "refused before any upstream call"


def test_inpaint_is_an_edit_only_model(vendors: VendorHub) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        vendors.sdk().images.generate(model="stable-image-inpaint", prompt="a castle")
    assert caught.value.code == "model_not_supported" and "/images/edits" in caught.value.message


def test_generate_models_without_edits_are_refused_on_edits(vendors: VendorHub) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        vendors.sdk().images.edit(model="stable-image-ultra", image=_file(png(64, 64)), prompt="x")
    assert caught.value.code == "model_not_supported" and "stable-image-inpaint" in caught.value.message


def test_ideogram_4_sends_text_prompt_and_its_2k_resolution(vendors: VendorHub) -> None:
    fake = vendors.fakes["ideogram"]
    result = vendors.sdk().images.generate(
        model="ideogram-v4", prompt="a poster", size="2560x1440", n=2, response_format="b64_json"
    )
    assert result.data is not None and len(result.data) == 2
    assert decode_b64(result.data[0].b64_json or "").size == (2560, 1440)
    sent = fake.requests_to("/v1/ideogram-v4/generate")
    assert len(sent) == 2, "one image a call: num_images is not verified for 4.0"
    assert sent[0].field("text_prompt") == "a poster" and sent[0].field("resolution") == "2560x1440"
