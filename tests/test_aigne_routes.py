"""The shape of every AIGNE Hub route, over real HTTP: discovery, /api/v2/image, legacy paths,
the model list, and errors in the `{"error": {...}}` shape the AIGNE client reads."""

from __future__ import annotations

import base64
import logging
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import Response

from imagehub.accounts.models import UsageRecord
from imagehub.app import create_app
from imagehub.catalog import load_catalog
from imagehub.config import Settings
from tests.conftest import Keys
from tests.hub import Hub, create_key
from tests.images import decode_b64, open_bytes, tiny_png

AIGNE_HUB_DID = "z8ia3xzq2tMq8CRHfaXj1BTYJyYnEcHbqP8cJ"
V2 = "/api/v2/image"


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}", "x-aigne-hub-client-did": "zTestClientDid"}


def _v2(http: httpx.Client, key: str, **input_: Any) -> httpx.Response:
    body = {"input": input_, "agent": "$CHAT_MODEL", "options": {"streaming": False, "userContext": {}}}
    return http.post(V2, json=body, headers=_auth(key))


def _error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    error: dict[str, Any] = body["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["message"]
    return error


# -- discovery ----------------------------------------------------------------------------------


def test_discovery_document(http: httpx.Client) -> None:
    response = http.get("/__blocklet__.js", params={"type": "json"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    mounts = response.json()["componentMountPoints"]
    assert {"did": AIGNE_HUB_DID, "mountPoint": "/"}.items() <= mounts[0].items()


def test_discovery_script_for_browsers(http: httpx.Client) -> None:
    response = http.get("/__blocklet__.js")
    assert response.headers["content-type"].startswith("application/javascript")
    assert response.text.startswith("window.blocklet = {") and AIGNE_HUB_DID in response.text


# -- POST /api/v2/image ------------------------------------------------------------------------


def test_url_output(http: httpx.Client, hub: Hub, keys: Keys) -> None:
    response = _v2(
        http, keys.sandbox, prompt="a fox", n=2, outputFileType="url", modelOptions={"model": "dall-e-2"}
    )
    assert response.status_code == 200, response.text
    assert response.headers["x-imagehub-sandbox"] == "true"
    body = response.json()
    assert set(body) == {"images", "usage", "model"}
    assert body["model"] == "openai/dall-e-2"
    assert body["usage"] == {"inputTokens": 0, "outputTokens": 0}
    assert len(body["images"]) == 2
    for image in body["images"]:
        assert set(image) == {"type", "url", "mimeType"}
        assert image["type"] == "url" and image["mimeType"] == "image/png"
        assert image["url"].startswith(f"{hub.url}/api/images/files/")
        fetched = httpx.get(image["url"])  # signed: no key needed
        assert fetched.status_code == 200 and fetched.headers["content-type"] == "image/png"
        assert open_bytes(fetched.content).size == (1024, 1024)


def test_file_output_and_prefixed_model(http: httpx.Client, keys: Keys) -> None:
    options = {"model": "openai/dall-e-3", "size": "1792x1024", "quality": "hd", "style": "natural"}
    response = _v2(http, keys.sandbox, prompt="a harbour", outputFileType="file", modelOptions=options)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model"] == "openai/dall-e-3"
    [image] = body["images"]
    assert set(image) == {"type", "data", "mimeType"}
    assert image["type"] == "file" and image["mimeType"] == "image/png"
    assert decode_b64(image["data"]).size == (1792, 1024)


def test_same_bytes_as_the_main_route(http: httpx.Client, keys: Keys) -> None:
    """One service behind both formats: the same request gives the same sandbox image."""
    aigne = _v2(
        http, keys.sandbox, prompt="twins", outputFileType="file", modelOptions={"size": "256x256"}
    ).json()
    main = http.post(
        "/api/images/generations",
        json={"prompt": "twins", "size": "256x256", "response_format": "b64_json"},
        headers=_auth(keys.sandbox),
    ).json()
    assert aigne["images"][0]["data"] == main["data"][0]["b64_json"]


@pytest.mark.parametrize(
    ("output_format", "mime", "pil"),
    [("png", "image/png", "PNG"), ("jpeg", "image/jpeg", "JPEG"), ("webp", "image/webp", "WEBP")],
)
@pytest.mark.parametrize("output_file_type", ["url", "file"])
def test_mime_type_follows_the_output_format(
    http: httpx.Client, keys: Keys, output_format: str, mime: str, pil: str, output_file_type: str
) -> None:
    options = {"model": "gpt-image-1-mini", "outputFormat": output_format, "quality": "low"}
    body = _v2(
        http, keys.sandbox, prompt="formats", outputFileType=output_file_type, modelOptions=options
    ).json()
    [image] = body["images"]
    assert image["mimeType"] == mime
    data = httpx.get(image["url"]).content if output_file_type == "url" else base64.b64decode(image["data"])
    assert open_bytes(data).format == pil


def test_top_level_fields_win_over_model_options(http: httpx.Client, keys: Keys) -> None:
    """As in AIGNE's own image models, `input.size` overrides `modelOptions.size`."""
    body = _v2(
        http,
        keys.sandbox,
        prompt="sizes",
        size="512x512",
        outputFileType="file",
        appContext={"ignored": True},
        modelOptions={"model": "dall-e-2", "size": "256x256"},
    ).json()
    assert decode_b64(body["images"][0]["data"]).size == (512, 512)


def test_google_model_names_its_provider(http: httpx.Client, keys: Keys) -> None:
    body = _v2(http, keys.sandbox, prompt="g", modelOptions={"model": "gemini-3.1-flash-image"}).json()
    assert body["model"] == "google/gemini-3.1-flash-image"
    assert body["images"][0]["type"] == "url"  # outputFileType defaults to url


@pytest.mark.parametrize(
    "image",
    [
        {"type": "file", "data": base64.b64encode(tiny_png()).decode(), "mimeType": "image/png"},
        {"type": "file", "data": base64.b64encode(tiny_png()).decode()},
        "data:image/png;base64," + base64.b64encode(tiny_png()).decode(),
        base64.b64encode(tiny_png()).decode(),
    ],
    ids=["file-object", "file-object-without-mime", "data-uri", "raw-base64"],
)
def test_input_images(http: httpx.Client, keys: Keys, image: Any) -> None:
    response = _v2(
        http,
        keys.sandbox,
        prompt="edit",
        image=[image],
        outputFileType="file",
        modelOptions={"model": "gpt-image-1", "size": "1024x1024"},
    )
    assert response.status_code == 200, response.text
    assert decode_b64(response.json()["images"][0]["data"]).size == (1024, 1024)


def test_empty_image_list_means_no_images(http: httpx.Client, keys: Keys) -> None:
    """The client sends `image: []`; dall-e-2 cannot edit, yet this is a plain generation."""
    response = _v2(http, keys.sandbox, prompt="plain", image=[], modelOptions={"model": "dall-e-2"})
    assert response.status_code == 200, response.text


def test_client_did_is_recorded_with_usage_and_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """On request.state, in the usage record (with key and model), and in the operator's log."""
    key = create_key(tmp_path / "data", "did", sandbox=True)
    app = create_app(Settings(data_dir=tmp_path / "data", mount_point="/imagehub/"))
    seen: list[str | None] = []

    @app.middleware("http")
    async def capture(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        seen.append(getattr(request.state, "client_did", None))
        return response

    caplog.set_level(logging.INFO, logger="imagehub.aigne")
    with TestClient(app) as local:
        response = local.post(V2, json={"input": {"prompt": "did"}}, headers=_auth(key))
        assert response.status_code == 200, response.text
        for bad in ({"prompt": "did", "n": 99}, {"prompt": "did", "outputFileType": "local"}):
            assert local.post(V2, json={"input": bad}, headers=_auth(key)).status_code == 400
        assert local.portal is not None
        records = local.portal.call(_usage_records, app)
        # dall-e-2 is shut down: its successor served it, and the record keeps both names.
        assert [(r.client_did, r.model, r.requested_model, r.status_code) for r in records] == [
            ("zTestClientDid", "gpt-image-2.5-sunburst", "dall-e-2", 200),
            ("zTestClientDid", "dall-e-2", None, 400),
            ("zTestClientDid", "(unparsed)", None, 400),  # rejected while translating, like the main route
        ]
        assert all(r.key_id == records[0].key_id and r.key_id.startswith("key_") for r in records)
        # The mount point setting is what discovery announces, normalised.
        mounts = local.get("/__blocklet__.js?type=json").json()["componentMountPoints"]
        assert mounts[0]["mountPoint"] == "/imagehub"
    assert seen == ["zTestClientDid"] * 3 + [None]
    [record] = [r for r in caplog.records if r.name == "imagehub.aigne"]
    assert record.__dict__["client_did"] == "zTestClientDid"
    assert record.__dict__["model"] == "openai/dall-e-2"
    assert record.__dict__["key_id"].startswith("key_")


async def _usage_records(app: FastAPI) -> list[UsageRecord]:
    await app.state.usage_writer.flush()  # records are batched; make this process's batch land
    async with app.state.sessions() as session:
        return list((await session.scalars(select(UsageRecord).order_by(UsageRecord.created_at))).all())


# -- errors -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("input_", "param", "code"),
    [
        ({"prompt": "x", "modelOptions": {"model": "dall-e-3", "size": "256x256"}}, "size", "invalid_value"),
        ({"prompt": "x", "n": 2, "modelOptions": {"model": "dall-e-3"}}, "n", "integer_above_max_value"),
        ({"modelOptions": {"model": "dall-e-2"}}, "prompt", "missing_required_parameter"),
        ({"prompt": 7}, "prompt", "invalid_type"),
        ({"prompt": "x", "modelOptions": {"temperature": 0.2}}, "temperature", "unknown_parameter"),
        (
            {"prompt": "x", "modelOptions": {"responseFormat": "url"}},
            "response_format",
            "unsupported_parameter",
        ),
        ({"prompt": "x", "modelOptions": "dall-e-2"}, "modelOptions", "invalid_type"),
        ({"prompt": "x", "outputFileType": "local"}, "outputFileType", "invalid_value"),
        ({"prompt": "x", "image": [{"type": "local", "path": "/tmp/a.png"}]}, "image[0]", "invalid_value"),
        ({"prompt": "x", "image": [{"type": "file"}]}, "image[0]", "invalid_type"),
        ({"prompt": "x", "image": ["bm90IGFuIGltYWdl"]}, "image", "unsupported_parameter"),
        (
            {
                "prompt": "x",
                "image": [{"type": "url", "url": "http://169.254.169.254/latest/meta-data/"}],
                "modelOptions": {"model": "gpt-image-1"},
            },
            "image[0]",
            "image_url_refused",
        ),
        (
            {"prompt": "x", "image": ["bm90IGFuIGltYWdl"], "modelOptions": {"model": "gpt-image-1"}},
            "image[0]",
            "invalid_image",
        ),
    ],
)
def test_validation_errors(
    http: httpx.Client, keys: Keys, input_: dict[str, Any], param: str, code: str
) -> None:
    error = _error(_v2(http, keys.sandbox, **input_), 400)
    assert (error["param"], error["code"], error["type"]) == (param, code, "invalid_request_error")


@pytest.mark.parametrize(
    ("content", "code"),
    [(b"{broken", "invalid_json"), (b"", "empty_body"), (b'{"agent": "x"}', "missing_required_parameter")],
)
def test_malformed_envelopes(http: httpx.Client, keys: Keys, content: bytes, code: str) -> None:
    headers = {**_auth(keys.sandbox), "Content-Type": "application/json"}
    assert _error(http.post(V2, content=content, headers=headers), 400)["code"] == code


@pytest.mark.parametrize(
    ("headers", "code"),
    [({}, "missing_api_key"), ({"Authorization": "Bearer ih-sbx-" + "A" * 43}, "invalid_api_key")],
)
def test_auth_errors(http: httpx.Client, headers: dict[str, str], code: str) -> None:
    response = http.post(V2, json={"input": {"prompt": "x"}}, headers=headers)
    assert _error(response, 401)["code"] == code


@pytest.mark.parametrize("model", ["dall-e-9", "google/dall-e-2"])
def test_unknown_model_is_404(http: httpx.Client, keys: Keys, model: str) -> None:
    error = _error(_v2(http, keys.sandbox, prompt="x", modelOptions={"model": model}), 404)
    assert error["code"] == "model_not_found" and error["param"] == "model"


def test_live_key_without_provider(http: httpx.Client, keys: Keys) -> None:
    error = _error(_v2(http, keys.live, prompt="x", modelOptions={"model": "openai/dall-e-3"}), 403)
    assert error["code"] == "model_not_available" and "dall-e-3" in error["message"]


# -- legacy OpenAI-style paths -------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/api/v1/image/generations", "/api/v2/image/generations", "/images/generations"]
)
def test_legacy_paths_answer_like_the_main_route(http: httpx.Client, keys: Keys, path: str) -> None:
    body = {"prompt": "legacy", "size": "256x256", "response_format": "b64_json"}
    legacy = http.post(path, json=body, headers=_auth(keys.sandbox))
    main = http.post("/api/images/generations", json=body, headers=_auth(keys.sandbox))
    assert legacy.status_code == 200, legacy.text
    assert set(legacy.json()) == {"created", "data"}
    assert legacy.json()["data"] == main.json()["data"]
    assert legacy.headers["x-imagehub-sandbox"] == "true"
    bad_body = {**body, "size": "7x7"}
    bad = http.post(path, json=bad_body, headers=_auth(keys.sandbox))
    bad_main = http.post("/api/images/generations", json=bad_body, headers=_auth(keys.sandbox))
    assert _error(bad, 400) == _error(bad_main, 400)
    assert _error(http.post(path, json=body), 401)["code"] == "missing_api_key"


# -- GET /api/ai/models ------------------------------------------------------------------------


def test_model_list_shape(http: httpx.Client) -> None:
    response = http.get("/api/ai/models", params={"type": "image"})
    assert response.status_code == 200
    models = response.json()
    catalog = load_catalog()
    assert [entry["model"] for entry in models] == catalog.names()
    for entry in models:
        spec = catalog.get(entry["model"])
        assert spec is not None
        assert set(entry) >= {
            "model",
            "type",
            "provider",
            "input_credits_per_token",
            "output_credits_per_token",
            "modelMetadata",
            "providerDisplayName",
            "status",
        }
        assert entry["type"] == "image" and entry["provider"] == spec.providers[0]
        assert entry["input_credits_per_token"] == "0" and entry["output_credits_per_token"] == "0"
        meta = entry["modelMetadata"]["imageGeneration"]
        assert meta == {
            "max": spec.max_n,
            "size": list(spec.sizes),
            "quality": list(spec.qualities),
            "style": list(spec.styles),
        }
        assert entry["status"] == {"available": False}, "no deployment is configured in tests"


def test_model_list_with_a_sandbox_key_is_all_available(http: httpx.Client, keys: Keys) -> None:
    models = http.get("/api/ai/models", params={"type": "image"}, headers=_auth(keys.sandbox)).json()
    assert models and all(entry["status"]["available"] for entry in models)


def test_model_list_other_types_and_bad_keys(http: httpx.Client) -> None:
    assert http.get("/api/ai/models", params={"type": "chat"}).json() == []
    assert len(http.get("/api/ai/models").json()) == len(load_catalog().names())
    bad = http.get("/api/ai/models", headers={"Authorization": "Bearer nope"})
    assert _error(bad, 401)["code"] == "invalid_api_key"
