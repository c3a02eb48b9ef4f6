"""Capacity: per-deployment limits with a bounded wait, the open-file limit, serve's start message.

A deployment's `max_concurrent` (TOML, or IMAGEHUB_DEPLOYMENT_<NAME>_MAX_CONCURRENT) caps the
calls in flight to it. A request past the cap goes to another deployment with room, or waits at
most `queue_timeout_seconds` for a slot, then gets a 503 with Retry-After naming the deployment.
The fake upstream holds a request with a `timeout` fault (it sleeps, then answers normally).
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import httpx
import openai
import pytest

from imagehub.catalog import load_catalog
from imagehub.upstream.deployments import ConfigError, load_config
from tests.fakes import FakeOpenAI, Fault
from tests.hub import Hub, create_key, free_port

HOLD_SECONDS = 5.0  # how long the fake keeps the first request: far past every bounded wait below


@pytest.fixture
def upstream() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


def _live_hub(tmp_path: Path, upstream: FakeOpenAI, **env: str) -> tuple[Hub, openai.OpenAI]:
    """A hub configured from environment variables only, as the README's common case."""
    data_dir = tmp_path / "data"
    base = {"OPENAI_BASE_URL": f"{upstream.url}/v1", "OPENAI_API_KEY": upstream.api_key}
    hub = Hub(data_dir, env={**base, **env}).start()
    key = create_key(data_dir, "capacity")
    return hub, openai.OpenAI(base_url=f"{hub.url}/api", api_key=key, max_retries=0, timeout=60)


def _generate(client: openai.OpenAI, prompt: str) -> str:
    result = client.images.generate(
        model="dall-e-2", prompt=prompt, size="256x256", response_format="b64_json"
    )
    assert result.data and result.data[0].b64_json
    return result.data[0].b64_json


def _hold_one(pool: ThreadPoolExecutor, client: openai.OpenAI, upstream: FakeOpenAI) -> Future[str]:
    """Start a request the upstream holds for HOLD_SECONDS; return once it is there."""
    upstream.enqueue(Fault.timeout(HOLD_SECONDS))
    held = pool.submit(_generate, client, "held")
    deadline = time.monotonic() + 30
    while not upstream.requests_to("/images/generations"):
        assert time.monotonic() < deadline, "the held request never reached the upstream"
        time.sleep(0.02)
    return held


def test_full_deployment_answers_503_naming_it_after_the_bounded_wait(
    tmp_path: Path, upstream: FakeOpenAI
) -> None:
    hub, client = _live_hub(
        tmp_path,
        upstream,
        IMAGEHUB_DEPLOYMENT_OPENAI_MAX_CONCURRENT="1",
        IMAGEHUB_DEPLOYMENT_OPENAI_QUEUE_TIMEOUT_SECONDS="0.2",
    )
    try:
        assert "deployment limits per worker: openai 1 (waits up to 0.2s, then 503)" in hub.log()
        with ThreadPoolExecutor(1) as pool:
            held = _hold_one(pool, client, upstream)
            with pytest.raises(openai.InternalServerError) as refused:
                _generate(client, "one too many")
            assert held.result(timeout=60)  # the request holding the slot is unaffected
        response = refused.value.response
        assert response.status_code == 503
        assert response.headers["Retry-After"] == "1"
        error = response.json()["error"]
        assert set(error) == {"message", "type", "param", "code"}
        assert error["code"] == "deployment_overloaded"
        assert error["type"] == "server_error"
        assert "Deployment 'openai'" in error["message"] and "limit of 1" in error["message"]
        assert len(upstream.requests_to("/images/generations")) == 1, "the refused one never went upstream"
        assert _generate(client, "after the slot was freed")
    finally:
        hub.stop()


def test_a_waiting_request_gets_the_slot_freed_within_the_bound(tmp_path: Path, upstream: FakeOpenAI) -> None:
    hub, client = _live_hub(
        tmp_path,
        upstream,
        IMAGEHUB_DEPLOYMENT_OPENAI_MAX_CONCURRENT="1",
        IMAGEHUB_DEPLOYMENT_OPENAI_QUEUE_TIMEOUT_SECONDS="60",
    )
    try:
        with ThreadPoolExecutor(1) as pool:
            held = _hold_one(pool, client, upstream)
            assert _generate(client, "waits for the slot")
            assert held.result(timeout=60)
        assert len(upstream.requests_to("/images/generations")) == 2
    finally:
        hub.stop()


