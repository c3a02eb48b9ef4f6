"""The GPU tier on the CPU: hubs routing to real `imagehub engine serve` processes.

Each engine is a subprocess serving the tests' tiny pipeline; the hubs reach them with
`provider = "engine"` deployments, driven by the official SDK. What is checked: the engine's own
wire format, seed-identical pixels through an engine and in-process, queue-aware choice (a hub's
own burst, and load from elsewhere), an engine's 503 moved to another engine, and fall-over when
an engine is killed. Every wait is bounded.
"""

from __future__ import annotations

import asyncio
import base64
import re
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import openai
import pytest

from imagehub.catalog import load_catalog
from imagehub.schema.wire import ImageGenerationRequest
from imagehub.service.validation import validate_generation
from imagehub.upstream.assembly import build_router
from imagehub.upstream.deployments import ConfigError, load_config
from tests.engines import Engine, engine_config, hub_config
from tests.hub import Hub, create_key
from tests.images import decode_b64, tiny_png
from tests.local_pipeline import build_tiny_pipeline

CATALOG = load_catalog()


@pytest.fixture(scope="module")
def tiny_pipeline(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_pipeline(tmp_path_factory.mktemp("engine-tier") / "tiny-sd")


@pytest.fixture(scope="module")
def engines(tmp_path_factory: pytest.TempPathFactory, tiny_pipeline: Path) -> Iterator[tuple[Engine, Engine]]:
    """Two engines; `a` runs one image at a time and lets one request wait, so it fills fast."""
    root = tmp_path_factory.mktemp("engines")
    a = Engine(engine_config(root / "a.toml", tiny_pipeline, "a", max_batch=1, queue_size=1))
    b = Engine(engine_config(root / "b.toml", tiny_pipeline, "b", max_batch=8, max_wait_ms=20))
    try:
        a.start()
        b.start()
        yield a, b
    finally:
        a.stop()
        b.stop()


class EngineHub:
    def __init__(self, root: Path, engines: dict[str, tuple[str, float]], **options: Any) -> None:
        root.mkdir(parents=True, exist_ok=True)
        config = hub_config(root / "hub.toml", engines, **options)
        self.hub = Hub(root / "data", env={"IMAGEHUB_CONFIG_FILE": str(config)}).start()
        self.key = create_key(self.hub.data_dir, "engine-tier")

    def sdk(self) -> openai.OpenAI:
        return openai.OpenAI(base_url=f"{self.hub.url}/api", api_key=self.key, max_retries=0, timeout=90)

    def generate(self, **params: Any) -> tuple[str, list[str]]:
        """(deployment that served, b64 images) for one generation through the hub."""
        extra = {name: params.pop(name) for name in ("seed", "image") if name in params}
        raw = self.sdk().images.with_raw_response.generate(
            model="sd-turbo",
            prompt=params.pop("prompt", "a red fox"),
            size=params.pop("size", "256x256"),
            response_format="b64_json",
            extra_body=extra or None,
            **params,
        )
        data = raw.parse().data or []
        return raw.headers["x-imagehub-provider"], [item.b64_json or "" for item in data]

    def engine_load(self, name: str) -> float:
        text = httpx.get(f"{self.hub.url}/metrics", timeout=10).text
        found = re.search(rf'^imagehub_engine_load{{deployment="{name}"}} (\S+)$', text, re.MULTILINE)
        return float(found[1]) if found else 0.0

    def stop(self) -> None:
        self.hub.stop()


@pytest.fixture
def hub_factory(tmp_path: Path) -> Iterator[Any]:
    started: list[EngineHub] = []

    def make(engines: dict[str, tuple[str, float]], **options: Any) -> EngineHub:
        hub = EngineHub(tmp_path / f"hub{len(started)}", engines, **options)
        started.append(hub)
        return hub

    yield make
    for hub in started:
        hub.stop()


def pixels(b64: str) -> np.ndarray[Any, Any]:
    return np.asarray(decode_b64(b64).convert("RGB"), dtype=np.int16)


def wait_for(check: Any, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.1)


def busy_request(engine: Engine) -> Any:
    """A request straight to an engine that keeps it drawing for seconds (n=10 at 1024, 4 steps)."""
    body = {"model": "sd-turbo", "prompt": "x", "size": "1024x1024", "n": 10, "quality": "high"}
    return httpx.post(f"{engine.url}/v1/images/generations", json=body, timeout=300)


# --- the engine on its own, with the SDK pointed straight at it ---------------------------------


def test_an_engine_speaks_openai_images(engines: tuple[Engine, Engine]) -> None:
    _, b = engines
    client = openai.OpenAI(base_url=f"{b.url}/v1", api_key="unused", max_retries=0, timeout=60)
    result = client.images.generate(
        model="sd-turbo", prompt="a fox", size="256x320", n=2, extra_body={"seed": 4}
    )
    assert [decode_b64(item.b64_json or "").size for item in result.data or []] == [(256, 320)] * 2
    again = client.images.generate(
        model="sd-turbo", prompt="a fox", size="256x320", n=2, extra_body={"seed": 4}
    )
    assert [i.b64_json for i in again.data or []] == [i.b64_json for i in result.data or []]
    edited = client.images.edit(
        model="sd-turbo",
        image=("s.png", tiny_png(64, 48), "image/png"),
        prompt="a fox",
        size="256x256",  # type: ignore[arg-type]
    )
    assert decode_b64((edited.data or [])[0].b64_json or "").size == (256, 256)
    events = list(
        client.images.generate(
            model="sd-turbo", prompt="a fox", size="256x256", quality="high", stream=True, partial_images=2
        )
    )
    assert [e.type for e in events] == ["image_generation.partial_image"] * 2 + ["image_generation.completed"]
    with pytest.raises(openai.BadRequestError) as refused:
        client.images.generate(model="sd-turbo", prompt="x", response_format="url")
    assert refused.value.body["code"] == "unsupported_value"  # type: ignore[index]
    with pytest.raises(openai.NotFoundError) as other:
        client.images.generate(model="sdxl-turbo", prompt="x")
    assert other.value.body["param"] == "model"  # type: ignore[index]
    ready = httpx.get(f"{b.url}/readyz", timeout=10)
    assert ready.json()["status"] == "ready" and "x-imagehub-engine-load" in ready.headers
    assert httpx.get(f"{b.url}/healthz", timeout=10).json() == {"status": "ok"}
    scraped = httpx.get(f"{b.url}/metrics", timeout=10).text
    for name in (
        "queue_depth",
        "requests_in_flight",
        "batch_images_count",
        "step_seconds_count",
        "images_total",
    ):
        assert f"imagehub_engine_{name}" in scraped


def test_engine_config_errors(tmp_path: Path) -> None:
    config = tmp_path / "hub.toml"
    config.write_text('[[deployments]]\nname = "e"\nprovider = "engine"\nmodels = ["sd-turbo"]\n')
    with pytest.raises(ConfigError, match="needs base_url"):
        load_config(CATALOG, config)
    config.write_text(
        '[[deployments]]\nname = "e"\nprovider = "engine"\nbase_url = "http://x"\nmodels = ["dall-e-3"]\n'
    )
    with pytest.raises(ConfigError, match="not served by the engine API"):
        load_config(CATALOG, config)
    config.write_text('[[deployments]]\nname = "o"\nprovider = "openai"\napi_key = "k"\npoll_seconds = 1\n')
    with pytest.raises(ConfigError, match="poll_seconds: only for"):
        load_config(CATALOG, config)


# --- through a hub ------------------------------------------------------------------------------


def test_seed_gives_the_same_pixels_through_an_engine_and_in_process(
    engines: tuple[Engine, Engine], hub_factory: Any, tiny_pipeline: Path, tmp_path: Path
) -> None:
    _, b = engines
    hub = hub_factory({"b": (b.url, 1)})
    served, through_engine = hub.generate(seed=77, n=2, quality="medium")
    assert served == "b" and len(through_engine) == 2
    streamed = list(
        hub.sdk().images.generate(
            model="sd-turbo",
            prompt="a red fox",
            size="256x256",
            quality="medium",
            n=1,
            stream=True,
            partial_images=1,
            response_format="b64_json",
            extra_body={"seed": 77},
        )
    )
    assert [e.type for e in streamed] == ["image_generation.partial_image", "image_generation.completed"]

    async def in_process() -> list[bytes]:
        router = build_router(load_config(CATALOG, engine_config(tmp_path / "local.toml", tiny_pipeline)))
        request = ImageGenerationRequest(
            model="sd-turbo", prompt="a red fox", size="256x256", n=2, seed=77, quality="medium"
        )
        try:
            result = await router.generate(validate_generation(CATALOG, request), sandbox=False)
        finally:
            await router.close()
        return [image.data or b"" for image in result.images]

    local = [base64.b64encode(data).decode() for data in asyncio.run(in_process())]
    for remote, here in zip(through_engine, local, strict=True):
        assert np.abs(pixels(remote) - pixels(here)).max() <= 2  # float rounding across processes at most
    assert np.abs(pixels(streamed[-1].b64_json) - pixels(local[0])).max() <= 2


def test_a_hub_spreads_its_own_burst_by_queue_not_by_weight(
    engines: tuple[Engine, Engine], hub_factory: Any
) -> None:
    """Weights 1000:1 would send almost everything to `a`; the shortest queue takes turns."""
    a, b = engines
    hub = hub_factory({"a": (a.url, 1000), "b": (b.url, 1)})
    with ThreadPoolExecutor(6) as pool:
        futures = [pool.submit(hub.generate, size="512x512", quality="high", seed=i) for i in range(6)]
        served = Counter(future.result(timeout=240)[0] for future in futures)
    assert served["b"] >= 2, served


def test_load_from_elsewhere_steers_the_hub_away(engines: tuple[Engine, Engine], hub_factory: Any) -> None:
    """`a` is busy with another client's work: the hub sees its load and sends to `b`."""
    a, b = engines
    hub = hub_factory({"a": (a.url, 1000), "b": (b.url, 1)})
    assert hub.generate()[0] in ("a", "b")  # the hub is up and polling both
    served: list[str] = []
    with ThreadPoolExecutor(1) as pool:
        for _ in range(20):  # a choice counts only if `a` was drawing from before it until after it
            busy = pool.submit(busy_request, a)
            wait_for(lambda: hub.engine_load("a") >= 1, "the hub to see a's load")
            choice = hub.generate(seed=len(served))[0]
            if not busy.done():
                served.append(choice)
            assert busy.result(timeout=300).status_code == 200
            if len(served) == 3:
                break
    assert served == ["b", "b", "b"]


def test_an_overloaded_engine_sends_the_request_elsewhere(
    tiny_pipeline: Path, engines: tuple[Engine, Engine], hub_factory: Any, tmp_path: Path
) -> None:
    """`a` answers 503 engine_overloaded; the client never sees it: `b` serves."""
    a, b = engines
    # One poll only (at the first request, while a is idle): the hub cannot know a is full
    # later, so it tries a first (weight 1000) and meets the 503.
    hub = hub_factory({"a": (a.url, 1000), "b": (b.url, 1)}, poll_seconds=300)
    assert hub.generate()[0] in ("a", "b")
    with ThreadPoolExecutor(2) as pool:
        running = pool.submit(busy_request, a)
        wait_for(lambda: httpx.get(f"{a.url}/readyz", timeout=5).json()["load"] >= 1, "a to draw")
        waiting = pool.submit(busy_request, a)
        wait_for(
            lambda: httpx.get(f"{a.url}/readyz", timeout=5).json()["queue_depth"] >= 1, "a's queue to fill"
        )
        full = httpx.post(
            f"{a.url}/v1/images/generations", json={"prompt": "x", "size": "256x256"}, timeout=30
        )
        assert full.status_code == 503 and full.json()["error"]["code"] == "engine_overloaded"
        assert "retry-after" in full.headers
        served = hub.generate()[0]
        running.result(timeout=300)
        waiting.result(timeout=300)
    assert served == "b"


def test_fall_over_when_an_engine_is_killed(
    tiny_pipeline: Path, engines: tuple[Engine, Engine], hub_factory: Any, tmp_path: Path
) -> None:
    _, b = engines
    doomed = Engine(engine_config(tmp_path / "doomed.toml", tiny_pipeline, "doomed")).start()
    try:
        hub = hub_factory({"doomed": (doomed.url, 1000), "b": (b.url, 1)}, max_retries=2)
        assert hub.generate()[0] == "doomed"  # by weight, while both are up and idle
        doomed.kill()
        served = [hub.generate(seed=i)[0] for i in range(4)]  # the first may find out the hard way
        assert served == ["b"] * 4
        text = httpx.get(f"{hub.hub.url}/metrics", timeout=10).text
        assert 'imagehub_engine_up{deployment="doomed"} 0.0' in text
    finally:
        doomed.stop()
