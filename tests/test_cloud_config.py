"""Configuring Azure OpenAI, Vertex AI and Bedrock: customary environment variables, TOML, refusals."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from imagehub.catalog import load_catalog
from imagehub.upstream.deployments import ConfigError, load_config

CLOUD_ENV = {
    "AZURE_OPENAI_ENDPOINT": "https://example-resource.openai.azure.com",
    "AZURE_OPENAI_API_KEY": "azure-key",
    "GOOGLE_CLOUD_PROJECT": "a-project",
    "AWS_REGION": "us-west-2",
}


def test_customary_environment_variables_configure_each_cloud() -> None:
    config = load_config(load_catalog(), None, CLOUD_ENV)
    by_name = {d.name: d for d in config.deployments}
    assert set(by_name) == {"azure", "vertex", "bedrock"}
    assert by_name["azure"].base_url == CLOUD_ENV["AZURE_OPENAI_ENDPOINT"]
    assert set(by_name["azure"].models) == {"gpt-image-1", "gpt-image-1-mini", "gpt-image-1.5", "gpt-image-2"}
    assert "dall-e-3" not in by_name["azure"].models, "retired on Azure"
    assert set(by_name["vertex"].models) == {
        "gemini-2.5-flash-image",
        "gemini-3-pro-image",
        "gemini-3.1-flash-image",
    }
    assert set(by_name["bedrock"].models) == {"stable-image-ultra", "stable-image-core", "sd3.5-large"}


def test_an_endpoint_alone_is_an_entra_id_deployment() -> None:
    from imagehub.upstream.assembly import build_provider

    environ = {"AZURE_OPENAI_ENDPOINT": "https://r.openai.azure.com"}
    [deployment] = load_config(load_catalog(), None, environ).deployments
    assert deployment.credential(environ) is None, "no key: Entra ID tokens"
    provider = build_provider(deployment, environ)
    assert provider.kind == "azure"


def _toml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "hub.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_model_azure_retired_is_refused_with_its_date(tmp_path: Path) -> None:
    path = _toml(
        tmp_path,
        '[[deployments]]\nname = "az"\nprovider = "azure"\nbase_url = "https://r.openai.azure.com"\n'
        'models = ["dall-e-3"]\n',
    )
    with pytest.raises(ConfigError, match=r"dall-e-3 was retired on azure on 2026-03-04; use gpt-image-2"):
        load_config(load_catalog(), path, {})


def test_platform_settings_belong_to_their_platform(tmp_path: Path) -> None:
    path = _toml(tmp_path, '[[deployments]]\nname = "az"\nprovider = "azure"\nregion = "us-west-2"\n')
    with pytest.raises(ConfigError, match="region: not a setting of provider = 'azure'"):
        load_config(load_catalog(), path, {})


def test_upstream_names_say_which_models_a_deployment_serves(tmp_path: Path) -> None:
    path = _toml(
        tmp_path,
        '[[deployments]]\nname = "az"\nprovider = "azure"\nbase_url = "https://r.openai.azure.com"\n'
        'upstream_names = { "gpt-image-2" = "my-img2" }\n',
    )
    [deployment] = load_config(load_catalog(), path, {}).deployments
    assert deployment.models == ("gpt-image-2",)


def test_cloud_libraries_load_only_when_their_platform_is_configured() -> None:
    script = (
        "import sys\n"
        "from imagehub.catalog import load_catalog\n"
        "from imagehub.upstream.assembly import build_router\n"
        "from imagehub.upstream.deployments import load_config\n"
        "env = {'OPENAI_API_KEY': 'k', 'GEMINI_API_KEY': 'g'}\n"
        "build_router(load_config(load_catalog(), None, env), env)\n"
        "loaded = [m for m in ('azure.identity', 'google.auth', 'botocore') if m in sys.modules]\n"
        "print(','.join(loaded))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == ""


def test_a_deployment_with_its_own_prices_is_quoted_dearest_and_settled_at_its_own() -> None:
    from imagehub.billing.pricing import BillingConfig, PriceBook
    from imagehub.schema.images import GeneratedImage, GenerationResult, ImageJob

    spec = load_catalog().get("stable-image-ultra")
    assert spec is not None
    book = PriceBook.from_config(
        BillingConfig(),
        {"cheap": {"stable-image-ultra": {"*/*": 80000}}, "dear": {"stable-image-ultra": {"*/*": 200000}}},
    )
    job = ImageJob(
        spec=spec, provider=None, prompt="p", n=2, size="1024x1024", width=1024, height=1024,
        response_format="b64_json", output_format="png",
    )  # fmt: skip
    quote = book.quote(job)
    assert quote == 2 * 200000, "the dearest deployment that might serve it"

    def settled(deployment: str, kind: str = "") -> int:
        images = [GeneratedImage(format="png", b64="x")] * 2
        return book.settle(job, GenerationResult(images=images, provider=deployment, kind=kind), quote)

    assert settled("cheap") == 2 * 80000
    assert settled("bedrock", "bedrock") == 2 * 140000, "no prices of its own: its provider's in the catalog"
    assert settled("stability", "stability") == 2 * 80000, "Stability's own API: the catalog's own price"


def test_prices_for_a_model_the_deployment_does_not_serve_are_refused(tmp_path: Path) -> None:
    path = _toml(
        tmp_path,
        '[[deployments]]\nname = "br"\nprovider = "bedrock"\nregion = "us-west-2"\n'
        'models = ["stable-image-core"]\n'
        '[deployments.prices."stable-image-ultra"]\n"*/*" = 1\n',
    )
    with pytest.raises(ConfigError, match="prices for stable-image-ultra, which it does not serve"):
        load_config(load_catalog(), path, {})


def test_an_azure_key_without_its_endpoint_is_refused_at_start_up() -> None:
    with pytest.raises(ConfigError, match=r"needs base_url \(or AZURE_OPENAI_ENDPOINT\)"):
        load_config(load_catalog(), None, {"AZURE_OPENAI_API_KEY": "k"})


def test_a_bedrock_deployment_without_a_region_is_refused_at_load(tmp_path: Path) -> None:
    path = _toml(tmp_path, '[[deployments]]\nname = "br"\nprovider = "bedrock"\n')
    with pytest.raises(
        ConfigError, match=r"deployment 'br' \(provider 'bedrock'\) needs region or AWS_REGION"
    ):
        load_config(load_catalog(), path, {})
    [deployment] = load_config(load_catalog(), path, {"AWS_DEFAULT_REGION": "eu-west-1"}).deployments
    assert deployment.name == "br", "the chain's other variable gives it too"


def test_a_vertex_project_must_be_named_somewhere(tmp_path: Path) -> None:
    path = _toml(
        tmp_path,
        f'[[deployments]]\nname = "vx"\nprovider = "vertex"\ncredentials_file = "{tmp_path}/sa.json"\n',
    )
    (tmp_path / "sa.json").write_text('{"type": "service_account", "client_email": "a@b"}', encoding="utf-8")
    with pytest.raises(
        ConfigError,
        match=r"'vx' .* needs project or GOOGLE_CLOUD_PROJECT: the credentials file .* names no project_id",
    ):
        load_config(load_catalog(), path, {})
    (tmp_path / "sa.json").write_text('{"type": "service_account", "project_id": "p"}', encoding="utf-8")
    assert load_config(load_catalog(), path, {}).deployments, "the key file names it"
    (tmp_path / "sa.json").unlink()
    with pytest.raises(ConfigError, match=r"'vx' .* cannot read the credentials file"):
        load_config(load_catalog(), path, {})
    adc = _toml(tmp_path, '[[deployments]]\nname = "vx"\nprovider = "vertex"\n')
    assert load_config(load_catalog(), adc, {}).deployments, (
        "no file: Application Default Credentials may name it"
    )


def test_azure_auth_api_key_without_a_key_is_refused_at_load(tmp_path: Path) -> None:
    path = _toml(
        tmp_path,
        '[[deployments]]\nname = "az"\nprovider = "azure"\nbase_url = "https://r.openai.azure.com"\n'
        'auth = "api_key"\napi_key_env = "MY_AZURE_KEY"\n',
    )
    with pytest.raises(ConfigError, match=r"'az': auth = 'api_key' but no key is set \(MY_AZURE_KEY\)"):
        load_config(load_catalog(), path, {})
    assert load_config(load_catalog(), path, {"MY_AZURE_KEY": "k"}).deployments
