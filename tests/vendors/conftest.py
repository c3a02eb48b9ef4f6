"""One live hub configured the common way for every image vendor: each vendor's own key
variable and a base URL pointing at its fake, shared by the tests of this folder."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import openai
import pytest

from tests.fakes.vendors import (
    FakeBFL,
    FakeDashScope,
    FakeFal,
    FakeIdeogram,
    FakeRecraft,
    FakeReplicate,
    FakeSeedream,
    FakeStability,
    FakeXAI,
    VendorFake,
)
from tests.hub import Hub, create_key

#: provider -> (fake class, key variable, base URL variable, path under the fake's root)
VENDORS: dict[str, tuple[type[VendorFake], str, str, str]] = {
    "bfl": (FakeBFL, "BFL_API_KEY", "BFL_BASE_URL", "/v1"),
    "stability": (FakeStability, "STABILITY_API_KEY", "STABILITY_BASE_URL", ""),
    "ideogram": (FakeIdeogram, "IDEOGRAM_API_KEY", "IDEOGRAM_BASE_URL", ""),
    "recraft": (FakeRecraft, "RECRAFT_API_TOKEN", "RECRAFT_BASE_URL", "/v1"),
    "xai": (FakeXAI, "XAI_API_KEY", "XAI_BASE_URL", "/v1"),
    "seedream": (FakeSeedream, "ARK_API_KEY", "SEEDREAM_BASE_URL", "/api/v3"),
    "dashscope": (FakeDashScope, "DASHSCOPE_API_KEY", "DASHSCOPE_BASE_URL", "/api/v1"),
    "fal": (FakeFal, "FAL_KEY", "FAL_BASE_URL", ""),
    "replicate": (FakeReplicate, "REPLICATE_API_TOKEN", "REPLICATE_BASE_URL", "/v1"),
}


@dataclass
class VendorHub:
    hub: Hub
    key: str
    fakes: dict[str, VendorFake]

    def sdk(self) -> openai.OpenAI:
        return openai.OpenAI(base_url=f"{self.hub.url}/api", api_key=self.key, max_retries=0, timeout=60)


@pytest.fixture(scope="module")
def vendor_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VendorHub]:
    fakes = {name: cls(api_key=f"key-for-{name}").start() for name, (cls, *_) in VENDORS.items()}
    env = {}
    for name, (_, key_var, url_var, path) in VENDORS.items():
        env[key_var] = fakes[name].api_key
        env[url_var] = fakes[name].url + path
    # Several vendors' models have no known price (tests/vendors/test_unpriced.py covers refusal).
    env["IMAGEHUB_ALLOW_UNPRICED"] = "1"
    data_dir = tmp_path_factory.mktemp("vendors") / "data"
    hub = Hub(data_dir, env=env).start()
    try:
        yield VendorHub(hub, create_key(data_dir, "vendors", sandbox=False), fakes)
    finally:
        hub.stop()
        for fake in fakes.values():
            fake.stop()


@pytest.fixture
def vendors(vendor_hub: VendorHub) -> Iterator[VendorHub]:
    """Fresh request logs, jobs and fault queues for each test; no fake may have crashed."""
    for fake in vendor_hub.fakes.values():
        fake.reset()
    yield vendor_hub
    for name, fake in vendor_hub.fakes.items():
        assert not fake.errors, f"the {name} fake itself crashed: {fake.errors}"
