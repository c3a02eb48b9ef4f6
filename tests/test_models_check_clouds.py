"""`imagehub models check` on the clouds: each platform's own model list, read with the deployment's auth.

Azure OpenAI's `GET /openai/v1/models` (api-key, and an Entra ID token), Vertex AI's
`publishers.models.list` (a service account's OAuth token) and Bedrock's ListFoundationModels
(SigV4), each from its fake, which checks that auth as the platform does. The comparison is with
what each deployment maps, by the platform's own ids.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.fakes.azure import IDENTITY_HEADER, FakeAzureOpenAI, retires
from tests.fakes.bedrock import ACCESS_KEY, SECRET_KEY, SESSION_TOKEN, FakeBedrock
from tests.fakes.vertex import FakeVertex, write_service_account
from tests.hub import cli

PROJECT = "check-project"


@dataclass
class Platforms:
    azure: FakeAzureOpenAI
    vertex: FakeVertex
    bedrock: FakeBedrock
    env: dict[str, str]


def _config(azure: str, vertex: str, bedrock: str, key_file: Path) -> str:
    return f"""
[[deployments]]
name = "azure-key"
provider = "azure"
base_url = "{azure}"
api_key_env = "TEST_AZURE_KEY"
upstream_names = {{ "gpt-image-2" = "img2-prod" }}

[[deployments]]
name = "azure-entra"
provider = "azure"
base_url = "{azure}/openai"
api_version = "2025-04-01-preview"
auth = "entra"
upstream_names = {{ "gpt-image-1.5" = "img15-legacy" }}

[[deployments]]
name = "vertex"
provider = "vertex"
base_url = "{vertex}/v1"
project = "{PROJECT}"
location = "us-central1"
credentials_file = "{key_file}"
models = ["gemini-3-pro-image", "gemini-2.5-flash-image"]

