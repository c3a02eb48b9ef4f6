"""Every validation rule, with the exact OpenAI error shape, status, param and code."""

from __future__ import annotations

from typing import Any

import httpx
import openai
import pytest

from tests.conftest import Keys
from tests.hub import Hub

URL = "/api/images/generations"


def _post(http: httpx.Client, keys: Keys, body: Any, **kwargs: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {keys.sandbox}", **kwargs.pop("headers", {})}
    if isinstance(body, (bytes, str)):
        return http.post(URL, content=body, headers={"Content-Type": "application/json", **headers}, **kwargs)
    return http.post(URL, json=body, headers=headers, **kwargs)


def _assert_error(
    response: httpx.Response, status: int, param: str | None, code: str | None, *mentions: str
) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param
    assert error["code"] == code
    for text in mentions:
        assert text in error["message"], error["message"]
    return error


CASES: list[tuple[str, dict[str, Any], str, str, tuple[str, ...]]] = [
    # id, body, param, code, words the message must contain
    # An unknown model is 404 model_not_found: tests/test_model_errors.py.
    ("empty model", {"prompt": "x", "model": " "}, "model", "empty_string", ()),
    ("empty prompt", {"prompt": "  "}, "prompt", "empty_string", ()),
    ("dall-e-2 prompt too long", {"prompt": "a" * 1001}, "prompt", "string_above_max_length", ("1000",)),
    (
        "dall-e-3 prompt too long",
        {"prompt": "a" * 4001, "model": "dall-e-3"},
        "prompt",
        "string_above_max_length",
        ("4000",),
    ),
    (
        "gpt-image prompt too long",
        {"prompt": "a" * 32001, "model": "gpt-image-1"},
        "prompt",
        "string_above_max_length",
        ("32000",),
    ),
    ("n zero", {"prompt": "x", "n": 0}, "n", "integer_below_min_value", ()),
    ("n eleven", {"prompt": "x", "n": 11}, "n", "integer_above_max_value", ("10",)),
    (
        "dall-e-3 n two",
        {"prompt": "x", "model": "dall-e-3", "n": 2},
        "n",
        "integer_above_max_value",
        ("n=1",),
    ),
    (
        "dall-e-2 size",
        {"prompt": "x", "size": "1792x1024"},
        "size",
        "invalid_value",
        ("256x256, 512x512, 1024x1024",),
    ),
    (
        "dall-e-3 size",
        {"prompt": "x", "model": "dall-e-3", "size": "512x512"},
        "size",
        "invalid_value",
        ("1024x1792",),
    ),
    (
        "gemini size with no ratio",
        {"prompt": "x", "model": "gemini-2.5-flash-image", "size": "1000x1000"},
        "size",
        "invalid_value",
        ("1344x768",),
    ),
    (
        "dall-e-3 quality",
        {"prompt": "x", "model": "dall-e-3", "quality": "high"},
        "quality",
        "invalid_value",
        ("standard, hd",),
    ),
    (
        "gpt-image quality",
        {"prompt": "x", "model": "gpt-image-1", "quality": "hd"},
        "quality",
        "invalid_value",
        ("low, medium, high, auto",),
    ),
    ("dall-e-2 hd", {"prompt": "x", "quality": "hd"}, "quality", "invalid_value", ("standard",)),
    (
        "quality not an option anywhere",
        {"prompt": "x", "quality": "ultra"},
        "quality",
        "invalid_value",
        ("hd",),
    ),
    ("style on dall-e-2", {"prompt": "x", "style": "vivid"}, "style", "unsupported_parameter", ("dall-e-2",)),
    (
        "style bad value",
        {"prompt": "x", "model": "dall-e-3", "style": "noir"},
        "style",
        "invalid_value",
        ("vivid", "natural"),
    ),
    (
        "background on dall-e-3",
        {"prompt": "x", "model": "dall-e-3", "background": "opaque"},
        "background",
        "unsupported_parameter",
        (),
    ),
    (
        "output_format on dall-e-2",
        {"prompt": "x", "model": "dall-e-2", "output_format": "png"},
        "output_format",
        "unsupported_parameter",
        (),
    ),
    (
        "moderation on dall-e-3",
        {"prompt": "x", "model": "dall-e-3", "moderation": "low"},
        "moderation",
        "unsupported_parameter",
        (),
    ),
    (
        "compression with png",
        {"prompt": "x", "model": "gpt-image-1", "output_compression": 50},
        "output_compression",
        "unsupported_parameter",
        ("jpeg or webp",),
    ),
    (
        "compression out of range",
        {"prompt": "x", "model": "gpt-image-1", "output_format": "jpeg", "output_compression": 101},
        "output_compression",
        "invalid_value",
        ("0-100",),
    ),
    (
        "transparent jpeg",
        {"prompt": "x", "model": "gpt-image-1", "background": "transparent", "output_format": "jpeg"},
        "background",
        "invalid_value",
        ("png or webp",),
    ),
    (
        "bad response_format",
        {"prompt": "x", "response_format": "jpeg"},
        "response_format",
        "invalid_value",
        ("url", "b64_json"),
    ),
    (
        "image on dall-e-3",
        {"prompt": "x", "model": "dall-e-3", "image": "aGVsbG8="},
        "image",
        "unsupported_parameter",
        ("cannot edit",),
    ),
    (
        "image not base64",
        {"prompt": "x", "model": "gpt-image-1", "image": "not base64 !!"},
        "image",
        "invalid_image",
        (),
    ),
    (
        "image not an image",
        {"prompt": "x", "model": "gpt-image-1", "image": "aGVsbG8gd29ybGQ="},
        "image",
        "invalid_image",
        (),
    ),
    (
        "image list names index",
        {"prompt": "x", "model": "gpt-image-1", "image": ["aGVsbG8=", "aGVsbG8="]},
        "image[0]",
        "invalid_image",
        ("image[0]",),
    ),
    (
        "too many images",
        {"prompt": "x", "model": "gpt-image-1", "image": ["aGVsbG8="] * 17},
        "image",
        "array_above_max_length",
        ("16",),
    ),
    ("empty image list", {"prompt": "x", "model": "gpt-image-1", "image": []}, "image", "empty_array", ()),
    (
        "too many partial images",
        {"prompt": "x", "model": "gpt-image-1", "stream": True, "partial_images": 4},
        "partial_images",
        "invalid_value",
        ("0-3",),
    ),
    (
        "partial_images out of range",
        {"prompt": "x", "model": "gpt-image-1", "partial_images": 4},
        "partial_images",
        "invalid_value",
        ("0-3",),
    ),
    (
        "partial_images on dall-e-3 without stream",
        {"prompt": "x", "model": "dall-e-3", "partial_images": 1},
        "partial_images",
        "unsupported_parameter",
        (),
    ),
    (
        "gpt-image-2 size not a multiple of 16",
        {"prompt": "x", "model": "gpt-image-2", "size": "1000x1000"},
        "size",
        "invalid_value",
        ("multiple of 16", "1:3", "3:1"),
    ),
    (
        "gpt-image-2 size too flat",
        {"prompt": "x", "model": "gpt-image-2", "size": "3840x1024"},
        "size",
        "invalid_value",
        ("aspect ratio", "3.75:1"),
    ),
    (
        "gpt-image-2 size too small",
        {"prompt": "x", "model": "gpt-image-2", "size": "512x512"},
        "size",
        "invalid_value",
        ("655,360",),
    ),
    (
        "gpt-image-2 size too big",
        {"prompt": "x", "model": "gpt-image-2", "size": "3840x3840"},
        "size",
        "invalid_value",
        ("8,294,400",),
    ),
    (
        "gpt-image-2 size over the edge",
        {"prompt": "x", "model": "gpt-image-2-2026-04-21", "size": "4096x2048"},
        "size",
        "invalid_value",
        ("3840",),
    ),
    (
        "chatgpt-image-latest custom size",
        {"prompt": "x", "model": "chatgpt-image-latest", "size": "2048x1152"},
        "size",
        "invalid_value",
        ("1536x1024",),
    ),
    (
        "gemini-3-pro-image has no 1:4",
        {"prompt": "x", "model": "gemini-3-pro-image", "size": "512x2048"},
        "size",
        "invalid_value",
        ("1376x768",),
    ),
    (
        "gemini-2.5-flash-image has no 2K",
        {"prompt": "x", "model": "gemini-2.5-flash-image", "size": "2048x2048"},
        "size",
        "invalid_value",
        ("1024x1024",),
    ),
    (
        "input_fidelity on gpt-image-1-mini",
        {"prompt": "x", "model": "gpt-image-1-mini", "input_fidelity": "high"},
        "input_fidelity",
        "unsupported_parameter",
        (),
    ),
    ("unknown field", {"prompt": "x", "colour": "red"}, "colour", "unknown_parameter", ("colour",)),
    ("missing prompt", {"n": 1}, "prompt", "missing_required_parameter", ("prompt",)),
    ("prompt not a string", {"prompt": 42}, "prompt", "invalid_type", ("string", "integer")),
    ("n as string", {"prompt": "x", "n": "2"}, "n", "invalid_type", ("integer", "string")),
    ("n as float", {"prompt": "x", "n": 1.5}, "n", "invalid_type", ("integer",)),
    ("n as bool", {"prompt": "x", "n": True}, "n", "invalid_type", ("integer", "boolean")),
    ("size as number", {"prompt": "x", "size": 1024}, "size", "invalid_type", ("string",)),
    (
        "image list item as number",
        {"prompt": "x", "model": "gpt-image-1", "image": ["aGVsbG8=", 3]},
        "image[1]",
        "invalid_type",
        ("string", "integer"),
    ),
    (
        "image as number",
        {"prompt": "x", "model": "gpt-image-1", "image": 5},
        "image",
        "invalid_type",
        ("a string or an array of strings",),
    ),
]


@pytest.mark.parametrize(
    ("body", "param", "code", "mentions"), [case[1:] for case in CASES], ids=[case[0] for case in CASES]
)
def test_invalid_request(
    http: httpx.Client, keys: Keys, body: dict[str, Any], param: str, code: str, mentions: tuple[str, ...]
) -> None:
    _assert_error(_post(http, keys, body), 400, param, code, *mentions)


def test_nulls_mean_defaults(http: httpx.Client, keys: Keys) -> None:
    body = {
        "prompt": "x",
        "model": None,
        "n": None,
        "size": None,
        "response_format": None,
        "quality": None,
        "style": None,
        "user": None,
    }
    response = _post(http, keys, body)
    assert response.status_code == 200, response.text
    assert "url" in response.json()["data"][0]


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b"{not json", "invalid_json"),
        (b'{"prompt": "x",}', "invalid_json"),
        (b"[1, 2]", "invalid_json"),
        (b'"just a string"', "invalid_json"),
        (b"", "empty_body"),
        (b"   ", "empty_body"),
    ],
)
def test_malformed_bodies(http: httpx.Client, keys: Keys, raw: bytes, code: str) -> None:
    _assert_error(_post(http, keys, raw), 400, None, code)


