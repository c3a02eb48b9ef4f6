"""The engine as a Ray Serve application on a local Ray instance (the machine's CPUs, no GPU).

`imagehub engine ray` starts Ray, deploys two replicas of the tiny pipeline and serves them on
one port; a hub reaches it as an engine deployment and the official SDK drives the hub. Skipped,
saying why, where Ray is not installed (`pip install 'imagehub[ray]'`; `make test` installs it).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import openai
import pytest

from tests.engines import Engine, engine_config, hub_config
from tests.hub import Hub, create_key
from tests.images import decode_b64
from tests.local_pipeline import build_tiny_pipeline


def pixels(b64: str) -> np.ndarray[Any, Any]:
    return np.asarray(decode_b64(b64).convert("RGB"), dtype=np.int16)


pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("ray") is None,
    reason="Ray is not installed: the [ray] extra (pip install 'imagehub[ray]') runs this test",
)


@pytest.fixture(scope="module")
def ray_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    root = tmp_path_factory.mktemp("ray")
    pipeline = build_tiny_pipeline(root / "tiny-sd")
    config = engine_config(root / "engine.toml", pipeline, "tiny-ray", max_batch=8, max_wait_ms=20)
    args = ("ray", "--num-gpus", "0", "--num-cpus", "0.5", "--min-replicas", "2", "--max-replicas", "2")
    engine = Engine(config, args=args).start(timeout=300)  # Ray itself, then two replicas loading
    try:
        yield engine
    finally:
        engine.stop(timeout=90)


def test_two_replicas_behind_one_address_serve_a_hub(ray_engine: Engine, tmp_path: Path) -> None:
    instances = {httpx.get(f"{ray_engine.url}/readyz", timeout=30).json()["instance"] for _ in range(40)}
    assert len(instances) == 2, instances  # Ray spreads requests over both replicas

    config = hub_config(tmp_path / "hub.toml", {"ray": (ray_engine.url, 1)})
    hub = Hub(tmp_path / "data", env={"IMAGEHUB_CONFIG_FILE": str(config)}).start()
    try:
        client = openai.OpenAI(
            base_url=f"{hub.url}/api", api_key=create_key(hub.data_dir, "ray"), max_retries=0, timeout=120
        )

        def draw(seed: int) -> list[str]:
            result = client.images.generate(
                model="sd-turbo",
                prompt="a red fox",
                size="256x256",
                n=2,
                response_format="b64_json",
                extra_body={"seed": seed},
            )
            return [item.b64_json or "" for item in result.data or []]

        with ThreadPoolExecutor(6) as pool:
            answers = [future.result(timeout=300) for future in [pool.submit(draw, s) for s in range(6)]]
        assert all(len(images) == 2 for images in answers)
        assert all(decode_b64(b64).size == (256, 256) for images in answers for b64 in images)
        for again, first in zip(draw(3), answers[3], strict=True):  # whichever replica drew it
            assert np.abs(pixels(again) - pixels(first)).max() <= 2  # batched, then alone: rounding
        events = list(
            client.images.generate(
                model="sd-turbo",
                prompt="a red fox",
                size="256x256",
                quality="high",
                stream=True,
                partial_images=2,
                response_format="b64_json",
            )
        )
        assert [e.type for e in events][-1] == "image_generation.completed"
        assert len(events) == 3
    finally:
        hub.stop()
