"""The local engine: a tiny random Stable Diffusion pipeline, built offline, served by a real hub.

The pipeline is saved with `save_pretrained` and configured as the `sd-turbo` deployment through
the hub's TOML file, so loading, routing, batching and encoding are the real code paths. The
HTTP tests drive a hub subprocess with the official SDK; the batching tests build the same
provider in-process, where the batcher's counters show what was merged.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import openai
import pytest

from imagehub.catalog import load_catalog
from imagehub.errors import ServiceUnavailable
from imagehub.schema.images import ImageJob
from imagehub.schema.wire import ImageGenerationRequest
from imagehub.service.validation import validate_generation
from imagehub.upstream.assembly import build_router
from imagehub.upstream.deployments import ConfigError, load_config
from imagehub.upstream.providers.local.provider import LocalProvider
from imagehub.upstream.routing import Router
from tests.hub import Hub, cli, create_key
from tests.images import decode_b64, open_bytes, tiny_png
from tests.local_pipeline import build_tiny_pipeline

CATALOG = load_catalog()
OFFLINE = {"HF_HUB_OFFLINE": "1"}


def _toml(value: object) -> str:
    return f'"{value}"' if isinstance(value, str) else repr(value)


def write_config(path: Path, pipeline: Path, **engine: object) -> Path:
    """The hub's TOML with one local deployment of sd-turbo served by the tiny pipeline."""
    lines = [
        "[[deployments]]",
        'name = "tiny-local"',
        'provider = "local"',
        'models = ["sd-turbo"]',
        f'path = "{pipeline}"',
    ]
    lines += [f"{name} = {_toml(value)}" for name, value in engine.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def tiny_pipeline(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_pipeline(tmp_path_factory.mktemp("local") / "tiny-sd")


@dataclass
class LocalHub:
    hub: Hub
    key: str

    def sdk(self) -> openai.OpenAI:
        return openai.OpenAI(base_url=f"{self.hub.url}/api", api_key=self.key, max_retries=0, timeout=60)


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory, tiny_pipeline: Path) -> Iterator[LocalHub]:
    root = tmp_path_factory.mktemp("local-hub")
    config = write_config(root / "hub.toml", tiny_pipeline, max_batch=8, max_wait_ms=20, queue_size=64)
    env = {"IMAGEHUB_CONFIG_FILE": str(config), **OFFLINE}
    hub = Hub(root / "data", env=env).start()
    try:
        yield LocalHub(hub, create_key(hub.data_dir, "local", sandbox=False))
    finally:
        hub.stop()


def pixels(b64: str) -> np.ndarray[Any, Any]:
    return np.asarray(decode_b64(b64).convert("RGB"), dtype=np.int16)


def generate(client: openai.OpenAI, **params: Any) -> list[str]:
    """b64 images of one generation; `seed` and `image` travel as the extension fields they are."""
    extra = {name: params.pop(name) for name in ("seed", "image") if name in params}
    result = client.images.generate(
        model=params.pop("model", "sd-turbo"),
        prompt=params.pop("prompt", "a red fox"),
        response_format="b64_json",
        extra_body=extra or None,
        **params,
    )
    assert result.data is not None
    return [item.b64_json or "" for item in result.data]


# --- through the API, with the official SDK -------------------------------------------------


def test_generates_n_images_of_the_requested_size(local: LocalHub) -> None:
    images = generate(local.sdk(), size="256x320", n=2)
    assert len(images) == 2
    for b64 in images:
        image = decode_b64(b64)
        assert image.format == "PNG" and image.size == (256, 320)
    assert images[0] != images[1]  # image i has seed + i


def test_pinned_model_url_and_default_size(local: LocalHub) -> None:
    raw = local.sdk().images.with_raw_response.generate(model="local/sd-turbo", prompt="a lighthouse")
    assert raw.headers["x-imagehub-provider"] == "tiny-local"
    assert "x-imagehub-sandbox" not in raw.headers
    url = raw.parse().data[0].url  # type: ignore[index]
    assert url is not None
    fetched = httpx.get(url)
    assert fetched.status_code == 200
    assert open_bytes(fetched.content).size == (512, 512)  # sd-turbo's default size


def test_seed_makes_output_reproducible(local: LocalHub) -> None:
    client = local.sdk()
    first = generate(client, size="256x256", seed=1234)
    assert generate(client, size="256x256", seed=1234) == first
    assert generate(client, size="256x256", seed=1235) != first
    # Image i of a request is seeded seed + i: the second image of seed 1234 is seed 1235's first
    # (equal up to float rounding: two images are computed as one batch of two).
    pair = generate(client, size="256x256", seed=1234, n=2)
    assert np.abs(pixels(pair[0]) - pixels(first[0])).max() <= 2
    assert np.abs(pixels(pair[1]) - pixels(generate(client, size="256x256", seed=1235)[0])).max() <= 2


def test_quality_picks_a_step_preset(local: LocalHub) -> None:
    client = local.sdk()
    low = generate(client, size="256x256", seed=5, quality="low")  # 1 step
    assert generate(client, size="256x256", seed=5, quality="auto") == low  # `steps`, 1 here
    assert generate(client, size="256x256", seed=5, quality="high") != low  # 4 steps
    assert generate(client, size="256x256", seed=5, quality="hd") == generate(
        client, size="256x256", seed=5, quality="high"
    )


def test_output_formats(local: LocalHub) -> None:
    result = local.sdk().images.generate(
        model="sd-turbo", prompt="x", size="256x256", response_format="b64_json", output_format="webp"
    )
    assert result.data is not None
    assert decode_b64(result.data[0].b64_json or "").format == "WEBP"


def test_image_input_edits_at_the_requested_size(local: LocalHub) -> None:
    source = base64.b64encode(tiny_png(64, 48, (200, 30, 30))).decode()
    client = local.sdk()
    edited = generate(client, size="320x256", seed=9, image=source, n=2)
    assert [decode_b64(b64).size for b64 in edited] == [(320, 256), (320, 256)]
    assert generate(client, size="320x256", seed=9, image=source, n=2) == edited
    assert edited[0] != generate(client, size="320x256", seed=9)[0]  # the source matters


def test_sdk_edit_endpoint_is_image_to_image(local: LocalHub) -> None:
    """`client.images.edit` (multipart) is the same image-to-image as `image` on generations."""
    source = tiny_png(64, 48, (200, 30, 30))
    client = local.sdk()

    def edit(**extra: Any) -> list[str]:
        result = client.images.edit(
            model="sd-turbo",
            image=("source.png", source, "image/png"),
            prompt="a red fox",
            size="320x256",  # type: ignore[arg-type]
            n=2,
            response_format="b64_json",
            extra_body={"seed": 9, **extra},
        )
        assert result.data is not None
        return [item.b64_json or "" for item in result.data]

    edited = edit()
    assert [decode_b64(b64).size for b64 in edited] == [(320, 256), (320, 256)]
    assert edit() == edited
    as_generation = generate(client, size="320x256", seed=9, image=base64.b64encode(source).decode(), n=2)
    assert as_generation == edited
    with pytest.raises(openai.BadRequestError) as refused:
        client.images.edit(
            model="sd-turbo",
            image=("s.png", source, "image/png"),
            mask=("m.png", source, "image/png"),
            prompt="x",
        )
    assert refused.value.body["param"] == "mask"  # type: ignore[index]


@pytest.mark.parametrize(
    ("params", "param", "code"),
    [
        ({"size": "1024x1032"}, "size", "invalid_value"),  # above max_side
        ({"size": "248x256"}, "size", "invalid_value"),  # below min_side
        ({"size": "260x256"}, "size", "invalid_value"),  # not a multiple of 8
        ({"size": "auto"}, "size", "invalid_value"),
        ({"style": "vivid"}, "style", "unsupported_parameter"),
        ({"background": "transparent"}, "background", "unsupported_parameter"),
        ({"moderation": "low"}, "moderation", "unsupported_parameter"),
        ({"quality": "ultra"}, "quality", None),  # not even an OpenAI value: strict wire model
        ({"seed": -1}, "seed", "invalid_value"),
        ({"seed": 2**32}, "seed", "invalid_value"),
        ({"seed": "7"}, "seed", None),
        ({"seed": 7, "model": "dall-e-3"}, "seed", "unsupported_parameter"),
        ({"image": [base64.b64encode(tiny_png()).decode()] * 2}, "image", "array_above_max_length"),
    ],
)
def test_what_the_local_engine_refuses(
    local: LocalHub, params: dict[str, Any], param: str, code: str | None
) -> None:
    body = {"model": "sd-turbo", "prompt": "a red fox", **params}
    response = httpx.post(
        f"{local.hub.url}/api/images/generations",
        json=body,
        headers={"Authorization": f"Bearer {local.key}"},
        timeout=60,
    )
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["param"] == param
    if code is not None:
        assert error["code"] == code
    if param == "size":
        assert "256 to 1024" in error["message"] and "multiple of 8" in error["message"]


def test_concurrent_requests_each_get_their_own_images(local: LocalHub) -> None:
    """Mixed sizes, counts and seeds at once: merged where they can be, then split back."""
    client = local.sdk()
    cases = [("256x256" if i % 3 else "256x320", 1 + i % 2, 100 + 10 * i) for i in range(12)]

    def call(case: tuple[str, int, int]) -> list[str]:
        size, n, seed = case
        return generate(client, prompt=f"request {seed}", size=size, n=n, seed=seed)

    with ThreadPoolExecutor(len(cases)) as pool:
        together = list(pool.map(call, cases))
    for (size, n, seed), images in zip(cases, together, strict=True):
        assert len(images) == n
        width, height = (int(side) for side in size.split("x"))
        assert all(decode_b64(b64).size == (width, height) for b64 in images)
        alone = call((size, n, seed))  # the same request on its own
        for merged, single in zip(images, alone, strict=True):
            # Same seed, same prompt: the same picture, up to float rounding in a bigger batch.
            assert np.abs(pixels(merged) - pixels(single)).max() <= 2
    firsts = [pixels(images[0]) for images in together if decode_b64(images[0]).size == (256, 256)]
    assert all(np.abs(firsts[0] - other).mean() > 5 for other in firsts[1:])  # nobody got another's


def test_a_client_that_hangs_up_while_queued_costs_nothing(local: LocalHub) -> None:
    """A queued request whose client is gone is dropped: the next one does not wait for it."""
    url = f"{local.hub.url}/api/images/generations"
    headers = {"Authorization": f"Bearer {local.key}"}

    def post(timeout: float, **body: object) -> float:
        started = time.monotonic()
        with contextlib.suppress(httpx.TimeoutException):  # a timeout is the client hanging up
            httpx.post(
                url, json={"model": "sd-turbo", "prompt": "x", **body}, headers=headers, timeout=timeout
            )
        return time.monotonic() - started

    with ThreadPoolExecutor(3) as pool:
        busy = pool.submit(post, 60, size="768x768", n=4)  # keeps the engine busy for a while
        time.sleep(0.3)
        # ~10 s of work if it ran; its client gives up while it still waits behind `busy`.
        pool.submit(post, 0.3, size="1024x1024", n=10, quality="high").result()
        after = pool.submit(post, 60, size="256x256").result()
        busy.result()
    assert after < 5, f"the next request waited {after:.1f}s: the abandoned one ran"


def test_models_list_shows_the_local_model(local: LocalHub) -> None:
    listed = {model.id: model.owned_by for model in local.sdk().models.list()}
    assert listed == {"sd-turbo": "local"}


# --- in-process: the same provider, built from the same TOML, with its counters in reach ------------


def job(**params: Any) -> ImageJob:
    params.setdefault("size", "256x256")
    return validate_generation(
        CATALOG, ImageGenerationRequest(model="sd-turbo", prompt="a red fox", **params)
    )


def local_router(tmp_path: Path, pipeline: Path, **engine: object) -> tuple[Router, LocalProvider]:
    router = build_router(load_config(CATALOG, write_config(tmp_path / "hub.toml", pipeline, **engine)))
    provider = router.routes[0].provider
    assert isinstance(provider, LocalProvider)
    return router, provider


def test_batched_and_unbatched_give_each_request_its_own_images(tmp_path: Path, tiny_pipeline: Path) -> None:
    jobs = [job(size="256x256" if i % 2 else "320x256", n=1 + i % 3, seed=i) for i in range(10)]

    async def run(**engine: object) -> tuple[list[list[bytes]], list[int]]:
        router, provider = local_router(tmp_path, tiny_pipeline, **engine)
        try:
            results = await asyncio.gather(*(router.generate(j, sandbox=False) for j in jobs))
        finally:
            await router.close()
        images = [[image.data or b"" for image in result.images] for result in results]
        return images, list(provider.batcher.stats.batch_sizes)

    batched, batch_sizes = asyncio.run(run(max_batch=8, max_wait_ms=50))
    unbatched, single_sizes = asyncio.run(run(max_batch=1))
    assert max(batch_sizes) > 1 and len(batch_sizes) < len(jobs)  # requests really were merged
    assert max(single_sizes) <= 3 and len(single_sizes) == len(jobs)  # one call per request
    for j, merged, alone in zip(jobs, batched, unbatched, strict=True):
        assert len(merged) == len(alone) == j.n
        for a, b in zip(merged, alone, strict=True):
            first, second = open_bytes(a), open_bytes(b)
            assert first.size == second.size == (j.width, j.height)
            diff = np.abs(np.asarray(first, np.int16) - np.asarray(second, np.int16))
            assert diff.max() <= 2


def test_full_queue_is_503_with_retry_after(tmp_path: Path, tiny_pipeline: Path) -> None:
    async def run() -> tuple[list[object], int]:
        router, provider = local_router(tmp_path, tiny_pipeline, max_batch=1, queue_size=2)
        try:
            outcomes = await asyncio.gather(
                *(router.generate(job(seed=i), sandbox=False) for i in range(4)), return_exceptions=True
            )
        finally:
            await router.close()
        return outcomes, provider.batcher.stats.requests

    outcomes, ran = asyncio.run(run())
    refused = [o for o in outcomes if isinstance(o, ServiceUnavailable)]
    assert len(refused) == 2 and ran == 2  # two queued, the other two refused at once
    assert refused[0].status == 503 and refused[0].code == "engine_overloaded"
    assert int(refused[0].headers["Retry-After"]) >= 1


def test_a_request_cancelled_while_queued_never_runs(tmp_path: Path, tiny_pipeline: Path) -> None:
    async def run() -> tuple[int, int, int]:
        router, provider = local_router(tmp_path, tiny_pipeline, max_batch=1)
        try:
            running = asyncio.create_task(router.generate(job(size="512x512", n=4), sandbox=False))
            queued = asyncio.create_task(router.generate(job(seed=1), sandbox=False))
            await asyncio.sleep(0.02)  # the first is running, the second waits behind it
            assert provider.batcher.waiting == 1
            queued.cancel()  # what the API does when the client hangs up
            await running
            with pytest.raises(asyncio.CancelledError):
                await queued
            stats = provider.batcher.stats
            return stats.requests, stats.images, stats.dropped
        finally:
            await router.close()

    assert asyncio.run(run()) == (1, 4, 1)


# --- configuration, loading and the CLI -------------------------------------------------------------


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ('path = "/x"\nmodel_id = "a/b"\nmodels = ["sd-turbo"]', "exactly one of path and model_id"),
        ('path = "/x"', "exactly one model"),
        ('path = "/x"\nmodels = ["dall-e-3"]', "not served by the local API"),
        ('path = "/x"\nmodels = ["sd-turbo"]\nmax_batch = 0', "max_batch"),
        ('path = "/x"\nmodels = ["sd-turbo"]\ndtype = "float8"', "dtype"),
    ],
)
def test_local_deployment_config_errors(tmp_path: Path, toml: str, message: str) -> None:
    config = tmp_path / "hub.toml"
    config.write_text(f'[[deployments]]\nname = "l"\nprovider = "local"\n{toml}\n')
    with pytest.raises(ConfigError, match=message):
        load_config(CATALOG, config)