def test_wrong_content_type(http: httpx.Client, keys: Keys) -> None:
    response = http.post(
        URL,
        content=b"prompt=x",
        headers={
            "Authorization": f"Bearer {keys.sandbox}",
            "Content-Type": "application/x-www-form-urlencoded",
        },
    )
    _assert_error(response, 415, None, "unsupported_media_type", "application/json")


def test_body_over_the_cap(http: httpx.Client, keys: Keys) -> None:
    huge = b'{"prompt": "' + b"a" * (2 << 20) + b'"}'
    _assert_error(_post(http, keys, huge), 413, None, "payload_too_large")


def test_body_over_the_cap_without_content_length(http: httpx.Client, keys: Keys) -> None:
    def chunks():  # type: ignore[no-untyped-def]
        yield b'{"prompt": "'
        for _ in range(40):
            yield b"a" * 65536
        yield b'"}'

    response = http.post(
        URL,
        content=chunks(),
        headers={"Authorization": f"Bearer {keys.sandbox}", "Content-Type": "application/json"},
    )
    _assert_error(response, 413, None, "payload_too_large")


def test_unknown_route_and_method_use_the_error_shape(http: httpx.Client) -> None:
    missing = http.get("/api/nothing-here")
    assert missing.status_code == 404 and missing.json()["error"]["type"] == "invalid_request_error"
    wrong = http.get(URL)
    assert wrong.status_code == 405 and "error" in wrong.json()


def test_sdk_raises_bad_request_with_param(sdk: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.images.generate(model="dall-e-3", prompt="x", n=2)
    assert caught.value.status_code == 400
    assert caught.value.param == "n"
    assert caught.value.code == "integer_above_max_value"


def test_bad_request_writes_no_file(hub: Hub, http: httpx.Client, keys: Keys) -> None:
    images = hub.data_dir / "images"
    before = sorted(images.rglob("*.*"))
    _post(http, keys, {"prompt": "x", "size": "1x1"})
    assert sorted(images.rglob("*.*")) == before
