"""Shared fixtures: one real hub per test session, keys made through the real CLI."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import openai
import pytest

from tests.hub import Hub, create_key


@dataclass
class Keys:
    sandbox: str
    live: str


@pytest.fixture(scope="session")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    data_dir = tmp_path_factory.mktemp("hub") / "data"
    running = Hub(data_dir).start()
    yield running
    running.stop()


@pytest.fixture(scope="session")
def keys(hub: Hub) -> Keys:
    return Keys(
        sandbox=create_key(hub.data_dir, "tests", sandbox=True),
        live=create_key(hub.data_dir, "tests live", sandbox=False),
    )


@pytest.fixture(scope="session")
def sdk(hub: Hub, keys: Keys) -> openai.OpenAI:
    """The official SDK, pointed at the hub exactly as a user would."""
    return openai.OpenAI(base_url=f"{hub.url}/api", api_key=keys.sandbox, max_retries=0, timeout=60)


@pytest.fixture
def http(hub: Hub) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=hub.url, timeout=60) as client:
        yield client
