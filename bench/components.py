"""What each hot-path choice costs, measured in isolation (`python bench/components.py`).

- JSON: rendering a response with a 64 KB base64 image, orjson against the standard json.
- base64 pass-through: forwarding the upstream's string against decoding and re-encoding it.
- key lookup: the cached path against a SQLite query through SQLAlchemy + aiosqlite.
- upstream client: aiohttp against httpx, 16 concurrent requests to the fast fake upstream.
- event loop: uvloop against asyncio's own, on the same aiohttp client loop.
- image store: a 48 KB image as a file of its own (temp file + rename, as the store once did)
  against an append to a segment, in a directory under the checkout like `make run`'s data.
"""

from __future__ import annotations

import asyncio
import base64
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import free_port, wait_http
from upstream import make_png


def per_call_us(function: Callable[[], object], seconds: float = 1.0) -> float:
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        for _ in range(50):
            function()
        count += 50
    return (time.perf_counter() - started) / count * 1e6


def json_and_base64() -> None:
    png = make_png()
    b64 = base64.b64encode(png).decode()
    body = {"created": 1, "data": [{"b64_json": b64}]}
    print(f"render response, orjson        {per_call_us(lambda: orjson.dumps(body)):8.1f} us")
    print(f"render response, json          {per_call_us(lambda: json.dumps(body).encode()):8.1f} us")
    print(f"b64 pass-through               {per_call_us(lambda: b64):8.3f} us")
    print(
        f"b64 decode + re-encode         {per_call_us(lambda: base64.b64encode(base64.b64decode(b64)).decode()):8.1f} us"
    )


async def key_lookup() -> None:
    from imagehub.accounts.db import create_engine, migrate, sessionmaker
    from imagehub.accounts.keys import KeyStore

    with tempfile.TemporaryDirectory() as folder:
        engine = create_engine(f"sqlite+aiosqlite:///{folder}/k.db")
        await migrate(engine)
        cached = KeyStore(sessionmaker(engine), cache_seconds=3600)
        uncached = KeyStore(sessionmaker(engine), cache_seconds=0)
        _, secret = await cached.create("bench", "live")

        async def timed(store: KeyStore, rounds: int) -> float:
            started = time.perf_counter()
            for _ in range(rounds):
                await store.authenticate(secret)
            return (time.perf_counter() - started) / rounds * 1e6

        print(f"key lookup, cached             {await timed(cached, 20000):8.1f} us")
        print(f"key lookup, database           {await timed(uncached, 500):8.1f} us")
        await engine.dispose()


async def client_rps(kind: str, url: str, seconds: float = 3.0, concurrency: int = 16) -> float:
    body = {"model": "dall-e-2", "prompt": "x", "size": "256x256", "response_format": "b64_json"}
    done = 0
    deadline = time.monotonic() + seconds
    if kind == "aiohttp":
        import aiohttp

        async with aiohttp.ClientSession() as session:

            async def worker() -> None:
                nonlocal done
                while time.monotonic() < deadline:
                    async with session.post(url, json=body) as response:
                        orjson.loads(await response.read())
                    done += 1

            await asyncio.gather(*(worker() for _ in range(concurrency)))
    else:
        import httpx

        async with httpx.AsyncClient(limits=httpx.Limits(max_connections=100)) as client:

            async def worker() -> None:
                nonlocal done
                while time.monotonic() < deadline:
                    response = await client.post(url, json=body)
                    orjson.loads(response.content)
                    done += 1

            await asyncio.gather(*(worker() for _ in range(concurrency)))
    return done / seconds


def image_store(rounds: int = 3, burst: int = 500) -> None:
    """Bursts of `burst` writes with pauses between them: a sustained maximum-rate loop would
    measure the disk's writeback speed instead (both ways then stall on dirty-page throttling)."""
    import os
    import secrets
    import statistics

    from imagehub.storage import FileStore

    png = make_png()
    scratch = Path(__file__).resolve().parent / ".work"
    scratch.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(dir=scratch) as folder:
        root = Path(folder)

        def file_per_image() -> None:
            shard = root / "files" / secrets.token_hex(1)
            shard.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=shard, prefix=".tmp-")
            with os.fdopen(fd, "wb") as handle:
                handle.write(png)
            os.replace(tmp, shard / secrets.token_urlsafe(16))

        store = FileStore(root / "segments")
        expires = int(time.time()) + 3600
        ways: dict[str, Callable[[], object]] = {
            "own file": file_per_image,
            "segment ": lambda: store.put(png, "png", expires),
        }
        timings: dict[str, list[float]] = {name: [] for name in ways}
        for _ in range(rounds):
            for name, write in ways.items():
                started = time.process_time()
                for _ in range(burst):
                    write()
                timings[name].append((time.process_time() - started) / burst * 1e6)
                time.sleep(1.0)
        store.close()
    for name, values in timings.items():
        print(f"store 48 KB image, {name}    {statistics.median(values):8.1f} us CPU")


def clients() -> None:
    port = free_port()
    upstream = subprocess.Popen([sys.executable, str(Path(__file__).with_name("upstream.py")), str(port)])
    url = f"http://127.0.0.1:{port}/v1/images/generations"
    try:
        wait_http(f"http://127.0.0.1:{port}/", upstream)
        import uvloop

        for kind in ("aiohttp", "httpx"):
            print(
                f"upstream client {kind:<8} c16, asyncio loop {asyncio.run(client_rps(kind, url)):8.0f} req/s"
            )
        print(
            f"upstream client aiohttp  c16, uvloop        {uvloop.run(client_rps('aiohttp', url)):8.0f} req/s"
        )
    finally:
        upstream.terminate()


if __name__ == "__main__":
    json_and_base64()
    image_store()
    asyncio.run(key_lookup())
    clients()
