"""Live keys through the OpenAI adapter: the exact upstream request, and identical results."""

from __future__ import annotations

import base64

import httpx
import openai
import pytest

from tests.conftest import LiveHub
from tests.fakes import FakeGoogle, FakeOpenAI, Fault
from tests.images import open_bytes

Upstreams = tuple[FakeOpenAI, FakeGoogle]


@pytest.fixture
def live(archive: LiveHub) -> LiveHub:
    """These tests pin the wire format of models shut down since: the hub as of 2026-04-01."""
    return archive


def test_dall_e_3_request_is_forwarded_exactly(live: LiveHub, upstreams: Upstreams) -> None:
    fake, _ = upstreams
    result = live.sdk().images.generate(
        model="dall-e-3",
        prompt="a harbour",
        size="1792x1024",
        quality="hd",
        style="natural",
        response_format="b64_json",
        user="u-1",
    )
    sent = fake.last
    assert sent is not None
    assert (sent.method, sent.path) == ("POST", "/v1/images/generations")
    assert sent.headers["authorization"] == f"Bearer {fake.api_key}"
    assert sent.headers["content-type"] == "application/json"
    assert sent.json == {
        "model": "dall-e-3",
        "prompt": "a harbour",
        "n": 1,
        "size": "1792x1024",
        "quality": "hd",
        "style": "natural",
        "user": "u-1",
        "response_format": "b64_json",
    }
    assert result.data is not None
    assert result.data[0].revised_prompt == "revised: a harbour"
    assert base64.b64decode(result.data[0].b64_json or "") == FakeOpenAI.image_for(
        "1792x1024", "dall-e-3", "a harbour"
    )


def test_dall_e_2_url_is_stored_by_the_hub(live: LiveHub, upstreams: Upstreams) -> None:
    fake, _ = upstreams
    result = live.sdk().images.generate(prompt="two cats", n=2, size="512x512")
    sent = fake.last
    assert sent is not None and sent.json is not None
    assert sent.json["response_format"] == "b64_json", "the hub asks for bytes and stores them itself"
    assert sent.json["n"] == 2 and len(fake.requests) == 1, "one upstream call per image set"
    assert result.data is not None and len(result.data) == 2
    for index, item in enumerate(result.data):
        assert item.url and item.url.startswith(live.hub.url)
        fetched = httpx.get(item.url)
        assert fetched.content == FakeOpenAI.image_for("512x512", "dall-e-2", "two cats", index)


def test_gpt_image_fields_and_echo(live: LiveHub, upstreams: Upstreams) -> None:
    fake, _ = upstreams
    result = live.sdk().images.generate(
        model="gpt-image-1",
        prompt="a sticker",
        size="1024x1536",
        quality="high",
        background="transparent",
        output_format="webp",
        output_compression=80,
        moderation="low",
    )
    sent = fake.last
    assert sent is not None
    assert sent.json == {
        "model": "gpt-image-1",
        "prompt": "a sticker",
        "n": 1,
        "size": "1024x1536",
        "quality": "high",
        "background": "transparent",
        "output_format": "webp",
        "output_compression": 80,
        "moderation": "low",
    }
    assert "response_format" not in sent.json, "OpenAI rejects response_format for GPT image models"
    assert result.output_format == "webp" and result.quality == "high" and result.size == "1024x1536"
    assert result.usage is not None and result.usage.output_tokens == 4160
    assert result.data is not None and result.data[0].b64_json


def test_gpt_image_url_is_served_with_the_upstream_format(live: LiveHub, upstreams: Upstreams) -> None:
    result = live.sdk().images.generate(
        model="gpt-image-1-mini", prompt="jpeg please", output_format="jpeg", response_format="url"
    )
    assert result.data is not None and result.data[0].url
    fetched = httpx.get(result.data[0].url)
    assert fetched.headers["content-type"] == "image/jpeg"
    assert open_bytes(fetched.content).format == "JPEG"