def test_full_deployment_falls_over_to_one_with_room(tmp_path: Path) -> None:
    with FakeOpenAI(api_key="sk-primary") as primary, FakeOpenAI(api_key="sk-backup") as backup:
        config = tmp_path / "hub.toml"
        config.write_text(
            "".join(
                f'[[deployments]]\nname = "{name}"\nprovider = "openai"\nbase_url = "{fake.url}/v1"\n'
                f'api_key = "{fake.api_key}"\nmodels = ["dall-e-2"]\nweight = {weight}\n{limit}\n'
                for name, fake, weight, limit in (
                    ("primary", primary, 1000000, "max_concurrent = 1\nqueue_timeout_seconds = 30"),
                    ("backup", backup, 0.000001, ""),
                )
            )
        )
        data_dir = tmp_path / "data"
        hub = Hub(data_dir, env={"IMAGEHUB_CONFIG_FILE": str(config)}).start()
        try:
            client = openai.OpenAI(
                base_url=f"{hub.url}/api", api_key=create_key(data_dir, "pair"), max_retries=0, timeout=60
            )
            with ThreadPoolExecutor(1) as pool:
                held = _hold_one(pool, client, primary)
                assert _generate(client, "goes to the backup")  # no wait: the backup has room
                assert len(backup.requests_to("/images/generations")) == 1
                assert held.result(timeout=60)
        finally:
            hub.stop()


def test_limits_come_from_toml_and_environment_variables(tmp_path: Path) -> None:
    catalog = load_catalog()
    config = tmp_path / "hub.toml"
    config.write_text(
        '[[deployments]]\nname = "eu-west.1"\nprovider = "openai"\nmax_connections = 500\n\n'
        '[[deployments]]\nname = "second"\nprovider = "openai"\nmax_concurrent = 8\n'
    )
    from_file = {d.name: d for d in load_config(catalog, config, environ={}).deployments}
    assert from_file["eu-west.1"].max_concurrent == 500  # the old name still works, as a limit
    assert from_file["second"].max_concurrent == 8
    assert from_file["second"].queue_timeout_seconds == 10.0
    assert all(d.max_connections == 0 for d in from_file.values()), "the pool itself is never capped"

    environ = {
        "IMAGEHUB_DEPLOYMENT_EU_WEST_1_MAX_CONCURRENT": "64",
        "IMAGEHUB_DEPLOYMENT_EU_WEST_1_QUEUE_TIMEOUT_SECONDS": "2.5",
        "IMAGEHUB_DEPLOYMENT_SECOND_MAX_CONCURRENT": "none",
    }
    overridden = {d.name: d for d in load_config(catalog, config, environ=environ).deployments}
    assert overridden["eu-west.1"].max_concurrent == 64
    assert overridden["eu-west.1"].queue_timeout_seconds == 2.5
    assert overridden["second"].max_concurrent is None

    env_only = load_config(
        catalog, None, environ={"OPENAI_API_KEY": "sk", "IMAGEHUB_DEPLOYMENT_OPENAI_MAX_CONCURRENT": "3"}
    )
    assert [(d.name, d.max_concurrent) for d in env_only.deployments] == [("openai", 3)]
    assert load_config(catalog, None, environ={"OPENAI_API_KEY": "sk"}).deployments[0].max_concurrent is None

    with pytest.raises(ConfigError, match="IMAGEHUB_DEPLOYMENT_SECOND_MAX_CONCURRENT"):
        load_config(catalog, config, environ={"IMAGEHUB_DEPLOYMENT_SECOND_MAX_CONCURRENT": "-5"})


def test_serve_raises_the_open_file_limit_and_says_what_it_holds(tmp_path: Path) -> None:
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard != resource.RLIM_INFINITY and hard <= 1024:
        pytest.skip(f"the hard open-file limit here is {hard}: there is nothing to raise it to")
    env = {**os.environ, "IMAGEHUB_DATA_DIR": str(tmp_path / "data")}
    for name in ("REDIS_URL", "IMAGEHUB_REDIS_URL", "IMAGEHUB_CONFIG_FILE"):
        env.pop(name, None)
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "imagehub", "serve", "--port", str(port), "--log-level", "warning"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (1024, hard)),
    )
    try:
        assert process.stderr is not None
        lines = [process.stderr.readline() for _ in range(3)]
        deadline = time.monotonic() + 30  # started, not only printed
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline and process.poll() is None, "the hub did not start"
                time.sleep(0.1)
        limits = Path(f"/proc/{process.pid}/limits")
        if limits.exists():
            row = next(line for line in limits.read_text().splitlines() if line.startswith("Max open files"))
            assert row.split()[3] == row.split()[4], f"soft limit not raised to the hard one: {row}"
    finally:
        process.terminate()
        process.wait(10)
    text = "".join(lines)
    assert f"serving on http://127.0.0.1:{port} with 1 worker (auto: no REDIS_URL" in text
    assert "open-file limit" in text and "raised from 1,024" in text
    held = int(text.split("can hold ", 1)[1].split(" requests", 1)[0].replace(",", ""))
    assert held >= 1000, text
    assert "deployment limits per worker: none" in text
