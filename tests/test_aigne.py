"""The real AIGNE Hub client (`@aigne/aigne-hub`, from npm) against a real hub.

Each test runs tests/aigne_client/generate.mjs with one scenario, exactly as an AIGNE app would
call the hub, and checks what the app gets back: images it can open, the model name, and
readable errors. The client is installed with `npm ci` on first use (cached in node_modules).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from imagehub.catalog import load_catalog
from tests.conftest import Keys
from tests.hub import Hub, create_key, free_port
from tests.images import decode_b64, open_bytes

CLIENT_DIR = Path(__file__).parent / "aigne_client"
CLIENT_PACKAGE = "@aigne/aigne-hub"
# The client would send loopback traffic through a configured proxy; tests talk to 127.0.0.1 only.
_PROXY_VARS = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy")


def _locked_version() -> str:
    lock = json.loads((CLIENT_DIR / "package-lock.json").read_text())
    return str(lock["packages"][f"node_modules/{CLIENT_PACKAGE}"]["version"])


def _installed_version() -> str | None:
    manifest = CLIENT_DIR / "node_modules" / CLIENT_PACKAGE / "package.json"
    return json.loads(manifest.read_text())["version"] if manifest.exists() else None


@pytest.fixture(scope="session")
def aigne_client() -> Path:
    """Install the pinned client once; reinstall only when the lock file names another version."""
    npm = shutil.which("npm")
    if shutil.which("node") is None or npm is None:
        pytest.skip("node and npm are not on PATH; they are needed to run the @aigne/aigne-hub client")
    if _installed_version() != _locked_version():
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"],
            cwd=CLIENT_DIR,
            check=True,
            capture_output=True,
            timeout=900,
        )
    assert _installed_version() == _locked_version()
    return CLIENT_DIR


def run_client(base_url: str, key: str, scenario: str, env: dict[str, str] | None = None) -> Any:
    environ = {name: value for name, value in os.environ.items() if name not in _PROXY_VARS}
    done = subprocess.run(
        ["node", "generate.mjs", base_url, key, scenario],
        cwd=CLIENT_DIR,
        env={**environ, "NO_PROXY": "127.0.0.1,localhost", **(env or {})},
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, f"{scenario} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="session")
def client(aigne_client: Path, hub: Hub, keys: Keys) -> Any:
    """`client("scenario")`: run a scenario against the session hub with the sandbox key."""

    def run(scenario: str) -> Any:
        return run_client(hub.url, keys.sandbox, scenario)

    return run


def _fetch(url: str) -> httpx.Response:
    response = httpx.get(url, timeout=30)  # no key: the client fetches signed URLs as they are
    assert response.status_code == 200, response.text
    return response


def test_url_output_with_a_bare_model(client: Any, hub: Hub) -> None:
    [result] = client("url-bare")["results"]
    assert result["model"] == "openai/dall-e-2"
    assert result["usage"] == {"inputTokens": 0, "outputTokens": 0}
    assert len(result["images"]) == 2
    for image in result["images"]:
        assert image["type"] == "url" and image["mimeType"] == "image/png"
        assert image["url"].startswith(f"{hub.url}/api/images/files/")
        fetched = _fetch(image["url"])
        assert fetched.headers["content-type"] == "image/png"
        assert open_bytes(fetched.content).size == (256, 256)
    assert result["images"][0]["url"] != result["images"][1]["url"]


def test_file_output_is_downloaded_by_the_client(client: Any) -> None:
    [result] = client("file-bare")["results"]
    [image] = result["images"]
    assert image["type"] == "file" and image["mimeType"] == "image/png"
    assert decode_b64(image["data"]).size == (512, 512)


def test_prefixed_models(client: Any) -> None:
    dalle, gpt = client("prefixed")["results"]
    assert dalle["model"] == "openai/dall-e-3"
    assert decode_b64(dalle["images"][0]["data"]).size == (1024, 1792)
    # Top-level size and camelCase modelOptions (outputFormat, outputCompression) are honoured.
    assert gpt["model"] == "openai/gpt-image-1"
    [image] = gpt["images"]
    assert image["type"] == "url" and image["mimeType"] == "image/webp"
    stored = open_bytes(_fetch(image["url"]).content)
    assert stored.format == "WEBP" and stored.size == (1536, 1024)


def test_default_output_is_a_local_file(client: Any) -> None:
    [result] = client("default-local")["results"]
    assert result["model"] == "google/gemini-2.5-flash-image"
    [image] = result["images"]
    assert image["type"] == "local" and Path(image["path"]).is_file()
    assert decode_b64(image["data"]).size == (1024, 1024)


def test_openai_protocol_with_base_url_ending_in_api(client: Any, hub: Hub) -> None:
    urls, files = client("openai-protocol")["results"]
    assert urls["model"] == "dall-e-2"  # in this mode the client reports the name it sent
    assert len(urls["images"]) == 2
    for image in urls["images"]:
        assert image["url"].startswith(f"{hub.url}/api/images/files/")
        assert open_bytes(_fetch(image["url"]).content).size == (256, 256)
    assert decode_b64(files["images"][0]["data"]).size == (1792, 1024)


def test_openai_protocol_with_the_hub_root_as_base_url(client: Any) -> None:
    [result] = client("openai-protocol-root")["results"]
    [image] = result["images"]
    assert open_bytes(_fetch(image["url"]).content).size == (1024, 1024)


def test_edit_with_a_url_input_image(client: Any) -> None:
    [result] = client("edit")["results"]
    assert result["model"] == "openai/gpt-image-1"
    assert decode_b64(result["images"][0]["data"]).size == (1024, 1024)


def test_model_list_through_the_client(client: Any) -> None:
    models = client("models")["results"]
    catalog = load_catalog()
    assert [entry["model"] for entry in models] == catalog.names()
    by_name = {entry["model"]: entry for entry in models}
    dalle3 = by_name["dall-e-3"]
    assert dalle3["provider"] == "openai" and dalle3["providerDisplayName"] == "OpenAI"
    assert dalle3["modelMetadata"]["imageGeneration"]["size"] == ["1024x1024", "1792x1024", "1024x1792"]
    assert by_name["gemini-3.1-flash-image"]["providerDisplayName"] == "Google"


@pytest.mark.parametrize(
    ("scenario", "message"),
    [
        ("validation-error", "Invalid value for 'size': '256x256'. dall-e-3 supports: 1024x1024"),
        ("unknown-model-error", "The model 'openai/dall-e-9' does not exist on this hub"),
        ("openai-protocol-error", "Invalid value for 'size': '256x256'. dall-e-3 supports: 1024x1024"),
    ],
)
def test_errors_reach_the_app_readably(client: Any, scenario: str, message: str) -> None:
    error = client(scenario)["error"]
    assert message in error["message"]
    assert error["type"] == "invalid_request_error"


_LOG_CONFIG = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(name)s %(levelname)s %(message)s"}},
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "loggers": {"imagehub": {"handlers": ["stderr"], "level": "INFO"}},
}


@pytest.fixture(scope="module")
def logging_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, Path]]:
    """A hub served by uvicorn with imagehub's INFO logs on, to see what operators see."""
    root = tmp_path_factory.mktemp("aigne-logging-hub")
    data_dir = root / "data"
    key = create_key(data_dir, "aigne app", sandbox=True)
    config = root / "logging.json"
    config.write_text(json.dumps(_LOG_CONFIG))
    log_path = root / "hub.log"
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "imagehub.app:create_app_from_env", "--factory"]
    command += ["--port", str(port), "--log-config", str(config)]
    with log_path.open("w") as log:
        process = subprocess.Popen(
            command, env={**os.environ, "IMAGEHUB_DATA_DIR": str(data_dir)}, stdout=log, stderr=log
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert process.poll() is None and time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.1)
        yield url, key, log_path
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_client_did_is_logged_with_key_and_model(
    aigne_client: Path, logging_hub: tuple[str, str, Path]
) -> None:
    url, key, log_path = logging_hub
    run_client(url, key, "file-bare", env={"BLOCKLET_APP_PID": "zAppDidOfTheTestApp"})
    deadline = time.monotonic() + 5
    while "client_did=zAppDidOfTheTestApp" not in log_path.read_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    [line] = [line for line in log_path.read_text().splitlines() if "client_did=zAppDidOfTheTestApp" in line]
    assert line.startswith("imagehub.aigne INFO")
    assert "key_id=key_" in line and "model=openai/dall-e-2" in line and "images=1" in line
