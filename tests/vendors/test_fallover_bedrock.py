"""`stable-image-ultra` served by Stability's own API and by Amazon Bedrock in one hub: when the
Stability deployment fails, the answer comes from Bedrock (SigV4-verified by its fake), at the
asked size, and the request is charged and recorded at Bedrock's price, not Stability's."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.fakes import Fault
from tests.fakes.bedrock import ACCESS_KEY, SECRET_KEY, SESSION_TOKEN, FakeBedrock
from tests.fakes.vendors import FakeStability
from tests.hub import Hub, create_key
from tests.images import decode_b64

CONFIG = """
[routing]
max_retries = 1
backoff_base_seconds = 0.01
backoff_max_seconds = 0.05
failure_threshold = 1000

[[deployments]]
name = "stability"
provider = "stability"
base_url = "{stability}"
models = ["stable-image-ultra"]
weight = 1000000

[[deployments]]
name = "bedrock"
provider = "bedrock"
region = "us-west-2"
base_url = "{bedrock}"
models = ["stable-image-ultra"]
weight = 0.000001
"""
STABILITY_PRICE, BEDROCK_PRICE = 80_000, 140_000  # vendor_prices.toml


@dataclass
class TwoProviders:
    hub: Hub
    admin: str
    stability: FakeStability
    bedrock: FakeBedrock

    def live_key(self) -> tuple[str, str]:
        response = self._admin("POST", "/api/admin/keys", {"name": "fallover", "mode": "live"})
        assert response.status_code == 201, response.text
        return response.json()["id"], response.json()["secret"]

    def records(self, key_id: str) -> list[dict[str, Any]]:
        deadline = time.monotonic() + 5
        while True:  # records of requests that hold no money are written in batches
            response = self._admin("GET", f"/api/usage/records?key_id={key_id}")
            assert response.status_code == 200, response.text
            if response.json()["data"] or time.monotonic() > deadline:
                return list(response.json()["data"])
            time.sleep(0.05)

    def _admin(self, method: str, path: str, json: Any = None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.admin}"}
        return httpx.request(method, f"{self.hub.url}{path}", json=json, headers=headers, timeout=30)


@pytest.fixture(scope="module")
def two_providers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TwoProviders]:
    root: Path = tmp_path_factory.mktemp("bedrock-fallover")
    with FakeStability("sk-stability") as stability, FakeBedrock() as bedrock:
        (root / "hub.toml").write_text(CONFIG.format(stability=stability.url, bedrock=bedrock.url))
        env = {
            "IMAGEHUB_CONFIG_FILE": str(root / "hub.toml"),
            "STABILITY_API_KEY": stability.api_key,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_SESSION_TOKEN": SESSION_TOKEN,
            "AWS_CONFIG_FILE": str(root / "no-aws-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(root / "no-aws-credentials"),
            "AWS_EC2_METADATA_DISABLED": "true",
        }
        hub = Hub(root / "data", env=env).start()
        try:
            admin = create_key(root / "data", "admin", admin=True, env=env)
            yield TwoProviders(hub, admin, stability, bedrock)
        finally:
            hub.stop()


@pytest.fixture
def providers(two_providers: TwoProviders) -> Iterator[TwoProviders]:
    for fake in (two_providers.stability, two_providers.bedrock):
        fake.reset()
    yield two_providers
    for fake in (two_providers.stability, two_providers.bedrock):
        assert not fake.errors, f"{type(fake).__name__} itself crashed: {fake.errors}"


def _client(hub: Hub, secret: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{hub.url}/api", api_key=secret, max_retries=0, timeout=60)


def test_stability_answers_while_it_is_up(providers: TwoProviders) -> None:
    key_id, secret = providers.live_key()
    raw = _client(providers.hub, secret).images.with_raw_response.generate(
        model="stable-image-ultra", prompt="a harbour", size="1344x768", response_format="b64_json"
    )
    assert len(providers.stability.requests) == 1 and not providers.bedrock.requests
    assert int(raw.headers["x-imagehub-cost-micros"]) == STABILITY_PRICE
    assert providers.records(key_id)[0]["provider"] == "stability"


@pytest.mark.parametrize(
    ("faults", "tries"),
    [
        ([Fault.status(503)] * 2, 2),  # retried once, then the next deployment
        ([Fault.status(401)], 1),  # the hub's Stability key is refused: no retry, next deployment
    ],
    ids=["5xx", "401"],
)
def test_a_failing_stability_deployment_falls_over_to_bedrock(
    providers: TwoProviders, faults: list[Fault], tries: int
) -> None:
    providers.stability.enqueue(*faults)
    key_id, secret = providers.live_key()
    raw = _client(providers.hub, secret).images.with_raw_response.generate(
        model="stable-image-ultra", prompt="a harbour", size="1344x768", response_format="b64_json"
    )
    result = raw.parse()
    assert len(providers.stability.requests) == tries
    sent = providers.bedrock.last
    assert sent.path == "/model/stability.stable-image-ultra-v1:1/invoke"
    assert sent.json is not None and sent.json["aspect_ratio"] == "16:9"
    assert providers.bedrock.signed_regions == ["us-west-2"], "SigV4-signed, verified by the fake"
    assert result.data is not None and decode_b64(result.data[0].b64_json or "").size == (1344, 768)
    assert int(raw.headers["x-imagehub-cost-micros"]) == BEDROCK_PRICE
    (record,) = providers.records(key_id)
    assert record["provider"] == "bedrock" and record["state"] == "settled"
    assert record["price_micros"] == BEDROCK_PRICE, "priced by the provider that served it"
    assert record["reserved_micros"] == BEDROCK_PRICE, "reserved at the dearest that could serve it"
