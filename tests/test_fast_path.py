"""FastPath: the generation endpoints served past FastAPI's stack must answer exactly as through it.

The hub's own suite drives FastPath over HTTP in every generation test (it is what `imagehub
serve` runs); these tests pin down the layer's own duties with endpoints made to fail on purpose.
"""

from __future__ import annotations

import logging

import pytest
from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.testclient import TestClient

from imagehub.api.errors import install_error_handlers
from imagehub.api.fast_path import FastPath
from imagehub.errors import InvalidRequest

PATH = "/v1/images/generations"


async def _endpoint(request: Request) -> Response:
    body = await request.body()
    if body == b"invalid":
        raise InvalidRequest("That will not do.", param="size", code="invalid_value")
    if body == b"crash":
        raise RuntimeError("a bug in the endpoint")
    state = request.app.state.marker
    return Response(f"{state}:{request.state.request_id}", media_type="text/plain")


@pytest.fixture
def client() -> TestClient:
    inner = FastAPI()
    inner.state.marker = "inner-app-state"
    install_error_handlers(inner)

    @inner.get(PATH)
    def listed() -> dict[str, str]:
        return {"served_by": "fastapi"}

    route = Route(PATH, _endpoint, methods=["POST"])
    return TestClient(FastPath(inner, {PATH: (route, _endpoint)}), root_path="")


def test_the_endpoint_sees_the_app_state_and_a_request_id(client: TestClient) -> None:
    response = client.post(PATH, content=b"ok")
    assert response.status_code == 200
    marker, request_id = response.text.split(":")
    assert marker == "inner-app-state"
    assert response.headers["x-request-id"] == request_id and request_id.startswith("req_")


def test_a_hub_error_is_answered_in_openai_shape(client: TestClient) -> None:
    response = client.post(PATH, content=b"invalid")
    assert response.status_code == 400
    assert response.json() == {
        "error": {
            "message": "That will not do.",
            "type": "invalid_request_error",
            "param": "size",
            "code": "invalid_value",
        }
    }
    assert response.headers["x-request-id"].startswith("req_")


def test_an_unexpected_error_is_a_logged_500_that_reveals_nothing(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="imagehub.api")
    response = client.post(PATH, content=b"crash")
    assert response.status_code == 500
    error = response.json()["error"]
    assert error["type"] == "server_error" and error["code"] == "internal_error"
    assert "bug" not in response.text
    assert any("a bug in the endpoint" in str(record.exc_info) for record in caplog.records)


def test_other_methods_and_paths_go_to_fastapi(client: TestClient) -> None:
    assert client.get(PATH).json() == {"served_by": "fastapi"}
    missing = client.post("/v1/images/nothing", content=b"ok")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"


def test_paths_are_matched_below_the_root_path() -> None:
    inner = FastAPI()
    inner.state.marker = "mounted"
    route = Route(PATH, _endpoint, methods=["POST"])
    mounted = TestClient(FastPath(inner, {PATH: (route, _endpoint)}), root_path="/hub")
    response = mounted.post(PATH, content=b"ok")
    assert response.status_code == 200 and response.text.startswith("mounted:")
