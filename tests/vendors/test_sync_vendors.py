"""Vendors that answer at once (Stability, Ideogram, Recraft, xAI, Seedream), vendor options, and
fall-over between two Stability accounts, through a real hub with the official SDK."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from tests.fakes import Fault
from tests.fakes.vendors import FakeStability
from tests.hub import Hub, create_key
from tests.images import decode_b64, tiny_png
from tests.vendors.conftest import VendorHub


@pytest.mark.parametrize(
    ("name", "model", "size"),
    [
        ("stability", "stable-image-ultra", "1344x768"),
        ("ideogram", "ideogram-v3", "1312x736"),
        ("recraft", "recraftv4_1", "1536x768"),
        ("xai", "grok-imagine-image-2.0", "2560x1440"),
        ("seedream", "seedream-4.5", "2560x1440"),
    ],
)
def test_flagship_answers_with_the_asked_size(vendors: VendorHub, name: str, model: str, size: str) -> None:
    result = vendors.sdk().images.generate(
        model=model, prompt="a lighthouse", size=size, response_format="b64_json"
    )
    assert result.data is not None and len(result.data) == 1
    width, height = (int(v) for v in size.split("x"))
    assert decode_b64(result.data[0].b64_json or "").size == (width, height)
    assert len(vendors.fakes[name].requests) >= 1


def test_stability_is_multipart_with_its_own_fields(vendors: VendorHub) -> None:
    fake = vendors.fakes["stability"]
    vendors.sdk().images.generate(
        model="stable-image-core",
        prompt="a castle",
        size="832x1216",
        extra_body={"seed": 9, "negative_prompt": "fog", "style_preset": "anime", "output_format": "webp"},
    )
    sent = fake.last
    assert sent.path == "/v2beta/stable-image/generate/core"
    assert sent.headers["authorization"] == f"Bearer {fake.api_key}"
    assert sent.headers["content-type"].startswith("multipart/form-data")
    fields = {name: sent.field(name) for name in (sent.form or {})}
    assert fields == {
        "prompt": "a castle",
        "output_format": "webp",
        "aspect_ratio": "2:3",
        "seed": "9",
        "negative_prompt": "fog",
        "style_preset": "anime",
    }


def test_stability_sd35_names_its_model(vendors: VendorHub) -> None:
    vendors.sdk().images.generate(model="sd3.5-large-turbo", prompt="a bridge")
    sent = vendors.fakes["stability"].last
    assert sent.path == "/v2beta/stable-image/generate/sd3"
    assert sent.field("model") == "sd3.5-large-turbo"


def test_n_is_concurrent_calls_for_one_image_vendors(vendors: VendorHub) -> None:
    result = vendors.sdk().images.generate(
        model="stable-image-ultra", prompt="pair", n=2, response_format="url"
    )
    assert result.data is not None and len(result.data) == 2
    assert len(vendors.fakes["stability"].requests) == 2
    for item in result.data:
        assert httpx.get(item.url or "").status_code == 200


@pytest.mark.parametrize("how", ["403 content_moderation", "finish_reason CONTENT_FILTERED"])
def test_stability_moderation_is_content_policy_violation(vendors: VendorHub, how: str) -> None:
    fake = vendors.fakes["stability"]
    if how.startswith("403"):
        fake.enqueue(Fault.content_policy())
    else:
        fake.filter_next = 1
    with pytest.raises(openai.BadRequestError) as caught:
        vendors.sdk().images.generate(model="stable-image-ultra", prompt="forbidden")
    assert caught.value.code == "content_policy_violation"
    assert len(fake.requests) == 1


def test_stability_429_is_retried(vendors: VendorHub) -> None:
    vendors.fakes["stability"].enqueue(Fault.rate_limited(retry_after=0))
    result = vendors.sdk().images.generate(model="stable-image-ultra", prompt="busy")
    assert result.data is not None and len(vendors.fakes["stability"].requests) == 2


def test_ideogram_multipart_auth_and_unsafe_flag(vendors: VendorHub) -> None:
    fake = vendors.fakes["ideogram"]
    result = vendors.sdk().images.generate(
        model="ideogram-v3",
        prompt="a sign",
        n=3,
        quality="high",
        extra_body={"style_preset": "DESIGN", "prompt_upsampling": False, "negative_prompt": "blur"},
    )
    assert result.data is not None and len(result.data) == 3
    sent = fake.requests_to("/generate")[-1]
    assert sent.headers["api-key"] == fake.api_key and "authorization" not in sent.headers
    assert (sent.field("num_images"), sent.field("rendering_speed")) == ("3", "QUALITY")
    assert (sent.field("style_type"), sent.field("magic_prompt"), sent.field("negative_prompt")) == (
        "DESIGN",
        "OFF",
        "blur",
    )
    fake.enqueue(Fault.content_policy())
    with pytest.raises(openai.BadRequestError) as caught:
        vendors.sdk().images.generate(model="ideogram-v3", prompt="unsafe")
    assert caught.value.code == "content_policy_violation"


def test_recraft_vector_answers_svg(vendors: VendorHub) -> None:
    result = vendors.sdk().images.generate(
        model="recraftv4_1_vector", prompt="an icon", size="1024x1024", response_format="b64_json"
    )
    assert result.data is not None
    assert base64.b64decode(result.data[0].b64_json or "").startswith(b"<svg")
    sent = vendors.fakes["recraft"].requests_to("/images/generations")[-1]
    assert sent.json["model"] == "recraftv4_1_vector" and sent.json["size"] == "1024x1024"


def test_xai_sends_aspect_ratio_and_resolution(vendors: VendorHub) -> None:
    fake = vendors.fakes["xai"]
    vendors.sdk().images.generate(
        model="grok-imagine-image-2.0", prompt="a comet", size="1280x720", quality="low"
    )
    assert fake.last.json == {
        "model": "grok-imagine-image-2.0",
        "prompt": "a comet",
        "n": 1,
        "response_format": "b64_json",
        "aspect_ratio": "16:9",
        "resolution": "1k",
        "quality": "low",
    }
    assert fake.last.headers["authorization"] == f"Bearer {fake.api_key}"


def test_xai_retired_names_are_served_by_2_0(vendors: VendorHub) -> None:
    with httpx.Client(base_url=vendors.hub.url, timeout=60) as client:
        response = client.post(
            "/api/images/generations",
            headers={"Authorization": f"Bearer {vendors.key}"},
            json={"model": "grok-imagine-image-quality", "prompt": "old name"},
        )
    assert response.status_code == 200
    assert response.headers.get("deprecation")
    assert vendors.fakes["xai"].last.json["model"] == "grok-imagine-image-2.0"  # xAI answers base64


def test_seedream_auth_and_body(vendors: VendorHub) -> None:
    fake = vendors.fakes["seedream"]
    vendors.sdk().images.generate(model="seedream-4.5", prompt="a city", extra_body={"seed": 5})
    sent = fake.requests_to("/images/generations")[-1]
    assert sent.path == "/api/v3/images/generations"
    assert sent.headers["authorization"] == f"Bearer {fake.api_key}"
    assert sent.json == {
        "model": "seedream-4-5-251128",
        "prompt": "a city",
        "size": "2048x2048",
        "response_format": "url",
        "watermark": False,
        "seed": 5,
    }


@pytest.mark.parametrize(
    ("name", "model", "path"),
    [
        ("seedream", "seedream-4.5", "/images/generations"),
        ("dashscope", "qwen-image-2.0", "/generation"),
        ("xai", "grok-imagine-image-2.0", "/v1/images/edits"),
    ],
)
def test_reference_images_go_as_data_uris(vendors: VendorHub, name: str, model: str, path: str) -> None:
    source = tiny_png(colour=(10, 200, 10))
    result = vendors.sdk().images.edit(model=model, image=("a.png", source, "image/png"), prompt="restyle")
    assert result.data is not None and len(result.data) == 1
    sent = vendors.fakes[name].requests_to(path)[-1].json
    uri = f"data:image/png;base64,{base64.b64encode(source).decode()}"
    if name == "seedream":
        assert sent["image"] == [uri]
    elif name == "xai":
        assert sent["image"] == {"url": uri, "type": "image_url"}
    else:
        assert sent["input"]["messages"][0]["content"] == [{"image": uri}, {"text": "restyle"}]


@pytest.mark.parametrize(
    ("model", "extra", "param"),
    [
        ("stable-image-ultra", {"style_preset": "anime"}, "style_preset"),  # only Core takes presets
        ("stable-image-core", {"style_preset": "watercolour"}, "style_preset"),  # not in its list
        ("flux-2-pro", {"safety_tolerance": 9}, "safety_tolerance"),  # outside 1-5
        ("flux-2-pro", {"negative_prompt": "x"}, "negative_prompt"),  # FLUX.2 takes none
        ("grok-imagine-image", {"seed": 1}, "seed"),
        ("stable-image-ultra", {"size": "1000x1000"}, "size"),  # not a size Stability makes
    ],
)
def test_vendor_options_are_validated_per_model(
    vendors: VendorHub, model: str, extra: dict[str, object], param: str
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        vendors.sdk().images.generate(model=model, prompt="x", extra_body=extra)
    assert isinstance(caught.value.body, dict) and caught.value.body["param"] == param
    if param == "size":
        assert "1344x768" in str(caught.value.body["message"]), "the 400 lists the sizes"
    assert not any(fake.requests for fake in vendors.fakes.values())


# ---- fall-over between two Stability accounts ---------------------------------------------------

CONFIG = """
[routing]
max_retries = 1
backoff_base_seconds = 0.01
backoff_max_seconds = 0.05
failure_threshold = 1

