"""Hostile and malformed edit payloads: each refused with a 400 naming the field and index.

Bombs, truncated and disguised files, wrong formats, too many images, bad masks, and form or JSON
mistakes, sent to a real hub over HTTP (sandbox key: nothing leaves the machine either way).
"""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest

from tests.conftest import Keys
from tests.hub import Hub
from tests.payloads import (
    bmp,
    bomb_png,
    gif,
    html_as_image,
    jpeg,
    mask_png,
    noise_png,
    png,
    rgba_png,
    truncated,
)

Part = tuple[str, tuple[str, bytes, str]]


def f(data: bytes, field: str = "image", name: str = "in.png", content_type: str = "image/png") -> Part:
    return (field, (name, data, content_type))


def many(*items: bytes) -> list[Part]:
    return [f(item, "image[]") for item in items]


def post(http: httpx.Client, keys: Keys, path: str, **kwargs: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {keys.sandbox}", **kwargs.pop("headers", {})}
    return http.post(path, headers=headers, **kwargs)


def multipart(data: dict[str, str], files: list[Part]) -> dict[str, Any]:
    """A multipart body built by hand, so text-only forms (no file at all) stay multipart."""
    boundary = "imagehub-test-boundary"
    chunks = []
    for name, value in data.items():
        chunks.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        )
    for name, (filename, content, content_type) in files:
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
            f"Content-Type: {content_type}\r\n\r\n"
        )
        chunks.append(head.encode() + content + b"\r\n")
    chunks.append(f"--{boundary}--\r\n".encode())
    return {
        "content": b"".join(chunks),
        "headers": {"Content-Type": f"multipart/form-data; boundary={boundary}"},
    }


def assert_error(response: httpx.Response, status: int, param: str | None, code: str, *mentions: str) -> None:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert (error["param"], error["code"], error["type"]) == (param, code, "invalid_request_error"), error
    for text in mentions:
        assert text in error["message"], error["message"]


GPT = {"model": "gpt-image-1", "prompt": "x"}
DALLE = {"model": "dall-e-2", "prompt": "x"}

EDIT_CASES: list[tuple[str, list[Part], dict[str, Any], str | None, str, tuple[str, ...]]] = [
    (
        "bomb over the hub's pixel cap",
        [f(bomb_png(9000, 8000))],
        GPT,
        "image",
        "image_too_large",
        ("9000x8000",),
    ),
    (
        "bomb over Pillow's limit",
        [f(bomb_png(100_000, 100_000))],
        GPT,
        "image",
        "image_too_large",
        ("pixels",),
    ),
    (
        "bomb third of three",
        many(png(), png(), bomb_png(20_000, 20_000)),
        GPT,
        "image[2]",
        "image_too_large",
        (),
    ),
    (
        "truncated third of three",
        many(png(), jpeg(), truncated()),
        GPT,
        "image[2]",
        "invalid_image",
        ("truncated",),
    ),
    ("html disguised as png", [f(html_as_image())], GPT, "image", "invalid_image", ()),
    ("empty file", many(png(), b""), GPT, "image[1]", "invalid_image", ()),
    ("gif", many(png(), gif()), GPT, "image[1]", "invalid_image_format", ("gif",)),
    ("bmp named png", [f(bmp())], GPT, "image", "invalid_image_format", ("bmp",)),
    ("17 images", many(*[png()] * 17), GPT, "image", "array_above_max_length", ("17", "16")),
    ("18 files", many(*[png()] * 18), GPT, None, "invalid_multipart", ("files",)),
    (
        "jpeg for dall-e-2",
        [f(jpeg(), name="a.png")],
        DALLE,
        "image",
        "invalid_image_format",
        ("dall-e-2 takes png",),
    ),
    (
        "non-square for dall-e-2",
        [f(png(64, 48, mode="RGBA"))],
        DALLE,
        "image",
        "invalid_image_dimensions",
        (),
    ),
    ("over 4 MB for dall-e-2", [f(noise_png(1200))], DALLE, "image", "image_too_large", ("dall-e-2",)),
    ("two images for dall-e-2", many(rgba_png(), rgba_png()), DALLE, "image", "array_above_max_length", ()),
    ("dall-e-2 without alpha or mask", [f(png())], DALLE, "image", "invalid_image", ("transparen",)),
    ("mask not a png", [f(png()), f(jpeg(), "mask")], GPT, "mask", "invalid_image_format", ("PNG",)),
    ("mask without alpha", [f(png()), f(png(), "mask")], GPT, "mask", "invalid_mask", ("alpha",)),
    (
        "mask of another size",
        [f(png()), f(mask_png(32, 32), "mask")],
        GPT,
        "mask",
        "invalid_mask",
        ("32x32",),
    ),
    ("mask truncated", [f(png()), f(truncated(), "mask")], GPT, "mask", "invalid_image", ()),
    (
        "two masks",
        [f(png()), f(mask_png(), "mask"), f(mask_png(), "mask")],
        GPT,
        "mask",
        "duplicate_parameter",
        (),
    ),
    (
        "mask for gemini",
        [f(png()), f(mask_png(), "mask")],
        {"model": "gemini-2.5-flash-image", "prompt": "x"},
        "mask",
        "unsupported_parameter",
        (),
    ),
    ("no image", [], GPT, "image", "missing_required_parameter", ()),
    ("no prompt", [f(png())], {"model": "gpt-image-1"}, "prompt", "missing_required_parameter", ()),
    ("unknown field", [f(png())], {**GPT, "colour": "red"}, "colour", "unknown_parameter", ()),
    ("unknown file field", [f(png()), f(png(), "markup")], GPT, "markup", "unknown_parameter", ()),
    (
        "prompt as a file",
        [f(png()), f(b"x", "prompt")],
        {"model": "gpt-image-1"},
        "prompt",
        "invalid_type",
        (),
    ),
    ("n not a number", [f(png())], {**GPT, "n": "two"}, "n", "invalid_type", ("integer",)),
    ("n too big", [f(png())], {**GPT, "n": "11"}, "n", "integer_above_max_value", ()),
    ("stream not a boolean", [f(png())], {**GPT, "stream": "maybe"}, "stream", "invalid_type", ("boolean",)),
    ("size not listed", [f(png())], {**GPT, "size": "512x512"}, "size", "invalid_value", ()),
    (
        "input_fidelity on mini",
        [f(png())],
        {**GPT, "model": "gpt-image-1-mini", "input_fidelity": "high"},
        "input_fidelity",
        "unsupported_parameter",
        (),
    ),
    (
        "model that cannot edit",
        [f(png())],
        {**GPT, "model": "dall-e-3"},
        "model",
        "model_not_supported",
        ("gpt-image-1",),
    ),
    (
        "image as an ftp URL",
        [],
        {**GPT, "image": "ftp://example.com/a.png"},
        "image",
        "invalid_image_url",
        (),
    ),
    (
        "image URL to loopback",
        [],
        {**GPT, "image": "http://127.0.0.1:9/a.png"},
        "image",
        "image_url_refused",
        (),
    ),
]


