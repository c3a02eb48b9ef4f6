"""One hub in front of fake Azure OpenAI, Vertex AI and Bedrock (plus OpenAI and Gemini to fall over to).

A pytest plugin (tests/conftest.py names it), so every cloud test file shares one hub and one
set of fakes. Each platform's fake checks that platform's real auth: the Azure api-key or an
Entra ID token from its managed-identity endpoint, a Google OAuth token granted for a test
service account, a SigV4 signature from the test AWS credentials. The preferred deployment of a
model gets weight 1000 and its fall-back 0.001, so the preferred one is tried first. A second
Vertex project (`vertex_short`) grants tokens that google-auth deems expired at once, so every
call there fetches a fresh one: its token endpoint can fail mid-session.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import openai
import pytest

from tests.hub import Hub, create_key

if TYPE_CHECKING:
    from tests.fakes import FakeGoogle, FakeOpenAI
    from tests.fakes.azure import FakeAzureOpenAI
    from tests.fakes.bedrock import FakeBedrock
    from tests.fakes.vertex import FakeVertex

PROJECT = "test-project"
SHORT_PROJECT = "short-token-project"
AZURE_DEPLOYMENTS = {"img2-prod": "gpt-image-2", "img1": "gpt-image-1", "img15-legacy": "gpt-image-1.5"}


@dataclass
class Clouds:
    hub: Hub
    key: str
    azure: FakeAzureOpenAI
    vertex: FakeVertex
    bedrock: FakeBedrock
    openai: FakeOpenAI
    google: FakeGoogle
    vertex_short: FakeVertex

    def sdk(self) -> openai.OpenAI:
        return openai.OpenAI(base_url=f"{self.hub.url}/api", api_key=self.key, max_retries=0, timeout=60)

    def fakes(self) -> tuple[FakeAzureOpenAI, FakeVertex, FakeBedrock, FakeOpenAI, FakeGoogle, FakeVertex]:
        return self.azure, self.vertex, self.bedrock, self.openai, self.google, self.vertex_short


def _config(clouds: dict[str, str], key_file: Path, short_key_file: Path) -> str:
    return f"""
[routing]
max_retries = 1
backoff_base_seconds = 0
backoff_max_seconds = 0
failure_threshold = 1000

[[deployments]]
name = "azure"
provider = "azure"
base_url = "{clouds["azure"]}"
api_key_env = "TEST_AZURE_KEY"
weight = 1000
upstream_names = {{ "gpt-image-2" = "img2-prod", "gpt-image-1" = "img1" }}

[[deployments]]
name = "azure-entra"
provider = "azure"
base_url = "{clouds["azure"]}/openai"
api_version = "2025-04-01-preview"
auth = "entra"
upstream_names = {{ "gpt-image-1.5" = "img15-legacy" }}

[[deployments]]
name = "openai"
provider = "openai"
base_url = "{clouds["openai"]}/v1"
api_key_env = "TEST_OPENAI_KEY"
models = ["gpt-image-2"]
weight = 0.001

[[deployments]]
name = "vertex"
provider = "vertex"
base_url = "{clouds["vertex"]}/v1"
project = "{PROJECT}"
location = "us-central1"
credentials_file = "{key_file}"
models = ["gemini-3-pro-image", "gemini-2.5-flash-image"]
weight = 1000

[[deployments]]
name = "vertex-short"
provider = "vertex"
base_url = "{clouds["vertex_short"]}/v1"
project = "{SHORT_PROJECT}"
location = "us-central1"
credentials_file = "{short_key_file}"
models = ["gemini-3.1-flash-image"]
weight = 1000

[[deployments]]
name = "google"
provider = "google"
base_url = "{clouds["google"]}/v1beta"
api_key_env = "TEST_GEMINI_KEY"
models = ["gemini-3-pro-image", "gemini-3.1-flash-image"]
weight = 0.001

[[deployments]]
name = "bedrock-west"
provider = "bedrock"
region = "us-west-2"
base_url = "{clouds["bedrock"]}"
weight = 1000

[[deployments]]
name = "bedrock-east"
provider = "bedrock"
region = "us-east-1"
base_url = "{clouds["bedrock"]}"
models = ["stable-image-ultra"]
weight = 0.001
"""


@pytest.fixture(scope="session")
def cloud_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Clouds]:
    from tests.fakes import FakeGoogle, FakeOpenAI
    from tests.fakes.azure import IDENTITY_HEADER, FakeAzureOpenAI
    from tests.fakes.bedrock import ACCESS_KEY, SECRET_KEY, SESSION_TOKEN, FakeBedrock
    from tests.fakes.vertex import FakeVertex, write_service_account

    root = tmp_path_factory.mktemp("clouds")
    with (
        FakeAzureOpenAI(AZURE_DEPLOYMENTS) as azure,
        FakeVertex(PROJECT) as vertex,
        FakeBedrock() as bedrock,
        FakeOpenAI() as fake_openai,
        FakeGoogle() as fake_google,
        FakeVertex(SHORT_PROJECT) as vertex_short,
    ):
        key_file = root / "service-account.json"
        vertex.public_key = write_service_account(key_file, vertex.token_uri, PROJECT)
        short_key_file = root / "short-service-account.json"
        vertex_short.public_key = write_service_account(short_key_file, vertex_short.token_uri, SHORT_PROJECT)
        vertex_short.token_lifetime = 60  # under google-auth's 3m45s margin: expired on arrival
        urls = {
            "azure": azure.url,
            "vertex": vertex.url,
            "bedrock": bedrock.url,
            "openai": fake_openai.url,
            "google": fake_google.url,
            "vertex_short": vertex_short.url,
        }
        config = root / "hub.toml"
        config.write_text(_config(urls, key_file, short_key_file), encoding="utf-8")
        env = {
            "IMAGEHUB_CONFIG_FILE": str(config),
            "TEST_AZURE_KEY": azure.api_key,
            "TEST_OPENAI_KEY": fake_openai.api_key,
            "TEST_GEMINI_KEY": fake_google.api_key,
            # Entra ID: azure-identity's managed identity (App Service form), served by the fake.
            "IDENTITY_ENDPOINT": f"{azure.url}/msi/token",
            "IDENTITY_HEADER": IDENTITY_HEADER,
            # The standard AWS chain, from its environment variables only.
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_SESSION_TOKEN": SESSION_TOKEN,
            "AWS_CONFIG_FILE": str(root / "no-aws-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(root / "no-aws-credentials"),
            "AWS_EC2_METADATA_DISABLED": "true",
        }
        data_dir = root / "data"
        hub = Hub(data_dir, env=env).start()
        try:
            key = create_key(data_dir, "clouds")
            yield Clouds(hub, key, azure, vertex, bedrock, fake_openai, fake_google, vertex_short)
        finally:
            hub.stop()


@pytest.fixture
def clouds(cloud_hub: Clouds) -> Iterator[Clouds]:
    """Fresh request logs and fault queues for each test."""
    for fake in cloud_hub.fakes():
        fake.reset()
    yield cloud_hub
    for fake in cloud_hub.fakes():
        assert not fake.errors, f"{type(fake).__name__} itself crashed:\n{fake.errors}"
