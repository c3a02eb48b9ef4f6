"""Local engine throughput: images/s at 1, 4 and 16 concurrent requests, batched against unbatched.

    .venv/bin/python bench/local_engine.py [--duration 8] [--size 256x256] [--pipeline DIR] [--tier engine]

Starts a real hub (`imagehub serve`) twice with the same local deployment of sd-turbo, once
with dynamic batching (max_batch 16) and once without (max_batch 1), and drives each with a
closed loop of N clients sending one-image requests over HTTP. For reference it also times the
pipeline called directly, in-process, with no hub: one call per image (what a server without
batching does at best) and one call for 16 images. Without --pipeline it builds the tests' tiny
random Stable Diffusion pipeline (offline, ~400 KB): the numbers then measure the serving path
and the batching gain on a model whose per-call overhead is large next to its compute, not the
speed of a real model. With `--tier engine` the model runs in an `imagehub engine serve` process
(`--device`, e.g. cuda) that each hub reaches over HTTP: the GPU tier's numbers. Timing targets
live here, never in the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import platform
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # for tests.hub and tests.local_pipeline

from tests.engines import Engine  # noqa: E402
from tests.hub import Hub, create_key  # noqa: E402

CONCURRENCY = (1, 4, 16)


@dataclass
class Cell:
    images_per_s: float
    p50_ms: float
    p95_ms: float
    requests: int


def write_config(path: Path, pipeline: Path, max_batch: int, max_wait_ms: float) -> Path:
    path.write_text(
        "[[deployments]]\n"
        'name = "bench-local"\n'
        'provider = "local"\n'
        'models = ["sd-turbo"]\n'
        f'path = "{pipeline}"\n'
        f"max_batch = {max_batch}\n"
        f"max_wait_ms = {max_wait_ms}\n"
        "queue_size = 256\n"
    )
    return path


async def closed_loop(url: str, key: str, size: str, clients: int, duration: float) -> Cell:
    """`clients` loops, each sending its next request when the last one is answered."""
    latencies: list[float] = []
    body = {
        "model": "sd-turbo",
        "prompt": "a red fox",
        "size": size,
        "response_format": "b64_json",
    }
    headers = {"Authorization": f"Bearer {key}"}
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(timeout=120, limits=limits) as client:

        async def one(seed: int) -> None:
            started = time.perf_counter()
            response = await client.post(url, json={**body, "seed": seed}, headers=headers)
            if response.status_code != 200:
                raise RuntimeError(f"{url}: HTTP {response.status_code}: {response.text[:300]}")
            latencies.append(time.perf_counter() - started)

        await asyncio.gather(*(one(i) for i in range(clients)))  # warm: connections, caches
        latencies.clear()
        deadline = time.perf_counter() + duration

        async def loop(worker: int) -> None:
            seed = worker * 1_000_000
            while time.perf_counter() < deadline:
                seed += 1
                await one(seed)

        started = time.perf_counter()
        await asyncio.gather(*(loop(i) for i in range(clients)))
        elapsed = time.perf_counter() - started
    ordered = sorted(latencies)
    return Cell(
        images_per_s=len(latencies) / elapsed,
        p50_ms=1000 * statistics.median(ordered),
        p95_ms=1000 * ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))],
        requests=len(latencies),
    )


ENGINES: list[Engine] = []


def engine_hub_config(root: Path, pipeline: Path, max_batch: int, max_wait_ms: float, device: str) -> Path:
    """Start an engine with the local deployment, and give the hub an engine deployment for it."""
    engine_toml = write_config(root / "engine.toml", pipeline, max_batch, max_wait_ms)
    engine_toml.write_text(engine_toml.read_text() + f'device = "{device}"\n')
    engine = Engine(engine_toml).start(timeout=600)
    ENGINES.append(engine)
    (root / "hub.toml").write_text(
        '[[deployments]]\nname = "bench-engine"\nprovider = "engine"\nmodels = ["sd-turbo"]\n'
        f'base_url = "{engine.url}"\n'
    )
    return root / "hub.toml"


def start_hub(
    work: Path, pipeline: Path, max_batch: int, max_wait_ms: float, tier: str = "hub", device: str = "cpu"
) -> tuple[Hub, str]:
    root = Path(tempfile.mkdtemp(prefix=f"hub-b{max_batch}-", dir=work))
    if tier == "engine":
        config = engine_hub_config(root, pipeline, max_batch, max_wait_ms, device)
    else:
        config = write_config(root / "hub.toml", pipeline, max_batch, max_wait_ms)
    hub = Hub(root / "data", env={"IMAGEHUB_CONFIG_FILE": str(config), "HF_HUB_OFFLINE": "1"}).start()
    return hub, create_key(hub.data_dir, "bench", sandbox=False)


@functools.cache
def load_pipeline(pipeline: Path) -> Any:
    from diffusers import AutoPipelineForText2Image

    pipe = AutoPipelineForText2Image.from_pretrained(pipeline, local_files_only=True)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def bench_direct(pipeline: Path, size: str, duration: float) -> tuple[float, float]:
    """images/s calling the pipeline in-process: one image per call, and 16 per call."""
    import torch

    pipe = load_pipeline(pipeline)
    width, height = (int(side) for side in size.split("x"))

    def call(batch: int) -> None:
        with torch.inference_mode():
            pipe(
                prompt=["a red fox"] * batch,
                width=width,
                height=height,
                num_inference_steps=1,
                guidance_scale=0.0,
                generator=[torch.Generator("cpu").manual_seed(i) for i in range(batch)],
            )

    rates = []
    for batch in (1, 16):
        call(batch)  # warm up
        images, started = 0, time.perf_counter()
        while time.perf_counter() - started < duration:
            call(batch)
            images += batch
        rates.append(images / (time.perf_counter() - started))
    return rates[0], rates[1]


def device_line() -> str:
    import torch

    if torch.cuda.is_available():
        return f"GPU: {torch.cuda.get_device_name(0)}"
    return f"CPU only: {os.cpu_count()} cores, torch {torch.__version__}, {torch.get_num_threads()} threads"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per measurement")
    parser.add_argument("--rounds", type=int, default=3, help="measurements per cell; the median is shown")
    parser.add_argument("--size", default="256x256", help="image size (sd-turbo's range: 256-1024)")
    parser.add_argument("--max-wait-ms", type=float, default=5.0)
    parser.add_argument("--pipeline", type=Path, help="a diffusers pipeline folder; default: the tiny one")
    parser.add_argument(
        "--tier", choices=("hub", "engine"), default="hub", help="model in the hub, or in an engine"
    )
    parser.add_argument("--device", default="cpu", help="with --tier engine: the engine's device (e.g. cuda)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="imagehub-bench-") as tmp:
        work = Path(tmp)
        pipeline = args.pipeline
        if pipeline is None:
            from tests.local_pipeline import build_tiny_pipeline

            pipeline = build_tiny_pipeline(work / "tiny-sd")
        load_before = os.getloadavg()[0]
        direct = [bench_direct(pipeline, args.size, args.duration) for _ in range(args.rounds)]
        hubs = {
            "batched (max_batch 16)": start_hub(work, pipeline, 16, args.max_wait_ms, args.tier, args.device),
            "unbatched (max_batch 1)": start_hub(work, pipeline, 1, 0, args.tier, args.device),
        }
        # Both hubs stay up; their cells alternate, round after round, so that drifting load
        # from other processes on the machine hits both alike. Each cell reports its median.
        cells: dict[str, dict[int, list[Cell]]] = {label: {n: [] for n in CONCURRENCY} for label in hubs}
        try:
            for n in CONCURRENCY:
                for round_ in range(args.rounds):
                    order = list(hubs.items()) if round_ % 2 == 0 else list(reversed(hubs.items()))
                    for label, (hub, key) in order:
                        url = f"{hub.url}/api/images/generations"
                        cells[label][n].append(
                            asyncio.run(closed_loop(url, key, args.size, n, args.duration))
                        )
        except BaseException:
            for hub, _ in hubs.values():
                print(f"--- {hub.url} log (tail) ---\n{hub.log()[-3000:]}", file=sys.stderr)
            raise
        finally:
            for hub, _ in hubs.values():
                hub.stop()
            for engine in ENGINES:
                engine.stop()
        load_after = os.getloadavg()[0]

    print(
        f"{device_line()}; Python {platform.python_version()}; pipeline: {args.pipeline or 'tiny random SD'}; "
        f"tier: {'engine on ' + args.device if args.tier == 'engine' else 'in the hub'}"
    )
    print(
        f"{args.size}, 1 step, one image per request; {args.rounds} rounds of {args.duration:.0f}s per cell, "
        f"median (min-max); load average {load_before:.1f} before, {load_after:.1f} after\n"
    )
    print("| hub | concurrency | images/s | p50 ms | p95 ms |")
    print("|---|---:|---:|---:|---:|")
    for label, by_n in cells.items():
        for n, runs in by_n.items():
            rates = sorted(cell.images_per_s for cell in runs)
            mid = sorted(runs, key=lambda cell: cell.images_per_s)[len(runs) // 2]
            print(
                f"| {label} | {n} | {statistics.median(rates):.1f} ({rates[0]:.1f}-{rates[-1]:.1f}) "
                f"| {mid.p50_ms:.0f} | {mid.p95_ms:.0f} |"
            )
    single = statistics.median(rate for rate, _ in direct)
    sixteen = statistics.median(rate for _, rate in direct)
    print(
        f"\nDirect pipeline, no hub (median of {args.rounds}): {single:.1f} images/s one per call, ", end=""
    )
    print(f"{sixteen:.1f} in calls of 16.")


if __name__ == "__main__":
    main()
