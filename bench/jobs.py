"""Jobs per second through the asynchronous queue, and what `Prefer: wait` adds to a request.

Starts bench/upstream.py (a fast fake OpenAI upstream), one hub (one worker process) pointed at
it with a live key, on SQLite (default) or a fresh PostgreSQL database (`--postgres`), then:

1. submits N jobs (`Prefer: respond-async`, 16 at a time) and measures from the first
   submission until the last job succeeded: jobs per second through the whole queue (submit,
   claim with a lease, generate, store the result, settle, poll);
2. sends the same request one at a time, synchronously and with `Prefer: wait=30`, and reports
   the p50 and p95 latency of each.

Run: .venv/bin/python bench/jobs.py [--jobs 300] [--sequential 50] [--postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
BODY = {"model": "dall-e-2", "prompt": "bench", "size": "256x256", "response_format": "b64_json"}
PG_ADMIN = os.environ.get("IMAGEHUB_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_http(url: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    sys.exit(f"{url} did not come up")


async def _admin(statement: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(PG_ADMIN)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


async def throughput(url: str, key: str, count: int) -> float:
    headers = {"Authorization": f"Bearer {key}", "Prefer": "respond-async"}
    limit = asyncio.Semaphore(16)
    async with httpx.AsyncClient(timeout=60) as client:

        async def one() -> None:
            async with limit:
                response = await client.post(f"{url}/v1/images/generations", json=BODY, headers=headers)
                response.raise_for_status()

        started = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(count)))
        for _ in range(6000):  # at most ten minutes
            page = (await client.get(f"{url}/v1/images/jobs?limit=100", headers=headers)).json()["data"]
            if page and all(job["status"] == "succeeded" for job in page):
                break
            await asyncio.sleep(0.1)
        return count / (time.perf_counter() - started)


def latencies(url: str, key: str, count: int, prefer: str | None) -> tuple[float, float]:
    headers = {"Authorization": f"Bearer {key}", **({"Prefer": prefer} if prefer else {})}
    samples = []
    with httpx.Client(timeout=60) as client:
        for _ in range(count):
            started = time.perf_counter()
            response = client.post(f"{url}/v1/images/generations", json=BODY, headers=headers)
            assert response.status_code == 200, response.text
            samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.95) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=300)
    parser.add_argument("--sequential", type=int, default=50)
    parser.add_argument("--postgres", action="store_true")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="jobs-"))
    upstream_port, hub_port = free_port(), free_port()
    config = work / "imagehub.toml"
    config.write_text(
        f'[[deployments]]\nname = "bench"\nprovider = "openai"\n'
        f'base_url = "http://127.0.0.1:{upstream_port}/v1"\napi_key = "sk-bench"\nmodels = ["dall-e-2"]\n'
    )
    env = {**os.environ, "IMAGEHUB_DATA_DIR": str(work / "data"), "IMAGEHUB_CONFIG_FILE": str(config)}
    env.pop("DATABASE_URL", None)
    database = None
    if args.postgres:
        database = "imagehub_bench_" + secrets.token_hex(4)
        asyncio.run(_admin(f'CREATE DATABASE "{database}"'))
        env["IMAGEHUB_DATABASE_URL"] = f"{PG_ADMIN.rsplit('/', 1)[0]}/{database}"
    upstream = subprocess.Popen([PYTHON, str(ROOT / "bench" / "upstream.py"), str(upstream_port)])
    hub = None
    try:
        key = (
            subprocess.run(
                [PYTHON, "-m", "imagehub", "keys", "create", "--name", "bench"],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
            .stdout.strip()
            .splitlines()[-1]
        )
        hub = subprocess.Popen(
            [
                PYTHON,
                "-m",
                "imagehub",
                "serve",
                "--port",
                str(hub_port),
                "--workers",
                "1",
                "--log-level",
                "warning",
            ],
            env={**env, "IMAGEHUB_ACCESS_LOG": "false"},
        )
        url = f"http://127.0.0.1:{hub_port}"
        wait_http(f"{url}/healthz")
        latencies(url, key, 5, None)  # warm up
        rate = asyncio.run(throughput(url, key, args.jobs))
        sync = latencies(url, key, args.sequential, None)
        waited = latencies(url, key, args.sequential, "wait=30")
        backend = "PostgreSQL" if args.postgres else "SQLite"
        print(
            f"| {backend} | {args.jobs} | {rate:.0f} | {sync[0]:.1f} / {sync[1]:.1f} | {waited[0]:.1f} / {waited[1]:.1f} |"
        )
    finally:
        for process in (hub, upstream):
            if process is not None:
                process.terminate()
                process.wait(timeout=15)
        if database:
            asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))


if __name__ == "__main__":
    main()