def test_identical_to_calling_upstream_directly(live: LiveHub, upstreams: Upstreams) -> None:
    fake, _ = upstreams
    direct = openai.OpenAI(base_url=f"{fake.url}/v1", api_key=fake.api_key, max_retries=0)
    kwargs = {
        "model": "dall-e-2",
        "prompt": "same bytes",
        "n": 3,
        "size": "256x256",
        "response_format": "b64_json",
    }
    through_hub = live.sdk().images.generate(**kwargs)  # type: ignore[arg-type]
    straight = direct.images.generate(**kwargs)  # type: ignore[arg-type]
    assert through_hub.data is not None and straight.data is not None
    assert [i.b64_json for i in through_hub.data] == [i.b64_json for i in straight.data]


def test_pinned_provider_and_models_list(live: LiveHub, upstreams: Upstreams) -> None:
    result = live.sdk().images.generate(
        model="openai/dall-e-2", prompt="pinned", size="256x256", response_format="b64_json"
    )
    assert result.data is not None
    listed = {model.id: model.owned_by for model in live.sdk().models.list()}
    assert listed["dall-e-3"] == "openai" and listed["gemini-2.5-flash-image"] == "google"
    with pytest.raises(openai.NotFoundError) as caught:
        live.sdk().images.generate(model="google/dall-e-3", prompt="wrong pin")
    assert caught.value.code == "model_not_found"
    assert "Did you mean 'openai/dall-e-3'?" in caught.value.message


def test_content_policy_passes_through_as_400(live: LiveHub, upstreams: Upstreams) -> None:
    fake, _ = upstreams
    fake.enqueue(Fault.content_policy())
    with pytest.raises(openai.BadRequestError) as caught:
        live.sdk().images.generate(model="dall-e-3", prompt="something disallowed")
    assert caught.value.code == "content_policy_violation"
    assert len(fake.requests) == 1, "a 4xx the client caused is never retried"


def test_gpt_image_moderation_block_passes_through(live: LiveHub, upstreams: Upstreams) -> None:
    fake, _ = upstreams
    fake.enqueue(Fault.content_policy())
    with pytest.raises(openai.BadRequestError) as caught:
        live.sdk().images.generate(model="gpt-image-1", prompt="something disallowed")
    assert caught.value.code == "moderation_blocked"
    body = caught.value.body
    assert isinstance(body, dict) and body["type"] == "image_generation_user_error"


def test_edit_goes_multipart_to_edits(live: LiveHub, upstreams: Upstreams) -> None:
    fake, _ = upstreams
    from tests.images import tiny_png

    sources = [base64.b64encode(tiny_png(colour=c)).decode() for c in ((255, 0, 0), (0, 0, 255))]
    result = live.sdk().images.generate(
        model="gpt-image-1", prompt="merge them", size="1024x1024", extra_body={"image": sources}
    )
    sent = fake.last
    assert sent is not None and sent.path == "/v1/images/edits" and sent.form is not None
    files = sent.files("image[]")
    assert [f.data for f in files] == [base64.b64decode(s) for s in sources]
    assert all(f.content_type == "image/png" for f in files)
    assert sent.field("prompt") == "merge them" and sent.field("model") == "gpt-image-1"
    assert result.data is not None and result.data[0].b64_json


def test_provider_key_never_leaks(live: LiveHub, upstreams: Upstreams) -> None:
    fake, _ = upstreams
    fake.enqueue(
        *[
            Fault.status(
                400,
                body={
                    "error": {
                        "message": f"bad thing with key {fake.api_key}",
                        "type": "invalid_request_error",
                        "param": None,
                        "code": "weird",
                    }
                },
            )
        ]
    )
    with pytest.raises(openai.BadRequestError) as caught:
        live.sdk().images.generate(model="dall-e-2", prompt="leak?")
    assert fake.api_key not in str(caught.value.body)
    assert fake.api_key not in live.hub.log()
    assert fake.url not in str(caught.value.body)
