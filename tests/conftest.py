"""Shared fixtures: one real hub per test session, keys made through the real CLI."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import openai
import pytest

from tests.fakes import FakeGoogle, FakeOpenAI
from tests.hub import Hub, create_key

# The Azure OpenAI, Vertex AI and Bedrock hub and fakes (their libraries load only when used).
pytest_plugins = ["tests.clouds"]


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


@pytest.fixture(scope="session")
def fake_openai() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


@pytest.fixture(scope="session")
def fake_google() -> Iterator[FakeGoogle]:
    with FakeGoogle() as server:
        yield server


@dataclass
class LiveHub:
    hub: Hub
    key: str

    def sdk(self) -> openai.OpenAI:
        return openai.OpenAI(base_url=f"{self.hub.url}/api", api_key=self.key, max_retries=0, timeout=60)


@pytest.fixture(scope="session")
def live(
    tmp_path_factory: pytest.TempPathFactory, fake_openai: FakeOpenAI, fake_google: FakeGoogle
) -> Iterator[LiveHub]:
    """A hub configured the common way: OPENAI_* and GEMINI_* environment variables, pointing at fakes."""
    data_dir = tmp_path_factory.mktemp("live") / "data"
    env = {
        "OPENAI_BASE_URL": f"{fake_openai.url}/v1",
        "OPENAI_API_KEY": fake_openai.api_key,
        "GEMINI_BASE_URL": f"{fake_google.url}/v1beta",
        "GEMINI_API_KEY": fake_google.api_key,
        # gemini-3.1-flash-lite-image has no known price: served free by the operator's opt-in.
        "IMAGEHUB_ALLOW_UNPRICED": "1",
    }
    running = Hub(data_dir, env=env).start()
    yield LiveHub(running, create_key(data_dir, "live", sandbox=False))
    running.stop()


@pytest.fixture(scope="session")
def archive(
    tmp_path_factory: pytest.TempPathFactory, fake_openai: FakeOpenAI, fake_google: FakeGoogle
) -> Iterator[LiveHub]:
    """`live` as it was on 2026-04-01 (IMAGEHUB_TODAY), before DALL-E, gpt-image-1 and Gemini 2.5
    were shut down: their names go upstream as they are, so the adapters' wire format for them
    stays covered (OpenAI-compatible servers that list them by name still get them today)."""
    data_dir = tmp_path_factory.mktemp("archive") / "data"
    env = {
        "OPENAI_BASE_URL": f"{fake_openai.url}/v1",
        "OPENAI_API_KEY": fake_openai.api_key,
        "GEMINI_BASE_URL": f"{fake_google.url}/v1beta",
        "GEMINI_API_KEY": fake_google.api_key,
        "IMAGEHUB_TODAY": "2026-04-01",
    }
    running = Hub(data_dir, env=env).start()
    yield LiveHub(running, create_key(data_dir, "archive", sandbox=False))
    running.stop()


@pytest.fixture
def upstreams(fake_openai: FakeOpenAI, fake_google: FakeGoogle) -> Iterator[tuple[FakeOpenAI, FakeGoogle]]:
    """Fresh request logs and fault queues for each test."""
    fake_openai.reset()
    fake_google.reset()
    yield fake_openai, fake_google
    assert not fake_openai.errors and not fake_google.errors, "a fake upstream itself crashed"
