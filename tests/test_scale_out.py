"""Two hub processes behind one imaginary load balancer, sharing PostgreSQL, Redis and a bucket.

Each hub has its own data directory (nothing shared on disk but the signing secret, given to
both), as two containers would: an image made by A is served by B, an Idempotency-Key replayed
on B answers what A answered, and expired objects are swept once, by whichever hub holds the
sweep lock, never while someone else holds it.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import openai
import pytest

from imagehub.storage.sweeping import SWEEP_LOCK_KEY
from tests.databases import REDIS_URL, fresh_postgres_database, require_redis
from tests.hub import Hub, create_key
from tests.s3_server import S3Server


@dataclass
class Pair:
    a: Hub
    b: Hub
    key: str
    bucket: str
    database_url: str
    s3: S3Server

    def sdk(self, hub: Hub) -> openai.OpenAI:
        return openai.OpenAI(base_url=f"{hub.url}/api", api_key=self.key, max_retries=0, timeout=60)


def _pair(tmp: Path, s3: S3Server, database_url: str, **extra: str) -> tuple[Hub, Hub, str, str]:
    bucket = f"shared-{secrets.token_hex(4)}"
    s3.create_bucket(bucket)
    env = {
        **s3.hub_env(bucket),
        "IMAGEHUB_DATABASE_URL": database_url,
        "REDIS_URL": REDIS_URL,
        "IMAGEHUB_SIGNING_SECRET": secrets.token_hex(32),
        **extra,
    }
    for name in ("a", "b"):
        (tmp / name).mkdir()
    a = Hub(tmp / "a" / "data", env=env).start()
    b = Hub(tmp / "b" / "data", env=env).start()
    return a, b, create_key(a.data_dir, "shared", sandbox=True, env=env), bucket


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    server = S3Server().start(tmp_path_factory.mktemp("moto"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory, s3: S3Server) -> Iterator[Pair]:
    require_redis()
    with fresh_postgres_database() as database_url:
        a, b, key, bucket = _pair(tmp_path_factory.mktemp("pair"), s3, database_url)
        try:
            yield Pair(a, b, key, bucket, database_url, s3)
        finally:
            a.stop()
            b.stop()


def _on(hub: Hub, url: str) -> str:
    """The same URL, sent to another hub (what a load balancer does)."""
    split = urlsplit(url)
    return f"{hub.url}{split.path}?{split.query}"


def test_an_image_made_by_one_hub_is_served_by_the_other(pair: Pair) -> None:
    result = pair.sdk(pair.a).images.generate(prompt="made on A", size="256x256")
    assert result.data is not None
    url = result.data[0].url or ""
    assert url.startswith(pair.a.url)
    on_a, on_b = httpx.get(url), httpx.get(_on(pair.b, url))
    assert on_b.status_code == 200 and on_b.content == on_a.content
    part = httpx.get(_on(pair.b, url), headers={"Range": "bytes=0-7"})
    assert part.status_code == 206 and part.content == b"\x89PNG\r\n\x1a\n"


def test_an_idempotency_key_replayed_on_the_other_hub_returns_the_first_answer(pair: Pair) -> None:
    headers = {"Idempotency-Key": f"scale-out-{secrets.token_hex(8)}"}
    body = {"prompt": "once only", "size": "256x256", "n": 2}
    first = pair.sdk(pair.a).images.with_raw_response.generate(**body, extra_headers=headers)  # type: ignore[arg-type]
    again = pair.sdk(pair.b).images.with_raw_response.generate(**body, extra_headers=headers)  # type: ignore[arg-type]
    assert again.headers.get("x-idempotent-replay") == "true"
    assert first.headers.get("x-idempotent-replay") is None
    assert [item.url for item in again.parse().data or []] == [item.url for item in first.parse().data or []]
    for item in again.parse().data or []:
        assert httpx.get(_on(pair.b, item.url or "")).status_code == 200


def _swept(hub: Hub) -> float:
    text = httpx.get(f"{hub.url}/metrics").text
    match = re.search(r"^imagehub_store_swept_total ([\d.e+]+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


def test_one_sweeper_at_a_time(s3: S3Server, tmp_path: Path) -> None:
    """While another holder has the sweep lock, no hub deletes; once free, each object goes once."""
    require_redis()

    async def scenario(database_url: str, a: Hub, b: Hub, key: str, bucket: str) -> None:
        import asyncpg

        holder = await asyncpg.connect(database_url)
        try:
            locking = holder.transaction()
            await locking.start()
            assert await holder.fetchval("SELECT pg_try_advisory_xact_lock($1)", SWEEP_LOCK_KEY)
            for hub in (a, b):
                sdk = openai.OpenAI(base_url=f"{hub.url}/api", api_key=key, max_retries=0, timeout=60)
                await asyncio.to_thread(sdk.images.generate, prompt="short-lived", size="256x256", n=2)
            assert len(s3.keys(bucket)) == 4
            await asyncio.sleep(4)  # expired (2 s) plus grace (1 s), and several sweep intervals
            assert len(s3.keys(bucket)) == 4, "nobody sweeps while the lock is held elsewhere"
            assert _swept(a) == _swept(b) == 0
            await locking.rollback()
            deadline = time.monotonic() + 20
            while s3.keys(bucket) and time.monotonic() < deadline:
                await asyncio.sleep(0.2)
            assert s3.keys(bucket) == []
            assert _swept(a) + _swept(b) == 4, "each expired object deleted exactly once"
        finally:
            await holder.close()

    with fresh_postgres_database() as database_url:
        a, b, key, bucket = _pair(
            tmp_path,
            s3,
            database_url,
            IMAGEHUB_URL_TTL_SECONDS="2",
            IMAGEHUB_SWEEP_INTERVAL_SECONDS="0.3",
        )
        try:
            asyncio.run(scenario(database_url, a, b, key, bucket))
        finally:
            a.stop()
            b.stop()


def test_hubs_starting_at_once_on_an_empty_database_all_come_up(tmp_path: Path) -> None:
    """N containers started together: schema upgrades take turns instead of colliding."""
    import os
    import subprocess
    import sys

    with fresh_postgres_database() as database_url:
        env = {**os.environ, "IMAGEHUB_DATABASE_URL": database_url}
        starting = [
            subprocess.Popen(
                [sys.executable, "-m", "imagehub", "keys", "list"],
                env={**env, "IMAGEHUB_DATA_DIR": str(tmp_path / str(index))},
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
            for index in range(4)
        ]
        for process in starting:
            _, errors = process.communicate(timeout=120)
            assert process.returncode == 0, errors