@pytest.mark.parametrize(
    ("files", "data", "param", "code", "mentions"),
    [case[1:] for case in EDIT_CASES],
    ids=[case[0] for case in EDIT_CASES],
)
def test_hostile_edit_payloads(
    http: httpx.Client,
    keys: Keys,
    files: list[Part],
    data: dict[str, Any],
    param: str | None,
    code: str,
    mentions: tuple[str, ...],
) -> None:
    response = post(http, keys, "/api/images/edits", **multipart(data, files))
    assert_error(response, 400, param, code, *mentions)


VARIATION_CASES: list[tuple[str, list[Part], dict[str, Any], str | None, str]] = [
    ("dall-e-3", [f(png())], {"model": "dall-e-3"}, "model", "model_not_supported"),
    ("gpt-image-1", [f(png())], {"model": "gpt-image-1"}, "model", "model_not_supported"),
    ("jpeg", [f(jpeg())], {}, "image", "invalid_image_format"),
    ("not square", [f(png(64, 32))], {}, "image", "invalid_image_dimensions"),
    ("over 4 MB", [f(noise_png(1200))], {}, "image", "image_too_large"),
    ("two images", [f(png()), f(png())], {}, "image", "invalid_value"),
    ("image[]", many(png()), {}, "image", "invalid_value"),
    ("with a prompt", [f(png())], {"prompt": "no"}, "prompt", "unknown_parameter"),
    ("with a mask", [f(png()), f(mask_png(), "mask")], {}, "mask", "unknown_parameter"),
    ("size not for dall-e-2", [f(png())], {"size": "1792x1024"}, "size", "invalid_value"),
    ("bomb", [f(bomb_png(30_000, 30_000))], {}, "image", "image_too_large"),
]


@pytest.mark.parametrize(
    ("files", "data", "param", "code"),
    [case[1:] for case in VARIATION_CASES],
    ids=[case[0] for case in VARIATION_CASES],
)
def test_hostile_variation_payloads(
    http: httpx.Client, keys: Keys, files: list[Part], data: dict[str, Any], param: str | None, code: str
) -> None:
    assert_error(post(http, keys, "/api/images/variations", **multipart(data, files)), 400, param, code)


