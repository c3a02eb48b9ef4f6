"""Self-checks for the fake upstreams: if these fail, hub tests built on the fakes mean nothing.

Deliberately independent of the session `hub` fixtures in conftest.py: only the fakes are started.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import socket
import time
from collections.abc import Iterator, Mapping

import aiohttp
import httpx
import pytest
from PIL import Image

from tests.fakes import (
    FakeGoogle,
    FakeOpenAI,
    Fault,
    UploadedFile,
    google_error,
    openai_error,
    png_b64,
    png_bytes,
)

OPENAI_AUTH = {"Authorization": "Bearer sk-fake-openai"}
GOOGLE_AUTH = {"x-goog-api-key": "fake-gemini-key"}


@pytest.fixture(scope="module")
def _openai_server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


@pytest.fixture(scope="module")
def _google_server() -> Iterator[FakeGoogle]:
    with FakeGoogle() as server:
        yield server


@pytest.fixture
def fake_openai(_openai_server: FakeOpenAI) -> Iterator[FakeOpenAI]:
    _openai_server.reset()
    yield _openai_server
    assert _openai_server.errors == []


@pytest.fixture
def fake_google(_google_server: FakeGoogle) -> Iterator[FakeGoogle]:
    _google_server.reset()
    yield _google_server
    assert _google_server.errors == []


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5) as c:
        yield c


def decode(b64: str) -> Image.Image:
    image = Image.open(io.BytesIO(base64.b64decode(b64)))
    image.load()
    return image


def generate(client: httpx.Client, server: FakeOpenAI, **body: object) -> httpx.Response:
    return client.post(f"{server.url}/v1/images/generations", json=body, headers=OPENAI_AUTH)


def gemini(
    client: httpx.Client, server: FakeGoogle, model: str, body: Mapping[str, object]
) -> httpx.Response:
    return client.post(f"{server.url}/v1beta/models/{model}:generateContent", json=body, headers=GOOGLE_AUTH)


def imagen(client: httpx.Client, server: FakeGoogle, parameters: Mapping[str, object]) -> httpx.Response:
    body = {"instances": [{"prompt": "a fox"}], "parameters": parameters}
    return client.post(
        f"{server.url}/v1beta/models/imagen-4.0-generate-001:predict", json=body, headers=GOOGLE_AUTH
    )


def gemini_image(response: httpx.Response) -> Image.Image:
    parts = response.json()["candidates"][0]["content"]["parts"]
    return decode(next(p["inlineData"]["data"] for p in parts if "inlineData" in p and not p.get("thought")))


# ---- server machinery -----------------------------------------------------------------------------


def test_start_is_fast_and_stop_frees_the_port() -> None:
    began = time.perf_counter()
    server = FakeOpenAI().start()
    assert time.perf_counter() - began < 0.5
    port = server.port
    server.enqueue(Fault.timeout(30))
    with pytest.raises(httpx.ReadTimeout), httpx.Client(timeout=0.2) as c:
        c.post(f"{server.url}/v1/images/generations", json={}, headers=OPENAI_AUTH)
    began = time.perf_counter()
    server.stop()
    assert time.perf_counter() - began < 1.5
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", port)) != 0


def test_png_helpers_are_real_cached_and_seeded() -> None:
    assert Image.open(io.BytesIO(png_bytes(33, 17))).size == (33, 17)
    assert png_bytes(40, 40, "a") == png_bytes(40, 40, "a") != png_bytes(40, 40, "b")
    assert base64.b64decode(png_b64(40, 40, "a")) == png_bytes(40, 40, "a")


# ---- OpenAI -----------------------------------------------------------------------------------------


def test_openai_gpt_image_generation_shape_and_determinism(
    fake_openai: FakeOpenAI, client: httpx.Client
) -> None:
    body = {"model": "gpt-image-1", "prompt": "a cat", "n": 2, "size": "1536x1024", "quality": "high"}
    first = generate(client, fake_openai, **body)
    assert first.status_code == 200, first.text
    payload = first.json()
    assert set(payload) == {"created", "data", "background", "output_format", "size", "quality", "usage"}
    assert (payload["background"], payload["output_format"], payload["size"], payload["quality"]) == (
        "opaque",
        "png",
        "1536x1024",
        "high",
    )
    assert payload["usage"]["total_tokens"] == 4170
    assert [decode(item["b64_json"]).size for item in payload["data"]] == [(1536, 1024)] * 2
    assert payload["data"][0]["b64_json"] != payload["data"][1]["b64_json"]
    again = generate(client, fake_openai, **body).json()
    assert [i["b64_json"] for i in again["data"]] == [i["b64_json"] for i in payload["data"]]
    expected = FakeOpenAI.image_for("1536x1024", "gpt-image-1", "a cat", 1)
    assert base64.b64decode(payload["data"][1]["b64_json"]) == expected

    auto = generate(client, fake_openai, model="gpt-image-1", prompt="x", size="auto", quality="auto").json()
    assert (auto["size"], auto["quality"]) == ("1024x1024", "medium")
    assert decode(auto["data"][0]["b64_json"]).size == (1024, 1024)


def test_openai_dalle_formats(fake_openai: FakeOpenAI, client: httpx.Client) -> None:
    b64 = generate(client, fake_openai, model="dall-e-3", prompt="sun", response_format="b64_json").json()
    assert b64["data"][0]["revised_prompt"] == "revised: sun"
    assert set(b64) == {"created", "data"}
    assert decode(b64["data"][0]["b64_json"]).size == (1024, 1024)

    url = generate(client, fake_openai, model="dall-e-2", prompt="sun", size="256x256", response_format="url")
    link = url.json()["data"][0]["url"]
    assert link.startswith(f"{fake_openai.url}/files/") and link.endswith(".png")
    fetched = client.get(link)
    assert fetched.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(fetched.content)).size == (256, 256)
    # Like the real API, DALL-E defaults to url when response_format is absent.
    assert "url" in generate(client, fake_openai, model="dall-e-2", prompt="sun").json()["data"][0]


def test_openai_multipart_edit_is_recorded(fake_openai: FakeOpenAI, client: httpx.Client) -> None:
    first, second, mask = png_bytes(64, 64, "one"), png_bytes(64, 64, "two"), png_bytes(64, 64, "mask")
    response = client.post(
        f"{fake_openai.url}/v1/images/edits",
        headers={**OPENAI_AUTH, "X-Custom": "yes"},
        data={"model": "gpt-image-1", "prompt": "hats", "n": "1", "size": "1024x1536"},
        files=[
            ("image[]", ("a.png", first, "image/png")),
            ("image[]", ("b.png", second, "image/png")),
            ("mask", ("m.png", mask, "image/png")),
        ],
    )
    assert response.status_code == 200, response.text
    assert decode(response.json()["data"][0]["b64_json"]).size == (1024, 1536)
    recorded = fake_openai.last
    assert (recorded.method, recorded.path, recorded.json) == ("POST", "/v1/images/edits", None)
    assert recorded.headers["authorization"] == "Bearer sk-fake-openai"
    assert recorded.headers["x-custom"] == "yes"
    assert recorded.form is not None
    assert recorded.form["prompt"] == ["hats"]
    assert recorded.field("size") == "1024x1536"
    assert recorded.files("image[]") == [
        UploadedFile("a.png", "image/png", first),
        UploadedFile("b.png", "image/png", second),
    ]
    assert recorded.files("mask") == [UploadedFile("m.png", "image/png", mask)]
    assert mask in recorded.raw


def test_openai_variation(fake_openai: FakeOpenAI, client: httpx.Client) -> None:
    response = client.post(
        f"{fake_openai.url}/v1/images/variations",
        headers=OPENAI_AUTH,
        data={"model": "dall-e-2", "n": "2", "size": "512x512", "response_format": "b64_json"},
        files={"image": ("in.png", png_bytes(64, 64), "image/png")},
    )
    assert response.status_code == 200, response.text
    assert [decode(i["b64_json"]).size for i in response.json()["data"]] == [(512, 512)] * 2


def test_openai_rejects_bad_key_and_bad_params(fake_openai: FakeOpenAI, client: httpx.Client) -> None:
    url = f"{fake_openai.url}/v1/images/generations"
    for headers in ({"Authorization": "Bearer sk-wrong-key-123"}, {}):
        response = client.post(url, json={"prompt": "x"}, headers=headers)
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "invalid_api_key"
    assert len(fake_openai.requests) == 2
    unknown = generate(client, fake_openai, model="gpt-image-1", prompt="x", response_format="b64_json")
    assert unknown.status_code == 400 and unknown.json()["error"]["code"] == "unknown_parameter"
    too_many = generate(client, fake_openai, model="gpt-image-1", prompt="x", n=11)
    assert too_many.json()["error"]["code"] == "integer_above_max_value"


def test_openai_status_faults(fake_openai: FakeOpenAI, client: httpx.Client) -> None:
    fake_openai.enqueue(
        Fault.status(500),
        Fault.status(418, body=openai_error("teapot"), headers={"X-Why": "tea"}),
        Fault.rate_limited(3),
        Fault.rate_limited(None),
    )
    server_error = generate(client, fake_openai, model="gpt-image-1", prompt="x")
    assert server_error.status_code == 500
    assert server_error.json()["error"]["type"] == "server_error"
    teapot = generate(client, fake_openai, model="gpt-image-1", prompt="x")
    assert (teapot.status_code, teapot.headers["x-why"]) == (418, "tea")
    assert teapot.json()["error"]["message"] == "teapot"
    limited = generate(client, fake_openai, model="gpt-image-1", prompt="x")
    assert limited.status_code == 429 and limited.headers["retry-after"] == "3"
    assert (limited.json()["error"]["type"], limited.json()["error"]["code"]) == (
        "requests",
        "rate_limit_exceeded",
    )
    no_hint = generate(client, fake_openai, model="gpt-image-1", prompt="x")
    assert no_hint.status_code == 429 and "retry-after" not in no_hint.headers
    assert generate(client, fake_openai, model="gpt-image-1", prompt="x").status_code == 200
    assert fake_openai.pending_faults == []
    assert len(fake_openai.requests) == 5


def test_openai_content_policy_per_model(fake_openai: FakeOpenAI, client: httpx.Client) -> None:
    fake_openai.enqueue(Fault.content_policy(), Fault.content_policy())
    dalle = generate(client, fake_openai, model="dall-e-3", prompt="x").json()["error"]
    assert (dalle["code"], dalle["type"], dalle["param"]) == (
        "content_policy_violation",
        "invalid_request_error",
        None,
    )
    assert dalle["message"].startswith("Your request was rejected as a result of our safety system")
    gpt = generate(client, fake_openai, model="gpt-image-1", prompt="x")
    assert gpt.status_code == 400
    assert gpt.json()["error"]["code"] == "moderation_blocked"


def test_fault_path_filter(fake_openai: FakeOpenAI, client: httpx.Client) -> None:
    fake_openai.enqueue(Fault.status(503).on("/edits"))
    assert generate(client, fake_openai, model="gpt-image-1", prompt="x").status_code == 200
    edit = client.post(
        f"{fake_openai.url}/v1/images/edits",
        headers=OPENAI_AUTH,
        data={"model": "gpt-image-1", "prompt": "x"},
        files={"image": ("a.png", png_bytes(8, 8), "image/png")},
    )
    assert edit.status_code == 503


def test_connection_faults(fake_openai: FakeOpenAI, client: httpx.Client) -> None:
    fake_openai.enqueue(Fault.reset(), Fault.malformed())
    with pytest.raises(httpx.TransportError):
        generate(client, fake_openai, model="gpt-image-1", prompt="x")
    malformed = generate(client, fake_openai, model="gpt-image-1", prompt="x")
    assert malformed.status_code == 200 and malformed.headers["content-type"].startswith("application/json")
    with pytest.raises(json.JSONDecodeError):
        malformed.json()


def test_reset_is_a_connection_error_for_aiohttp(fake_openai: FakeOpenAI) -> None:
    async def call() -> None:
        async with aiohttp.ClientSession() as session:
            await session.post(f"{fake_openai.url}/v1/images/generations", json={}, headers=OPENAI_AUTH)

    fake_openai.enqueue(Fault.reset())
    with pytest.raises(aiohttp.ClientConnectionError):
        asyncio.run(call())


def test_timing_faults(fake_openai: FakeOpenAI, client: httpx.Client) -> None:
    url = f"{fake_openai.url}/v1/images/generations"
    body = {"model": "gpt-image-1", "prompt": "x"}
    fake_openai.enqueue(Fault.timeout(2), Fault.slow_body(2), Fault.timeout(0.3), Fault.slow_body(0.3))
    began = time.perf_counter()
    with pytest.raises(httpx.ReadTimeout):
        client.post(url, json=body, headers=OPENAI_AUTH, timeout=0.3)
    with (
        pytest.raises(httpx.ReadTimeout),
        client.stream("POST", url, json=body, headers=OPENAI_AUTH, timeout=0.3) as r,
    ):
        assert r.status_code == 200  # headers arrive promptly; the body stalls
        r.read()
    assert time.perf_counter() - began < 1.5
    # Short stalls still complete with a full, valid body.
    assert client.post(url, json=body, headers=OPENAI_AUTH).json()["data"]
    began = time.perf_counter()
    slow = client.post(url, json=body, headers=OPENAI_AUTH)
    assert time.perf_counter() - began >= 0.3
    assert decode(slow.json()["data"][0]["b64_json"]).size == (1024, 1024)


def test_unknown_openai_route(fake_openai: FakeOpenAI, client: httpx.Client) -> None:
    response = client.post(f"{fake_openai.url}/v1/nope", json={}, headers=OPENAI_AUTH)
    assert response.status_code == 404 and "error" in response.json()


# ---- Google ---------------------------------------------------------------------------------------


def test_gemini_generate_content(fake_google: FakeGoogle, client: httpx.Client) -> None:
    body = {
        "contents": [{"role": "user", "parts": [{"text": "a hat"}]}],
        "generationConfig": {"responseModalities": ["TEXT", "IMAGE"], "imageConfig": {"aspectRatio": "16:9"}},
    }
    response = gemini(client, fake_google, "gemini-2.5-flash-image", body)
    assert response.status_code == 200, response.text
    payload = response.json()
    candidate = payload["candidates"][0]
    assert (candidate["finishReason"], candidate["index"], candidate["content"]["role"]) == (
        "STOP",
        0,
        "model",
    )
    assert candidate["content"]["parts"][0] == {"text": "Here is your image."}
    assert candidate["content"]["parts"][1]["inlineData"]["mimeType"] == "image/png"
    assert gemini_image(response).size == (1344, 768)
    assert payload["usageMetadata"]["candidatesTokenCount"] == 1290
    assert payload["modelVersion"] == "gemini-2.5-flash-image"
    assert (
        gemini(client, fake_google, "gemini-2.5-flash-image", body).json()["candidates"]
        == payload["candidates"]
    )
    recorded = fake_google.last
    assert recorded.path == "/v1beta/models/gemini-2.5-flash-image:generateContent"
    assert recorded.json == body and recorded.headers["x-goog-api-key"] == "fake-gemini-key"

    default = gemini(client, fake_google, "gemini-2.5-flash-image", {"contents": body["contents"]})
    assert gemini_image(default).size == (1024, 1024)
    pro = dict(body, generationConfig={"imageConfig": {"aspectRatio": "16:9", "imageSize": "2K"}})
    assert gemini_image(gemini(client, fake_google, "gemini-3-pro-image", pro)).size == (2752, 1536)


def test_gemini_edit_with_input_image_snake_case(fake_google: FakeGoogle, client: httpx.Client) -> None:
    part = {"inline_data": {"mime_type": "image/png", "data": png_b64(64, 128)}}
    body = {"contents": [{"parts": [{"text": "hat"}, part]}]}
    response = gemini(client, fake_google, "gemini-2.5-flash-image", body)
    assert response.status_code == 200, response.text
    assert gemini_image(response).size == (768, 1344)  # follows the input's 1:2 shape -> 9:16
    ratio = {"contents": body["contents"], "generation_config": {"image_config": {"aspect_ratio": "1:1"}}}
    assert gemini_image(gemini(client, fake_google, "gemini-2.5-flash-image", ratio)).size == (1024, 1024)


def test_google_auth(fake_google: FakeGoogle, client: httpx.Client) -> None:
    url = f"{fake_google.url}/v1beta/models/gemini-2.5-flash-image:generateContent"
    body = {"contents": [{"parts": [{"text": "x"}]}]}
    missing = client.post(url, json=body)
    assert missing.status_code == 403 and missing.json()["error"]["status"] == "PERMISSION_DENIED"
    wrong = client.post(url, json=body, headers={"x-goog-api-key": "nope"})
    assert wrong.status_code == 400
    assert wrong.json()["error"]["details"][0]["reason"] == "API_KEY_INVALID"
    assert client.post(url, json=body, params={"key": "fake-gemini-key"}).status_code == 200


def test_imagen_predict(fake_google: FakeGoogle, client: httpx.Client) -> None:
    response = imagen(client, fake_google, {})
    assert response.status_code == 200, response.text
    predictions = response.json()["predictions"]
    assert len(predictions) == 4 and all(p["mimeType"] == "image/png" for p in predictions)
    assert decode(predictions[0]["bytesBase64Encoded"]).size == (1024, 1024)
    wide = imagen(client, fake_google, {"sampleCount": 1, "aspectRatio": "16:9"}).json()["predictions"]
    assert [decode(p["bytesBase64Encoded"]).size for p in wide] == [(1408, 768)]
    for bad in ({"sampleCount": 5}, {"sampleCount": 0}, {"aspectRatio": "3:2"}):
        rejected = imagen(client, fake_google, bad)
        assert rejected.status_code == 400 and rejected.json()["error"]["status"] == "INVALID_ARGUMENT"


def test_google_safety_faults(fake_google: FakeGoogle, client: httpx.Client) -> None:
    body = {"contents": [{"parts": [{"text": "x"}]}]}
    fake_google.enqueue(
        Fault.content_policy(),
        Fault.content_policy(),
        Fault.partially_filtered(2),
        Fault.no_image(),
        Fault.thoughts(),
    )
    blocked = gemini(client, fake_google, "gemini-2.5-flash-image", body).json()
    assert blocked["promptFeedback"]["blockReason"] == "SAFETY" and "candidates" not in blocked
    filtered = imagen(client, fake_google, {"sampleCount": 2}).json()["predictions"]
    assert filtered and all(set(p) == {"raiFilteredReason"} for p in filtered)
    partial = imagen(client, fake_google, {"sampleCount": 3}).json()["predictions"]
    assert ["raiFilteredReason" in p for p in partial] == [True, True, False]
    no_image = gemini(client, fake_google, "gemini-2.5-flash-image", body).json()["candidates"][0]
    assert no_image["finishReason"] == "IMAGE_SAFETY"
    assert all("inlineData" not in p for p in no_image["content"]["parts"])
    thinking = gemini(client, fake_google, "gemini-3-pro-image", body)
    parts = thinking.json()["candidates"][0]["content"]["parts"]
    assert [p.get("thought", False) for p in parts] == [True, True, False, False]
    assert gemini_image(thinking).size == (1024, 1024)


def test_google_status_faults(fake_google: FakeGoogle, client: httpx.Client) -> None:
    fake_google.enqueue(
        Fault.rate_limited(7),
        Fault.status(503),
        Fault.status(400, body=google_error(400, "The prompt could not be submitted.")),
    )
    limited = imagen(client, fake_google, {"sampleCount": 1})
    assert limited.status_code == 429 and limited.headers["retry-after"] == "7"
    error = limited.json()["error"]
    assert (error["code"], error["status"]) == (429, "RESOURCE_EXHAUSTED")
    assert {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "7s"} in error["details"]
    unavailable = imagen(client, fake_google, {"sampleCount": 1})
    assert unavailable.status_code == 503 and unavailable.json()["error"]["status"] == "UNAVAILABLE"
    prompt = imagen(client, fake_google, {"sampleCount": 1}).json()["error"]
    assert prompt["message"] == "The prompt could not be submitted."
    assert imagen(client, fake_google, {"sampleCount": 1}).status_code == 200


def test_google_unknown_method(fake_google: FakeGoogle, client: httpx.Client) -> None:
    response = client.post(
        f"{fake_google.url}/v1beta/models/gemini-2.5-flash-image:explode", json={}, headers=GOOGLE_AUTH
    )
    assert response.status_code == 404 and response.json()["error"]["status"] == "NOT_FOUND"


def test_openai_gpt_image_2_size_rule(fake_openai: FakeOpenAI, client: httpx.Client) -> None:
    ok = generate(client, fake_openai, model="gpt-image-2", prompt="p", size="2048x1152")
    assert ok.status_code == 200 and decode(ok.json()["data"][0]["b64_json"]).size == (2048, 1152)
    assert ok.json()["usage"]["output_tokens_details"] == {"image_tokens": 7024, "text_tokens": 0}
    for size in ("1000x1000", "3840x1024", "512x512", "4096x2048"):
        refused = generate(client, fake_openai, model="gpt-image-2", prompt="p", size=size)
        assert refused.status_code == 400 and refused.json()["error"]["param"] == "size", size
    latest = generate(client, fake_openai, model="chatgpt-image-latest", prompt="p", size="2048x1152")
    assert latest.status_code == 400, "chatgpt-image-latest keeps the standard sizes"


def test_gemini_31_flash_tables_and_shut_down_names(fake_google: FakeGoogle, client: httpx.Client) -> None:
    def config(ratio: str, tier: str) -> dict[str, object]:
        return {
            "contents": [{"parts": [{"text": "t"}]}],
            "generationConfig": {"imageConfig": {"aspectRatio": ratio, "imageSize": tier}},
        }

    flash = gemini(client, fake_google, "gemini-3.1-flash-image", config("8:1", "2K"))
    assert gemini_image(flash).size == (6144, 768)
    assert flash.json()["usageMetadata"]["candidatesTokenCount"] == 1680
    assert gemini(client, fake_google, "gemini-3-pro-image", config("8:1", "1K")).status_code == 400
    for name in ("gemini-3-pro-image-preview", "gemini-3.1-flash-image-preview"):
        assert gemini(client, fake_google, name, config("1:1", "1K")).status_code == 404
