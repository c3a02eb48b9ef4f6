"""The operator's view: `keys list`, `imagehub generate`, what `serve` says at start, JSON logs."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
from PIL import Image

from tests.conftest import Keys
from tests.fakes import FakeOpenAI, Fault
from tests.hub import Hub, cli, create_key
from tests.images import open_bytes, tiny_png


def test_keys_list_is_a_table_with_dates_and_spend(hub: Hub, keys: Keys) -> None:
    httpx.post(
        f"{hub.url}/api/images/generations",
        json={"prompt": "touch", "size": "256x256"},
        headers={"Authorization": f"Bearer {keys.sandbox}"},
    )
    for _ in range(50):  # last use is written off the request's path; a few tries at most
        result = cli(hub.data_dir, "keys", "list")
        lines = result.stdout.splitlines()
        row = next(line for line in lines if line.endswith("  tests"))
        if "never" not in row.split("  tests")[0].split("sandbox", 1)[1][:60]:
            break
    header = lines[0]
    assert header.split() == [
        "ID",
        "MODE",
        "PREFIX",
        "STATUS",
        "CREATED",
        "LAST",
        "USED",
        "SPEND",
        "BALANCE",
        "LIMITS",
        "NAME",
    ]
    for column in ("MODE", "CREATED", "LAST USED", "SPEND", "NAME"):
        start = header.index(column)
        assert all(line[start - 2 : start] == "  " for line in lines[1:]), f"{column} is aligned"
    cells = row[header.index("LAST USED") : header.index("SPEND")].strip()
    assert cells[:4].isdigit() and cells != "never"
    assert row[header.index("SPEND") :].startswith("$0")
    assert f"Using the data directory {hub.data_dir.resolve()}" in result.stderr


def test_generate_with_the_sdk_base_url_names_files_by_model(hub: Hub, keys: Keys, tmp_path: Path) -> None:
    result = cli(
        hub.data_dir,
        "generate",
        "a lighthouse",
        "--model",
        "dall-e-3",
        "--style",
        "natural",
        "--base-url",
        f"{hub.url}/v1",
        "--response-format",
        "url",
        "--out",
        str(tmp_path),
        env={"IMAGEHUB_API_KEY": keys.sandbox},
    )
    (path,) = [Path(line) for line in result.stdout.split()]
    assert path.name.startswith("dall-e-3-") and path.suffix == ".png"
    assert open_bytes(path.read_bytes()).size == (1024, 1024)
    assert "revised prompt" not in result.stderr, "dall-e-3's successor revises no prompt"
    assert "\r" not in result.stderr, "no redrawing when stderr is not a terminal"
    assert "Generating 1 image(s) with dall-e-3: done in" in result.stderr


def test_generate_options_and_an_edit_with_a_mask(hub: Hub, keys: Keys, tmp_path: Path) -> None:
    made = cli(
        hub.data_dir,
        "generate",
        "a sticker",
        "--model",
        "gpt-image-1",
        "--output-format",
        "webp",
        "--background",
        "transparent",
        "--base-url",
        f"{hub.url}/api",
        "--api-key",
        keys.sandbox,
        "--out",
        str(tmp_path),
    )
    (sticker,) = [Path(line) for line in made.stdout.split()]
    assert sticker.name.startswith("gpt-image-1-") and sticker.suffix == ".webp"
    assert open_bytes(sticker.read_bytes()).format == "WEBP"
    source, mask = tmp_path / "in.png", tmp_path / "mask.png"
    source.write_bytes(tiny_png(256, 256))
    Image.new("RGBA", (256, 256), (0, 0, 0, 0)).save(mask)  # transparent: edit everywhere
    edited = cli(
        hub.data_dir,
        "generate",
        "add a hat",
        "--model",
        "dall-e-2",
        "--size",
        "256x256",
        "--image",
        str(source),
        "--mask",
        str(mask),
        "--base-url",
        hub.url,
        "--api-key",
        keys.sandbox,
        "--out",
        str(tmp_path / "e"),
    )
    (path,) = [Path(line) for line in edited.stdout.split()]
    assert path.name.startswith("dall-e-2-") and open_bytes(path.read_bytes()).size == (256, 256)
    assert "Editing 1 image(s) with dall-e-2" in edited.stderr


def test_serve_start_lists_providers_without_secrets(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    create_key(data_dir, "first", sandbox=True)  # no first-key banner: every line is a log line
    env = {"OPENAI_API_KEY": "sk-very-secret-value", "OPENAI_BASE_URL": "http://127.0.0.1:9/v1"}
    hub = Hub(data_dir, env=env).start("--log-level", "info")
    try:
        httpx.get(f"{hub.url}/healthz")
    finally:
        hub.stop()
    log = hub.log()
    assert "sk-very-secret-value" not in log
    lines = [json.loads(line) for line in log.splitlines() if line.strip()]
    assert all({"level", "logger"} <= set(line) for line in lines), "every line is JSON with level and logger"
    deployment = next(line for line in lines if line.get("deployment") == "openai" and "models" in line)
    assert deployment["base_url"] == "http://127.0.0.1:9/v1" and deployment["credential"] == "set"
    assert "dall-e-3" in deployment["models"]
    assert any(line["logger"].startswith("uvicorn") for line in lines), "uvicorn's own lines are JSON too"
    assert not any("IMAGEHUB_PUBLIC_URL" in line.get("message", "") for line in lines), (
        "loopback needs no public URL"
    )


def test_public_url_warning_outside_loopback(caplog: pytest.LogCaptureFixture, tmp_path: Path) -> None:
    from imagehub.cli.startup_report import report_configuration
    from imagehub.config import Settings

    caplog.set_level(logging.INFO, logger="imagehub.serve")
    settings = Settings(data_dir=tmp_path)
    report_configuration(settings, "0.0.0.0")
    assert any(
        "IMAGEHUB_PUBLIC_URL is unset" in r.getMessage() and r.levelname == "WARNING" for r in caplog.records
    )
    caplog.clear()
    report_configuration(Settings(data_dir=tmp_path, public_url="https://images.example.com"), "0.0.0.0")
    assert not any("IMAGEHUB_PUBLIC_URL" in r.getMessage() for r in caplog.records)


@pytest.fixture
def flaky_hub(tmp_path: Path) -> Iterator[tuple[Hub, FakeOpenAI, str]]:
    with FakeOpenAI(api_key="sk-flaky") as upstream:
        config = tmp_path / "hub.toml"
        config.write_text(
            "[routing]\nmax_retries = 1\nbackoff_base_seconds = 0.01\nbackoff_max_seconds = 0.02\n\n"
            f'[[deployments]]\nname = "flaky"\nprovider = "openai"\nbase_url = "{upstream.url}/v1"\n'
            'api_key = "sk-flaky"\n'
        )
        data_dir = tmp_path / "data"
        key = create_key(data_dir, "flaky", sandbox=False)
        hub = Hub(data_dir, env={"IMAGEHUB_CONFIG_FILE": str(config)}).start("--log-level", "info")
        yield hub, upstream, key
        hub.stop()


def test_retry_and_upstream_error_lines_carry_request_key_and_model(
    flaky_hub: tuple[Hub, FakeOpenAI, str],
) -> None:
    hub, upstream, key = flaky_hub
    upstream.enqueue(Fault.status(500), Fault.status(500))
    client = openai.OpenAI(base_url=f"{hub.url}/api", api_key=key, max_retries=0)
    with pytest.raises(openai.APIStatusError) as caught:
        client.images.generate(model="dall-e-2", prompt="retry me", size="256x256")
    request_id = caught.value.response.headers["x-request-id"]
    key_id = next(
        k
        for k in httpx.get(f"{hub.url}/api/key", headers={"Authorization": f"Bearer {key}"}).json().items()
        if k[0] == "id"
    )[1]
    hub.stop()
    lines = [json.loads(line) for line in hub.log().splitlines() if line.startswith("{")]
    retry = next(line for line in lines if line.get("message", "").startswith("retrying"))
    failed = next(line for line in lines if line.get("message", "").startswith("deployment flaky failed"))
    for line in (retry, failed):
        assert (line["request_id"], line["key_id"], line["model"]) == (request_id, key_id, "dall-e-2")
        assert line["logger"] == "imagehub.routing" and line["level"] in ("info", "warning")