def data_url(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode()


JSON_CASES: list[tuple[str, dict[str, Any], str | None, str]] = [
    (
        "17 images",
        {**GPT, "images": [{"image_url": data_url(png())}] * 17},
        "images",
        "array_above_max_length",
    ),
    ("no images", {**GPT, "images": []}, "images", "empty_array"),
    ("file_id", {**GPT, "images": [{"file_id": "file-abc"}]}, "images[0]", "file_not_found"),
    (
        "neither",
        {**GPT, "images": [{"image_url": data_url(png())}, {}]},
        "images[1]",
        "missing_required_parameter",
    ),
    (
        "truncated",
        {**GPT, "images": [{"image_url": data_url(png())}, {"image_url": data_url(truncated())}]},
        "images[1]",
        "invalid_image",
    ),
    (
        "bomb",
        {**GPT, "images": [{"image_url": data_url(bomb_png(10_000, 10_000))}]},
        "images[0]",
        "image_too_large",
    ),
    (
        "bad base64",
        {**GPT, "images": [{"image_url": "data:image/png;base64,@@@"}]},
        "images[0]",
        "invalid_image",
    ),
    ("file URL", {**GPT, "images": [{"image_url": "file:///etc/passwd"}]}, "images[0]", "invalid_image_url"),
    (
        "metadata URL",
        {**GPT, "images": [{"image_url": "http://169.254.169.254/latest/meta-data/"}]},
        "images[0]",
        "image_url_refused",
    ),
    (
        "mask truncated",
        {**GPT, "images": [{"image_url": data_url(png())}], "mask": {"image_url": data_url(truncated())}},
        "mask",
        "invalid_image",
    ),
    ("image instead of images", {**GPT, "image": data_url(png())}, "image", "unknown_parameter"),
    ("images not an array", {**GPT, "images": data_url(png())}, "images", "invalid_type"),
]


@pytest.mark.parametrize(
    ("body", "param", "code"), [case[1:] for case in JSON_CASES], ids=[case[0] for case in JSON_CASES]
)
def test_hostile_json_edits(
    http: httpx.Client, keys: Keys, body: dict[str, Any], param: str | None, code: str
) -> None:
    assert_error(post(http, keys, "/api/images/edits", json=body), 400, param, code)


GENERATION_CASES: list[tuple[str, dict[str, Any], str | None, str, tuple[str, ...]]] = [
    (
        "dall-e-2 edits on /edits only",
        {"model": "dall-e-2", "prompt": "x", "image": data_url(png())},
        "image",
        "unsupported_parameter",
        ("/images/edits",),
    ),
    (
        "loopback URL",
        {**GPT, "image": "http://localhost:8080/a.png"},
        "image",
        "image_url_refused",
        ("loopback",),
    ),
    (
        "metadata URL in a list",
        {**GPT, "image": [data_url(png()), "http://169.254.169.254/"]},
        "image[1]",
        "image_url_refused",
        ("link-local",),
    ),
    ("gopher URL", {**GPT, "image": "gopher://127.0.0.1/"}, "image", "invalid_image_url", ()),
    (
        "input_fidelity without image",
        {**GPT, "input_fidelity": "high"},
        "input_fidelity",
        "unsupported_parameter",
        (),
    ),
    ("bomb", {**GPT, "image": data_url(bomb_png(9000, 9000))}, "image", "image_too_large", ()),
]


@pytest.mark.parametrize(
    ("body", "param", "code", "mentions"),
    [case[1:] for case in GENERATION_CASES],
    ids=[case[0] for case in GENERATION_CASES],
)
def test_hostile_image_field_on_generations(
    http: httpx.Client,
    keys: Keys,
    body: dict[str, Any],
    param: str | None,
    code: str,
    mentions: tuple[str, ...],
) -> None:
    assert_error(post(http, keys, "/api/images/generations", json=body), 400, param, code, *mentions)


def test_wrong_content_types(http: httpx.Client, keys: Keys) -> None:
    form = post(http, keys, "/api/images/edits", data={"prompt": "x"})
    assert_error(form, 415, None, "unsupported_media_type", "application/json")
    plain = post(http, keys, "/v1/images/edits", content=b"x", headers={"Content-Type": "text/plain"})
    assert_error(plain, 415, None, "unsupported_media_type")
    json_variation = post(http, keys, "/api/images/variations", json={"image": data_url(png())})
    assert_error(json_variation, 415, None, "unsupported_media_type", "multipart/form-data")


def test_malformed_multipart_is_a_400(http: httpx.Client, keys: Keys) -> None:
    response = post(
        http,
        keys,
        "/api/images/edits",
        content=b"--b\r\nContent-Disposition: form-data\r\n\r\nno name\r\n--b--\r\n",
        headers={"Content-Type": "multipart/form-data; boundary=b"},
    )
    assert_error(response, 400, None, "invalid_multipart")


def test_the_refusals_are_usage_records_not_crashes(hub: Hub) -> None:
    assert "Traceback" not in hub.log()