[[deployments]]
name = "stability-main"
provider = "stability"
base_url = "{main}"
api_key = "sk-main"
models = ["stable-image-ultra"]
weight = 1000000

[[deployments]]
name = "stability-backup"
provider = "stability"
base_url = "{backup}"
models = ["stable-image-ultra"]
weight = 0.000001
"""


@pytest.fixture
def two_accounts(tmp_path: Path) -> Iterator[tuple[FakeStability, FakeStability, openai.OpenAI]]:
    with FakeStability("sk-main") as main, FakeStability("sk-backup") as backup:
        config = tmp_path / "imagehub.toml"
        config.write_text(CONFIG.format(main=main.url, backup=backup.url))
        env = {"IMAGEHUB_CONFIG_FILE": str(config), "STABILITY_API_KEY": "sk-backup"}
        hub = Hub(tmp_path / "data", env=env).start()
        try:
            key = create_key(tmp_path / "data", "failover", sandbox=False)
            client = openai.OpenAI(base_url=f"{hub.url}/api", api_key=key, max_retries=0, timeout=60)
            yield main, backup, client
        finally:
            hub.stop()


def test_stable_image_ultra_falls_over_to_a_second_account(
    two_accounts: tuple[FakeStability, FakeStability, openai.OpenAI],
) -> None:
    main, backup, client = two_accounts
    main.enqueue(*[Fault.status(503)] * 4)
    result = client.images.generate(model="stable-image-ultra", prompt="a ship", size="1536x640")
    assert result.data is not None and len(result.data) == 1
    assert len(main.requests) == 2, "tried, retried once, then fell over"
    assert len(backup.requests) == 1
    assert backup.last.headers["authorization"] == "Bearer sk-backup"  # STABILITY_API_KEY by default
