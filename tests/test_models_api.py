"""The Models API (`models.list`, `models.retrieve`), model errors with "did you mean", and HEAD on
image URLs, through the official SDK and plain HTTP."""

from __future__ import annotations

import calendar
from datetime import date

import httpx
import openai
import pytest

from tests.conftest import Keys, LiveHub
from tests.hub import Hub


def _day(text: str) -> int:
    return calendar.timegm(date.fromisoformat(text).timetuple())


def test_retrieve_gives_openai_fields_and_the_hub_extension(sdk: openai.OpenAI) -> None:
    model = sdk.models.retrieve("gpt-image-2")
    assert (model.id, model.object, model.owned_by) == ("gpt-image-2", "model", "imagehub-sandbox")
    assert model.created == _day("2026-04-21")
    extension = (model.model_extra or {})["imagehub"]
    assert extension["available"] is True
    assert "multiple of 16" in extension["size_rule"] and "auto" in extension["sizes"]
    assert extension["max_n"] == 10 and extension["qualities"] == ["low", "medium", "high", "auto"]
    assert extension["edits"]["edits_endpoint"] is True and extension["edits"]["input_fidelity"] is True
    price = extension["price"]
    assert price["per_image"]["high/1024x1024"] == 211000 and price["per_token"]["output"] == 30


def test_retrieve_gemini_shows_its_size_tables(sdk: openai.OpenAI) -> None:
    extension = (sdk.models.retrieve("gemini-3.1-flash-image").model_extra or {})["imagehub"]
    assert extension["aspect_ratios"]["3072x384"] == "8:1"
    assert extension["image_sizes"]["2752x1536"] == "2K"
    assert extension["price"]["per_image"]["*/4K"] == 151000


def test_retrieve_a_deprecated_alias(sdk: openai.OpenAI) -> None:
    model = sdk.models.retrieve("imagen-4.0-generate-001")
    assert model.id == "imagen-4.0-generate-001"
    assert model.shutdown_date == "2026-08-17"
    extension = (model.model_extra or {})["imagehub"]
    assert extension["deprecated"] is True and extension["alias_of"] == "gemini-nano-banana-2.1"
    assert extension["upstream_shutdown"] == _day("2026-08-17")


def test_retrieve_a_snapshot_and_a_pinned_name(sdk: openai.OpenAI) -> None:
    snapshot = sdk.models.retrieve("gpt-image-2-2026-04-21")
    assert (snapshot.model_extra or {})["imagehub"]["snapshot_of"] == "gpt-image-2"
    assert sdk.models.retrieve("openai/dall-e-3").id == "openai/dall-e-3"


@pytest.mark.parametrize(
    ("name", "guess"),
    [
        ("DALL-E-3", "dall-e-3"),
        ("dalle3", "dall-e-3"),
        ("gpt-image2", "gpt-image-2"),
        ("Gemini-3-Pro-Image", "gemini-3-pro-image"),
        ("gemini-3.1-flash-imag", "gemini-3.1-flash-image"),
    ],
)
def test_unknown_model_is_404_with_did_you_mean(sdk: openai.OpenAI, name: str, guess: str) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        sdk.images.generate(model=name, prompt="x")
    assert caught.value.code == "model_not_found" and caught.value.param == "model"
    assert f"Did you mean '{guess}'?" in caught.value.message
    with pytest.raises(openai.NotFoundError) as retrieved:
        sdk.models.retrieve(name)
    assert f"Did you mean '{guess}'?" in retrieved.value.message


def test_unknown_model_with_nothing_close_makes_no_guess(sdk: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        sdk.images.generate(model="totally-unknown-thing", prompt="x")
    assert "Did you mean" not in caught.value.message
    body = caught.value.body
    assert isinstance(body, dict) and set(body) == {"message", "type", "param", "code"}
    assert body == {
        "message": body["message"],
        "type": "invalid_request_error",
        "param": "model",
        "code": "model_not_found",
    }


def test_list_has_created_and_extension_and_aliases(sdk: openai.OpenAI) -> None:
    models = {model.id: model for model in sdk.models.list()}
    assert {"gpt-image-2", "chatgpt-image-latest", "gemini-3-pro-image", "imagen-4.0-generate-001"} <= set(
        models
    )
    assert all(model.created > 0 for model in models.values())
    assert all("imagehub" in (model.model_extra or {}) for model in models.values())
    assert models["gemini-3-pro-image-preview"].shutdown_date == "2026-06-25"


def test_live_key_sees_availability(hub: Hub, keys: Keys, live: LiveHub) -> None:
    unconfigured = openai.OpenAI(base_url=f"{hub.url}/v1", api_key=keys.live, max_retries=0)
    model = unconfigured.models.retrieve("dall-e-3")
    assert (model.model_extra or {})["imagehub"]["available"] is False and model.owned_by == "openai"
    assert [m.id for m in unconfigured.models.list()] == []
    configured = live.sdk().models.retrieve("gemini-3-pro-image-preview")
    assert configured.owned_by == "google" and (configured.model_extra or {})["imagehub"]["available"] is True


def test_head_on_an_image_url_answers_like_get(sdk: openai.OpenAI) -> None:
    result = sdk.images.generate(model="dall-e-2", prompt="head", size="256x256")
    assert result.data is not None and result.data[0].url
    url = result.data[0].url
    got, head = httpx.get(url), httpx.head(url)
    assert head.status_code == got.status_code == 200
    assert head.content == b""
    assert head.headers["content-length"] == str(len(got.content))
    for name in ("content-type", "etag", "accept-ranges"):
        assert head.headers[name] == got.headers[name]
    ranged = httpx.head(url, headers={"Range": "bytes=0-9"})
    assert ranged.status_code == 206 and ranged.headers["content-length"] == "10"
    assert ranged.headers["content-range"] == f"bytes 0-9/{len(got.content)}"
    assert httpx.head(url.replace("signature=", "signature=0")).status_code == 403