def test_local_fields_are_refused_on_other_providers(tmp_path: Path) -> None:
    config = tmp_path / "hub.toml"
    config.write_text('[[deployments]]\nname = "o"\nprovider = "openai"\napi_key = "k"\nsteps = 4\n')
    with pytest.raises(ConfigError, match='steps: only for provider = "local"'):
        load_config(CATALOG, config)


def test_loading_fails_clearly_without_weights(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ConfigError, match="not a diffusers pipeline folder"):
        build_router(load_config(CATALOG, write_config(tmp_path / "a.toml", empty)))
    config = tmp_path / "b.toml"
    config.write_text(
        '[[deployments]]\nname = "l"\nprovider = "local"\nmodels = ["sd-turbo"]\n'
        'model_id = "imagehub-tests/not-in-any-cache"\n'
    )
    with pytest.raises(ConfigError, match="imagehub models pull imagehub-tests/not-in-any-cache"):
        build_router(load_config(CATALOG, config))


def test_scheduler_is_configurable(tmp_path: Path, tiny_pipeline: Path) -> None:
    router, provider = local_router(tmp_path, tiny_pipeline, scheduler="EulerAncestralDiscreteScheduler")
    assert type(provider.engine.text2img.scheduler).__name__ == "EulerAncestralDiscreteScheduler"
    assert provider.engine.img2img.scheduler is provider.engine.text2img.scheduler  # shared weights

    async def once() -> bytes:
        try:
            return (await router.generate(job(seed=3), sandbox=False)).images[0].data or b""
        finally:
            await router.close()

    assert open_bytes(asyncio.run(once())).size == (256, 256)
    with pytest.raises(ConfigError, match="'Nope' is not a diffusers scheduler"):
        local_router(tmp_path, tiny_pipeline, scheduler="Nope")


