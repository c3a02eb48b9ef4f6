"""Models without a known price (`unknown = true` in the price data): refused to live keys until
the operator prices them (catalog file) or opts in with IMAGEHUB_ALLOW_UNPRICED=1; sandbox keys
are never affected."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import openai
import pytest

from tests.fakes.vendors import FakeDashScope, FakeXAI
from tests.hub import Hub, create_key

#: The operator prices grok-imagine-image-2.0 in the catalog file; qwen-image-2.0 stays unknown.
OVERLAY = """
[prices."grok-imagine-image-2.0".per_image]
"*/*" = 25000
"""


@dataclass
class Priced:
    hub: Hub
    live: str
    sandbox: str
    xai: FakeXAI
    dashscope: FakeDashScope

    def sdk(self, key: str) -> openai.OpenAI:
        return openai.OpenAI(base_url=f"{self.hub.url}/api", api_key=key, max_retries=0, timeout=60)


def _hub(root: Path, **extra: str) -> Iterator[Priced]:
    (root / "catalog.toml").write_text(OVERLAY)
    with FakeXAI("xai-key") as xai, FakeDashScope("ds-key") as dashscope:
        env = {
            "XAI_API_KEY": xai.api_key,
            "XAI_BASE_URL": f"{xai.url}/v1",
            "DASHSCOPE_API_KEY": dashscope.api_key,
            "DASHSCOPE_BASE_URL": f"{dashscope.url}/api/v1",
            "IMAGEHUB_CATALOG_FILE": str(root / "catalog.toml"),
            **extra,
        }
        hub = Hub(root / "data", env=env).start()
        try:
            live = create_key(root / "data", "live", env=env)
            sandbox = create_key(root / "data", "sandbox", sandbox=True, env=env)
            yield Priced(hub, live, sandbox, xai, dashscope)
        finally:
            hub.stop()


@pytest.fixture(scope="module")
def refusing(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Priced]:
    yield from _hub(tmp_path_factory.mktemp("unpriced"))


@pytest.fixture(scope="module")
def opted_in(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Priced]:
    yield from _hub(tmp_path_factory.mktemp("unpriced-allowed"), IMAGEHUB_ALLOW_UNPRICED="1")


def test_a_live_key_is_refused_a_model_without_a_price(refusing: Priced) -> None:
    with pytest.raises(openai.PermissionDeniedError) as caught:
        refusing.sdk(refusing.live).images.generate(model="qwen-image-2.0", prompt="a temple")
    error = caught.value
    assert error.status_code == 403 and error.code == "model_not_priced"
    assert isinstance(error.body, dict) and error.body["param"] == "model"
    for words in ("qwen-image-2.0", "IMAGEHUB_CATALOG_FILE", "IMAGEHUB_ALLOW_UNPRICED=1"):
        assert words in error.message, "the message tells the operator what to set"
    assert not refusing.dashscope.requests, "refused before any upstream call"


def test_a_model_priced_in_the_catalog_file_is_served_and_charged(refusing: Priced) -> None:
    raw = refusing.sdk(refusing.live).images.with_raw_response.generate(
        model="grok-imagine-image-2.0", prompt="a comet", n=2
    )
    assert len(raw.parse().data or []) == 2
    assert int(raw.headers["x-imagehub-cost-micros"]) == 50_000


def test_sandbox_keys_are_unaffected(refusing: Priced) -> None:
    raw = refusing.sdk(refusing.sandbox).images.with_raw_response.generate(
        model="qwen-image-2.0", prompt="a temple"
    )
    assert len(raw.parse().data or []) == 1
    assert int(raw.headers["x-imagehub-cost-micros"]) == 0


def test_the_operator_can_opt_in_to_serving_unpriced_models_free(opted_in: Priced) -> None:
    raw = opted_in.sdk(opted_in.live).images.with_raw_response.generate(
        model="qwen-image-2.0", prompt="a temple", response_format="b64_json"
    )
    assert len(raw.parse().data or []) == 1
    assert int(raw.headers["x-imagehub-cost-micros"]) == 0
    assert [r.method for r in opted_in.dashscope.requests].count("POST") == 1, "served upstream"
