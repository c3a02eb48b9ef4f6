"""`imagehub serve --workers 2`: several processes, one shared state."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import openai

from tests.hub import Hub, create_key


def test_two_workers_share_keys_urls_usage_and_metrics(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    hub = Hub(data_dir).start("--workers", "2")
    try:
        assert "warning: with several workers and no REDIS_URL" in hub.log()
        key = create_key(data_dir, "workers", sandbox=True)  # created after start: workers see it
        client = openai.OpenAI(base_url=f"{hub.url}/api", api_key=key, max_retries=0, timeout=60)

        def one(index: int) -> str:
            result = client.images.generate(prompt=f"worker {index}", size="256x256", response_format="url")
            assert result.data is not None and result.data[0].url
            return result.data[0].url

        with ThreadPoolExecutor(8) as pool:
            urls = list(pool.map(one, range(24)))
        # Any worker serves any worker's signed URL: one secret, one store.
        assert all(httpx.get(url).status_code == 200 for url in urls)

        text = httpx.get(f"{hub.url}/metrics").text
        total = sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith("imagehub_requests_total{") and 'route="/api/images/generations"' in line
        )
        assert total == 24, "metrics are aggregated across workers"
        usage = httpx.get(
            f"{hub.url}/api/usage?group_by=key", headers={"Authorization": f"Bearer {key}"}
        ).json()
        deadline = time.monotonic() + 5
        while usage["data"][0]["requests"] < 24 and time.monotonic() < deadline:
            time.sleep(0.1)
            usage = httpx.get(
                f"{hub.url}/api/usage?group_by=key", headers={"Authorization": f"Bearer {key}"}
            ).json()
        assert usage["data"][0]["requests"] == 24, "every worker's usage lands in the one database"
    finally:
        hub.stop()


def test_the_supervisor_of_several_workers_holds_none_of_the_hub(tmp_path: Path) -> None:
    """`serve` replaces itself (same PID) with `python -m imagehub.supervisor` once it has checked
    and migrated: the process that only watches workers loads no database or HTTP client code."""
    hub = Hub(tmp_path / "data").start("--workers", "2")
    try:
        assert hub.process is not None
        pid = hub.process.pid
        command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        assert b"imagehub.supervisor" in command, command
        loaded = Path(f"/proc/{pid}/maps").read_text()
        for library in ("sqlalchemy", "aiohttp", "pydantic_core"):  # its JSON log lines need orjson
            assert f"/{library}/" not in loaded, f"the supervisor has {library}'s native code mapped"
        key = create_key(tmp_path / "data", "supervised", sandbox=True)
        client = openai.OpenAI(base_url=f"{hub.url}/api", api_key=key, max_retries=0, timeout=60)
        assert client.images.generate(prompt="still served", size="256x256").data
    finally:
        hub.stop()