[[deployments]]
name = "bedrock"
provider = "bedrock"
region = "us-west-2"
base_url = "{bedrock}"
"""


@pytest.fixture
def platforms(tmp_path: Path) -> Iterator[Platforms]:
    deployments = {"img2-prod": "gpt-image-2", "img15-legacy": "gpt-image-1.5"}
    with FakeAzureOpenAI(deployments) as azure, FakeVertex(PROJECT) as vertex, FakeBedrock() as bedrock:
        key_file = tmp_path / "service-account.json"
        vertex.public_key = write_service_account(key_file, vertex.token_uri, PROJECT)
        config = tmp_path / "hub.toml"
        config.write_text(_config(azure.url, vertex.url, bedrock.url, key_file), encoding="utf-8")
        env = {
            "IMAGEHUB_CONFIG_FILE": str(config),
            "IMAGEHUB_TODAY": "2026-12-03",
            "TEST_AZURE_KEY": azure.api_key,
            "IDENTITY_ENDPOINT": f"{azure.url}/msi/token",
            "IDENTITY_HEADER": IDENTITY_HEADER,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_SESSION_TOKEN": SESSION_TOKEN,
            "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials"),
            "AWS_EC2_METADATA_DISABLED": "true",
        }
        yield Platforms(azure, vertex, bedrock, env)
        for fake in (azure, vertex, bedrock):
            assert not fake.errors, f"{type(fake).__name__} itself crashed:\n{fake.errors}"


def _report(tmp_path: Path, env: dict[str, str], expect: int) -> dict[str, dict[str, object]]:
    done = cli(tmp_path, "models", "check", "--json", env=env, check=False)
    assert done.returncode == expect, done.stdout + done.stderr
    return {entry["deployment"]: entry for entry in json.loads(done.stdout)["upstreams"]}


def test_each_platform_is_read_with_its_own_auth_and_shows_no_drift(
    tmp_path: Path, platforms: Platforms
) -> None:
    report = _report(tmp_path, platforms.env, 0)
    assert set(report) == {"azure-key", "azure-entra", "vertex", "bedrock"}
    assert all(entry["error"] is None for entry in report.values())
    assert report["bedrock"]["url"] == f"{platforms.bedrock.url}/foundation-models?byOutputModality=IMAGE"

    azure = platforms.azure.requests_to("/openai/v1/models")
    assert [r.query for r in azure] == [{}, {}], "the v1 list, once per deployment"
    assert azure[0].headers["api-key"] == platforms.azure.api_key
    scheme, _, token = azure[1].headers["authorization"].partition(" ")
    assert scheme == "Bearer" and token in platforms.azure.tokens, (
        "an Entra ID token from the identity endpoint"
    )

    [listed] = platforms.vertex.requests_to("/publishers/google/models")
    assert listed.path == "/v1beta1/publishers/google/models" and listed.method == "GET"
    assert listed.headers["authorization"].removeprefix("Bearer ") in platforms.vertex.tokens
    assert platforms.vertex.grants == 1, "a token granted for the service account's signed JWT"

    [signed] = platforms.bedrock.requests_to("/foundation-models")
    assert signed.query == {"byOutputModality": "IMAGE"}
    assert signed.headers["authorization"].startswith("AWS4-HMAC-SHA256 Credential=")
    assert platforms.bedrock.signed_regions == ["us-west-2"], "signature verified for the region"

    text = cli(tmp_path, "models", "check", env=platforms.env, check=False)
    assert text.returncode == 0 and text.stdout.count("no drift") == 4, text.stdout


def test_platform_drift_is_named_per_deployment(tmp_path: Path, platforms: Platforms) -> None:
    # Azure: gpt-image-2 gone from the resource's list, a new image model, and a retirement date.
    platforms.azure.listed = [
        ("gpt-image-1.5", retires("2027-01-15")),
        ("gpt-image-2.5-flare", None),
        ("dall-e-3", None),  # the catalog has Azure retiring it on 2026-03-04
    ]
    # Vertex: the list still shows a model the catalog has shut down, and one it does not know.
    platforms.vertex.published += ["gemini-2.5-flash-image", "gemini-4-image"]
    # Bedrock: sd3.5-large no longer listed; a new Stability model; core going Legacy.
    platforms.bedrock.foundation_models = [
        ("stability.stable-image-ultra-v1:1", ("IMAGE",), "ACTIVE", None),
        ("stability.stable-image-core-v1:1", ("IMAGE",), "LEGACY", "2027-03-01"),
        ("stability.stable-image-ultra-v2:0", ("IMAGE",), "ACTIVE", None),
        ("stability.stable-image-remove-background-v1:0", ("IMAGE",), "ACTIVE", None),
    ]
    report = _report(tmp_path, platforms.env, 1)

    still_listed = {"model": "dall-e-3", "catalog": "2026-03-04", "upstream": None}
    assert report["azure-key"]["not_listed_upstream"] == ["gpt-image-2"]
    # A catalog model, but not one the catalog has on Azure: the catalog should learn it is there.
    assert report["azure-key"]["unknown_to_catalog"] == ["gpt-image-2.5-flare"]
    assert report["azure-key"]["shutdown_dates"] == [still_listed]
    assert report["azure-entra"]["shutdown_dates"] == [
        {"model": "gpt-image-1.5", "catalog": "2026-12-01", "upstream": "2027-01-15"},
        still_listed,
    ]
    assert report["vertex"]["unknown_to_catalog"] == ["gemini-4-image"]
    assert report["vertex"]["not_listed_upstream"] == []
    assert report["vertex"]["shutdown_dates"] == [
        {"model": "gemini-2.5-flash-image", "catalog": "2026-10-02", "upstream": None}
    ]

    bedrock = report["bedrock"]
    assert bedrock["not_listed_upstream"] == ["sd3.5-large (stability.sd3-5-large-v1:0)"]
    assert bedrock["unknown_to_catalog"] == ["stability.stable-image-ultra-v2:0"], "image services ignored"
    assert bedrock["shutdown_dates"] == [
        {
            "model": "stable-image-core (stability.stable-image-core-v1:1)",
            "catalog": None,
            "upstream": "2027-03-01",
        }
    ]


def test_a_refused_list_is_reported_without_the_credential(tmp_path: Path, platforms: Platforms) -> None:
    env = {
        **platforms.env,
        "TEST_AZURE_KEY": "azure-wrong-key-123",
        "AWS_SECRET_ACCESS_KEY": "not/the/secret",
    }
    report = _report(tmp_path, env, 2)
    assert "401" in str(report["azure-key"]["error"]) and report["azure-entra"]["error"] is None
    assert "403" in str(report["bedrock"]["error"])
    done = cli(tmp_path, "models", "check", env=env, check=False)
    assert done.returncode == 2 and "could not read its model list" in done.stdout
    assert "azure-wrong-key-123" not in done.stdout + done.stderr
    assert "not/the/secret" not in done.stdout + done.stderr
