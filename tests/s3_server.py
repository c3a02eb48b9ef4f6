"""A real S3-compatible server for tests and benchmarks: moto's server mode in a subprocess.

Loopback only, in memory, any credentials accepted (SigV4 is still checked for shape, so the
hub's real client code runs end to end). Stopping it is how tests make the store go down.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import httpx
from aiohttp import web

from tests.hub import free_port

ACCESS_KEY = "testing-access-key"
SECRET_KEY = "testing-secret-key"
REGION = "us-east-1"


@dataclass
class S3Server:
    """`python -m moto.server` on a free loopback port; `env()` is what a hub needs to use it."""

    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, log_dir: Path | None = None) -> S3Server:
        log = subprocess.DEVNULL
        if log_dir is not None:
            self.log_path = log_dir / f"moto-{self.port}.log"
            log = self.log_path.open("wb")  # type: ignore[assignment]
        self.process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "MOTO_ALLOW_NONEXISTENT_REGION": "true"},
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("moto server exited early")
            try:
                httpx.get(f"{self.url}/moto-api/", timeout=1)
                return self
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError("moto server did not start")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def client_env(self) -> dict[str, str]:
        """The standard AWS variables, pointed at this server."""
        return {
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "AWS_EC2_METADATA_DISABLED": "true",
        }

    def hub_env(self, bucket: str, prefix: str = "images") -> dict[str, str]:
        return {
            **self.client_env(),
            "IMAGEHUB_STORE_URL": f"s3://{bucket}/{prefix}",
            "IMAGEHUB_S3_ENDPOINT_URL": self.url,
        }

    def create_bucket(self, bucket: str) -> None:
        """PUT /bucket, signed: moto checks nothing about it, so plain HTTP is enough."""
        response = httpx.put(f"{self.url}/{bucket}", timeout=10)
        assert response.status_code == 200, response.text

    def make_public(self, bucket: str) -> None:
        """A bucket policy letting anyone GET its objects (what a CDN origin bucket often has)."""
        policy = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": "*",
                    "Action": "s3:GetObject",
                    "Resource": f"arn:aws:s3:::{bucket}/*",
                }
            ],
        }
        response = httpx.put(f"{self.url}/{bucket}?policy", json=policy, timeout=10)
        assert response.status_code in {200, 204}, response.text

    def keys(self, bucket: str) -> list[str]:
        """Every key in the bucket (moto's listing needs no signature)."""
        response = httpx.get(f"{self.url}/{bucket}?list-type=2", timeout=10)
        assert response.status_code == 200, response.text
        return re.findall(r"<Key>([^<]+)</Key>", response.text)


_HOP_BY_HOP = {"host", "content-length", "transfer-encoding", "connection", "content-encoding"}


class FaultyS3:
    """A pass-through in front of an S3Server that can refuse or stall requests on cue.

    The outside world misbehaving, on loopback: `puts_allowed = 1` lets one upload through and
    fails the rest with 500 (a store failing halfway through a request); `stall = True` accepts
    every request and never answers (a store that is slow past any timeout); `put_delay` holds
    each upload that long before passing it on. `log` records (method, path, status) of each
    request answered.
    """

    def __init__(self, upstream: S3Server) -> None:
        self.upstream = upstream
        self.port = free_port()
        self.puts_allowed: int | None = None
        self.stall = False
        self.put_delay = 0.0
        self.log: list[tuple[str, str, int]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stop: asyncio.Event | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def hub_env(self, bucket: str, prefix: str = "images") -> dict[str, str]:
        return {**self.upstream.hub_env(bucket, prefix), "IMAGEHUB_S3_ENDPOINT_URL": self.url}

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if self.stall:
            await asyncio.sleep(3600)
        body = await request.read()
        if request.method == "PUT" and self.puts_allowed is not None:
            if self.puts_allowed <= 0:
                return web.Response(status=500, text="<Error><Code>InternalError</Code></Error>")
            self.puts_allowed -= 1
        if request.method == "PUT" and self.put_delay:
            await asyncio.sleep(self.put_delay)
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
        async with (
            aiohttp.ClientSession(auto_decompress=False) as session,
            session.request(
                request.method, self.upstream.url + request.path_qs, headers=headers, data=body
            ) as answer,
        ):
            data = await answer.read()
            out = {k: v for k, v in answer.headers.items() if k.lower() not in _HOP_BY_HOP}
            self.log.append((request.method, request.path_qs, answer.status))
            return web.Response(status=answer.status, body=data, headers=out)

    def start(self) -> FaultyS3:
        ready = threading.Event()

        async def serve() -> None:
            self._stop = asyncio.Event()
            runner = web.AppRunner(web.Application(handler_args={}, client_max_size=1 << 30))
            runner.app.router.add_route("*", "/{tail:.*}", self._handle)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", self.port).start()
            ready.set()
            await self._stop.wait()
            await runner.cleanup()

        def run() -> None:
            self._loop = asyncio.new_event_loop()
            self._loop.run_until_complete(serve())

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        assert ready.wait(10), "the faulty S3 proxy did not start"
        return self

    def stop(self) -> None:
        self.stall = False
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(10)
