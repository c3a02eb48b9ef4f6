"""Image URLs through a real hub: fetched when allowlisted, refused (with nothing sent) otherwise.

The test image host listens on 127.0.0.1, which the guard refuses by default, so the positive path
runs on a hub with IMAGEHUB_FETCH_ALLOWLIST=127.0.0.1 and the refusals on hubs and addresses
without it. Every URL here points at loopback: no traffic leaves 127.0.0.1 / ::1.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from tests.billing_hub import BillingHub, billing_hub
from tests.conftest import Keys
from tests.fakes import FakeOpenAI
from tests.hub import Hub
from tests.image_host import ImageHost, Tripwire
from tests.payloads import html_as_image, mask_png, png, rgba_png

USD = 1_000_000
MAX_UPLOAD = 2 * 1024 * 1024
pytestmark = pytest.mark.filterwarnings("ignore:deprecated:DeprecationWarning")


@pytest.fixture(scope="module")
def host() -> Iterator[ImageHost]:
    with ImageHost("127.0.0.1") as server:
        server.put("red.png", png(colour=(200, 40, 40)))
        server.put("alpha.png", rgba_png(256, 256))
        server.put("mask.png", mask_png())
        server.put("plain.txt", png(), "text/plain")
        server.put("page.png", html_as_image(), "image/png")
        yield server


@pytest.fixture(scope="module")
def billing(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BillingHub]:
    env = {
        # DALL-E 2's own edits, variations and per-image prices: as served before its shutdown.
        "IMAGEHUB_TODAY": "2026-04-01",
        "IMAGEHUB_FETCH_ALLOWLIST": "127.0.0.1",
        "IMAGEHUB_MAX_UPLOAD_BYTES": str(MAX_UPLOAD),
        "IMAGEHUB_FETCH_TIMEOUT_SECONDS": "2",
    }
    with billing_hub(tmp_path_factory.mktemp("urls"), "sqlite", extra_env=env) as hub:
        yield hub


@pytest.fixture
def upstream(billing: BillingHub, host: ImageHost) -> FakeOpenAI:
    billing.upstream.reset()
    host.paths.clear()
    return billing.upstream


@pytest.fixture
def wire() -> Iterator[Tripwire]:
    with Tripwire("127.0.0.2") as tripwire:
        yield tripwire


def edit(billing: BillingHub, secret: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(
        f"{billing.hub.url}/api/images/edits",
        json=body,
        headers={"Authorization": f"Bearer {secret}"},
        timeout=60,
    )


def error_of(response: httpx.Response, status: int = 400) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    return error


# --- fetched, forwarded, billed like a generation ----------------------------------------------------


def test_image_url_on_generations_is_fetched_and_sent_upstream(
    billing: BillingHub, host: ImageHost, upstream: FakeOpenAI
) -> None:
    _, secret = billing.new_key(balance_micros=1 * USD)
    result = billing.sdk(secret).images.generate(
        model="gpt-image-1", prompt="from a URL", extra_body={"image": [f"{host.url}/img/red.png"]}
    )
    assert result.data is not None and result.data[0].b64_json
    sent = upstream.last
    assert sent.path == "/v1/images/edits"
    assert [file.data for file in sent.files("image")] == [png(colour=(200, 40, 40))]
    assert host.paths == ["/img/red.png"]


def test_json_edit_with_urls_and_redirect_priced_like_a_generation(
    billing: BillingHub, host: ImageHost, upstream: FakeOpenAI
) -> None:
    key_id, secret = billing.new_key(balance_micros=1 * USD)
    response = edit(
        billing,
        secret,
        {
            "model": "dall-e-2",
            "prompt": "priced",
            "n": 2,
            "size": "512x512",
            "images": [{"image_url": f"{host.url}/redirect?to=/img/alpha.png"}],
            "response_format": "b64_json",
        },
    )
    assert response.status_code == 200, response.text
    assert [file.data for file in upstream.last.files("image")] == [rgba_png(256, 256)]
    [record] = billing.records(key_id)
    assert record["price_micros"] == 2 * 18_000 and record["state"] == "settled"
    assert billing.key(key_id)["balance_micros"] == 1 * USD - 2 * 18_000


def test_variation_is_priced_like_a_generation(billing: BillingHub, upstream: FakeOpenAI) -> None:
    key_id, secret = billing.new_key(balance_micros=1 * USD)
    billing.sdk(secret).images.create_variation(
        image=("a.png", png()), size="256x256", response_format="b64_json"
    )
    assert upstream.last.path == "/v1/images/variations"
    [record] = billing.records(key_id)
    assert record["price_micros"] == 16_000


def test_mask_by_url_and_content_type_ignored(
    billing: BillingHub, host: ImageHost, upstream: FakeOpenAI
) -> None:
    _, secret = billing.new_key(balance_micros=1 * USD)
    response = edit(
        billing,
        secret,
        {
            "model": "gpt-image-1",
            "prompt": "masked",
            "images": [{"image_url": f"{host.url}/img/plain.txt"}],
            "mask": {"image_url": f"{host.url}/img/mask.png"},
        },
    )
    assert response.status_code == 200, response.text
    assert [file.data for file in upstream.last.files("mask")] == [mask_png()]


# --- refused: 400, nothing upstream, nothing charged --------------------------------------------------


@pytest.mark.parametrize(
    ("path", "code"),
    [
        ("/img/page.png", "invalid_image"),  # HTML served as image/png: decoded, not believed
        ("/endless", "image_too_large"),
        ("/big", "image_too_large"),
        ("/slow", "image_fetch_timeout"),
        ("/status/404", "image_fetch_failed"),
        ("/chain/4/red.png", "too_many_redirects"),
        ("/redirect?to=http://169.254.169.254/latest/meta-data/", "image_url_refused"),
        ("/redirect?to=http://[::ffff:127.0.0.2]/", "image_url_refused"),
        ("/redirect?to=gopher://127.0.0.1/", "invalid_image_url"),
    ],
)
def test_hostile_urls_on_an_allowlisted_host(
    billing: BillingHub, host: ImageHost, upstream: FakeOpenAI, path: str, code: str
) -> None:
    key_id, secret = billing.new_key(balance_micros=1 * USD)
    response = edit(
        billing,
        secret,
        {
            "model": "gpt-image-1",
            "prompt": "x",
            "images": [{"image_url": f"{host.url}/img/red.png"}, {"image_url": f"{host.url}{path}"}],
        },
    )
    error = error_of(response)
    assert (error["param"], error["code"]) == ("images[1]", code)
    assert upstream.requests == []
    assert billing.key(key_id)["balance_micros"] == 1 * USD


def test_redirect_to_an_unlisted_loopback_server_never_connects(
    billing: BillingHub, host: ImageHost, upstream: FakeOpenAI, wire: Tripwire
) -> None:
    _, secret = billing.new_key(balance_micros=1 * USD)
    response = edit(
        billing,
        secret,
        {
            "model": "gpt-image-1",
            "prompt": "x",
            "images": [{"image_url": f"{host.url}/redirect?to={wire.url}/a.png"}],
        },
    )
    assert error_of(response)["code"] == "image_url_refused"
    assert wire.connections == [] and upstream.requests == []


def test_bodies_over_the_upload_cap_are_413(billing: BillingHub) -> None:
    _, secret = billing.new_key(balance_micros=1 * USD)
    big = b"\x00" * (MAX_UPLOAD + 1)
    client = billing.sdk(secret)
    with pytest.raises(openai.APIStatusError) as caught:
        client.images.edit(model="gpt-image-1", image=("a.png", big), prompt="too big")
    assert caught.value.status_code == 413
    data_url = "data:image/png;base64," + base64.b64encode(big).decode()
    response = edit(
        billing, secret, {"model": "gpt-image-1", "prompt": "x", "images": [{"image_url": data_url}]}
    )
    assert error_of(response, 413)["code"] == "payload_too_large"


# --- the default hub (no allowlist): loopback in every spelling, and no connection made -------------


def _loopback_urls(v4: Tripwire, v6: Tripwire) -> list[str]:
    port = v4.port
    return [
        f"http://127.0.0.1:{port}/a.png",
        f"http://localhost:{port}/a.png",
        f"http://LOCALHOST.:{port}/a.png",
        f"http://2130706433:{port}/a.png",
        f"http://0x7f000001:{port}/a.png",
        f"http://127.1:{port}/a.png",
        f"http://0.0.0.0:{port}/a.png",
        f"http://[::ffff:127.0.0.1]:{port}/a.png",
        f"https://127.0.0.1:{port}/a.png",
        f"http://[::1]:{v6.port}/a.png",
    ]


def test_default_hub_refuses_loopback_without_connecting(http: httpx.Client, hub: Hub, keys: Keys) -> None:
    with Tripwire("127.0.0.1") as v4, Tripwire("::1") as v6:
        for url in _loopback_urls(v4, v6):
            response = http.post(
                "/api/images/generations",
                headers={"Authorization": f"Bearer {keys.sandbox}"},
                json={"model": "gpt-image-1", "prompt": "x", "image": url},
            )
            error = error_of(response)
            assert (error["param"], error["code"]) == ("image", "image_url_refused"), url
            assert "loopback" in error["message"] or "unspecified" in error["message"], error
        assert v4.connections == [] and v6.connections == []


def test_default_hub_never_requests_the_test_image_host(
    http: httpx.Client, keys: Keys, host: ImageHost
) -> None:
    host.paths.clear()
    response = http.post(
        "/api/images/edits",
        headers={"Authorization": f"Bearer {keys.sandbox}"},
        json={"prompt": "x", "images": [{"image_url": f"{host.url}/img/red.png"}]},
    )
    assert error_of(response)["code"] == "image_url_refused"
    assert host.paths == []
