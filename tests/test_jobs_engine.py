"""An asynchronous job through the engine tier (an `imagehub engine serve` process on the CPU with
the tests' tiny pipeline): the job's image is pixel-identical to a synchronous call's, same seed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.engines import Engine, engine_config, hub_config
from tests.hub import Hub, create_key
from tests.jobs_helpers import ENDED, submit, wait_for
from tests.local_pipeline import build_tiny_pipeline


@pytest.fixture(scope="module")
def engine_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Hub, str]]:
    root = tmp_path_factory.mktemp("jobs-engine")
    pipeline = build_tiny_pipeline(root / "tiny-sd")
    engine = Engine(engine_config(root / "engine.toml", pipeline, "tiny"))
    engine.start()
    try:
        config = hub_config(root / "hub.toml", {"tiny": (engine.url, 1.0)})
        hub = Hub(root / "data", env={"IMAGEHUB_CONFIG_FILE": str(config)}).start()
        try:
            yield hub, create_key(hub.data_dir, "engine-jobs")
        finally:
            hub.stop()
    finally:
        engine.stop()


def test_a_job_through_the_engine_tier_matches_a_synchronous_call(
    engine_hub: tuple[Hub, str], tmp_path: Path
) -> None:
    import httpx

    hub, key = engine_hub
    body = {
        "model": "sd-turbo",
        "prompt": "a red fox",
        "size": "256x256",
        "response_format": "b64_json",
        "seed": 7,
    }
    job_id = submit(hub.url, key, body).json()["id"]
    ended = wait_for(hub.url, key, job_id, ENDED, seconds=120)
    assert ended["status"] == "succeeded", ended
    sync = httpx.post(
        f"{hub.url}/v1/images/generations", json=body, headers={"Authorization": f"Bearer {key}"}, timeout=120
    )
    assert sync.status_code == 200, sync.text
    assert ended["result"]["data"][0]["b64_json"] == sync.json()["data"][0]["b64_json"]
