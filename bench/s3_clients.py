"""Which async S3 client for the image store: aiobotocore or obstore, on the hub's own workload.

The workload is what `response_format=url` does per image: PUT a ~48 KB PNG, GET it back (as a
hub serving its URL would), and finally DELETE the lot in batches, 16 at a time. Each client runs
in its own process against the same server on loopback, so the client's CPU per operation (what a
hub pays, measured with the process's own CPU clock, all its threads) is measured apart from the
server's: bench/s3_upstream.py (fast, in memory) by default, or moto (`--server moto`, slow, so
req/s there is moto's).

    .venv/bin/pip install 'aiobotocore>=3.10,<4'   # only for this comparison
    .venv/bin/python bench/s3_clients.py --n 2000 --rounds 2
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DATA = os.urandom(48 * 1024)


async def _run(ops: Any, n: int, concurrency: int) -> dict[str, float]:
    semaphore = asyncio.Semaphore(concurrency)
    results: dict[str, float] = {}
    for phase in ("put", "get"):
        cpu, wall = time.process_time(), time.perf_counter()

        async def one(index: int, phase: str = phase) -> None:
            async with semaphore:
                await getattr(ops, phase)(f"bench/{index:08d}.png")

        await asyncio.gather(*(one(index) for index in range(n)))
        wall = time.perf_counter() - wall
        results[f"{phase} req/s"] = n / wall
        results[f"{phase} cpu us/op"] = (time.process_time() - cpu) / n * 1e6
    cpu = time.process_time()
    await ops.delete([f"bench/{index:08d}.png" for index in range(n)])
    results["delete cpu us/object"] = (time.process_time() - cpu) / n * 1e6
    return results


class Aiobotocore:
    async def __aenter__(self) -> Aiobotocore:
        from aiobotocore.config import AioConfig
        from aiobotocore.session import get_session

        self._cm = get_session().create_client(
            "s3",
            endpoint_url=os.environ["BENCH_ENDPOINT"],
            config=AioConfig(max_pool_connections=32, s3={"addressing_style": "path"}),
        )
        self.client = await self._cm.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._cm.__aexit__(None, None, None)

    async def put(self, key: str) -> None:
        await self.client.put_object(Bucket=BUCKET, Key=key, Body=DATA, ContentType="image/png")

    async def get(self, key: str) -> None:
        response = await self.client.get_object(Bucket=BUCKET, Key=key, Range="bytes=0-")
        async with response["Body"] as body:
            assert len(await body.read()) == len(DATA)

    async def delete(self, keys: list[str]) -> None:
        for start in range(0, len(keys), 1000):
            batch = [{"Key": key} for key in keys[start : start + 1000]]
            await self.client.delete_objects(Bucket=BUCKET, Delete={"Objects": batch, "Quiet": True})


class Obstore:
    async def __aenter__(self) -> Obstore:
        from obstore.store import S3Store

        self.store = S3Store(
            BUCKET,
            endpoint=os.environ["BENCH_ENDPOINT"],
            virtual_hosted_style_request=False,
            client_options={"allow_http": True, "pool_max_idle_per_host": "32"},
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    async def put(self, key: str) -> None:
        import obstore

        await obstore.put_async(self.store, key, DATA, attributes={"Content-Type": "image/png"})

    async def get(self, key: str) -> None:
        import obstore

        result = await obstore.get_async(self.store, key, options={"range": (0, len(DATA))})
        assert len(await result.bytes_async()) == len(DATA)

    async def delete(self, keys: list[str]) -> None:
        import obstore

        await obstore.delete_async(self.store, keys)


BUCKET = "bench-clients"
CLIENTS = {"aiobotocore": Aiobotocore, "obstore": Obstore}


async def _worker(name: str, n: int, concurrency: int) -> dict[str, float]:
    async with CLIENTS[name]() as ops:
        await _run(ops, 50, concurrency)  # warm-up: connections, imports, credential lookups
        return await _run(ops, n, concurrency)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=1500, help="objects per phase")
    parser.add_argument("-c", "--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--worker", choices=sorted(CLIENTS))
    parser.add_argument("--server", choices=["fake", "moto"], default="fake")
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(asyncio.run(_worker(args.worker, args.n, args.concurrency))))
        return

    from tests.hub import free_port
    from tests.s3_server import S3Server

    server = S3Server()
    fake: subprocess.Popen[bytes] | None = None
    if args.server == "moto":
        server.start()
        server.create_bucket(BUCKET)
    else:
        server.port = free_port()
        fake = subprocess.Popen([sys.executable, str(ROOT / "bench" / "s3_upstream.py"), str(server.port)])
        time.sleep(1.5)
    try:
        env = {**os.environ, **server.client_env(), "BENCH_ENDPOINT": server.url}
        rows: dict[str, list[dict[str, float]]] = {name: [] for name in CLIENTS}
        for _ in range(args.rounds):
            for name in CLIENTS:  # interleaved, so a change in the machine's load hits both
                out = subprocess.run(
                    [
                        sys.executable,
                        __file__,
                        "--worker",
                        name,
                        "--n",
                        str(args.n),
                        "-c",
                        str(args.concurrency),
                    ],
                    env=env,
                    capture_output=True,
                    text=True,
                    check=True,
                    timeout=600,
                ).stdout
                rows[name].append(json.loads(out))
    finally:
        server.stop()
        if fake is not None:
            fake.terminate()
            fake.wait(10)
    columns = list(rows["obstore"][0])
    print(f"\n{'client':<14}" + "".join(f"{column:>22}" for column in columns))
    for name, runs in rows.items():
        for run in runs:
            print(f"{name:<14}" + "".join(f"{run[column]:>22.0f}" for column in columns))


if __name__ == "__main__":
    main()