def test_cpu_refuses_float16(tmp_path: Path, tiny_pipeline: Path) -> None:
    with pytest.raises(ConfigError, match="float16 does not run on the CPU"):
        local_router(tmp_path, tiny_pipeline, dtype="float16")


def test_models_pull_fails_clearly_offline(tmp_path: Path) -> None:
    env = {**OFFLINE, "HF_HOME": str(tmp_path / "hf")}
    done = cli(tmp_path / "data", "models", "pull", "stabilityai/sd-turbo", env=env, check=False)
    assert done.returncode != 0
    assert "Cannot pull stabilityai/sd-turbo" in done.stderr
    assert "no internet access" in done.stderr and "path" in done.stderr
    assert not list((tmp_path / "hf").rglob("*.safetensors"))


def test_the_core_hub_never_imports_torch() -> None:
    """Without a local deployment, serving and the CLI leave torch and diffusers unloaded."""
    code = (
        "import sys\n"
        "import imagehub.app, imagehub.cli\n"
        "from imagehub.catalog import load_catalog\n"
        "from imagehub.upstream.deployments import load_config\n"
        "from imagehub.upstream.assembly import build_router\n"
        "build_router(load_config(load_catalog(), None, {'OPENAI_API_KEY': 'k'}), {})\n"
        "heavy = sorted(m for m in ('torch', 'diffusers', 'transformers') if m in sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_catalog_rejects_a_size_outside_its_own_range() -> None:
    from imagehub.catalog.loader import spec_from_table

    table = {
        "display_name": "x",
        "providers": ["local"],
        "fields": ["size"],
        "sizes": ["512x512", "2048x2048"],
        "default_size": "512x512",
        "min_side": 256,
        "max_side": 1024,
        "max_n": 1,
        "max_prompt_chars": 10,
        "default_response_format": "url",
    }
    with pytest.raises(ValueError, match="outside its own range"):
        spec_from_table("x", {"x": table})


def test_tiny_pipeline_is_really_tiny(tiny_pipeline: Path) -> None:
    size = sum(f.stat().st_size for f in tiny_pipeline.rglob("*") if f.is_file())
    assert size < 2_000_000


# --- streaming: previews decoded from the latents ---------------------------------------------------


def test_streamed_previews_come_from_the_latents_and_leave_the_image_alone(local: LocalHub) -> None:
    client = local.sdk()
    events = list(
        client.images.generate(
            model="sd-turbo",
            prompt="a red fox",
            size="256x256",
            quality="high",  # 4 steps: previews after steps 1, 2 and 3
            stream=True,
            partial_images=3,
            response_format="b64_json",
            extra_body={"seed": 11},
        )
    )
    assert [e.type for e in events] == ["image_generation.partial_image"] * 3 + ["image_generation.completed"]
    assert [e.partial_image_index for e in events[:3]] == [0, 1, 2]
    previews = [pixels(e.b64_json) for e in events[:3]]
    assert all(p.shape == (256, 256, 3) for p in previews)
    assert len({p.tobytes() for p in previews}) == 3, "each preview shows a later step"
    [whole] = generate(client, size="256x256", quality="high", seed=11)
    assert np.array_equal(pixels(events[-1].b64_json), pixels(whole)), "streaming changes no pixel"


def test_previews_only_for_the_request_that_asked_in_a_shared_batch(
    tmp_path: Path, tiny_pipeline: Path
) -> None:
    async def run() -> tuple[list[object], list[bytes], list[bytes], list[int]]:
        router, provider = local_router(tmp_path, tiny_pipeline, max_batch=8, max_wait_ms=100)
        try:
            quiet = job(quality="high", seed=3, n=2)
            opened, alone = await asyncio.gather(
                router.open_stream(job(quality="high", seed=4), sandbox=False, partial_images=2),
                router.generate(quiet, sandbox=False),
            )
            streamed = [opened.first] + [item async for item in opened.rest]
            batch_sizes = list(provider.batcher.stats.batch_sizes)
            solo = await router.generate(quiet, sandbox=False)
        finally:
            await router.close()
        images = [image.data or b"" for image in alone.images]
        return streamed, images, [image.data or b"" for image in solo.images], batch_sizes

    streamed, shared, solo, batch_sizes = asyncio.run(run())
    assert batch_sizes[0] == 3, "the streamed request and the quiet one shared one call"
    kinds = [type(item).__name__ for item in streamed]
    assert kinds == ["PartialImage", "PartialImage", "GeneratedImage", "GenerationResult"]
    for together, alone in zip(shared, solo, strict=True):  # batching moves pixels by a rounding step
        diff = np.abs(np.asarray(open_bytes(together), np.int16) - np.asarray(open_bytes(alone), np.int16))
        assert diff.max() <= 2, "the quiet request's images are what it gets alone"
