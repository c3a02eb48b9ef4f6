"""The OpenAPI document a user of /docs relies on, and CORS for browser apps on other origins."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import Keys
from tests.hub import Hub, create_key


def test_openapi_has_bearer_auth_and_no_422(http: httpx.Client) -> None:
    spec = http.get("/openapi.json").json()
    assert spec["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "description": spec["components"]["securitySchemes"]["bearerAuth"]["description"],
    }
    operations = [(p, op) for p, ops in spec["paths"].items() for op in ops.values()]
    assert all("422" not in op["responses"] for _, op in operations)
    generation = spec["paths"]["/api/images/generations"]["post"]
    assert generation["security"] == [{"bearerAuth": []}]
    assert spec["paths"]["/healthz"]["get"]["security"] == []
    assert "$defs" not in str(spec["paths"])


def test_each_error_status_has_its_own_example(http: httpx.Client) -> None:
    responses = http.get("/openapi.json").json()["paths"]["/api/images/generations"]["post"]["responses"]
    errors = {
        status: r["content"]["application/json"]["example"]
        for status, r in responses.items()
        if status >= "400"
    }
    assert {"400", "401", "402", "403", "409", "413", "415", "429", "502", "503", "504"} <= set(errors)
    codes = [example["error"]["code"] for example in errors.values()]
    assert len(set(codes)) == len(codes), "one distinct example per status"


def test_request_examples_are_valid_requests(http: httpx.Client, keys: Keys) -> None:
    spec = http.get("/openapi.json").json()
    content = spec["paths"]["/api/images/generations"]["post"]["requestBody"]["content"]["application/json"]
    assert len(content["examples"]) >= 3
    for name, example in content["examples"].items():
        answer = http.post(
            "/api/images/generations",
            json={**example["value"], "response_format": "b64_json"},
            headers={"Authorization": f"Bearer {keys.sandbox}"},
        )
        assert answer.status_code == 200, (name, answer.text)


def test_admin_bodies_are_documented_and_their_examples_accepted(tmp_path: Path) -> None:
    hub = Hub(tmp_path / "data").start()
    try:
        admin = {"Authorization": f"Bearer {create_key(hub.data_dir, 'admin', admin=True)}"}
        spec = httpx.get(f"{hub.url}/openapi.json").json()
        paths = spec["paths"]

        def example(path: str, method: str) -> object:
            body = paths[path][method]["requestBody"]["content"]["application/json"]
            assert body["schema"]["properties"]
            return body["example"]

        created = httpx.post(
            f"{hub.url}/api/admin/keys", json=example("/api/admin/keys", "post"), headers=admin
        )
        assert created.status_code == 201, created.text
        key_id = created.json()["id"]
        patched = httpx.patch(
            f"{hub.url}/api/admin/keys/{key_id}",
            json=example("/api/admin/keys/{key_id}", "patch"),
            headers=admin,
        )
        assert patched.status_code == 200, patched.text
        topped = httpx.post(
            f"{hub.url}/api/admin/keys/{key_id}/credits",
            json=example("/api/admin/keys/{key_id}/credits", "post"),
            headers=admin,
        )
        assert topped.status_code == 200, topped.text
    finally:
        hub.stop()


def test_no_cors_headers_by_default(http: httpx.Client) -> None:
    preflight = http.options(
        "/api/images/generations",
        headers={"Origin": "https://app.example.com", "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in preflight.headers


@pytest.fixture(scope="module")
def cors_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Hub, str]]:
    data_dir = tmp_path_factory.mktemp("cors") / "data"
    hub = Hub(data_dir, env={"IMAGEHUB_CORS_ORIGINS": "https://app.example.com"}).start()
    yield hub, create_key(data_dir, "cors", sandbox=True)
    hub.stop()


@pytest.mark.parametrize("path", ["/api/images/generations", "/v1/images/generations", "/api/models"])
def test_cors_preflight_and_headers_when_enabled(cors_hub: tuple[Hub, str], path: str) -> None:
    hub, key = cors_hub
    origin = {"Origin": "https://app.example.com"}
    preflight = httpx.options(
        f"{hub.url}{path}",
        headers={
            **origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "https://app.example.com"
    assert "authorization" in preflight.headers["access-control-allow-headers"].lower()
    headers = {**origin, "Authorization": f"Bearer {key}"}
    if path.endswith("generations"):  # served by FastPath, past FastAPI's middleware
        answer = httpx.post(f"{hub.url}{path}", json={"prompt": "cors", "size": "256x256"}, headers=headers)
    else:
        answer = httpx.get(f"{hub.url}{path}", headers=headers)
    assert answer.status_code == 200
    assert answer.headers["access-control-allow-origin"] == "https://app.example.com"
    assert "x-request-id" in answer.headers["access-control-expose-headers"]
    other = httpx.options(
        f"{hub.url}{path}",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert other.headers.get("access-control-allow-origin") != "https://evil.example"
